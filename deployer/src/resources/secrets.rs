//! The secrets the function reads during init (`function.secrets`, `idempotency.redis.url_secret`):
//! never created, changed or deleted by the deployer, only looked up, so that `plan` and `status`
//! show each reference and whether it exists, a missing one stops `plan` and `up` before any
//! change, and the role may read exactly those ARNs. SSM parameters by DescribeParameters (their
//! metadata; the value is never read), Secrets Manager secrets by DescribeSecret (their full ARN).

use std::fmt;

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};
use serde::Serialize;

use crate::config::{SecretRef, SecretSource};
use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::stack::Stack;

/// One secret as its service reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretLive {
    /// The variable the function reads it as.
    pub var: String,
    pub reference: SecretRef,
    /// Its ARN, when it exists.
    pub arn: Option<String>,
    /// `SecureString` or `String` for a parameter, `secret` for a Secrets Manager secret.
    pub kind: Option<String>,
}

impl fmt::Display for SecretLive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Some(kind) => write!(f, "{} <- {} ({kind})", self.var, self.reference),
            None => write!(f, "{} <- {} (missing)", self.var, self.reference),
        }
    }
}

/// Looks up every secret of the config.
pub async fn read(ctx: &Context, stack: &Stack) -> Result<Vec<SecretLive>> {
    let mut out = Vec::new();
    for (var, reference) in stack.config.secrets() {
        let (arn, kind) = match reference.source {
            SecretSource::Ssm => parameter(ctx, stack, &reference.name).await?,
            SecretSource::SecretsManager => secret(ctx, &reference.name).await?,
        };
        out.push(SecretLive {
            var,
            reference,
            arn,
            kind,
        });
    }
    Ok(out)
}

async fn parameter(ctx: &Context, stack: &Stack, name: &str) -> Result<(Option<String>, Option<String>)> {
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| DeployError::Other(format!("building an SSM filter: {e}")))?;
    let out = ctx
        .ssm
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await
        .map_err(|e| aws("DescribeParameters", format!("parameter {name}"), e))?;
    let Some(p) = out.parameters().iter().find(|p| p.name() == Some(name)) else {
        return Ok((None, None));
    };
    let kind = p.r#type().map_or("String", ParameterType::as_str).to_string();
    let arn = p.arn().map_or_else(|| stack.parameter_arn(name), str::to_string);
    Ok((Some(arn), Some(kind)))
}

async fn secret(ctx: &Context, name: &str) -> Result<(Option<String>, Option<String>)> {
    match ctx.secretsmanager.describe_secret().secret_id(name).send().await {
        Ok(out) => Ok((out.arn().map(str::to_string), Some("secret".to_string()))),
        Err(e) if is_not_found(&e) => Ok((None, None)),
        Err(e) => Err(aws("DescribeSecret", format!("secret {name}"), e)),
    }
}

/// The ARNs of the secrets that exist, by service: what the role may read.
pub fn arns(live: &[SecretLive]) -> Vec<(SecretSource, String)> {
    live.iter()
        .filter_map(|s| s.arn.clone().map(|arn| (s.reference.source, arn)))
        .collect()
}

/// Every secret exists and a parameter is a SecureString; else what is wrong and how to fix it,
/// before anything is changed.
pub fn check(stack: &Stack, live: &[SecretLive]) -> Result<()> {
    let mut problems = Vec::new();
    for s in live {
        let name = &s.reference.name;
        match (s.reference.source, s.kind.as_deref()) {
            (SecretSource::Ssm, None) => problems.push(format!(
                "{} (for {}) does not exist in {}: create it with `aws ssm put-parameter --type SecureString \
                 --name {name} --value ...`",
                s.reference, s.var, stack.region
            )),
            (SecretSource::Ssm, Some(kind)) if kind != "SecureString" => problems.push(format!(
                "{} (for {}) is a {kind} parameter: a secret is stored encrypted, as a SecureString \
                 (`aws ssm put-parameter --type SecureString --overwrite --name {name} --value ...`)",
                s.reference, s.var
            )),
            (SecretSource::SecretsManager, None) => problems.push(format!(
                "{} (for {}) does not exist in {}: create it with `aws secretsmanager create-secret --name {name} \
                 --secret-string ...`",
                s.reference, s.var, stack.region
            )),
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DeployError::Other(format!(
            "the function's secrets are not ready; nothing was changed:\n  {}",
            problems.join("\n  ")
        )))
    }
}
