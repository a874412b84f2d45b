//! Validation of where the records live (`idempotency.store`, `idempotency.redis`) and of the
//! function's network (`function.vpc`).

use std::collections::BTreeMap;

use super::raw::{DEFAULT_REDIS_URL_ENV, RawIdempotency, RawVpc, STORES, VPC_SECURITY_GROUPS_MAX, VPC_SUBNETS_MAX};
use super::validate::{RESERVED_ENV, Validator, is_env_name};
use super::{Store, VpcSettings};

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
                Store::Redis { url_env }
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

    /// `function.vpc`: both lists, within Lambda's limits, of well-formed ids, no repeats.
    pub(super) fn vpc(&mut self, vpc: Option<RawVpc>) -> Option<VpcSettings> {
        let vpc = vpc?;
        let subnet_ids = self.ids("function.vpc.subnet_ids", vpc.subnet_ids, "subnet-", VPC_SUBNETS_MAX);
        let security_group_ids = self.ids(
            "function.vpc.security_group_ids",
            vpc.security_group_ids,
            "sg-",
            VPC_SECURITY_GROUPS_MAX,
        );
        Some(VpcSettings {
            subnet_ids,
            security_group_ids,
        })
    }

    fn ids(&mut self, path: &str, ids: Option<Vec<String>>, prefix: &str, max: usize) -> Vec<String> {
        let ids = ids.unwrap_or_default();
        if ids.is_empty() || ids.len() > max {
            self.problem(path, format!("list 1..{max} ids such as {prefix}0123456789abcdef0"));
        }
        for (n, id) in ids.iter().enumerate() {
            let hex = id.strip_prefix(prefix).unwrap_or("");
            let well_formed = (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit());
            if !well_formed {
                self.problem(
                    &format!("{path}[{n}]"),
                    format!("{id:?} is not an id like {prefix}0123456789abcdef0"),
                );
            } else if ids[..n].contains(id) {
                self.problem(&format!("{path}[{n}]"), format!("{id:?} is listed twice"));
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Store};

    fn problems(yaml: &str) -> Vec<(String, String)> {
        Config::parse(&format!("app: shop\nstage: prod\n{yaml}"))
            .unwrap_err()
            .into_iter()
            .map(|p| (p.path, p.message))
            .collect()
    }

    #[test]
    fn the_store_defaults_to_dynamodb_and_redis_reads_its_url_variable() {
        let c = Config::parse("app: shop\nstage: prod\n").unwrap();
        assert_eq!(c.idempotency.store, Store::Dynamodb);
        assert_eq!(c.function.vpc, None);
        let c = Config::parse("app: shop\nstage: prod\nidempotency: { store: redis }\n").unwrap();
        assert_eq!(c.idempotency.store.redis_url_env(), Some("ONCELY_REDIS_URL"));
        let c = Config::parse(
            "app: shop\nstage: prod\nidempotency: { store: redis, redis: { url_env: CACHE_URL } }\n\
             function:\n  vpc: { subnet_ids: [subnet-0123456789abcdef0, subnet-0a1b2c3d], security_group_ids: [sg-12345678] }\n",
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

    #[test]
    fn bad_vpc_settings_are_named() {
        let p = problems("function: { vpc: { subnet_ids: [] } }\n");
        let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(paths, ["function.vpc.subnet_ids", "function.vpc.security_group_ids"]);
        let p = problems(
            "function: { vpc: { subnet_ids: [vpc-12345678, subnet-12345678, subnet-12345678], security_group_ids: [sg-zz] } }\n",
        );
        let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "function.vpc.subnet_ids[0]",
                "function.vpc.subnet_ids[2]",
                "function.vpc.security_group_ids[0]"
            ]
        );
        assert!(p[1].1.contains("listed twice"), "{p:?}");
        let many: Vec<String> = (0..6).map(|n| format!("sg-1234567{n}")).collect();
        let p = problems(&format!(
            "function: {{ vpc: {{ subnet_ids: [subnet-12345678], security_group_ids: [{}] }} }}\n",
            many.join(", ")
        ));
        assert_eq!(p[0].0, "function.vpc.security_group_ids");
    }
}
