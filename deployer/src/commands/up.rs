//! `up [--zip ZIP]`: builds the function, converges the stack, and writes its endpoint for the
//! frontend. (`up --local` is `local.rs`.)

use anyhow::{Context as _, bail};

use super::connect;
use crate::cli::UpArgs;
use crate::config::{Config, Store};
use crate::engine;
use crate::frontend_env;
use crate::package::{self, Artifact};
use crate::progress::Progress;
use crate::report::Report;

/// `up`: converges the stack, then writes its endpoint for the frontend.
pub async fn run(config: &Config, args: &UpArgs, progress: &Progress) -> anyhow::Result<Report> {
    check_redis_secret(config)?;
    // Build first: a failed build leaves nothing half-created.
    let code = match &args.zip {
        Some(zip) => Artifact::from_zip(zip)?,
        None => package::build_for_config(config, progress)?,
    };
    let (ctx, stack) = connect(config, progress).await?;
    let report = engine::up(&ctx, &stack, &code, Default::default())
        .await
        .with_context(|| {
            format!(
                "deploying stack {} (re-run `up` to continue: it picks up where it stopped)",
                stack.name
            )
        })?;
    if let Some(endpoint) = &report.endpoint {
        frontend_env::write_to_frontend(config, endpoint, progress)?;
    }
    if let Some(auth) = &report.auth {
        frontend_env::write_auth_to_frontend(config, auth, progress)?;
    }
    Ok(report)
}

/// With `store: redis`, a deployed function reads the Redis URL from a secret: `up` and `plan`
/// refuse to run without one named (before building or reading anything).
pub fn check_redis_secret(config: &Config) -> anyhow::Result<()> {
    if let Store::Redis {
        url_env,
        url_secret: None,
    } = &config.idempotency.store
    {
        bail!(
            "`idempotency.store` is redis, but `idempotency.redis.url_secret` is not set: a deployed function reads \
             the Redis URL during init from SSM Parameter Store or Secrets Manager, never from its environment. \
             Store it (`aws ssm put-parameter --type SecureString --name /{app}/{stage}/redis-url --value ...`) and \
             name it: `url_secret: ssm:/{app}/{stage}/redis-url` (`up --local` keeps reading {url_env})",
            app = config.app,
            stage = config.stage,
        );
    }
    Ok(())
}
