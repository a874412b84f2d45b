//! `up [--zip ZIP]`: builds the function, converges the stack, and writes its endpoint for the
//! frontend. (`up --local` is `local.rs`.)

use anyhow::{Context as _, bail};

use super::connect;
use crate::cli::UpArgs;
use crate::config::Config;
use crate::engine;
use crate::frontend_env;
use crate::package::{self, Artifact};
use crate::progress::Progress;
use crate::report::Report;

/// `up`: converges the stack, then writes its endpoint for the frontend.
pub async fn run(config: &Config, args: &UpArgs, progress: &Progress) -> anyhow::Result<Report> {
    check_redis_url(config)?;
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

/// With `store: redis`, `up` sends the function the Redis URL from its own environment: refuses to
/// start without a usable one (before building or writing anything), and never prints it.
fn check_redis_url(config: &Config) -> anyhow::Result<()> {
    let Some(name) = config.idempotency.store.redis_url_env() else {
        return Ok(());
    };
    let Some(url) = crate::secret::Secret::from_env(name) else {
        bail!(
            "`idempotency.store` is redis, but {name} is not set: export {name}=rediss://user:password@host:port/db \
             (the URL of your Redis or Valkey) before `up`; the function reads it from the variable of the same name, \
             and the deployer never prints it"
        );
    };
    oncely::RedisUrl::parse(url.expose()).with_context(|| {
        format!(
            "{name} is not a Redis URL: use redis://host:port or rediss://user:password@host:port/db (not shown here)"
        )
    })?;
    Ok(())
}
