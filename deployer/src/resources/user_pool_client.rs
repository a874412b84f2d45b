//! The user pool's app client for the frontend (a single-page app): named `{app}-{stage}`, public
//! (no secret: a browser cannot keep one), sign-in with SRP or user name and password over TLS,
//! refresh tokens, token revocation, and no hint whether a user exists. Its id is the audience of
//! the API's JWT authorizer. Found by name with ListUserPoolClients (paged) inside our pool, read
//! with DescribeUserPoolClient; app clients carry no tags: being in our pool makes it ours.

use aws_sdk_cognitoidentityprovider::types::{ExplicitAuthFlowsType, PreventUserExistenceErrorTypes};

use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::report::{Action, AttrDiff, Change, ResourceKind, diff_attr};
use crate::resources::user_pool;
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::UserPoolClient;
/// ListUserPoolClients' largest page.
const PAGE: i32 = 60;

/// What the client looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub id: String,
    /// Sorted.
    pub explicit_auth_flows: Vec<String>,
    pub has_secret: bool,
    pub prevent_user_existence_errors: Option<String>,
    pub enable_token_revocation: Option<bool>,
}

/// The flows a browser app signs in with: SRP (the password never leaves the page), user name and
/// password (simplest, over TLS to Cognito), and refreshing the tokens.
fn auth_flows() -> Vec<ExplicitAuthFlowsType> {
    vec![
        ExplicitAuthFlowsType::AllowRefreshTokenAuth,
        ExplicitAuthFlowsType::AllowUserPasswordAuth,
        ExplicitAuthFlowsType::AllowUserSrpAuth,
    ]
}

fn want_flows() -> String {
    let mut v: Vec<String> = auth_flows().iter().map(|f| f.as_str().to_string()).collect();
    v.sort_unstable();
    v.join(",")
}

const PREVENT_USER_EXISTENCE_ERRORS: PreventUserExistenceErrorTypes = PreventUserExistenceErrorTypes::Enabled;

/// Finds our client in our pool (`None` for a pool that is not there or not ours).
pub async fn read(ctx: &Context, stack: &Stack, pool: Option<&user_pool::Live>) -> Result<Option<Live>> {
    let Some(pool) = pool.filter(|p| stack.owns(&p.tags)) else {
        return Ok(None);
    };
    let name = stack.user_pool_client_name();
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = ctx
            .cognito
            .list_user_pool_clients()
            .user_pool_id(&pool.id)
            .max_results(PAGE)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| {
                aws(
                    "ListUserPoolClients",
                    format!("user pool {}", stack.user_pool_name()),
                    e,
                )
            })?;
        ids.extend(
            out.user_pool_clients()
                .iter()
                .filter(|c| c.client_name() == Some(name))
                .filter_map(|c| c.client_id().map(str::to_string)),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    let id = match ids.as_slice() {
        [] => return Ok(None),
        [one] => one,
        many => {
            return Err(DeployError::Conflict(format!(
                "{} app clients named {name} are in user pool {} ({}); delete all but one \
                (`aws cognito-idp delete-user-pool-client --user-pool-id {} --client-id ID`) and run again",
                many.len(),
                pool.id,
                many.join(", "),
                pool.id
            )));
        }
    };
    let out = ctx
        .cognito
        .describe_user_pool_client()
        .user_pool_id(&pool.id)
        .client_id(id)
        .send()
        .await
        .map_err(|e| aws("DescribeUserPoolClient", format!("user pool client {name}"), e))?;
    let Some(c) = out.user_pool_client() else {
        return Ok(None);
    };
    let mut flows: Vec<String> = c.explicit_auth_flows().iter().map(|f| f.as_str().to_string()).collect();
    flows.sort();
    Ok(Some(Live {
        id: id.clone(),
        explicit_auth_flows: flows,
        has_secret: c.client_secret().is_some_and(|s| !s.is_empty()),
        prevent_user_existence_errors: c.prevent_user_existence_errors().map(|p| p.as_str().to_string()),
        enable_token_revocation: c.enable_token_revocation(),
    }))
}

/// What `up` would do to the client.
pub fn diff(stack: &Stack, live: Option<&Live>) -> Change {
    let name = stack.user_pool_client_name();
    let Some(live) = live else {
        return Change::create(
            KIND,
            name,
            vec![
                ("generate_secret", "false".into()),
                ("explicit_auth_flows", want_flows()),
                (
                    "prevent_user_existence_errors",
                    PREVENT_USER_EXISTENCE_ERRORS.as_str().into(),
                ),
                ("enable_token_revocation", "true".into()),
            ],
        );
    };
    let mut d: Vec<AttrDiff> = Vec::new();
    diff_attr(&mut d, "generate_secret", Some(&live.has_secret), Some(&false));
    diff_attr(
        &mut d,
        "explicit_auth_flows",
        Some(&live.explicit_auth_flows.join(",")),
        Some(&want_flows()),
    );
    diff_attr(
        &mut d,
        "prevent_user_existence_errors",
        live.prevent_user_existence_errors.as_ref(),
        Some(&PREVENT_USER_EXISTENCE_ERRORS.as_str().to_string()),
    );
    diff_attr(
        &mut d,
        "enable_token_revocation",
        live.enable_token_revocation.as_ref(),
        Some(&true),
    );
    Change::compare(KIND, name, d)
}

/// Creates or updates the client as `change` says; returns its id. A client with a secret cannot
/// lose it in place: it is replaced (a new id, which the authorizer then takes as its audience).
pub async fn apply(
    ctx: &Context,
    stack: &Stack,
    pool_id: &str,
    live: Option<&Live>,
    change: &Change,
) -> Result<String> {
    let name = stack.user_pool_client_name();
    match live {
        Some(live) if change.touches("generate_secret") => {
            delete(ctx, stack, pool_id, &live.id).await?;
            create(ctx, stack, pool_id).await
        }
        Some(live) if change.action == Action::Update => {
            // UpdateUserPoolClient resets what it is not given: send every setting we own.
            let step = ctx.progress.step(format!("updating app client {name}"));
            ctx.cognito
                .update_user_pool_client()
                .user_pool_id(pool_id)
                .client_id(&live.id)
                .client_name(name)
                .set_explicit_auth_flows(Some(auth_flows()))
                .prevent_user_existence_errors(PREVENT_USER_EXISTENCE_ERRORS)
                .enable_token_revocation(true)
                .send()
                .await
                .map_err(|e| aws("UpdateUserPoolClient", format!("user pool client {name}"), e))?;
            step.done("updated");
            Ok(live.id.clone())
        }
        Some(live) => Ok(live.id.clone()),
        None => create(ctx, stack, pool_id).await,
    }
}

async fn create(ctx: &Context, stack: &Stack, pool_id: &str) -> Result<String> {
    let name = stack.user_pool_client_name();
    let step = ctx
        .progress
        .step(format!("creating app client {name} (public, for the frontend)"));
    let out = ctx
        .cognito
        .create_user_pool_client()
        .user_pool_id(pool_id)
        .client_name(name)
        .generate_secret(false)
        .set_explicit_auth_flows(Some(auth_flows()))
        .prevent_user_existence_errors(PREVENT_USER_EXISTENCE_ERRORS)
        .enable_token_revocation(true)
        .send()
        .await
        .map_err(|e| aws("CreateUserPoolClient", format!("user pool client {name}"), e))?;
    let id = out
        .user_pool_client()
        .and_then(|c| c.client_id())
        .ok_or_else(|| DeployError::Other(format!("CreateUserPoolClient returned no id for app client {name}")))?;
    step.done("created");
    Ok(id.to_string())
}

async fn delete(ctx: &Context, stack: &Stack, pool_id: &str, id: &str) -> Result<()> {
    let name = stack.user_pool_client_name();
    let step = ctx.progress.step(format!("deleting app client {name} ({id})"));
    match ctx
        .cognito
        .delete_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(id)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteUserPoolClient", format!("user pool client {name}"), e)),
    }
    step.done("deleted");
    Ok(())
}

/// Deletes the client of our pool, unless the pool is kept (`keep`: it still has users).
pub async fn destroy(
    ctx: &Context,
    stack: &Stack,
    pool: Option<&user_pool::Live>,
    live: Option<&Live>,
    keep: bool,
) -> Result<Change> {
    let name = stack.user_pool_client_name();
    let (Some(pool), Some(live)) = (pool.filter(|p| stack.owns(&p.tags)), live) else {
        return Ok(Change::new(KIND, name, Action::Unchanged).with_note(crate::report::Note::NotFound));
    };
    if keep {
        return Ok(Change::new(KIND, name, Action::Unchanged).with_note(crate::report::Note::KeptWithUsers));
    }
    delete(ctx, stack, &pool.id, &live.id).await?;
    Ok(Change::new(KIND, name, Action::Delete))
}
