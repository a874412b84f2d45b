//! The stack's YAML config: the validated [`Config`] and its sections, loading and parsing, and the
//! problems reported when the file is invalid (every one at once, each with its YAML path and
//! line:column).
//!
//! As in ripgrep's low-level/high-level args split: `raw` holds the serde structs (exactly what the
//! YAML may say), `validate` turns them into a [`Config`], `locate` finds a YAML path's position,
//! and `route_key` parses the API's route keys once into [`RouteKey`]s.
//!
//! ```
//! let config = oncely_config::Config::parse("app: shop\nstage: dev\n").unwrap();
//! assert_eq!(config.name(), "shop-dev");
//! assert_eq!(config.function.timeout_s, 15);
//!
//! let problems = oncely_config::Config::parse("app: Shop\nstage: dev\n").unwrap_err();
//! assert_eq!((problems[0].path.as_str(), problems[0].line), ("app", Some(1)));
//! ```
#![warn(missing_docs)]

mod api;
mod domain;
mod locate;
mod queues;
mod raw;
mod route_key;
mod schema;
mod store;
mod tags;
mod validate;
mod vpc;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use locate::Locator;
pub use oncely::secret_ref::{SecretRef, SecretSource};
pub use raw::LOG_RETENTION_DAYS;
use raw::RawConfig;
pub use route_key::{Method, RouteKey, RouteKeyError, Segment};
pub use schema::json_schema;
pub use validate::RESERVED_ENV;
use validate::{check_keys, serde_problem};

/// Every problem found in one config file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors {
    /// The config file.
    pub file: PathBuf,
    /// Every problem, in the file's order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} has {n} problem{}; nothing was created:",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}:{p}", self.file.display())?;
        }
        Ok(())
    }
}

/// One problem: where (YAML path, 1-based line and column when known) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The YAML path of the value (`api.routes[0]`); empty for the whole file.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c}: ")?,
            _ => write!(f, " ")?,
        }
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

/// `function.architecture`: the CPU the function runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Intel and AMD (`x86_64`), Lambda's default.
    X86_64,
    /// Graviton (`arm64`).
    Arm64,
}

impl Architecture {
    /// The Rust target triple the function is built for.
    pub fn rust_target(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-gnu",
            Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
    /// Lambda's name for it.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// The validated config of one stack (`config/stack.yaml`): every value checked, every default
/// filled in.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// The application's name; with `stage` it names every resource `{app}-{stage}`.
    pub app: String,
    /// The stage (dev, prod, ...): one app can have several stacks side by side.
    pub stage: String,
    /// The AWS region, when the config names one (else the environment's or the profile's).
    pub region: Option<String>,
    /// `table:`: the DynamoDB table of idempotency records and orders.
    pub table: TableSettings,
    /// `function:`: the Lambda function.
    pub function: FunctionSettings,
    /// `idempotency:`: the key header, the records' lifetime, the cache and the store.
    pub idempotency: IdempotencySettings,
    /// `api:`: the HTTP API's routes, CORS, throttle and auth.
    pub api: ApiSettings,
    /// `frontend:`: the env file the endpoint is written to; `None` without the section (nothing
    /// is written).
    pub frontend: Option<FrontendSettings>,
    /// `local:`: `up --local`'s settings.
    pub local: LocalSettings,
    /// `alarms:`: the CloudWatch alarms on the function.
    pub alarms: AlarmSettings,
    /// `queues:`: the SQS queues the function reads (empty: none).
    pub queues: Vec<QueueSettings>,
    /// `tags:`: the user's tags on every resource, next to Oncely's own (empty: none).
    pub tags: BTreeMap<String, String>,
}

/// One entry of `queues:`: an SQS queue read by the function in batches, and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueueSettings {
    /// The short name (`{app}-{stage}-{name}` is the queue's).
    pub name: String,
    /// Messages per invocation (1..10).
    pub batch_size: u32,
    /// Receives before the dead-letter queue (1..1000).
    pub max_receive_count: u32,
    /// Seconds a received message stays hidden.
    pub visibility_timeout_s: u32,
}

/// `alarms:`: the CloudWatch alarms `up` keeps on the function.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlarmSettings {
    /// `false`: `up` deletes the alarms.
    pub enabled: bool,
    /// SNS topic ARNs notified on ALARM and OK.
    pub actions: Vec<String>,
}

/// `table:`: the DynamoDB table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableSettings {
    /// The attribute DynamoDB's TTL reads to expire records.
    pub ttl_attribute: String,
    /// Point-in-time recovery on.
    pub point_in_time_recovery: bool,
    /// Deletion protection on.
    pub deletion_protection: bool,
    /// The customer managed KMS key (ARN) that encrypts it; `None`: the AWS owned key.
    pub kms_key: Option<String>,
    /// How it is billed.
    pub billing: Billing,
}

/// How the table is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Billing {
    /// Pay per request.
    OnDemand,
    /// Provisioned read and write capacity units.
    Provisioned {
        /// Read capacity units.
        read: i64,
        /// Write capacity units.
        write: i64,
    },
}

/// `function:`: the Lambda function.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FunctionSettings {
    /// The workspace package built as `bootstrap`.
    pub package: String,
    /// The CPU it runs on.
    pub architecture: Architecture,
    /// Memory in MB (Lambda's CPU share follows it).
    pub memory_mb: i32,
    /// The invocation timeout in seconds.
    pub timeout_s: i32,
    /// How long its log group keeps events, in days.
    pub log_retention_days: i32,
    /// Environment variables of the function (none of Lambda's reserved names).
    pub environment: BTreeMap<String, String>,
    /// `function.vpc`: the function's network interfaces go into these subnets.
    pub vpc: Option<VpcSettings>,
    /// Published versions kept (the newest ones); older ones no alias points to are deleted.
    pub keep_versions: u32,
    /// Concurrent executions reserved (and capped) for the function; `None`: the account's pool.
    pub reserved_concurrency: Option<i32>,
    /// AWS X-Ray tracing.
    pub tracing: Tracing,
    /// `function.secrets`: the secrets the function reads during init, by variable name.
    pub secrets: BTreeMap<String, SecretRef>,
}

/// `function.tracing`: how the function takes part in AWS X-Ray traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracing {
    /// Traces only requests that arrive sampled (Lambda's default).
    PassThrough,
    /// Samples and traces requests itself.
    Active,
}

impl Tracing {
    /// Lambda's name for it (`TracingConfig.Mode`).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Tracing::PassThrough => "PassThrough",
            Tracing::Active => "Active",
        }
    }
}

/// `function.vpc`: where the function's network interfaces go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VpcSettings {
    /// Subnet ids (`subnet-...`), each once.
    pub subnet_ids: Vec<String>,
    /// Security group ids (`sg-...`), each once.
    pub security_group_ids: Vec<String>,
}

/// `idempotency:`: how the function recognises a request it has seen.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IdempotencySettings {
    /// How long a completed record replays, in seconds.
    pub expires_after_s: u64,
    /// The request header that carries the key.
    pub header: String,
    /// Completed records kept in each execution environment's memory (0: no cache).
    pub local_cache_items: u32,
    /// The prefix of every record id (`None`: the function's name).
    pub key_prefix: Option<String>,
    /// Where the records live.
    pub store: Store,
}

/// Where the idempotency records live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Store {
    /// The stack's table: the record completes in one transaction with the order.
    Dynamodb,
    /// A Redis or Valkey server: `up --local` reads its URL from the variable `url_env`, a
    /// deployed function from the secret `url_secret` (as the variable `url_env`).
    Redis {
        /// The name of the variable holding the URL.
        url_env: String,
        /// Where a deployed function reads the URL (`None`: the stack runs only locally).
        url_secret: Option<SecretRef>,
    },
}

impl Store {
    /// The variable holding the Redis URL, for the Redis store.
    pub fn redis_url_env(&self) -> Option<&str> {
        match self {
            Store::Dynamodb => None,
            Store::Redis { url_env, .. } => Some(url_env),
        }
    }
}

/// `api:`: the HTTP API.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiSettings {
    /// The route keys, each once.
    pub routes: Vec<RouteKey>,
    /// CORS, when the config asks for it.
    pub cors: Option<CorsSettings>,
    /// The `$default` stage's throttle.
    pub throttle: ThrottleSettings,
    /// `None`: no auth, every route open (as before `api.auth` existed).
    pub auth: Option<AuthSettings>,
    /// The API's own domain name, when the config gives one.
    pub domain: Option<DomainSettings>,
}

/// `api.domain`: a regional custom domain name for the HTTP API.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DomainSettings {
    /// The name, lowercase, `{stage}` not yet filled in (see [`DomainSettings::name_for`]).
    pub name: String,
    /// The ACM certificate to use; `None`: the deployer looks for one.
    pub certificate_arn: Option<String>,
    /// The hosted zone that gets the alias records; `None`: no records.
    pub hosted_zone_id: Option<String>,
}

impl DomainSettings {
    /// The name for `stage`: `{stage}` replaced by it.
    pub fn name_for(&self, stage: &str) -> String {
        self.name.replace(domain::STAGE_PLACEHOLDER, stage)
    }
}

/// `api.auth`: who may call the API.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuthSettings {
    /// Where the tokens come from.
    pub provider: AuthProvider,
    /// Routes reachable without a token (each one of `api.routes`).
    pub public_routes: Vec<RouteKey>,
}

impl AuthSettings {
    /// Whether a request matched to `route` needs a valid token.
    pub fn protects(&self, route: &RouteKey) -> bool {
        !self.public_routes.contains(route)
    }
}

/// Where the tokens come from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthProvider {
    /// The deployer creates a Cognito user pool and app client named `{app}-{stage}`; the issuer
    /// and audience are theirs. `up --local` runs a local issuer instead.
    Cognito,
    /// Any OIDC issuer: tokens must carry this `iss` and one of `audience` in `aud` or `client_id`.
    Jwt {
        /// The issuer's URL, the tokens' `iss`.
        issuer: String,
        /// The accepted audiences (at least one).
        audience: Vec<String>,
    },
}

/// `api.cors`: what browsers on other origins may do.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CorsSettings {
    /// Origins allowed (`*` or `scheme://host[:port]`).
    pub allow_origins: Vec<String>,
    /// Methods allowed (by default the routes' methods).
    pub allow_methods: Vec<String>,
    /// Request headers allowed (lower case; the key header by default).
    pub allow_headers: Vec<String>,
    /// Response headers a page may read (`Idempotent-Replayed` among them by default).
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight's answer, in seconds.
    pub max_age_s: i32,
    /// Whether credentials (cookies, `Authorization`) may be sent.
    pub allow_credentials: bool,
}

/// `api.throttle`: the token bucket of the `$default` stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThrottleSettings {
    /// Requests allowed at once.
    pub burst: i32,
    /// Requests per second, steady.
    pub rate: f64,
}

/// `frontend:`: the page's env file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FrontendSettings {
    /// Where `VITE_API_URL` (and the sign-in settings) are written.
    pub env_file: PathBuf,
}

/// `local:`: `up --local`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LocalSettings {
    /// Execution environments (`bootstrap` processes) running at once.
    pub concurrency: u32,
}

impl Config {
    /// `{app}-{stage}`: the name of every resource.
    pub fn name(&self) -> String {
        format!("{}-{}", self.app, self.stage)
    }

    /// This stage's custom domain name (`api.domain.name` with `{stage}` filled in), if any.
    pub fn domain_name(&self) -> Option<String> {
        self.api.domain.as_ref().map(|d| d.name_for(&self.stage))
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            file: path.to_path_buf(),
            problems: vec![Problem {
                path: String::new(),
                line: None,
                column: None,
                message: format!("cannot read the file ({e}); pass the stack's YAML file with --config PATH"),
            }],
        })?;
        Config::parse(&text).map_err(|problems| ConfigErrors {
            file: path.to_path_buf(),
            problems,
        })
    }

    /// Every secret a deployed function reads, by variable: `function.secrets` and the Redis URL's
    /// `idempotency.redis.url_secret` (as `url_env`).
    pub fn secrets(&self) -> BTreeMap<String, SecretRef> {
        let mut all = self.function.secrets.clone();
        if let Store::Redis {
            url_env,
            url_secret: Some(reference),
        } = &self.idempotency.store
        {
            all.insert(url_env.clone(), reference.clone());
        }
        all
    }

    /// The same config for another stage (`--stage`, `ONCELY_STAGE`): the name is checked as the
    /// config's own `stage` is, with the same message.
    ///
    /// ```
    /// let config = oncely_config::Config::parse("app: shop\nstage: dev\n").unwrap();
    /// assert_eq!(config.clone().with_stage("pr-123").unwrap().name(), "shop-pr-123");
    /// assert!(config.with_stage("PR_123").unwrap_err().contains("not a valid name"));
    /// ```
    pub fn with_stage(mut self, stage: &str) -> Result<Config, String> {
        if let Some(problem) = validate::name_problem(stage, raw::STAGE_MAX) {
            return Err(problem);
        }
        self.stage = stage.to_string();
        Ok(self)
    }

    /// Parses and validates YAML text; on failure returns every problem found.
    pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        if let Some(problem) = validate::text_problem(text) {
            return Err(vec![problem]);
        }
        let locator = Locator::new(text);
        let value: serde_yaml::Value = match serde_yaml::from_str(text) {
            Ok(v) => v,
            Err(e) => return Err(vec![serde_problem(&e)]),
        };
        let value = if value.is_null() {
            serde_yaml::Value::Mapping(Default::default())
        } else {
            value
        };
        let mut problems = Vec::new();
        check_keys(&value, "", &locator, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let raw: RawConfig = match serde_yaml::from_value(value) {
            Ok(raw) => raw,
            Err(e) => {
                // `from_value` has no positions; re-run on the text for them.
                let e = serde_yaml::from_str::<RawConfig>(text).err().unwrap_or(e);
                return Err(vec![serde_problem(&e)]);
            }
        };
        validate::validate(raw, locator)
    }
}

/// The (path, message) of every problem of a config made of `app: shop`, `stage: prod` and
/// `yaml` (the validation tests' one builder).
#[cfg(test)]
pub(crate) fn test_problems(yaml: &str) -> Vec<(String, String)> {
    Config::parse(&format!("app: shop\nstage: prod\n{yaml}"))
        .unwrap_err()
        .into_iter()
        .map(|p| (p.path, p.message))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../config/stack.yaml");

    #[test]
    fn the_shipped_config_is_valid() {
        let c = Config::parse(SAMPLE).unwrap();
        assert_eq!(c.name(), "oncely-dev");
        assert_eq!(c.function.memory_mb, 256);
        let routes: Vec<String> = c.api.routes.iter().map(ToString::to_string).collect();
        assert_eq!(routes, vec!["POST /orders", "GET /orders/{id}"]);
        let cors = c.api.cors.unwrap();
        assert_eq!(cors.allow_origins, vec!["http://localhost:5173"]);
        assert!(cors.expose_headers.contains(&"idempotent-replayed".to_string()));
        assert!(cors.allow_headers.contains(&"idempotency-key".to_string()));
    }

    #[test]
    fn defaults_cover_everything_but_app_and_stage() {
        let c = Config::parse("app: shop\nstage: prod\n").unwrap();
        assert_eq!(c.table.ttl_attribute, "expiration");
        assert!(c.table.point_in_time_recovery && c.table.deletion_protection);
        assert_eq!((c.table.kms_key.as_deref(), c.table.billing), (None, Billing::OnDemand));
        assert_eq!(c.function.timeout_s, 15);
        assert_eq!(c.function.architecture, Architecture::X86_64);
        assert_eq!(c.idempotency.expires_after_s, 86_400);
        assert_eq!(c.idempotency.header, "Idempotency-Key");
        assert_eq!(c.api.throttle, ThrottleSettings { burst: 100, rate: 50.0 });
        // No `frontend:` section, no env file; an empty one means frontend/.env.local.
        assert_eq!(c.frontend, None);
        let defaulted = Config::parse("app: shop\nstage: prod\nfrontend: {}\n")
            .unwrap()
            .frontend;
        assert_eq!(
            defaulted.map(|f| f.env_file),
            Some(PathBuf::from("frontend/.env.local"))
        );
        assert_eq!(c.local.concurrency, 4);
        let missing = Config::parse("table: {}\n").unwrap_err();
        assert_eq!(
            missing.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
            vec!["app", "stage"]
        );
    }

    #[test]
    fn the_table_settings_are_read_and_checked_with_positions() {
        let key = "arn:aws:kms:eu-west-1:123456789012:key/0b6a1c2d-1111-2222-3333-444455556666";
        let yaml = format!(
            "app: a\nstage: b\ntable:\n  point_in_time_recovery: false\n  deletion_protection: false\n  \
             kms_key: {key}\n  billing_mode: provisioned\n  read_capacity: 10\n  write_capacity: 4\n"
        );
        let t = Config::parse(&yaml).unwrap().table;
        assert!(!t.point_in_time_recovery && !t.deletion_protection);
        assert_eq!(t.kms_key.as_deref(), Some(key));
        assert_eq!(t.billing, Billing::Provisioned { read: 10, write: 4 });

        let p = Config::parse(
            "app: a\nstage: b\ntable:\n  kms_key: alias/orders\n  billing_mode: provisioned\n  read_capacity: 0\n",
        )
        .unwrap_err();
        let found: Vec<(&str, Option<usize>)> = p.iter().map(|p| (p.path.as_str(), p.line)).collect();
        assert_eq!(
            found,
            vec![
                ("table.kms_key", Some(4)),
                ("table.read_capacity", Some(6)),
                ("table.write_capacity", Some(3)),
            ]
        );
        assert!(p[0].message.contains("not a KMS key ARN"), "{}", p[0].message);
        assert!(p[1].message.contains("out of range: use 1..40000"), "{}", p[1].message);
        assert!(
            p[2].message.contains("required with `billing_mode: provisioned`"),
            "{}",
            p[2].message
        );

        let p = Config::parse("app: a\nstage: b\ntable:\n  read_capacity: 5\n  billing_mode: reserved\n").unwrap_err();
        assert_eq!(p[0].path, "table.billing_mode");
        assert!(
            p[0].message.contains("\"reserved\" is not a billing mode"),
            "{}",
            p[0].message
        );
        let p = Config::parse("app: a\nstage: b\ntable:\n  read_capacity: 5\n").unwrap_err();
        assert_eq!((p[0].path.as_str(), p[0].line), ("table.read_capacity", Some(4)));
        assert!(
            p[0].message.contains("only for `billing_mode: provisioned`"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn reserved_concurrency_is_optional_and_at_least_one() {
        let c = Config::parse("app: a\nstage: b\n").unwrap();
        assert_eq!(c.function.reserved_concurrency, None);
        let c = Config::parse("app: a\nstage: b\nfunction:\n  reserved_concurrency: 50\n").unwrap();
        assert_eq!(c.function.reserved_concurrency, Some(50));
        let p = Config::parse("app: a\nstage: b\nfunction:\n  reserved_concurrency: 0\n").unwrap_err();
        assert_eq!(
            (p[0].path.as_str(), p[0].line),
            ("function.reserved_concurrency", Some(4))
        );
        assert!(p[0].message.contains("0 would stop the function"), "{}", p[0].message);
    }

    #[test]
    fn tracing_defaults_to_pass_through_and_names_a_wrong_mode() {
        let c = Config::parse("app: a\nstage: b\n").unwrap();
        assert_eq!(c.function.tracing, Tracing::PassThrough);
        let c = Config::parse("app: a\nstage: b\nfunction:\n  tracing: active\n").unwrap();
        assert_eq!(c.function.tracing.lambda_name(), "Active");
        let p = Config::parse("app: a\nstage: b\nfunction:\n  tracing: on\n").unwrap_err();
        assert_eq!((p[0].path.as_str(), p[0].line), ("function.tracing", Some(4)));
        assert!(p[0].message.contains("use active or pass_through"), "{}", p[0].message);
    }

    #[test]
    fn secrets_are_references_by_variable_and_the_redis_url_joins_them() {
        let c = Config::parse(
            "app: a\nstage: b\nfunction:\n  secrets: { STRIPE_KEY: \"secretsmanager:a/stripe\" }\n\
             idempotency: { store: redis, redis: { url_secret: \"ssm:/a/b/redis-url\" } }\n",
        )
        .unwrap();
        let all: Vec<String> = c.secrets().iter().map(|(var, r)| format!("{var}={r}")).collect();
        assert_eq!(
            all,
            [
                "ONCELY_REDIS_URL=ssm:/a/b/redis-url",
                "STRIPE_KEY=secretsmanager:a/stripe"
            ]
        );
        let p = test_problems(
            "function:\n  environment: { TOKEN: x }\n  secrets:\n    TOKEN: \"ssm:/t\"\n    ONCELY_SECRETS: \"ssm:/s\"\n    \
             ONCELY_REDIS_URL: \"ssm:/r\"\n    BAD: \"vault:x\"\n\
             idempotency: { store: redis, redis: { url_secret: \"ssm:no/leading/slash\" } }\n",
        );
        let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "function.secrets.BAD",
                "function.secrets.ONCELY_SECRETS",
                "function.secrets.TOKEN",
                "idempotency.redis.url_secret",
                "function.secrets.ONCELY_REDIS_URL",
            ],
            "{p:?}"
        );
        assert!(p[0].1.contains("not a secret reference"), "{p:?}");
        assert!(p[2].1.contains("also in `function.environment`"), "{p:?}");
        assert!(p[3].1.contains("not an SSM parameter name"), "{p:?}");
        assert!(p[4].1.contains("idempotency.redis.url_secret"), "{p:?}");
    }

    #[test]
    fn type_and_syntax_errors_carry_a_position() {
        let p = Config::parse("app: a\nstage: b\nfunction:\n  memory_mb: lots\n").unwrap_err();
        assert_eq!((p[0].line, p[0].column), (Some(4), Some(14)), "{:?}", p[0]);
        assert!(p[0].message.contains("invalid type"), "{}", p[0].message);
        let p = Config::parse("app: [unclosed\n").unwrap_err();
        assert!(p[0].line.is_some());
    }
}
