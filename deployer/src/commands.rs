//! One function per AWS command, from the loaded config to its printable result: gets the code,
//! connects, runs the engine, and gives a failure the context a person needs to act on it.

use anyhow::{Context as _, bail};

use crate::cli::{self, DownArgs, PlanArgs, UpArgs};
use crate::config::Config;
use crate::context::Context;
use crate::endpoint::{self, Synced};
use crate::engine;
use crate::package::{self, Artifact};
use crate::progress::Progress;
use crate::report::Report;
use crate::resources;
use crate::stack::Stack;

async fn connect(config: &Config, progress: &Progress) -> anyhow::Result<(Context, Stack)> {
    let ctx = Context::connect(config.region.as_deref(), progress.clone())
        .await
        .context("connecting to AWS")?;
    let stack = Stack::new(config, &ctx);
    Ok((ctx, stack))
}

/// `plan`: what `up` would change.
pub async fn plan(config: &Config, args: &PlanArgs, progress: &Progress) -> anyhow::Result<Report> {
    let code = match (&args.zip, args.skip_build) {
        (Some(zip), _) => Some(Artifact::from_zip(zip)?),
        (None, true) => None,
        (None, false) => Some(package::build_for_config(config, progress)?),
    };
    let (ctx, stack) = connect(config, progress).await?;
    let report = engine::plan(&ctx, &stack, code.as_ref())
        .await
        .with_context(|| format!("planning stack {}", stack.name))?;
    Ok(report)
}

/// `up`: converges the stack, then writes its endpoint for the frontend.
pub async fn up(config: &Config, args: &UpArgs, progress: &Progress) -> anyhow::Result<Report> {
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
        endpoint::write_to_frontend(config, endpoint, progress)?;
    }
    if let Some(auth) = &report.auth {
        endpoint::write_auth_to_frontend(config, auth, progress)?;
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
    crate::local::redis_store::check_url(name, url.expose()).with_context(|| {
        format!(
            "{name} is not a Redis URL: use redis://host:port or rediss://user:password@host:port/db (not shown here)"
        )
    })?;
    Ok(())
}

/// `down`: deletes what is ours, after a confirmation unless `--yes`.
pub async fn down(config: &Config, args: &DownArgs, progress: &Progress) -> anyhow::Result<Report> {
    let (ctx, stack) = connect(config, progress).await?;
    let live = engine::read(&ctx, &stack)
        .await
        .with_context(|| format!("reading stack {}", stack.name))?;
    let doomed = engine::deletable(&stack, &live);
    if !doomed.is_empty() && !args.yes {
        cli::confirm_down(&stack.region, &stack.account, &doomed)?;
    }
    let report = engine::down(&ctx, &stack, &live, args.delete_data)
        .await
        .with_context(|| format!("deleting stack {} (re-run `down` to continue)", stack.name))?;
    Ok(report)
}

/// `sync-endpoint`: writes the deployed API's endpoint for the frontend.
pub async fn sync_endpoint(config: &Config, progress: &Progress) -> anyhow::Result<Synced> {
    let (ctx, stack) = connect(config, progress).await?;
    let api = resources::http_api::read(&ctx, &stack)
        .await
        .with_context(|| format!("looking up the HTTP API of {}", stack.name))?;
    let Some(api) = api.filter(|a| stack.owns(&a.tags)) else {
        bail!(
            "stack {} is not deployed in {} (no HTTP API named {} with oncely's tags): \
            run `cargo run -- up` first, or `cargo run -- up --local` for a local stack",
            stack.name,
            stack.region,
            stack.api_name()
        );
    };
    let auth = sync_auth(&ctx, &stack).await?;
    let mut synced = endpoint::write_to_frontend(config, &api.endpoint, progress)?;
    if let Some(auth) = auth {
        endpoint::write_auth_to_frontend(config, &auth, progress)?;
        synced.auth = Some(auth);
    }
    Ok(synced)
}

/// What the frontend signs in with, read from the deployed pool and client (`api.auth`).
async fn sync_auth(ctx: &Context, stack: &Stack) -> anyhow::Result<Option<crate::report::AuthOutputs>> {
    let (pool, client) = resources::auth::read_cognito(ctx, stack)
        .await
        .with_context(|| format!("looking up the Cognito user pool of {}", stack.name))?;
    let pool = pool.filter(|p| stack.owns(&p.tags));
    if resources::auth::uses_cognito(stack) && (pool.is_none() || client.is_none()) {
        bail!(
            "the Cognito user pool or app client {} of stack {} is not deployed in {}: run `cargo run -- up` first",
            stack.user_pool_name(),
            stack.name,
            stack.region
        );
    }
    let pool_id = pool.as_ref().map(|p| p.id.as_str());
    let want = resources::auth::target(stack, pool_id, client.as_ref().map(|c| c.id.as_str()));
    Ok(want.map(|w| resources::auth::outputs(stack, &w, pool_id)))
}
