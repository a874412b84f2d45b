//! Which store holds the idempotency records, read from the environment: `ONCELY_STORE` =
//! `dynamodb` (default) or `redis`; with `redis`, the URL is read from the variable named by
//! `ONCELY_REDIS_URL_ENV` (default `ONCELY_REDIS_URL`). Errors name the variable, never its value
//! (a Redis URL may carry a password). `ONCELY_REDIS_MAX_REPLY_BYTES` bounds one reply of the
//! server (default 1 MiB; see [`ReplyLimits`]).

use crate::redis_client::{RedisUrl, RedisUrlError, ReplyLimits};

/// The variable that selects the store.
pub const STORE_VAR: &str = "ONCELY_STORE";
/// The variable that names the variable holding the Redis URL.
pub const REDIS_URL_ENV_VAR: &str = "ONCELY_REDIS_URL_ENV";
/// The default variable holding the Redis URL.
pub const DEFAULT_REDIS_URL_VAR: &str = "ONCELY_REDIS_URL";
/// The variable that bounds one reply of the Redis server, in bytes.
pub const REDIS_MAX_REPLY_VAR: &str = "ONCELY_REDIS_MAX_REPLY_BYTES";

/// Where idempotency records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// In the DynamoDB table, completed atomically with the handler's writes (the default).
    DynamoDb,
    /// In Redis or Valkey at this URL, each reply read within these limits.
    Redis {
        /// Where.
        url: RedisUrl,
        /// How much one reply may hold.
        limits: ReplyLimits,
    },
}

/// A store setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `ONCELY_STORE` names no store.
    #[error("ONCELY_STORE={0:?} is invalid: use dynamodb (the default) or redis")]
    UnknownStore(String),
    /// `ONCELY_REDIS_URL_ENV` is not a variable name.
    #[error("ONCELY_REDIS_URL_ENV={0:?} is invalid: name an environment variable (letters, digits and '_')")]
    UrlVariableName(String),
    /// The variable that should hold the URL is not set.
    #[error(
        "ONCELY_STORE=redis needs the Redis URL in {var}, which is not set: set it to \
        redis://[user:password@]host:6379[/db] (or rediss:// for TLS)"
    )]
    UrlMissing {
        /// The variable that should hold it.
        var: String,
    },
    /// `ONCELY_REDIS_MAX_REPLY_BYTES` is out of range.
    #[error(
        "ONCELY_REDIS_MAX_REPLY_BYTES={0:?} is invalid: use a whole number of bytes from 65536 to 67108864 \
        (default 1048576)"
    )]
    MaxReply(String),
    /// The URL does not parse (the message never shows it).
    #[error("{var} does not hold a usable Redis URL: {source}")]
    UrlInvalid {
        /// The variable that holds it.
        var: String,
        /// Why.
        #[source]
        source: RedisUrlError,
    },
}

impl StoreSettings {
    /// Reads the store settings through `lookup` (the environment, or a stand-in for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StoreError> {
        let store = lookup(STORE_VAR).unwrap_or_default();
        match store.trim().to_ascii_lowercase().as_str() {
            "" | "dynamodb" => Ok(StoreSettings::DynamoDb),
            "redis" | "valkey" => {
                let var = match lookup(REDIS_URL_ENV_VAR).filter(|v| !v.is_empty()) {
                    None => DEFAULT_REDIS_URL_VAR.to_string(),
                    Some(name) if is_variable_name(&name) => name,
                    Some(name) => return Err(StoreError::UrlVariableName(name)),
                };
                let url = lookup(&var)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| StoreError::UrlMissing { var: var.clone() })?;
                let url = RedisUrl::parse(&url).map_err(|source| StoreError::UrlInvalid { var, source })?;
                let mut limits = ReplyLimits::default();
                if let Some(text) = lookup(REDIS_MAX_REPLY_VAR) {
                    limits.max_reply = text
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (64 * 1024..=64 * 1024 * 1024).contains(n))
                        .ok_or(StoreError::MaxReply(text))?;
                }
                Ok(StoreSettings::Redis { url, limits })
            }
            _ => Err(StoreError::UnknownStore(store)),
        }
    }
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<StoreSettings, StoreError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        StoreSettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn dynamodb_is_the_default() {
        assert_eq!(read(&[]).unwrap(), StoreSettings::DynamoDb);
        assert_eq!(read(&[("ONCELY_STORE", "DynamoDB")]).unwrap(), StoreSettings::DynamoDb);
    }

    #[test]
    fn redis_reads_the_url_from_the_named_variable() {
        let s = read(&[
            ("ONCELY_STORE", "redis"),
            ("ONCELY_REDIS_URL", "redis://127.0.0.1:7000/1"),
        ])
        .unwrap();
        assert!(matches!(s, StoreSettings::Redis { url, limits }
                if url.port == 7000 && url.db == 1 && limits == ReplyLimits::default()));
        let s = read(&[
            ("ONCELY_STORE", "redis"),
            ("ONCELY_REDIS_URL_ENV", "CACHE_URL"),
            ("CACHE_URL", "rediss://u:p@cache.internal"),
        ])
        .unwrap();
        assert!(matches!(s, StoreSettings::Redis { url, .. } if url.tls && url.host == "cache.internal"));
    }

    #[test]
    fn the_reply_bound_is_read_and_checked() {
        let url = ("ONCELY_REDIS_URL", "redis://h");
        let s = read(&[
            ("ONCELY_STORE", "redis"),
            url,
            ("ONCELY_REDIS_MAX_REPLY_BYTES", "65536"),
        ])
        .unwrap();
        assert!(matches!(s, StoreSettings::Redis { limits, .. } if limits.max_reply == 65_536));
        for bad in ["65535", "67108865", "1MB", ""] {
            let err = read(&[("ONCELY_STORE", "redis"), url, ("ONCELY_REDIS_MAX_REPLY_BYTES", bad)]).unwrap_err();
            assert_eq!(err, StoreError::MaxReply(bad.into()));
        }
    }

    #[test]
    fn errors_name_the_variable_and_never_the_password() {
        let err = read(&[("ONCELY_STORE", "postgres")]).unwrap_err();
        assert!(err.to_string().starts_with("ONCELY_STORE=\"postgres\""), "{err}");
        let err = read(&[("ONCELY_STORE", "redis")]).unwrap_err();
        assert_eq!(
            err,
            StoreError::UrlMissing {
                var: "ONCELY_REDIS_URL".into()
            }
        );
        let err = read(&[("ONCELY_STORE", "redis"), ("ONCELY_REDIS_URL_ENV", "bad name")]).unwrap_err();
        assert!(matches!(err, StoreError::UrlVariableName(_)));
        let err = read(&[("ONCELY_STORE", "redis"), ("ONCELY_REDIS_URL", "http://u:hunter2@h")]).unwrap_err();
        assert!(matches!(&err, StoreError::UrlInvalid { var, .. } if var == "ONCELY_REDIS_URL"));
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
