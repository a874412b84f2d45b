//! Validation of where the records live (`idempotency.store`, `idempotency.redis`).

use std::collections::BTreeMap;

use super::raw::{DEFAULT_REDIS_URL_ENV, RawIdempotency, STORES};
use super::validate::{RESERVED_ENV, Validator, is_env_name};
use super::{SecretRef, Store};

impl Validator {
    /// `store` and `redis`; `environment` is `function.environment`, whose names the Redis URL's
    /// variable must not take.
    pub(super) fn store(&mut self, i: &RawIdempotency, environment: &BTreeMap<String, String>) -> Store {
        let kind = i.store.as_deref().unwrap_or(STORES[0]);
        match kind {
            "dynamodb" => {
                if i.redis.is_some() {
                    self.problem(
                        "idempotency.redis",
                        "is only read with `store: redis`: set `store: redis`, or remove `redis`",
                    );
                }
                Store::Dynamodb
            }
            "redis" => {
                let url_env = i
                    .redis
                    .as_ref()
                    .and_then(|r| r.url_env.clone())
                    .unwrap_or_else(|| DEFAULT_REDIS_URL_ENV.to_string());
                let path = "idempotency.redis.url_env";
                if !is_env_name(&url_env) {
                    self.problem(
                        path,
                        format!(
                            "{url_env:?} is not a valid variable name: start with a letter, then letters, digits and _"
                        ),
                    );
                } else if RESERVED_ENV.contains(&url_env.as_str()) {
                    self.problem(
                        path,
                        format!("{url_env} is reserved (set by Lambda or by the deployer); choose another name"),
                    );
                } else if environment.contains_key(&url_env) {
                    self.problem(
                        path,
                        format!(
                            "{url_env} is also in `function.environment`: the deployer sets it from the environment \
                             of `up` (so the URL never sits in the config); remove it there"
                        ),
                    );
                }
                let url_secret = i.redis.as_ref().and_then(|r| r.url_secret.as_deref()).and_then(|text| {
                    text.parse::<SecretRef>()
                        .map_err(|e| self.problem("idempotency.redis.url_secret", e.to_string()))
                        .ok()
                });
                Store::Redis { url_env, url_secret }
            }
            other => {
                self.problem(
                    "idempotency.store",
                    format!("{other:?} is not a store: use {}", STORES.join(" or ")),
                );
                Store::Dynamodb
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_problems as problems;
    use crate::{Config, Store};

    #[test]
    fn the_store_defaults_to_dynamodb_and_redis_reads_its_url_variable() {
        let c = Config::parse("app: shop\nstage: prod\n").unwrap();
        assert_eq!(c.idempotency.store, Store::Dynamodb);
        assert_eq!(c.function.vpc, None);
        let c = Config::parse("app: shop\nstage: prod\nidempotency: { store: redis }\n").unwrap();
        assert_eq!(c.idempotency.store.redis_url_env(), Some("ONCELY_REDIS_URL"));
        let c = Config::parse(
            "app: shop\nstage: prod\nidempotency: { store: redis, redis: { url_env: CACHE_URL } }\n\
             function:\n  vpc: { subnet_ids: [subnet-0123456789abcdef0, subnet-0a1b2c3d],\n    \
             security_group_ids: [sg-12345678] }\n",
        )
        .unwrap();
        assert_eq!(c.idempotency.store.redis_url_env(), Some("CACHE_URL"));
        let vpc = c.function.vpc.unwrap();
        assert_eq!(vpc.subnet_ids, ["subnet-0123456789abcdef0", "subnet-0a1b2c3d"]);
        assert_eq!(vpc.security_group_ids, ["sg-12345678"]);
    }

    #[test]
    fn bad_store_settings_are_named() {
        let p = problems("idempotency: { store: memcached }\n");
        assert_eq!(p[0].0, "idempotency.store");
        assert!(p[0].1.contains("use dynamodb or redis"), "{p:?}");
        let p = problems("idempotency: { redis: { url_env: X_URL } }\n");
        assert_eq!(p[0].0, "idempotency.redis");
        let p = problems("idempotency: { store: redis, redis: { url_env: 1URL } }\n");
        assert_eq!(p[0].0, "idempotency.redis.url_env");
        let p = problems("idempotency: { store: redis, redis: { url_env: TABLE_NAME } }\n");
        assert!(p[0].1.contains("reserved"), "{p:?}");
        let p = problems("idempotency: { store: redis }\nfunction: { environment: { ONCELY_REDIS_URL: redis://x } }\n");
        assert!(p[0].1.contains("also in `function.environment`"), "{p:?}");
    }
}
