//! The desired stack: names, ARNs and tags derived from a validated config, the account and the
//! region. Pure data, shared by every resource file.

use std::collections::BTreeMap;

use oncely::secret_ref::{SECRETS_VAR, format_list};

use crate::config::{Config, SecretSource, Store};
use crate::context::Context;

pub const TAG_MANAGED_BY: &str = "managed-by";
pub const TAG_APP: &str = "oncely:app";
pub const TAG_STAGE: &str = "oncely:stage";
/// The Lambda alias the HTTP API invokes; `up` and `rollback` move it.
pub const ALIAS: &str = "live";

#[derive(Debug, Clone)]
pub struct Stack {
    pub config: Config,
    /// `{app}-{stage}`: the name of every resource.
    pub name: String,
    pub region: String,
    pub account: String,
    pub partition: String,
    /// The ARNs of the secrets the function reads, by service, once looked up
    /// ([`Stack::with_secret_arns`]); the role may read exactly these.
    pub secret_arns: Vec<(SecretSource, String)>,
}

impl Stack {
    pub fn new(config: &Config, ctx: &Context) -> Stack {
        Stack {
            config: config.clone(),
            name: config.name(),
            region: ctx.region.clone(),
            account: ctx.account.clone(),
            partition: ctx.partition().to_string(),
            secret_arns: Vec::new(),
        }
    }

    /// Oncely's own tags: they mark a resource as this stack's.
    pub fn own_tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_MANAGED_BY.to_string(), "oncely".to_string()),
            (TAG_APP.to_string(), self.config.app.clone()),
            (TAG_STAGE.to_string(), self.config.stage.clone()),
        ])
    }

    /// The tags every taggable resource carries: the config's `tags:` and Oncely's own (which the
    /// config cannot name).
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.config.tags.clone();
        tags.extend(self.own_tags());
        tags
    }

    /// Whether live tags mark a resource as ours (Oncely's own tags; others are fine).
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        self.own_tags().iter().all(|(k, v)| tags.get(k) == Some(v))
    }

    pub fn table_name(&self) -> &str {
        &self.name
    }
    pub fn table_arn(&self) -> String {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{}",
            self.partition, self.region, self.account, self.name
        )
    }
    pub fn log_group_name(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }
    pub fn log_group_arn(&self) -> String {
        format!(
            "arn:{}:logs:{}:{}:log-group:{}",
            self.partition,
            self.region,
            self.account,
            self.log_group_name()
        )
    }
    pub fn role_name(&self) -> &str {
        &self.name
    }
    pub fn role_arn(&self) -> String {
        format!("arn:{}:iam::{}:role/{}", self.partition, self.account, self.name)
    }
    /// The one inline policy of the role.
    pub fn policy_name(&self) -> String {
        format!("{}-access", self.name)
    }
    pub fn function_name(&self) -> &str {
        &self.name
    }
    pub fn function_arn(&self) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition, self.region, self.account, self.name
        )
    }
    /// The alias the API invokes: `live`.
    pub fn alias_name(&self) -> &'static str {
        ALIAS
    }
    pub fn alias_arn(&self) -> String {
        format!("{}:{ALIAS}", self.function_arn())
    }
    /// The SQS queue of `queues:` entry `short`: `{app}-{stage}-{short}`.
    pub fn queue_name(&self, short: &str) -> String {
        format!("{}-{short}", self.name)
    }
    /// Its dead-letter queue: `{app}-{stage}-{short}-dlq`.
    pub fn dead_letter_queue_name(&self, short: &str) -> String {
        format!("{}-{short}-dlq", self.name)
    }
    /// The prefix every queue of the stack's name starts with (what `down` lists).
    pub fn queue_prefix(&self) -> String {
        format!("{}-", self.name)
    }
    pub fn queue_arn(&self, name: &str) -> String {
        format!("arn:{}:sqs:{}:{}:{name}", self.partition, self.region, self.account)
    }
    /// The alarms' names, each `{app}-{stage}-{suffix}`.
    pub fn alarm_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }
    pub fn api_name(&self) -> &str {
        &self.name
    }
    /// The Cognito user pool, its app client and the HTTP API's JWT authorizer (`api.auth`).
    pub fn user_pool_name(&self) -> &str {
        &self.name
    }
    pub fn user_pool_client_name(&self) -> &str {
        &self.name
    }
    pub fn authorizer_name(&self) -> &str {
        &self.name
    }
    /// The token issuer of a Cognito user pool in this region.
    pub fn cognito_issuer(&self, pool_id: &str) -> String {
        let suffix = if self.partition == "aws-cn" { ".cn" } else { "" };
        format!("https://cognito-idp.{}.amazonaws.com{suffix}/{pool_id}", self.region)
    }
    /// The Lambda permission's statement id.
    /// The ARN of the API Gateway domain name `name` (what its tags are set on).
    pub fn domain_arn(&self, name: &str) -> String {
        format!("arn:{}:apigateway:{}::/domainnames/{name}", self.partition, self.region)
    }

    pub fn permission_sid(&self) -> String {
        format!("{}-apigateway-invoke", self.name)
    }
    pub fn execute_api_source_arn(&self, api_id: &str) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{}/*/*",
            self.partition, self.region, self.account, api_id
        )
    }

    /// The function's environment: ours, then the config's extra variables.
    pub fn function_environment(&self) -> BTreeMap<String, String> {
        let c = &self.config;
        let mut env = BTreeMap::from([
            ("TABLE_NAME".to_string(), self.name.clone()),
            (
                "IDEMPOTENCY_EXPIRES_AFTER_S".to_string(),
                c.idempotency.expires_after_s.to_string(),
            ),
            ("IDEMPOTENCY_HEADER".to_string(), c.idempotency.header.clone()),
            (
                "IDEMPOTENCY_LOCAL_CACHE_ITEMS".to_string(),
                c.idempotency.local_cache_items.to_string(),
            ),
            ("IDEMPOTENCY_TTL_ATTRIBUTE".to_string(), c.table.ttl_attribute.clone()),
        ]);
        if let Some(prefix) = &c.idempotency.key_prefix {
            env.insert("IDEMPOTENCY_KEY_PREFIX".into(), prefix.clone());
        }
        env.extend(c.function.environment.clone());
        if let Store::Redis { url_env, .. } = &c.idempotency.store {
            env.insert("ONCELY_STORE".into(), "redis".into());
            env.insert("ONCELY_REDIS_URL_ENV".into(), url_env.clone());
        }
        // The secrets by reference only: the function reads their values during init.
        let secrets = c.secrets();
        if !secrets.is_empty() {
            env.insert(
                SECRETS_VAR.into(),
                format_list(secrets.iter().map(|(var, r)| (var.as_str(), r))),
            );
        }
        env
    }

    /// The stack with the ARNs of the secrets that exist, as looked up (`secrets::arns`).
    pub fn with_secret_arns(&self, arns: Vec<(SecretSource, String)>) -> Stack {
        let mut stack = self.clone();
        stack.secret_arns = arns;
        stack
    }

    /// The ARN of the SSM parameter `name` (`/a/b` or `a`).
    pub fn parameter_arn(&self, name: &str) -> String {
        let name = name.strip_prefix('/').unwrap_or(name);
        format!(
            "arn:{}:ssm:{}:{}:parameter/{name}",
            self.partition, self.region, self.account
        )
    }
}
