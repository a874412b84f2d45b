//! Validation: turns the raw structs into a [`Config`], collecting every problem (unknown keys
//! with a "did you mean", type errors, out-of-range values, malformed route keys) with its position.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::locate::Locator;
use super::raw::{
    APP_MAX, ARCHITECTURES, BILLING_MODES, CAPACITY, EXPIRES_AFTER_S, IntSpec, KEEP_VERSIONS, LOCAL_CACHE_ITEMS,
    LOCAL_CONCURRENCY, LOG_RETENTION_DAYS, MEMORY_MB, RESERVED_CONCURRENCY_MAX, RawAlarms, RawConfig, RawFunction,
    RawIdempotency, RawTable, STAGE_MAX, TIMEOUT_S, TRACING_MODES,
};
use super::schema::known_fields;
use super::{
    AlarmSettings, Architecture, Billing, Config, FrontendSettings, FunctionSettings, IdempotencySettings,
    LocalSettings, Problem, SecretRef, TableSettings, Tracing,
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
    "ONCELY_SECRETS",
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
    "IDEMPOTENCY_KEY_PREFIX",
    "ONCELY_STORE",
    "ONCELY_REDIS_URL_ENV",
];

/// `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`, as the schema's `KMS_KEY_ARN_PATTERN` says.
fn is_kms_key_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let id = resource.strip_prefix("key/").unwrap_or("");
    arn_ == "arn"
        && partition.starts_with("aws")
        && service == "kms"
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A variable name Lambda accepts: a letter, then letters, digits and _ (2 characters at least).
pub(super) fn is_env_name(name: &str) -> bool {
    name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What is wrong with a name part (`app`, `stage`): 1..`max` characters of a-z, 0-9 and -, not
/// at either end; `None` when it is right.
pub(super) fn name_problem(value: &str, max: usize) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    (!ok).then(|| {
        format!("{value:?} is not a valid name: use 1..{max} characters of a-z, 0-9 and - (not at either end)")
    })
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

    pub(super) fn name_part(&mut self, path: &str, value: Option<String>, max: usize) -> String {
        let Some(value) = value else {
            self.problem(path, format!("is required: 1..{max} characters of a-z, 0-9 and -"));
            return String::new();
        };
        if let Some(message) = name_problem(&value, max) {
            self.problem(path, message);
        }
        value
    }

    pub(super) fn int(&mut self, path: &str, value: Option<i64>, spec: IntSpec, unit: &str) -> i64 {
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

        let table = self.table(raw.table);

        let function = self.function(raw.function);
        let idempotency = self.idempotency(raw.idempotency, &function.environment);
        if let Some(var) = idempotency.store.redis_url_env()
            && function.secrets.contains_key(var)
        {
            self.problem(
                &format!("function.secrets.{var}"),
                format!("{var} holds the Redis URL: name its secret in `idempotency.redis.url_secret`"),
            );
        }
        let api = self.api(raw.api, &idempotency.header);

        let frontend = raw.frontend.map(|f| {
            let env_file = f.env_file.unwrap_or_else(|| "frontend/.env.local".into());
            if env_file.is_empty() || env_file.ends_with('/') {
                self.problem("frontend.env_file", "must be a file path such as frontend/.env.local");
            }
            FrontendSettings {
                env_file: PathBuf::from(env_file),
            }
        });
        let concurrency = self.int(
            "local.concurrency",
            raw.local.concurrency,
            LOCAL_CONCURRENCY,
            " execution environments",
        );

        let alarms = self.alarms(raw.alarms);
        let queues = self.queues(raw.queues, function.timeout_s);
        let tags = self.tags(raw.tags);

        Config {
            app,
            stage,
            region: raw.region,
            table,
            function,
            idempotency,
            api,
            frontend,
            local: LocalSettings {
                concurrency: concurrency as u32,
            },
            alarms,
            queues,
            tags,
        }
    }

    fn table(&mut self, t: RawTable) -> TableSettings {
        let ttl_attribute = t.ttl_attribute.unwrap_or_else(|| "expiration".into());
        if ttl_attribute.is_empty() || ttl_attribute.len() > 255 || ttl_attribute == "id" {
            self.problem(
                "table.ttl_attribute",
                "must be 1..255 characters and not `id` (the table's key)",
            );
        }
        if let Some(key) = &t.kms_key
            && !is_kms_key_arn(key)
        {
            self.problem(
                "table.kms_key",
                format!(
                    "{key:?} is not a KMS key ARN: use arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (an alias cannot \
                     scope the role's permission)"
                ),
            );
        }
        let billing = match t.billing_mode.as_deref().unwrap_or(BILLING_MODES[0]) {
            "on_demand" => {
                for (path, value) in [
                    ("table.read_capacity", t.read_capacity),
                    ("table.write_capacity", t.write_capacity),
                ] {
                    if value.is_some() {
                        self.problem(path, "is only for `billing_mode: provisioned`");
                    }
                }
                Billing::OnDemand
            }
            "provisioned" => {
                let mut units = |path: &str, value: Option<i64>| {
                    if value.is_none() {
                        self.problem(
                            path,
                            format!(
                                "is required with `billing_mode: provisioned`: {}..{} capacity units",
                                CAPACITY.min, CAPACITY.max
                            ),
                        );
                    }
                    self.int(path, value, CAPACITY, " capacity units")
                };
                let read = units("table.read_capacity", t.read_capacity);
                let write = units("table.write_capacity", t.write_capacity);
                Billing::Provisioned { read, write }
            }
            other => {
                self.problem(
                    "table.billing_mode",
                    format!("{other:?} is not a billing mode: use on_demand or provisioned"),
                );
                Billing::OnDemand
            }
        };
        TableSettings {
            ttl_attribute,
            point_in_time_recovery: t.point_in_time_recovery.unwrap_or(true),
            deletion_protection: t.deletion_protection.unwrap_or(true),
            kms_key: t.kms_key,
            billing,
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
        let (least, most) = RESERVED_CONCURRENCY_MAX;
        let reserved_concurrency = f.reserved_concurrency.map(|n| {
            if !(least..=most).contains(&n) {
                self.problem(
                    "function.reserved_concurrency",
                    format!(
                        "{n} is out of range: use {least}..{most} executions (0 would stop the function; \
                         leave it out for the account's shared pool)"
                    ),
                );
            }
            n.clamp(least, most) as i32
        });
        let tracing = match f.tracing.as_deref().unwrap_or(TRACING_MODES[0]) {
            "pass_through" => Tracing::PassThrough,
            "active" => Tracing::Active,
            other => {
                self.problem(
                    "function.tracing",
                    format!("{other:?} is not a tracing mode: use active or pass_through"),
                );
                Tracing::PassThrough
            }
        };
        let environment = f.environment.unwrap_or_default();
        let secrets = self.secrets(f.secrets, &environment);
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
            reserved_concurrency,
            tracing,
            secrets,
        }
    }

    /// `function.secrets`: valid variable names, not reserved nor in `function.environment`, each
    /// naming a reference that parses.
    fn secrets(
        &mut self,
        secrets: Option<BTreeMap<String, String>>,
        environment: &BTreeMap<String, String>,
    ) -> BTreeMap<String, SecretRef> {
        let mut out = BTreeMap::new();
        for (name, text) in secrets.unwrap_or_default() {
            let path = format!("function.secrets.{name}");
            if !is_env_name(&name) {
                self.problem(
                    &path,
                    format!("{name:?} is not a valid variable name: start with a letter, then letters, digits and _"),
                );
            } else if RESERVED_ENV.contains(&name.as_str()) {
                self.problem(
                    &path,
                    format!("{name} is reserved (set by Lambda or by the deployer); choose another name"),
                );
            } else if environment.contains_key(&name) {
                self.problem(
                    &path,
                    format!("{name} is also in `function.environment`: a secret's value never is; remove it there"),
                );
            }
            match text.parse::<SecretRef>() {
                Ok(reference) => {
                    out.insert(name, reference);
                }
                Err(e) => self.problem(&path, e.to_string()),
            }
        }
        out
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
        if let Some(prefix) = &i.key_prefix
            && !((1..=128).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_graphic()))
        {
            self.problem(
                "idempotency.key_prefix",
                format!("{prefix:?} is not a key prefix: use 1 to 128 visible ASCII characters, no spaces"),
            );
        }
        IdempotencySettings {
            expires_after_s: expires_after_s as u64,
            header,
            local_cache_items: local_cache_items as u32,
            key_prefix: i.key_prefix,
            store,
        }
    }
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
    fn a_key_prefix_is_one_visible_word_and_reaches_the_settings() {
        let config = Config::parse("app: a1\nstage: b\nidempotency:\n  key_prefix: payments\n").unwrap();
        assert_eq!(config.idempotency.key_prefix.as_deref(), Some("payments"));
        assert_eq!(
            Config::parse("app: a1\nstage: b\n").unwrap().idempotency.key_prefix,
            None
        );
        let problems = Config::parse("app: a1\nstage: b\nidempotency:\n  key_prefix: two words\n").unwrap_err();
        assert_eq!(problems[0].path, "idempotency.key_prefix");
        assert_eq!(problems[0].line, Some(4));
        assert!(problems[0].message.contains("visible ASCII"), "{}", problems[0].message);
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
}
