//! `up --local --store redis`: the idempotency records in Redis instead of the table. A local
//! `redis-server` on a free loopback port without persistence (stopped with the stack), or the
//! server given with `--redis-url`; the execution environments get `ONCELY_STORE=redis` and the
//! URL in `ONCELY_REDIS_URL`. The URL's password is never printed.

use anyhow::{Context as _, bail};

use crate::progress::Progress;

/// Where the local stack keeps its idempotency records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LocalStore {
    /// In the stack's table (DynamoDB Local), as deployed by default.
    #[default]
    Dynamodb,
    /// In Redis: a local `redis-server`, or `--redis-url`.
    Redis,
}

/// The store `--store` and `--redis-url` ask for (`--redis-url` alone means Redis; neither:
/// `None`, the config's `idempotency.store` decides); a malformed URL is refused here, before
/// anything starts.
pub fn resolve(store: Option<LocalStore>, redis_url: Option<&str>) -> anyhow::Result<Option<LocalStore>> {
    if let Some(url) = redis_url {
        oncely::RedisUrl::parse(url).map_err(|e| anyhow::anyhow!("--redis-url: {e}"))?;
    }
    Ok(match (store, redis_url) {
        (Some(LocalStore::Dynamodb), Some(_)) => bail!("--redis-url needs --store redis (or no --store)"),
        (Some(store), _) => Some(store),
        (None, Some(_)) => Some(LocalStore::Redis),
        (None, None) => None,
    })
}

/// The store of `up --local`: the command line's, else the config's.
pub fn chosen(asked: Option<LocalStore>, config: &crate::config::Store) -> LocalStore {
    asked.unwrap_or(match config {
        crate::config::Store::Dynamodb => LocalStore::Dynamodb,
        crate::config::Store::Redis { .. } => LocalStore::Redis,
    })
}

/// The variables the deployed function gets for the config's Redis store (`Stack::function_environment`),
/// which the local stack replaces with its own choice.
pub const STORE_VARIABLES: [&str; 2] = ["ONCELY_STORE", "ONCELY_REDIS_URL_ENV"];

/// The Redis the local stack uses; a server it started stops when this drops.
#[derive(Debug)]
pub struct RedisStore {
    _server: Option<emulators::Emulator>,
    url: String,
}

impl RedisStore {
    /// Uses `url`, or starts a local `redis-server` when there is none.
    pub async fn start(url: Option<String>, progress: &Progress) -> anyhow::Result<RedisStore> {
        if let Some(url) = url {
            progress.info(format!("idempotency records in Redis at {}", redacted(&url)));
            return Ok(RedisStore { _server: None, url });
        }
        let step = progress.step("starting redis-server (no persistence)");
        let server = tokio::task::spawn_blocking(|| emulators::start_redis_server(None))
            .await
            .context("starting redis-server")?
            .context("starting redis-server")?;
        let url = format!("redis://127.0.0.1:{}", server.port());
        step.done(&url);
        Ok(RedisStore {
            _server: Some(server),
            url,
        })
    }

    /// The URL without its password, for messages.
    pub fn shown(&self) -> String {
        redacted(&self.url)
    }

    /// What the execution environments get to use it.
    pub fn environment(&self) -> [(String, String); 3] {
        [
            ("ONCELY_STORE".into(), "redis".into()),
            ("ONCELY_REDIS_URL_ENV".into(), "ONCELY_REDIS_URL".into()),
            ("ONCELY_REDIS_URL".into(), self.url.clone()),
        ]
    }
}

/// `url` with the password of its user info replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a URL>".into();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{hidden}@{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_wins_over_the_config() {
        let redis = crate::config::Store::Redis {
            url_env: "CACHE_URL".into(),
            url_secret: None,
        };
        assert_eq!(resolve(None, None).unwrap(), None);
        assert_eq!(chosen(None, &redis), LocalStore::Redis);
        assert_eq!(chosen(None, &crate::config::Store::Dynamodb), LocalStore::Dynamodb);
        assert_eq!(chosen(Some(LocalStore::Dynamodb), &redis), LocalStore::Dynamodb);
        let asked = resolve(None, Some("redis://127.0.0.1:6379")).unwrap();
        assert_eq!(chosen(asked, &crate::config::Store::Dynamodb), LocalStore::Redis);
    }

    #[test]
    fn urls_are_checked_and_shown_without_the_password() {
        let check = |url: &str| resolve(None, Some(url));
        assert!(check("redis://127.0.0.1:6379").is_ok());
        assert!(check("rediss://u:p@cache.example:6380/2").is_ok());
        let err = check("http://u:hunter2@h").unwrap_err().to_string();
        assert!(err.contains("scheme is `http`") && !err.contains("hunter2"), "{err}");
        assert!(check("redis://:pw@/0").is_err());
        assert!(check("localhost:6379").is_err());
        assert_eq!(redacted("redis://app:s3cret@h:1/2"), "redis://app:***@h:1/2");
        assert_eq!(redacted("redis://:s3cret@h"), "redis://:***@h");
        assert_eq!(redacted("redis://h:6379"), "redis://h:6379");
    }
}
