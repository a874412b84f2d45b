//! `api.auth` across its resources: reads and converges the Cognito user pool and app client (for
//! `provider: cognito`), derives the issuer and audience the JWT authorizer takes, and what the
//! frontend needs to sign in ([`AuthOutputs`](crate::report::AuthOutputs)). Without `api.auth`
//! nothing here sends a call.

use crate::config::AuthProvider;
use crate::context::Context;
use crate::error::Result;
use crate::report::{AuthOutputs, Change, ResourceKind};
use crate::resources::authorizer::{self, Want};
use crate::resources::{user_pool, user_pool_client};
use crate::stack::Stack;

/// Whether the stack has a Cognito user pool (`api.auth.provider: cognito`).
pub fn uses_cognito(stack: &Stack) -> bool {
    matches!(
        stack.config.api.auth.as_ref().map(|a| &a.provider),
        Some(AuthProvider::Cognito)
    )
}

/// The user pool and its app client, read only for `provider: cognito`.
pub async fn read_cognito(
    ctx: &Context,
    stack: &Stack,
) -> Result<(Option<user_pool::Live>, Option<user_pool_client::Live>)> {
    if !uses_cognito(stack) {
        return Ok((None, None));
    }
    let pool = user_pool::read(ctx, stack).await?;
    let client = user_pool_client::read(ctx, stack, pool.as_ref()).await?;
    Ok((pool, client))
}

/// The issuer and audience of the configured provider (`None` without `api.auth`). A Cognito pool
/// or client not created yet shows as [`authorizer::NEW`].
pub fn target(stack: &Stack, pool_id: Option<&str>, client_id: Option<&str>) -> Option<Want> {
    match &stack.config.api.auth.as_ref()?.provider {
        AuthProvider::Jwt { issuer, audience } => Some(Want {
            issuer: issuer.clone(),
            audience: audience.clone(),
        }),
        AuthProvider::Cognito => Some(Want {
            issuer: stack.cognito_issuer(pool_id.unwrap_or(authorizer::NEW)),
            audience: vec![client_id.unwrap_or(authorizer::NEW).to_string()],
        }),
    }
}

/// The outputs for a target with real values.
pub fn outputs(stack: &Stack, want: &Want, pool_id: Option<&str>) -> AuthOutputs {
    let cognito = uses_cognito(stack);
    AuthOutputs {
        provider: if cognito { "cognito" } else { "jwt" },
        issuer: want.issuer.clone(),
        audience: want.audience.clone(),
        client_id: cognito.then(|| want.audience.first().cloned()).flatten(),
        user_pool_id: pool_id.filter(|_| cognito).map(str::to_string),
    }
}

/// The live pool if it is ours, and the live client (only ever read inside our pool).
fn owned<'a>(
    stack: &Stack,
    pool: Option<&'a user_pool::Live>,
    client: Option<&'a user_pool_client::Live>,
) -> (Option<&'a user_pool::Live>, Option<&'a user_pool_client::Live>) {
    (pool.filter(|p| stack.owns(&p.tags)), client)
}

/// The target as the live state knows it (placeholders for what is missing).
pub fn live_target(
    stack: &Stack,
    pool: Option<&user_pool::Live>,
    client: Option<&user_pool_client::Live>,
) -> Option<Want> {
    let (pool, client) = owned(stack, pool, client);
    target(stack, pool.map(|p| p.id.as_str()), client.map(|c| c.id.as_str()))
}

/// The rows for the pool and the client (none unless `provider: cognito`).
pub fn diff_cognito(
    stack: &Stack,
    pool: Option<&user_pool::Live>,
    client: Option<&user_pool_client::Live>,
) -> Vec<Change> {
    if !uses_cognito(stack) {
        return Vec::new();
    }
    vec![user_pool::diff(stack, pool), user_pool_client::diff(stack, client)]
}

/// Converges the pool and the client as `changes` say; returns the target with real values (and
/// the pool's id), `None` without `api.auth`.
pub async fn apply(
    ctx: &Context,
    stack: &Stack,
    pool: Option<&user_pool::Live>,
    client: Option<&user_pool_client::Live>,
    changes: &[Change],
) -> Result<Option<(Want, Option<String>)>> {
    if !uses_cognito(stack) {
        return Ok(target(stack, None, None).map(|w| (w, None)));
    }
    let row = |kind: ResourceKind| changes.iter().find(|c| c.resource == kind);
    let (Some(pool_row), Some(client_row)) = (row(ResourceKind::UserPool), row(ResourceKind::UserPoolClient)) else {
        return Ok(None);
    };
    let (pool, client) = owned(stack, pool, client);
    let pool_id = user_pool::apply(ctx, stack, pool, pool_row).await?;
    // A client is only read inside our pool: a new pool has none yet.
    let client = client.filter(|_| pool.is_some_and(|p| p.id == pool_id));
    let client_id = user_pool_client::apply(ctx, stack, &pool_id, client, client_row).await?;
    Ok(target(stack, Some(&pool_id), Some(&client_id)).map(|w| (w, Some(pool_id))))
}
