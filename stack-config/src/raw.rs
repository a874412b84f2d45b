//! The raw serde structs of the stack's YAML config: exactly what the file may say, nothing
//! checked yet (that is `validate`'s job). Their doc comments, defaults and ranges are also the
//! config's JSON Schema (`schema`): one source for parsing, validation, editors and docs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// The retention periods CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/// An integer setting's default and inclusive range, shared by validation and the schema.
#[derive(Debug, Clone, Copy)]
pub(super) struct IntSpec {
    pub(super) default: i64,
    pub(super) min: i64,
    pub(super) max: i64,
}

pub(super) const MEMORY_MB: IntSpec = IntSpec {
    default: 256,
    min: 128,
    max: 10_240,
};
pub(super) const TIMEOUT_S: IntSpec = IntSpec {
    default: 15,
    min: 1,
    max: 29,
};
pub(super) const EXPIRES_AFTER_S: IntSpec = IntSpec {
    default: 86_400,
    min: 1,
    max: 31_536_000,
};
pub(super) const LOCAL_CACHE_ITEMS: IntSpec = IntSpec {
    default: 256,
    min: 0,
    max: 1_000_000,
};
pub(super) const THROTTLE_BURST: IntSpec = IntSpec {
    default: 100,
    min: 0,
    max: 5000,
};
pub(super) const CORS_MAX_AGE_S: IntSpec = IntSpec {
    default: 600,
    min: 0,
    max: 86_400,
};
pub(super) const KEEP_VERSIONS: IntSpec = IntSpec {
    default: 5,
    min: 1,
    max: 100,
};
pub(super) const QUEUE_BATCH_SIZE: IntSpec = IntSpec {
    default: 10,
    min: 1,
    max: 10,
};
pub(super) const QUEUE_MAX_RECEIVE_COUNT: IntSpec = IntSpec {
    default: 3,
    min: 1,
    max: 1000,
};
/// A queue's visibility timeout: its default is six times the function's timeout (AWS's advice
/// for a queue a function reads), and it is never below the function's timeout.
pub(super) const QUEUE_VISIBILITY_MAX_S: i64 = 43_200;
/// The longest short name of a queue: `{app}-{stage}-{name}-dlq` fits SQS's 80 characters.
pub(super) const QUEUE_NAME_MAX: usize = 24;
pub(super) const LOCAL_CONCURRENCY: IntSpec = IntSpec {
    default: 4,
    min: 1,
    max: 64,
};
/// `api.throttle.rate`: default and inclusive range, requests per second.
pub(super) const THROTTLE_RATE: (f64, f64, f64) = (50.0, 0.0, 10_000.0);
/// `function.reserved_concurrency`'s range: at least one execution (0 would stop the function);
/// the account's own limit (1,000 by default, raised on request) is AWS's to enforce.
pub(super) const RESERVED_CONCURRENCY_MAX: (i64, i64) = (1, 1_000_000);
/// A secret reference: `ssm:` and a parameter name, or `secretsmanager:` and a secret name.
pub(super) const SECRET_REF_PATTERN: &str = "^(ssm:[A-Za-z0-9_./-]+|secretsmanager:[A-Za-z0-9/_+=.@-]+)$";
/// The function's X-Ray tracing modes, by their config names; the first is the default (Lambda's).
pub(super) const TRACING_MODES: &[&str] = &["pass_through", "active"];
/// The table's billing modes, by their config names; the first is the default.
pub(super) const BILLING_MODES: &[&str] = &["on_demand", "provisioned"];
/// A provisioned table's read or write capacity units (DynamoDB's default account quota per
/// table is 40,000).
pub(super) const CAPACITY: IntSpec = IntSpec {
    default: 5,
    min: 1,
    max: 40_000,
};
/// A KMS key ARN: `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`.
pub(super) const KMS_KEY_ARN_PATTERN: &str = "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$";
/// The architectures Lambda runs, by their config names.
pub(super) const ARCHITECTURES: &[&str] = &["x86_64", "arm64"];
/// The record stores, by their config names; the first is the default.
pub(super) const STORES: &[&str] = &["dynamodb", "redis"];
/// The default of `idempotency.redis.url_env`.
pub(super) const DEFAULT_REDIS_URL_ENV: &str = "ONCELY_REDIS_URL";
/// Lambda's limits on a function's VPC config.
pub(super) const VPC_SUBNETS_MAX: usize = 16;
pub(super) const VPC_SECURITY_GROUPS_MAX: usize = 5;
/// The most user tags: AWS allows 50 per resource; Oncely's own take 3, and the rest is left
/// for tags others add (a tag policy, a backup plan).
pub(super) const TAGS_MAX: usize = 40;
/// A tag key's and a tag value's longest length, in characters (AWS's limits).
pub(super) const TAG_KEY_MAX: usize = 128;
pub(super) const TAG_VALUE_MAX: usize = 256;
/// The name parts: `app` 1..32 and `stage` 1..16 characters of a-z, 0-9 and - (not at either end).
pub(super) const APP_MAX: usize = 32;
pub(super) const STAGE_MAX: usize = 16;
const NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

/// The stack: one file gives a working idempotent HTTP API on AWS Lambda. Every key but `app` and
/// `stage` has a default.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Stack")]
pub(super) struct RawConfig {
    /// The application's name; with `stage` it names every resource `{app}-{stage}`.
    #[schemars(required, length(min = 1, max = APP_MAX), pattern(NAME_PATTERN))]
    pub(super) app: Option<String>,
    /// The stage (dev, prod, ...): one app can have several stacks side by side.
    #[schemars(required, length(min = 1, max = STAGE_MAX), pattern(NAME_PATTERN))]
    pub(super) stage: Option<String>,
    /// The AWS region, e.g. us-east-1; else AWS_REGION or the profile's region.
    pub(super) region: Option<String>,
    /// The DynamoDB table that holds idempotency records and orders.
    #[serde(default)]
    pub(super) table: RawTable,
    /// The Lambda function.
    #[serde(default)]
    pub(super) function: RawFunction,
    /// The idempotency layer's options.
    #[serde(default)]
    pub(super) idempotency: RawIdempotency,
    /// The HTTP API (API Gateway v2): routes, CORS, throttling and auth.
    #[serde(default)]
    pub(super) api: RawApi,
    /// A web page that reads the API's endpoint from an env file; without it nothing is written.
    #[serde(default)]
    pub(super) frontend: Option<RawFrontend>,
    /// `up --local`, the whole stack on this machine.
    #[serde(default)]
    pub(super) local: RawLocal,
    /// CloudWatch alarms on the function's errors, `failed` outcomes and throttles (on by default).
    #[serde(default)]
    pub(super) alarms: RawAlarms,
    /// SQS queues the function reads in batches, each with a dead-letter queue (default none).
    pub(super) queues: Option<Vec<RawQueue>>,
    /// Tags put on every resource of the stack next to Oncely's own (`managed-by`, `oncely:app`,
    /// `oncely:stage`, which they cannot override), for cost allocation and policies. `up` keeps
    /// each resource's tags exactly these and Oncely's (AWS's own `aws:` tags aside).
    #[schemars(extend("maxProperties" = TAGS_MAX))]
    pub(super) tags: Option<BTreeMap<String, TagValue>>,
}

/// A tag's value as written: text, or a number or boolean written without quotes (taken as its
/// text, `cost-center: 4711` is "4711"); anything else is a problem validation names.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(super) struct TagValue(pub(super) serde_yaml::Value);

impl JsonSchema for TagValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TagValue".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// One SQS queue whose messages the function receives in batches (partial batch failures on),
/// with a dead-letter queue for the messages that keep failing.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Queue")]
pub(super) struct RawQueue {
    /// The queue's short name: the queue is `{app}-{stage}-{name}`, its dead-letter queue
    /// `{app}-{stage}-{name}-dlq`.
    #[schemars(required, length(min = 1, max = QUEUE_NAME_MAX), pattern(NAME_PATTERN))]
    pub(super) name: Option<String>,
    /// Messages per invocation.
    #[schemars(
        range(min = QUEUE_BATCH_SIZE.min, max = QUEUE_BATCH_SIZE.max),
        extend("default" = QUEUE_BATCH_SIZE.default)
    )]
    pub(super) batch_size: Option<i64>,
    /// Receives before a message moves to the dead-letter queue.
    #[schemars(
        range(min = QUEUE_MAX_RECEIVE_COUNT.min, max = QUEUE_MAX_RECEIVE_COUNT.max),
        extend("default" = QUEUE_MAX_RECEIVE_COUNT.default)
    )]
    pub(super) max_receive_count: Option<i64>,
    /// Seconds a received message stays hidden before it is delivered again (default: six times
    /// the function's timeout; at least the function's timeout).
    #[schemars(range(min = 1, max = QUEUE_VISIBILITY_MAX_S))]
    pub(super) visibility_timeout_s: Option<i64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Table")]
pub(super) struct RawTable {
    /// The attribute DynamoDB's TTL reads (epoch seconds); not `id`, the table's key.
    #[schemars(length(min = 1, max = 255), extend("default" = "expiration"))]
    pub(super) ttl_attribute: Option<String>,
    /// Point-in-time recovery: the table can be restored to any second of the last 35 days.
    #[schemars(extend("default" = true))]
    pub(super) point_in_time_recovery: Option<bool>,
    /// Deletion protection: DynamoDB refuses to delete the table while it is on; `down` turns it
    /// off only with `--delete-data`.
    #[schemars(extend("default" = true))]
    pub(super) deletion_protection: Option<bool>,
    /// Encryption at rest with this customer managed KMS key (its key ARN); without it, the AWS
    /// owned key. The function's role may use exactly this key.
    #[schemars(pattern(KMS_KEY_ARN_PATTERN))]
    pub(super) kms_key: Option<String>,
    /// `on_demand` (pay per request) or `provisioned` (with `read_capacity` and `write_capacity`).
    #[schemars(extend("enum" = BILLING_MODES, "default" = BILLING_MODES[0]))]
    pub(super) billing_mode: Option<String>,
    /// Read capacity units, with `billing_mode: provisioned`.
    #[schemars(range(min = CAPACITY.min, max = CAPACITY.max))]
    pub(super) read_capacity: Option<i64>,
    /// Write capacity units, with `billing_mode: provisioned`.
    #[schemars(range(min = CAPACITY.min, max = CAPACITY.max))]
    pub(super) write_capacity: Option<i64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Function")]
pub(super) struct RawFunction {
    /// The workspace package built as `bootstrap` for provided.al2023.
    #[schemars(length(min = 1), extend("default" = "function"))]
    pub(super) package: Option<String>,
    /// The instruction set the function runs on.
    #[schemars(extend("enum" = ARCHITECTURES, "default" = ARCHITECTURES[0]))]
    pub(super) architecture: Option<String>,
    /// Memory in MB; CPU scales with it.
    #[schemars(range(min = MEMORY_MB.min, max = MEMORY_MB.max), extend("default" = MEMORY_MB.default))]
    pub(super) memory_mb: Option<i64>,
    /// The function's timeout in seconds (an HTTP API waits at most 30 s for its integration).
    #[schemars(range(min = TIMEOUT_S.min, max = TIMEOUT_S.max), extend("default" = TIMEOUT_S.default))]
    pub(super) timeout_s: Option<i64>,
    /// How long CloudWatch Logs keeps the function's logs, in days (one of the values it accepts).
    #[schemars(extend("enum" = LOG_RETENTION_DAYS, "default" = 14))]
    pub(super) log_retention_days: Option<i64>,
    /// Extra environment variables for the function (names Lambda or the deployer set are reserved).
    pub(super) environment: Option<BTreeMap<String, String>>,
    /// Runs the function in your VPC (to reach a private Redis, for example).
    pub(super) vpc: Option<RawVpc>,
    /// How many published versions of the function to keep (1..100, default 5); older ones that no
    /// alias points to are deleted by `up`. `rollback` can go back to any kept version.
    #[schemars(range(min = KEEP_VERSIONS.min, max = KEEP_VERSIONS.max), extend("default" = KEEP_VERSIONS.default))]
    pub(super) keep_versions: Option<i64>,
    /// Concurrent executions reserved for the function, and its cap: a burst cannot starve the
    /// account's other functions nor run past this many (default: none, the account's pool).
    #[schemars(range(min = RESERVED_CONCURRENCY_MAX.0, max = RESERVED_CONCURRENCY_MAX.1))]
    pub(super) reserved_concurrency: Option<i64>,
    /// AWS X-Ray tracing: `active` samples and traces requests (the role may send traces),
    /// `pass_through` traces only requests that arrive with a sampled trace header.
    #[schemars(extend("enum" = TRACING_MODES, "default" = TRACING_MODES[0]))]
    pub(super) tracing: Option<String>,
    /// Secrets the function reads during init, by the variable its code asks for: `NAME:
    /// ssm:/path/name` (a SecureString parameter) or `NAME: secretsmanager:name`. The role may read
    /// exactly these; the values are never in the config nor in the function's environment.
    /// `up --local` takes each from the variable of the same name in its own environment.
    pub(super) secrets: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Vpc")]
pub(super) struct RawVpc {
    /// The subnets Lambda places the function's network interfaces in (1..16, `subnet-...`).
    #[schemars(length(min = 1, max = VPC_SUBNETS_MAX))]
    pub(super) subnet_ids: Option<Vec<String>>,
    /// The security groups of those network interfaces (1..5, `sg-...`).
    #[schemars(length(min = 1, max = VPC_SECURITY_GROUPS_MAX))]
    pub(super) security_group_ids: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Idempotency")]
pub(super) struct RawIdempotency {
    /// How long a completed request is replayed, in seconds.
    #[schemars(
        range(min = EXPIRES_AFTER_S.min, max = EXPIRES_AFTER_S.max),
        extend("default" = EXPIRES_AFTER_S.default)
    )]
    pub(super) expires_after_s: Option<i64>,
    /// The request header that carries the idempotency key.
    #[schemars(length(min = 1), extend("default" = "Idempotency-Key"))]
    pub(super) header: Option<String>,
    /// Completed records each execution environment keeps in memory (0 turns the cache off).
    #[schemars(
        range(min = LOCAL_CACHE_ITEMS.min, max = LOCAL_CACHE_ITEMS.max),
        extend("default" = LOCAL_CACHE_ITEMS.default)
    )]
    pub(super) local_cache_items: Option<i64>,
    /// The prefix of every record id (default: the function's name). Set it to keep the records
    /// valid when the function is renamed, or another stage or app takes it over.
    #[schemars(length(min = 1, max = 128))]
    pub(super) key_prefix: Option<String>,
    /// Where the records live: `dynamodb` (the stack's table, completed atomically with the order)
    /// or `redis` (your Redis or Valkey; orders stay in the table).
    #[schemars(extend("enum" = STORES, "default" = STORES[0]))]
    pub(super) store: Option<String>,
    /// The Redis store's settings (with `store: redis`).
    pub(super) redis: Option<RawRedis>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Redis")]
pub(super) struct RawRedis {
    /// The variable that holds the Redis URL (`redis://` or `rediss://`, with user, password and
    /// db) for `up --local`, read from its environment.
    #[schemars(length(min = 2), extend("default" = DEFAULT_REDIS_URL_ENV))]
    pub(super) url_env: Option<String>,
    /// Where a deployed function reads the Redis URL during init: `ssm:/path/name` (a
    /// SecureString parameter) or `secretsmanager:name`. Required to deploy `store: redis`; the URL
    /// is never in the config nor in the function's environment.
    #[schemars(pattern(SECRET_REF_PATTERN))]
    pub(super) url_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Api")]
pub(super) struct RawApi {
    /// Route keys, `METHOD /path` with `{param}` segments (or `$default`).
    #[schemars(extend("default" = ["POST /orders", "GET /orders/{id}"]))]
    pub(super) routes: Option<Vec<String>>,
    /// CORS for browsers; absent: no CORS headers.
    pub(super) cors: Option<RawCors>,
    /// The stage's default route throttling.
    pub(super) throttle: Option<RawThrottle>,
    /// Who may call the API; absent: every route is open.
    pub(super) auth: Option<RawAuth>,
    /// The API's own domain name; absent: only the `execute-api` URL.
    pub(super) domain: Option<RawDomain>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Domain")]
pub(super) struct RawDomain {
    /// The domain name, such as api.example.com; `{stage}` stands for the stage
    /// (`{stage}.api.example.com`), so that every stage has its own.
    #[schemars(required)]
    pub(super) name: Option<String>,
    /// An issued ACM certificate in the stack's region covering the name; absent: the deployer
    /// finds one (exact or wildcard) and says which.
    pub(super) certificate_arn: Option<String>,
    /// The Route 53 hosted zone that gets the name's alias records (A and AAAA); absent: no
    /// records are made (point your DNS at the target `plan` shows).
    pub(super) hosted_zone_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Auth")]
pub(super) struct RawAuth {
    /// A Cognito user pool and app client made by the deployer issue the tokens.
    pub(super) cognito: Option<RawCognito>,
    /// Tokens from any OIDC issuer.
    pub(super) jwt: Option<RawJwt>,
    /// Routes of `api.routes` reachable without a token.
    pub(super) public_routes: Option<Vec<String>>,
}

/// `cognito: {}`: the deployer creates the user pool and app client; nothing to set yet.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cognito")]
pub(super) struct RawCognito {}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Jwt")]
pub(super) struct RawJwt {
    /// The issuer URL (https; http only on loopback, for `up --local`): tokens' `iss`.
    pub(super) issuer: Option<String>,
    /// Accepted audiences: a token carries one of them in `aud` or `client_id`.
    pub(super) audience: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cors")]
pub(super) struct RawCors {
    /// Origins allowed to call the API (`scheme://host[:port]`, or "*").
    pub(super) allow_origins: Option<Vec<String>>,
    /// Methods allowed; default: the routes' methods and OPTIONS.
    pub(super) allow_methods: Option<Vec<String>>,
    /// Request headers allowed; default: content-type, the idempotency header, if-none-match (and
    /// authorization with `api.auth`).
    pub(super) allow_headers: Option<Vec<String>>,
    /// Response headers the page may read; default: location, etag, idempotent-replayed, retry-after.
    pub(super) expose_headers: Option<Vec<String>>,
    /// How long browsers cache a preflight answer, in seconds.
    #[schemars(
        range(min = CORS_MAX_AGE_S.min, max = CORS_MAX_AGE_S.max),
        extend("default" = CORS_MAX_AGE_S.default)
    )]
    pub(super) max_age_s: Option<i64>,
    /// Whether browsers may send cookies (not with the origin "*").
    #[schemars(extend("default" = false))]
    pub(super) allow_credentials: Option<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Throttle")]
pub(super) struct RawThrottle {
    /// The most requests served at once before 429s.
    #[schemars(
        range(min = THROTTLE_BURST.min, max = THROTTLE_BURST.max),
        extend("default" = THROTTLE_BURST.default)
    )]
    pub(super) burst: Option<i64>,
    /// Steady requests per second.
    #[schemars(range(min = THROTTLE_RATE.1, max = THROTTLE_RATE.2), extend("default" = THROTTLE_RATE.0))]
    pub(super) rate: Option<f64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Frontend")]
pub(super) struct RawFrontend {
    /// The env file `up` and `sync-endpoint` write the endpoint (and auth settings) into.
    #[schemars(length(min = 1), extend("default" = "frontend/.env.local"))]
    pub(super) env_file: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Local")]
pub(super) struct RawLocal {
    /// Execution environments `up --local` runs (each serves one request at a time).
    #[schemars(
        range(min = LOCAL_CONCURRENCY.min, max = LOCAL_CONCURRENCY.max),
        extend("default" = LOCAL_CONCURRENCY.default)
    )]
    pub(super) concurrency: Option<i64>,
}

/// `alarms:`: the deployer's CloudWatch alarms.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Alarms")]
pub(super) struct RawAlarms {
    /// Whether `up` creates the alarms `{app}-{stage}-errors`, `-failed` and `-throttles` (default
    /// true); false deletes them.
    pub(super) enabled: Option<bool>,
    /// SNS topic ARNs notified when an alarm goes off (and back to OK); default none.
    pub(super) actions: Option<Vec<String>>,
}
