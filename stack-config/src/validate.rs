//! Validation: turns the raw structs into a [`Config`], collecting every problem (unknown keys
//! with a "did you mean", type errors, out-of-range values, malformed route keys) with its position.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::locate::Locator;
use super::raw::{
    APP_MAX, ARCHITECTURES, CORS_MAX_AGE_S, EXPIRES_AFTER_S, IntSpec, KEEP_VERSIONS, LOCAL_CACHE_ITEMS,
    LOCAL_CONCURRENCY, LOG_RETENTION_DAYS, MEMORY_MB, RawAlarms, RawApi, RawAuth, RawConfig, RawCors, RawFunction,
    RawIdempotency, STAGE_MAX, THROTTLE_BURST, THROTTLE_RATE, TIMEOUT_S,
};
use super::route_key::{Method, RouteKey, RouteKeyError};
use super::schema::known_fields;
use super::{
    AlarmSettings, ApiSettings, Architecture, AuthProvider, AuthSettings, Config, CorsSettings, FrontendSettings,
    FunctionSettings, IdempotencySettings, LocalSettings, Problem, TableSettings, ThrottleSettings,
};

/// A serde_yaml error (syntax or type) as a [`Problem`], its position apart from its message.
pub(super) fn serde_problem(e: &serde_yaml::Error) -> Problem {
    let loc = e.location();
    let text = e.to_string();
    // serde_yaml appends " at line L column C"; the position is printed separately.
    let message = match text.find(" at line ") {
        Some(i) if loc.is_some() => text[..i].to_string(),
        _ => text,
    };
    let (path, message) = match message.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
        _ => (String::new(), message),
    };
    Problem {
        path,
        line: loc.as_ref().map(serde_yaml::Location::line),
        column: loc.as_ref().map(serde_yaml::Location::column),
        message: format!("{message} (see docs/deploying.md, \"Config reference\")"),
    }
}

/// The most bytes a config may have (a real one is a few kilobytes).
pub(super) const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// The deepest flow nesting (`[` and `{`) read: the YAML scanner's time grows with the square of
/// it, so deeper text is refused before it is parsed (a real config nests 3 deep).
pub(super) const MAX_FLOW_DEPTH: usize = 64;

/// A problem with the text as a whole, found by one linear pass before the YAML parser runs:
/// too many bytes, or flow collections nested deeper than [`MAX_FLOW_DEPTH`] (outside quoted
/// scalars and comments).
pub(super) fn text_problem(text: &str) -> Option<Problem> {
    if text.len() > MAX_CONFIG_BYTES {
        return Some(Problem {
            path: String::new(),
            line: None,
            column: None,
            message: format!(
                "the config has {} bytes, more than {MAX_CONFIG_BYTES}: is this the right file?",
                text.len()
            ),
        });
    }
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            (line, column, comment) = (line + 1, 0, false);
        }
        match quote {
            _ if comment => {}
            Some('"') if c == '\\' => {
                chars.next();
                column += 1;
            }
            Some('\'') if c == '\'' && chars.peek() == Some(&'\'') => {
                chars.next();
                column += 1;
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if " \t\n[{,:".contains(prev) => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(Problem {
                            path: String::new(),
                            line: Some(line),
                            column: Some(column),
                            message: format!("flow collections (`[` `{{`) nest deeper than {MAX_FLOW_DEPTH} here"),
                        });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

/// Reports every key the mapping at `path` does not accept (with the closest known key), not only
/// the first as serde would, and descends into the keys it does accept.
pub(super) fn check_keys(value: &serde_yaml::Value, path: &str, locator: &Locator, problems: &mut Vec<Problem>) {
    let Some(allowed) = known_fields(path) else {
        return;
    };
    let serde_yaml::Value::Mapping(map) = value else { return };
    for (k, v) in map {
        let Some(key) = k.as_str() else { continue };
        let child = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        if allowed.contains(&key) {
            check_keys(v, &child, locator, problems);
        } else {
            let (line, column) = locator.find(&child);
            let hint = closest(key, &allowed)
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            problems.push(Problem {
                path: child,
                line,
                column,
                message: format!("unknown key; {hint}allowed here: {}", allowed.join(", ")),
            });
        }
    }
}

/// The candidate within edit distance 3 of `key`, the closest first.
fn closest<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    candidates
        .iter()
        .map(|c| (distance(key, c), *c))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, c)| c)
}

/// Names Lambda reserves or the deployer sets itself.
pub const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TABLE_NAME",
    "IDEMPOTENCY_EXPIRES_AFTER_S",
    "IDEMPOTENCY_HEADER",
    "IDEMPOTENCY_LOCAL_CACHE_ITEMS",
    "IDEMPOTENCY_TTL_ATTRIBUTE",
    "ONCELY_STORE",
    "ONCELY_REDIS_URL_ENV",
];

/// A variable name Lambda accepts: a letter, then letters, digits and _ (2 characters at least).
pub(super) fn is_env_name(name: &str) -> bool {
    name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Validates the raw config: the [`Config`], or every problem found.
pub(super) fn validate(raw: RawConfig, locator: Locator) -> Result<Config, Vec<Problem>> {
    let mut v = Validator {
        locator,
        problems: Vec::new(),
    };
    let config = v.validate(raw);
    if v.problems.is_empty() {
        Ok(config)
    } else {
        Err(v.problems)
    }
}

pub(super) struct Validator {
    locator: Locator,
    problems: Vec<Problem>,
}

impl Validator {
    pub(super) fn problem(&mut self, path: &str, message: impl Into<String>) {
        let (line, column) = self.locator.find(path);
        self.problems.push(Problem {
            path: path.to_string(),
            line,
            column,
            message: message.into(),
        });
    }

    fn name_part(&mut self, path: &str, value: Option<String>, max: usize) -> String {
        let Some(value) = value else {
            self.problem(path, format!("is required: 1..{max} characters of a-z, 0-9 and -"));
            return String::new();
        };
        let ok = !value.is_empty()
            && value.len() <= max
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if !ok {
            self.problem(
                path,
                format!("{value:?} is not a valid name: use 1..{max} characters of a-z, 0-9 and - (not at either end)"),
            );
        }
        value
    }

    fn int(&mut self, path: &str, value: Option<i64>, spec: IntSpec, unit: &str) -> i64 {
        let IntSpec { default, min, max } = spec;
        let v = value.unwrap_or(default);
        if v < min || v > max {
            self.problem(path, format!("{v} is out of range: use {min}..{max}{unit}"));
        }
        v
    }

    fn validate(&mut self, raw: RawConfig) -> Config {
        let app = self.name_part("app", raw.app, APP_MAX);
        let stage = self.name_part("stage", raw.stage, STAGE_MAX);
        if let Some(region) = &raw.region {
            let ok = region.split('-').count() >= 3
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                self.problem(
                    "region",
                    format!("{region:?} is not an AWS region name such as us-east-1"),
                );
            }
        }

        let ttl_attribute = raw.table.ttl_attribute.unwrap_or_else(|| "expiration".into());
        if ttl_attribute.is_empty() || ttl_attribute.len() > 255 || ttl_attribute == "id" {
            self.problem(
                "table.ttl_attribute",
                "must be 1..255 characters and not `id` (the table's key)",
            );
        }

        let function = self.function(raw.function);
        let idempotency = self.idempotency(raw.idempotency, &function.environment);
        let api = self.api(raw.api, &idempotency.header);

        let env_file = raw.frontend.env_file.unwrap_or_else(|| "frontend/.env.local".into());
        if env_file.is_empty() || env_file.ends_with('/') {
            self.problem("frontend.env_file", "must be a file path such as frontend/.env.local");
        }
        let concurrency = self.int(
            "local.concurrency",
            raw.local.concurrency,
            LOCAL_CONCURRENCY,
            " execution environments",
        );

        let alarms = self.alarms(raw.alarms);

        Config {
            app,
            stage,
            region: raw.region,
            table: TableSettings { ttl_attribute },
            function,
            idempotency,
            api,
            frontend: FrontendSettings {
                env_file: PathBuf::from(env_file),
            },
            local: LocalSettings {
                concurrency: concurrency as u32,
            },
            alarms,
        }
    }

    fn alarms(&mut self, a: RawAlarms) -> AlarmSettings {
        let actions = a.actions.unwrap_or_default();
        for (i, arn) in actions.iter().enumerate() {
            let parts: Vec<&str> = arn.split(':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
                self.problem(
                    &format!("alarms.actions.{i}"),
                    format!("{arn:?} is not an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:alerts"),
                );
            }
        }
        if actions.len() > 5 {
            self.problem("alarms.actions", "an alarm takes at most 5 actions");
        }
        AlarmSettings {
            enabled: a.enabled.unwrap_or(true),
            actions,
        }
    }

    fn function(&mut self, f: RawFunction) -> FunctionSettings {
        let package = f.package.unwrap_or_else(|| "function".into());
        if package.is_empty() {
            self.problem("function.package", "must name a workspace package, e.g. `function`");
        }
        let architecture = match f.architecture.as_deref().unwrap_or(ARCHITECTURES[0]) {
            "x86_64" => Architecture::X86_64,
            "arm64" => Architecture::Arm64,
            other => {
                self.problem(
                    "function.architecture",
                    format!("{other:?} is not supported: use x86_64 or arm64"),
                );
                Architecture::X86_64
            }
        };
        let memory_mb = self.int("function.memory_mb", f.memory_mb, MEMORY_MB, " MB");
        let timeout_s = self.int(
            "function.timeout_s",
            f.timeout_s,
            TIMEOUT_S,
            " seconds (an HTTP API waits at most 30 s for its integration)",
        );
        let log_retention_days = f.log_retention_days.unwrap_or(14);
        if !LOG_RETENTION_DAYS.contains(&log_retention_days) {
            let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(i64::to_string).collect();
            self.problem(
                "function.log_retention_days",
                format!(
                    "{log_retention_days} is not a retention CloudWatch Logs accepts: use one of {}",
                    allowed.join(", ")
                ),
            );
        }
        let vpc = self.vpc(f.vpc);
        let keep_versions = self.int("function.keep_versions", f.keep_versions, KEEP_VERSIONS, " versions");
        let environment = f.environment.unwrap_or_default();
        for name in environment.keys() {
            let path = format!("function.environment.{name}");
            let valid = is_env_name(name);
            if RESERVED_ENV.contains(&name.as_str()) {
                self.problem(
                    &path,
                    format!("{name} is reserved (set by Lambda or by the deployer); choose another name"),
                );
            } else if !valid {
                self.problem(
                    &path,
                    format!("{name:?} is not a valid variable name: start with a letter, then letters, digits and _"),
                );
            }
        }
        FunctionSettings {
            package,
            architecture,
            memory_mb: memory_mb as i32,
            timeout_s: timeout_s as i32,
            log_retention_days: log_retention_days as i32,
            environment,
            vpc,
            keep_versions: keep_versions as u32,
        }
    }

    fn idempotency(&mut self, i: RawIdempotency, environment: &BTreeMap<String, String>) -> IdempotencySettings {
        let store = self.store(&i, environment);
        let expires_after_s = self.int(
            "idempotency.expires_after_s",
            i.expires_after_s,
            EXPIRES_AFTER_S,
            " seconds",
        );
        let header = i.header.unwrap_or_else(|| "Idempotency-Key".into());
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if header.is_empty() || !header.bytes().all(token) {
            self.problem(
                "idempotency.header",
                format!("{header:?} is not an HTTP header name (letters, digits and - such as Idempotency-Key)"),
            );
        }
        let local_cache_items = self.int(
            "idempotency.local_cache_items",
            i.local_cache_items,
            LOCAL_CACHE_ITEMS,
            " items (0 turns the cache off)",
        );
        IdempotencySettings {
            expires_after_s: expires_after_s as u64,
            header,
            local_cache_items: local_cache_items as u32,
            store,
        }
    }

    /// `header` is the idempotency key header, allowed by CORS by default.
    fn api(&mut self, a: RawApi, header: &str) -> ApiSettings {
        let texts = a
            .routes
            .unwrap_or_else(|| vec!["POST /orders".into(), "GET /orders/{id}".into()]);
        if texts.is_empty() {
            self.problem("api.routes", "needs at least one route such as \"POST /orders\"");
        }
        let mut routes: Vec<RouteKey> = Vec::with_capacity(texts.len());
        // A route's unknown method goes into CORS's default `allow_methods` too, and is reported
        // there as well, as it always has been.
        let mut unknown_methods: Vec<String> = Vec::new();
        for (n, text) in texts.iter().enumerate() {
            match text.parse::<RouteKey>() {
                Ok(key) if routes.contains(&key) => {
                    self.problem(&format!("api.routes[{n}]"), format!("{text:?} is listed twice"));
                }
                Ok(key) => routes.push(key),
                Err(why) => {
                    if let RouteKeyError::UnknownMethod(m) = &why {
                        unknown_methods.push(m.clone());
                    }
                    self.problem(&format!("api.routes[{n}]"), format!("{text:?}: {why}"));
                }
            }
        }
        let has_auth = a.auth.is_some();
        let auth = a.auth.and_then(|raw| self.auth(raw, &routes));
        let cors = a.cors.map(|c| self.cors(c, &routes, unknown_methods, header, has_auth));
        let t = a.throttle.unwrap_or_default();
        let burst = self.int("api.throttle.burst", t.burst, THROTTLE_BURST, " requests");
        let (default_rate, min_rate, max_rate) = THROTTLE_RATE;
        let rate = t.rate.unwrap_or(default_rate);
        if !(min_rate..=max_rate).contains(&rate) || !rate.is_finite() {
            self.problem(
                "api.throttle.rate",
                format!("{rate} is out of range: use {min_rate}..{max_rate} requests per second"),
            );
        }
        ApiSettings {
            routes,
            cors,
            throttle: ThrottleSettings {
                burst: burst as i32,
                rate,
            },
            auth,
        }
    }

    /// `api.auth`: exactly one of `cognito` and `jwt`; `public_routes` among `routes`.
    fn auth(&mut self, a: RawAuth, routes: &[RouteKey]) -> Option<AuthSettings> {
        let provider = match (a.cognito, a.jwt) {
            (Some(_), Some(_)) => {
                self.problem("api.auth.jwt", "`cognito` and `jwt` are exclusive: keep one of them");
                None
            }
            (None, None) => {
                self.problem(
                    "api.auth",
                    "needs `cognito: {}` (a user pool made by the deployer) or \
                     `jwt: { issuer: https://..., audience: [...] }`; remove `auth` for an open API",
                );
                None
            }
            (Some(_), None) => Some(AuthProvider::Cognito),
            (None, Some(jwt)) => {
                let issuer = jwt.issuer.unwrap_or_default();
                if !is_issuer(&issuer) {
                    self.problem(
                        "api.auth.jwt.issuer",
                        format!(
                            "{issuer:?} is not an issuer URL: use https://host[/path] \
                             (http:// only on 127.0.0.1 or localhost, for `up --local`)"
                        ),
                    );
                }
                let audience = jwt.audience.unwrap_or_default();
                if audience.is_empty() {
                    self.problem(
                        "api.auth.jwt.audience",
                        "list at least one audience (the app client id tokens carry in `aud` or `client_id`)",
                    );
                }
                for (n, aud) in audience.iter().enumerate() {
                    if aud.trim().is_empty() || aud.len() > 256 {
                        self.problem(
                            &format!("api.auth.jwt.audience[{n}]"),
                            "must be 1..256 characters, not blank",
                        );
                    }
                }
                Some(AuthProvider::Jwt { issuer, audience })
            }
        };
        let mut public_routes: Vec<RouteKey> = Vec::new();
        for (n, text) in a.public_routes.unwrap_or_default().iter().enumerate() {
            let path = format!("api.auth.public_routes[{n}]");
            match text.parse::<RouteKey>() {
                Ok(key) if !routes.contains(&key) => {
                    self.problem(&path, format!("{text:?} is not one of `api.routes`"));
                }
                Ok(key) if public_routes.contains(&key) => self.problem(&path, format!("{text:?} is listed twice")),
                Ok(key) => public_routes.push(key),
                Err(why) => self.problem(&path, format!("{text:?}: {why}")),
            }
        }
        Some(AuthSettings {
            provider: provider?,
            public_routes,
        })
    }

    /// `routes` and `unknown_methods` give the default `allow_methods`, `header` the default
    /// `allow_headers`; with `auth` browsers send `Authorization`, which CORS must then allow.
    fn cors(
        &mut self,
        c: RawCors,
        routes: &[RouteKey],
        unknown_methods: Vec<String>,
        header: &str,
        auth: bool,
    ) -> CorsSettings {
        let allow_origins = c.allow_origins.unwrap_or_default();
        if allow_origins.is_empty() {
            self.problem(
                "api.cors.allow_origins",
                "list at least one origin such as http://localhost:5173, or remove `cors`",
            );
        }
        for o in &allow_origins {
            if !is_origin(o) {
                self.problem(
                    "api.cors.allow_origins",
                    format!("{o:?} is not an origin: use scheme://host[:port] with no path, or \"*\""),
                );
            }
        }
        let allow_credentials = c.allow_credentials.unwrap_or(false);
        if allow_credentials && allow_origins.iter().any(|o| o == "*") {
            self.problem(
                "api.cors.allow_credentials",
                "cannot be true while allow_origins contains \"*\"; list the origins instead",
            );
        }
        let mut methods = c.allow_methods.unwrap_or_else(|| {
            let mut m: Vec<String> = routes
                .iter()
                .filter_map(RouteKey::method)
                .filter(|m| *m != Method::Any)
                .map(|m| m.to_string())
                .chain(unknown_methods)
                .collect();
            m.push("OPTIONS".into());
            m
        });
        methods.sort();
        methods.dedup();
        for m in &methods {
            if m != "*" && m.parse::<Method>().is_err() {
                self.problem("api.cors.allow_methods", format!("{m:?} is not an HTTP method"));
            }
        }
        let listed = c.allow_headers.is_some();
        let mut allow_headers = c.allow_headers.unwrap_or_else(|| {
            let mut h = vec![
                "content-type".into(),
                header.to_ascii_lowercase(),
                "if-none-match".into(),
            ];
            if auth {
                h.push("authorization".into());
            }
            h
        });
        allow_headers.iter_mut().for_each(|h| *h = h.to_ascii_lowercase());
        if auth && listed && !allow_headers.iter().any(|h| h == "authorization" || h == "*") {
            self.problem(
                "api.cors.allow_headers",
                "`api.auth` is set, so browsers send their token in `Authorization`: add `authorization` here",
            );
        }
        let mut expose_headers = c.expose_headers.unwrap_or_else(|| {
            vec![
                "location".into(),
                "etag".into(),
                "idempotent-replayed".into(),
                "retry-after".into(),
            ]
        });
        expose_headers.iter_mut().for_each(|h| *h = h.to_ascii_lowercase());
        let max_age_s = self.int("api.cors.max_age_s", c.max_age_s, CORS_MAX_AGE_S, " seconds");
        CorsSettings {
            allow_origins,
            allow_methods: methods,
            allow_headers,
            expose_headers,
            max_age_s: max_age_s as i32,
            allow_credentials,
        }
    }
}

/// `*`, or `scheme://host[:port]` with no path.
/// An OIDC issuer as API Gateway takes it: an https URL (or http on loopback, which only
/// `up --local` can reach) with a host, no query or fragment.
fn is_issuer(i: &str) -> bool {
    let rest = match (i.strip_prefix("https://"), i.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) => {
            let host = rest.split(['/', ':']).next().unwrap_or("");
            if !matches!(host, "127.0.0.1" | "localhost") {
                return false;
            }
            rest
        }
        (None, None) => return false,
    };
    let host = rest.split('/').next().unwrap_or("");
    !host.is_empty() && !i.contains([' ', '?', '#'])
}

fn is_origin(o: &str) -> bool {
    if o == "*" {
        return true;
    }
    let Some(rest) = o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")) else {
        return false;
    };
    !rest.is_empty() && !rest.contains(['/', ' ', '?', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let yaml = "app: Bad_Name\nstage: dev\n\
            function:\n  memory_mb: 64\n  timeout_s: 60\n  environment:\n    AWS_REGION: x\n\
            api:\n  routes: [\"FETCH /x\", \"GET orders\"]\n";
        let problems = Config::parse(yaml).unwrap_err();
        let summary: Vec<(String, Option<usize>, Option<usize>)> =
            problems.iter().map(|p| (p.path.clone(), p.line, p.column)).collect();
        assert_eq!(
            summary,
            vec![
                ("app".into(), Some(1), Some(1)),
                ("function.memory_mb".into(), Some(4), Some(3)),
                ("function.timeout_s".into(), Some(5), Some(3)),
                ("function.environment.AWS_REGION".into(), Some(7), Some(5)),
                ("api.routes[0]".into(), Some(9), Some(3)),
                ("api.routes[1]".into(), Some(9), Some(3)),
            ]
        );
        assert!(problems[1].message.contains("128..10240"), "{}", problems[1].message);
        assert!(problems[3].message.contains("reserved"));
    }

    #[test]
    fn all_unknown_keys_are_reported_with_a_suggestion() {
        let yaml = "app: a\nstage: b\nfunction:\n  memory: 512\napi:\n  cors: { allow_origin: [\"*\"] }\nextra: 1\n";
        let problems = Config::parse(yaml).unwrap_err();
        let summary: Vec<(&str, Option<usize>, Option<usize>)> =
            problems.iter().map(|p| (p.path.as_str(), p.line, p.column)).collect();
        assert_eq!(
            summary,
            vec![
                ("function.memory", Some(4), Some(3)),
                ("api.cors.allow_origin", Some(6), Some(11)),
                ("extra", Some(7), Some(1))
            ]
        );
        assert!(
            problems[0].message.contains("did you mean `memory_mb`"),
            "{}",
            problems[0].message
        );
        assert!(problems[1].message.contains("did you mean `allow_origins`"));
    }

    #[test]
    fn auth_is_one_provider_and_public_routes_are_routes() {
        let base = "app: a\nstage: b\napi:\n  routes: [\"POST /orders\", \"GET /orders/{id}\"]\n";
        let c = Config::parse(&format!(
            "{base}  auth: {{ cognito: {{}}, public_routes: [\"GET /orders/{{id}}\"] }}\n"
        ))
        .unwrap();
        let auth = c.api.auth.unwrap();
        assert_eq!(auth.provider, AuthProvider::Cognito);
        assert!(auth.protects(&"POST /orders".parse().unwrap()));
        assert!(!auth.protects(&"GET /orders/{id}".parse().unwrap()));
        let c = Config::parse(&format!(
            "{base}  auth:\n    jwt: {{ issuer: \"https://issuer.example.com/\", audience: [web] }}\n"
        ))
        .unwrap();
        assert_eq!(
            c.api.auth.unwrap().provider,
            AuthProvider::Jwt {
                issuer: "https://issuer.example.com/".into(),
                audience: vec!["web".into()]
            }
        );
        assert_eq!(Config::parse(base).unwrap().api.auth, None);

        let paths = |yaml: &str| -> Vec<(String, Option<usize>)> {
            Config::parse(&format!("{base}{yaml}"))
                .unwrap_err()
                .into_iter()
                .map(|p| (p.path, p.line))
                .collect()
        };
        assert_eq!(
            paths("  auth:\n    cognito: {}\n    jwt: { issuer: https://x.example, audience: [a] }\n"),
            [("api.auth.jwt".to_string(), Some(7))]
        );
        assert_eq!(paths("  auth: {}\n"), [("api.auth".to_string(), Some(5))]);
        assert_eq!(
            paths("  auth:\n    jwt: { issuer: \"http://issuer.example.com\", audience: [] }\n"),
            [
                ("api.auth.jwt.issuer".to_string(), Some(6)),
                ("api.auth.jwt.audience".to_string(), Some(6))
            ]
        );
        assert_eq!(
            paths("  auth:\n    cognito: {}\n    public_routes: [\"DELETE /orders\", \"GET /x{\"]\n").len(),
            2
        );
        assert_eq!(
            paths("  auth:\n    cognito: { pool: x }\n"),
            [("api.auth.cognito.pool".to_string(), Some(6))]
        );
        let local = "  auth: { jwt: { issuer: \"http://127.0.0.1:9000/\", audience: [a] } }\n";
        assert!(Config::parse(&format!("{base}{local}")).is_ok());
        // CORS's default headers allow `Authorization` only with auth.
        let cors = "  cors: { allow_origins: [\"http://localhost:5173\"] }\n";
        let headers = |extra: &str| {
            Config::parse(&format!("{base}{cors}{extra}"))
                .unwrap()
                .api
                .cors
                .unwrap()
                .allow_headers
        };
        assert!(headers("  auth: { cognito: {} }\n").contains(&"authorization".to_string()));
        assert!(!headers("").contains(&"authorization".to_string()));
    }

    #[test]
    fn with_auth_cors_allows_the_authorization_header() {
        let base = "app: a\nstage: b\napi:\n  auth: { cognito: {} }\n";
        let c = Config::parse(&format!(
            "{base}  cors: {{ allow_origins: [\"http://localhost:5173\"] }}\n"
        ))
        .unwrap();
        assert!(c.api.cors.unwrap().allow_headers.contains(&"authorization".to_string()));
        let p = Config::parse(&format!(
            "{base}  cors: {{ allow_origins: [\"http://localhost:5173\"], allow_headers: [content-type] }}\n"
        ))
        .unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].path.as_str(), p[0].line), ("api.cors.allow_headers", Some(5)));
        let open =
            Config::parse("app: a\nstage: b\napi:\n  cors: { allow_origins: [\"http://x.example\"] }\n").unwrap();
        assert!(
            !open
                .api
                .cors
                .unwrap()
                .allow_headers
                .contains(&"authorization".to_string())
        );
    }

    #[test]
    fn cors_origins_are_checked() {
        let p = Config::parse(
            "app: a\nstage: b\napi:\n  cors:\n    allow_origins: [\"localhost:5173\", \
            \"http://ok.example\", \"https://x.example/path\"]\n",
        )
        .unwrap_err();
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn cors_methods_default_to_the_routes_methods() {
        let c = Config::parse(
            "app: a\nstage: b\napi:\n  routes: [\"ANY /{proxy+}\", \"GET /\", \"POST /orders\", \"GET /x\"]\n  \
            cors: {allow_origins: [\"*\"]}\n",
        )
        .unwrap();
        assert_eq!(c.api.cors.unwrap().allow_methods, vec!["GET", "OPTIONS", "POST"]);
        // A route's unknown method is reported for the route and for the methods CORS would allow.
        let p = Config::parse("app: a\nstage: b\napi:\n  routes: [\"FETCH /x\"]\n  cors: {allow_origins: [\"*\"]}\n")
            .unwrap_err();
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, vec!["api.routes[0]", "api.cors.allow_methods"]);
    }
}
