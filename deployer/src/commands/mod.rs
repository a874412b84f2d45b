//! One file per command, each from the loaded config (and its arguments) to its printable result:
//! it builds its inputs, connects, runs the engine or the local stack, and gives a failure the
//! context a person needs to act on it. `lib.rs` only dispatches.

use std::path::Path;

use anyhow::Context as _;

use crate::config::{Config, Store};
use crate::context::Context;
use crate::progress::Progress;
use crate::stack::Stack;

pub mod completions;
pub mod down;
pub mod local;
pub mod logs;
pub mod new;
pub mod package;
pub mod plan;
pub mod rollback;
pub mod schema;
pub mod stages;
pub mod status;
pub mod sync_endpoint;
pub mod token;
pub mod up;

/// The AWS clients of the config's account and region, and the desired stack.
async fn connect(config: &Config, progress: &Progress) -> anyhow::Result<(Context, Stack)> {
    let ctx = Context::connect(config.region.as_deref(), progress.clone())
        .await
        .context("connecting to AWS")?;
    let stack = Stack::new(config, &ctx);
    Ok((ctx, stack))
}

/// The config at `path`, for `stage` when one is given (`--stage`, `ONCELY_STAGE`) instead of its
/// own: the name is checked as the config's `stage` is, with the same message.
pub fn load_config(path: &Path, stage: Option<&str>) -> anyhow::Result<Config> {
    let config = Config::load(path)?;
    match stage {
        Some(stage) => config
            .with_stage(stage)
            .map_err(|problem| anyhow::anyhow!("--stage: {problem}")),
        None => Ok(config),
    }
}

/// With `store: redis`, a deployed function reads the Redis URL from a secret: `up` and `plan`
/// refuse to run without one named (before building or reading anything).
fn check_redis_secret(config: &Config) -> anyhow::Result<()> {
    if let Store::Redis {
        url_env,
        url_secret: None,
    } = &config.idempotency.store
    {
        anyhow::bail!(
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
