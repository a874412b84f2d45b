//! The raw serde structs of the stack's YAML config: exactly what the file may say, nothing
//! checked yet (that is `validate`'s job).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) app: Option<String>,
    pub(super) stage: Option<String>,
    pub(super) region: Option<String>,
    #[serde(default)]
    pub(super) table: RawTable,
    #[serde(default)]
    pub(super) function: RawFunction,
    #[serde(default)]
    pub(super) idempotency: RawIdempotency,
    #[serde(default)]
    pub(super) api: RawApi,
    #[serde(default)]
    pub(super) frontend: RawFrontend,
    #[serde(default)]
    pub(super) local: RawLocal,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTable {
    pub(super) ttl_attribute: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFunction {
    pub(super) package: Option<String>,
    pub(super) architecture: Option<String>,
    pub(super) memory_mb: Option<i64>,
    pub(super) timeout_s: Option<i64>,
    pub(super) log_retention_days: Option<i64>,
    pub(super) environment: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdempotency {
    pub(super) expires_after_s: Option<i64>,
    pub(super) header: Option<String>,
    pub(super) local_cache_items: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    pub(super) routes: Option<Vec<String>>,
    pub(super) cors: Option<RawCors>,
    pub(super) throttle: Option<RawThrottle>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCors {
    pub(super) allow_origins: Option<Vec<String>>,
    pub(super) allow_methods: Option<Vec<String>>,
    pub(super) allow_headers: Option<Vec<String>>,
    pub(super) expose_headers: Option<Vec<String>>,
    pub(super) max_age_s: Option<i64>,
    pub(super) allow_credentials: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThrottle {
    pub(super) burst: Option<i64>,
    pub(super) rate: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFrontend {
    pub(super) env_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocal {
    pub(super) concurrency: Option<i64>,
}

/// The keys each mapping accepts, so that every unknown key is reported, not only the first.
pub(super) const SCHEMA: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "app",
            "stage",
            "region",
            "table",
            "function",
            "idempotency",
            "api",
            "frontend",
            "local",
        ],
    ),
    ("table", &["ttl_attribute"]),
    (
        "function",
        &[
            "package",
            "architecture",
            "memory_mb",
            "timeout_s",
            "log_retention_days",
            "environment",
        ],
    ),
    ("idempotency", &["expires_after_s", "header", "local_cache_items"]),
    ("api", &["routes", "cors", "throttle"]),
    (
        "api.cors",
        &[
            "allow_origins",
            "allow_methods",
            "allow_headers",
            "expose_headers",
            "max_age_s",
            "allow_credentials",
        ],
    ),
    ("api.throttle", &["burst", "rate"]),
    ("frontend", &["env_file"]),
    ("local", &["concurrency"]),
];
