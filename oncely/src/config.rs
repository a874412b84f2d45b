//! Configuration: the idempotency options, and reading them (with the table name) from the environment
//! the deployer gives a function.

use std::time::Duration;

/// Where the client's idempotency key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A request header (default `Idempotency-Key`); required, 1..255 printable ASCII.
    Header(String),
    /// Named fields of the JSON body (e.g. `["userId", "productId"]`): the key is the canonical
    /// JSON array of their values. Each field must be present and non-null.
    BodyFields(Vec<String>),
}

/// Options of the idempotency layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// The key prefix: scopes every record id (with the route or operation). From
    /// `IDEMPOTENCY_KEY_PREFIX`, else `AWS_LAMBDA_FUNCTION_NAME`; set it to keep the records when
    /// the function is renamed or redeployed under another name.
    pub function_name: String,
    /// Where the key comes from.
    pub key_source: KeySource,
    /// How long a completed record is replayed (the TTL attribute is set to now + this).
    pub expires_after: Duration,
    /// Capacity of the per-process LRU cache of COMPLETED records; 0 turns it off.
    pub local_cache_items: usize,
    /// The most bytes that cache holds (records evicted least recently used first); 0 turns it off.
    pub local_cache_bytes: usize,
    /// Name of the table's TTL attribute (epoch seconds).
    pub ttl_attribute: String,
    /// The in-progress deadline used when the invocation has no Lambda deadline (tests, local runs).
    pub fallback_deadline: Duration,
    /// The most a function's init waits for the store's first connection
    /// ([`crate::Idempotency::warm_up`]); zero skips it. From `IDEMPOTENCY_WARM_UP_MS`.
    pub warm_up: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            function_name: "oncely".to_string(),
            key_source: KeySource::Header(DEFAULT_HEADER.to_string()),
            expires_after: Duration::from_secs(DEFAULT_EXPIRES_AFTER_S),
            local_cache_items: DEFAULT_CACHE_ITEMS,
            local_cache_bytes: DEFAULT_CACHE_BYTES,
            ttl_attribute: DEFAULT_TTL_ATTRIBUTE.to_string(),
            fallback_deadline: Duration::from_secs(30),
            warm_up: Duration::from_millis(DEFAULT_WARM_UP_MS),
        }
    }
}

/// Default of `IDEMPOTENCY_HEADER`.
pub const DEFAULT_HEADER: &str = "Idempotency-Key";
/// Default of `IDEMPOTENCY_EXPIRES_AFTER_S` (24 h).
pub const DEFAULT_EXPIRES_AFTER_S: u64 = 86_400;
/// Default of `IDEMPOTENCY_LOCAL_CACHE_ITEMS`.
pub const DEFAULT_CACHE_ITEMS: usize = 256;
/// Default of `IDEMPOTENCY_LOCAL_CACHE_BYTES` without `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`: 8 MiB,
/// a sixteenth of the smallest usual function (128 MB). With it, the default is a sixteenth of
/// the function's memory.
pub const DEFAULT_CACHE_BYTES: usize = 8 * 1024 * 1024;
/// Default of `IDEMPOTENCY_WARM_UP_MS`: an init waits at most a second for the store's first
/// connection (DNS, TCP, TLS and one read; tens of milliseconds with init's burst of CPU),
/// a tenth of Lambda's 10 s init limit. A store out of reach costs the init that second, not the
/// start: the first request connects again.
pub const DEFAULT_WARM_UP_MS: u64 = 1_000;
/// The most `IDEMPOTENCY_WARM_UP_MS` may be: half of Lambda's init limit.
pub const MAX_WARM_UP_MS: u64 = 5_000;
/// Default of `IDEMPOTENCY_TTL_ATTRIBUTE`.
pub const DEFAULT_TTL_ATTRIBUTE: &str = "expiration";

/// An environment variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{name} is not set: set it to the DynamoDB table that holds the idempotency records")]
    Missing {
        /// The variable.
        name: &'static str,
    },
    /// A variable's value is not one the option takes.
    #[error("{name}={value:?} is invalid: {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What it held.
        value: String,
        /// What it takes.
        expected: &'static str,
    },
}

/// What a function deployed by the deployer reads from its environment: the table and the
/// idempotency options (`config/stack.yaml`'s `idempotency:` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `TABLE_NAME` (required).
    pub table_name: String,
    /// The idempotency options from `IDEMPOTENCY_*` and `AWS_LAMBDA_FUNCTION_NAME`.
    pub idempotency: IdempotencyConfig,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (a testable stand-in for the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = lookup("TABLE_NAME")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing { name: "TABLE_NAME" })?;
        if !is_table_name(&table_name) {
            return Err(ConfigError::Invalid {
                name: "TABLE_NAME",
                value: table_name,
                expected: "3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'",
            });
        }
        let expires = match lookup("IDEMPOTENCY_EXPIRES_AFTER_S") {
            None => DEFAULT_EXPIRES_AFTER_S,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=366 * 86_400).contains(s))
                .ok_or(ConfigError::Invalid {
                    name: "IDEMPOTENCY_EXPIRES_AFTER_S",
                    value: v,
                    expected: "a whole number of seconds from 1 to 31622400 (366 days)",
                })?,
        };
        let header = match lookup("IDEMPOTENCY_HEADER") {
            None => DEFAULT_HEADER.to_string(),
            Some(v) => {
                if !is_header_name(&v) {
                    return Err(ConfigError::Invalid {
                        name: "IDEMPOTENCY_HEADER",
                        value: v,
                        expected: "a valid HTTP header name such as Idempotency-Key",
                    });
                }
                v
            }
        };
        let cache = match lookup("IDEMPOTENCY_LOCAL_CACHE_ITEMS") {
            None => DEFAULT_CACHE_ITEMS,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 1_000_000)
                .ok_or(ConfigError::Invalid {
                    name: "IDEMPOTENCY_LOCAL_CACHE_ITEMS",
                    value: v,
                    expected: "a whole number from 0 (cache off) to 1000000",
                })?,
        };
        let memory_share = lookup("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .and_then(|mb| mb.trim().parse::<usize>().ok())
            .map_or(DEFAULT_CACHE_BYTES, |mb| mb.saturating_mul(1024 * 1024) / 16);
        let cache_bytes = match lookup("IDEMPOTENCY_LOCAL_CACHE_BYTES") {
            None => memory_share,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 1 << 34)
                .ok_or(ConfigError::Invalid {
                    name: "IDEMPOTENCY_LOCAL_CACHE_BYTES",
                    value: v,
                    expected: "a whole number of bytes from 0 (cache off) to 17179869184 (16 GiB)",
                })?,
        };
        let ttl_attribute = match lookup("IDEMPOTENCY_TTL_ATTRIBUTE") {
            None => DEFAULT_TTL_ATTRIBUTE.to_string(),
            Some(v) => {
                let reserved = [
                    "id",
                    "status",
                    "in_progress_expiration",
                    "fingerprint",
                    "claim",
                    "response_status",
                    "response_headers",
                    "response_body",
                ];
                if v.is_empty() || v.len() > 255 || reserved.contains(&v.as_str()) {
                    return Err(ConfigError::Invalid {
                        name: "IDEMPOTENCY_TTL_ATTRIBUTE",
                        value: v,
                        expected: "a DynamoDB attribute name (1 to 255 bytes) not used by the records (id, status, \
                            fingerprint, ...)",
                    });
                }
                v
            }
        };
        let warm_up = match lookup("IDEMPOTENCY_WARM_UP_MS") {
            None => DEFAULT_WARM_UP_MS,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms <= MAX_WARM_UP_MS)
                .ok_or(ConfigError::Invalid {
                    name: "IDEMPOTENCY_WARM_UP_MS",
                    value: v,
                    expected: "a whole number of milliseconds from 0 (no warm-up) to 5000",
                })?,
        };
        let function_name = match lookup("IDEMPOTENCY_KEY_PREFIX") {
            Some(v) if (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) => v,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "IDEMPOTENCY_KEY_PREFIX",
                    value: v,
                    expected: "1 to 128 visible ASCII characters (the scope of every record id)",
                });
            }
            None => lookup("AWS_LAMBDA_FUNCTION_NAME")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "oncely".to_string()),
        };
        Ok(Settings {
            table_name,
            idempotency: IdempotencyConfig {
                function_name,
                key_source: KeySource::Header(header),
                expires_after: Duration::from_secs(expires),
                local_cache_items: cache,
                local_cache_bytes: cache_bytes,
                ttl_attribute,
                warm_up: Duration::from_millis(warm_up),
                ..IdempotencyConfig::default()
            },
        })
    }
}

/// An HTTP field name (RFC 9110 `token`), at most 128 bytes.
fn is_header_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let s = settings(&[("TABLE_NAME", "oncely-orders")]).unwrap();
        assert_eq!(s.table_name, "oncely-orders");
        assert_eq!(s.idempotency.key_source, KeySource::Header("Idempotency-Key".into()));
        assert_eq!(s.idempotency.expires_after, Duration::from_secs(86_400));
        assert_eq!(s.idempotency.local_cache_items, 256);
        assert_eq!(s.idempotency.local_cache_bytes, 8 * 1024 * 1024);
        assert_eq!(s.idempotency.ttl_attribute, "expiration");
        assert_eq!(s.idempotency.warm_up, Duration::from_secs(1));
    }

    #[test]
    fn the_warm_up_bound_is_read_and_bounded() {
        let s = settings(&[("TABLE_NAME", "t_1"), ("IDEMPOTENCY_WARM_UP_MS", "0")]).unwrap();
        assert_eq!(s.idempotency.warm_up, Duration::ZERO);
        let s = settings(&[("TABLE_NAME", "t_1"), ("IDEMPOTENCY_WARM_UP_MS", "5000")]).unwrap();
        assert_eq!(s.idempotency.warm_up, Duration::from_secs(5));
        for bad in ["5001", "-1", "soon", ""] {
            let err = settings(&[("TABLE_NAME", "t_1"), ("IDEMPOTENCY_WARM_UP_MS", bad)]).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("IDEMPOTENCY_WARM_UP_MS={bad:?} is invalid")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_cache_budget_is_a_share_of_the_memory_unless_set() {
        let s = settings(&[("TABLE_NAME", "t_1"), ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")]).unwrap();
        assert_eq!(s.idempotency.local_cache_bytes, 64 * 1024 * 1024);
        let s = settings(&[
            ("TABLE_NAME", "t_1"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
            ("IDEMPOTENCY_LOCAL_CACHE_BYTES", "1000000"),
        ])
        .unwrap();
        assert_eq!(s.idempotency.local_cache_bytes, 1_000_000);
        let err = settings(&[("TABLE_NAME", "t_1"), ("IDEMPOTENCY_LOCAL_CACHE_BYTES", "8MB")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("IDEMPOTENCY_LOCAL_CACHE_BYTES=\"8MB\" is invalid"),
            "{err}"
        );
    }

    #[test]
    fn overrides() {
        let s = settings(&[
            ("TABLE_NAME", "t_1"),
            ("IDEMPOTENCY_EXPIRES_AFTER_S", "3600"),
            ("IDEMPOTENCY_HEADER", "X-Request-Key"),
            ("IDEMPOTENCY_LOCAL_CACHE_ITEMS", "0"),
            ("IDEMPOTENCY_TTL_ATTRIBUTE", "ttl"),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-fn"),
        ])
        .unwrap();
        assert_eq!(s.idempotency.expires_after, Duration::from_secs(3600));
        assert_eq!(s.idempotency.key_source, KeySource::Header("X-Request-Key".into()));
        assert_eq!(s.idempotency.local_cache_items, 0);
        assert_eq!(s.idempotency.ttl_attribute, "ttl");
        assert_eq!(s.idempotency.function_name, "orders-fn");
    }

    #[test]
    fn a_key_prefix_outlives_the_function_name() {
        let renamed = |function: &str| {
            settings(&[
                ("TABLE_NAME", "t_1"),
                ("AWS_LAMBDA_FUNCTION_NAME", function),
                ("IDEMPOTENCY_KEY_PREFIX", "payments"),
            ])
            .unwrap()
            .idempotency
            .function_name
        };
        assert_eq!(renamed("payments-v1"), "payments");
        assert_eq!(renamed("payments-v2"), renamed("payments-v1"));
        let err = settings(&[("TABLE_NAME", "t_1"), ("IDEMPOTENCY_KEY_PREFIX", "two words")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("IDEMPOTENCY_KEY_PREFIX=\"two words\" is invalid"),
            "{err}"
        );
    }

    #[test]
    fn missing_table_is_a_clear_error() {
        let err = settings(&[]).unwrap_err();
        assert_eq!(err, ConfigError::Missing { name: "TABLE_NAME" });
        assert!(err.to_string().contains("TABLE_NAME is not set"));
    }

    #[test]
    fn invalid_values_are_named() {
        for (name, value) in [
            ("IDEMPOTENCY_EXPIRES_AFTER_S", "soon"),
            ("IDEMPOTENCY_EXPIRES_AFTER_S", "0"),
            ("IDEMPOTENCY_HEADER", "bad header"),
            ("IDEMPOTENCY_LOCAL_CACHE_ITEMS", "-1"),
            ("IDEMPOTENCY_TTL_ATTRIBUTE", "status"),
            ("TABLE_NAME", "a b"),
        ] {
            let mut vars = vec![("TABLE_NAME", "orders")];
            vars.retain(|(k, _)| *k != name);
            vars.push((name, value));
            let err = settings(&vars).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { name: n, .. } if *n == name),
                "{name}={value}: {err:?}"
            );
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }
}
