//! `sync-endpoint`: finds the deployed HTTP API (and, with `api.auth`, its issuer and client) and
//! writes them where the frontend reads them.

use anyhow::{Context as _, bail};

use super::connect;
use crate::config::Config;
use crate::context::Context;
use crate::frontend_env::{self, Synced};
use crate::progress::Progress;
use crate::resources;
use crate::stack::Stack;

/// `sync-endpoint`: writes the deployed API's endpoint for the frontend.
pub async fn run(config: &Config, progress: &Progress) -> anyhow::Result<Synced> {
    if config.frontend.is_none() {
        bail!(
            "`sync-endpoint` writes the endpoint into `frontend.env_file`, and the config has no \
            `frontend:` section: add `frontend: {{}}` (frontend/.env.local) or `frontend: {{ env_file: PATH }}`"
        );
    }
    let (ctx, stack) = connect(config, progress).await?;
    let (api, domains) = tokio::try_join!(
        resources::http_api::read(&ctx, &stack),
        resources::domain::read(&ctx, &stack)
    )
    .with_context(|| format!("looking up the HTTP API of {}", stack.name))?;
    let Some(endpoint) = crate::engine::live_endpoint(&stack, api.as_ref(), &domains) else {
        bail!(
            "stack {} is not deployed in {} (no HTTP API named {} with oncely's tags): \
            run `cargo run -- up` first, or `cargo run -- up --local` for a local stack",
            stack.name,
            stack.region,
            stack.api_name()
        );
    };
    let auth = sync_auth(&ctx, &stack).await?;
    let mut synced = frontend_env::write_to_frontend(config, &endpoint, progress)?
        .context("the config's `frontend:` section went missing")?;
    if let Some(auth) = auth {
        frontend_env::write_auth_to_frontend(config, &auth, progress)?;
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
