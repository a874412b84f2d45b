//! The Cognito user pool of `api.auth.provider: cognito`: named `{app}-{stage}`, users sign in
//! with their email address (verified by Cognito), tagged like every resource. Found by name
//! (ListUserPools, paged) and read with DescribeUserPool, which also carries its tags. `down` keeps
//! a pool that still has users unless `--delete-data`.

use std::collections::BTreeMap;

use aws_sdk_cognitoidentityprovider::types::{UsernameAttributeType, VerifiedAttributeType};

use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::report::{Action, AttrDiff, Change, Note, ResourceKind, diff_attr};
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::UserPool;
/// ListUserPools' largest page.
const PAGE: i32 = 60;

/// What the pool looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub id: String,
    pub arn: String,
    /// Sorted, lower case (`email`).
    pub auto_verified_attributes: Vec<String>,
    pub username_attributes: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// What `up` sets: email as the user name, verified by Cognito.
fn want_verified() -> Vec<String> {
    vec![VerifiedAttributeType::Email.as_str().to_string()]
}

fn want_username() -> Vec<String> {
    vec![UsernameAttributeType::Email.as_str().to_string()]
}

/// Finds the pool by name. Several pools may share a name; the one with our tags is ours.
pub async fn read(ctx: &Context, stack: &Stack) -> Result<Option<Live>> {
    let name = stack.user_pool_name();
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = ctx
            .cognito
            .list_user_pools()
            .max_results(PAGE)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws("ListUserPools", format!("user pool {name}"), e))?;
        ids.extend(
            out.user_pools()
                .iter()
                .filter(|p| p.name() == Some(name))
                .filter_map(|p| p.id().map(str::to_string)),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    let mut candidates = Vec::new();
    for id in ids {
        if let Some(live) = describe(ctx, name, &id).await? {
            candidates.push(live);
        }
    }
    let owned: Vec<&Live> = candidates.iter().filter(|p| stack.owns(&p.tags)).collect();
    match (owned.as_slice(), candidates.first()) {
        ([one], _) => Ok(Some((*one).clone())),
        ([], first) => Ok(first.cloned()),
        (many, _) => Err(DeployError::Conflict(format!(
            "{} Cognito user pools named {name} carry oncely's tags ({}); delete all but one \
            (`aws cognito-idp delete-user-pool --user-pool-id ID`) and run again",
            many.len(),
            many.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// One pool by id; `None` when it went away since it was listed.
async fn describe(ctx: &Context, name: &str, id: &str) -> Result<Option<Live>> {
    let out = match ctx.cognito.describe_user_pool().user_pool_id(id).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(aws("DescribeUserPool", format!("user pool {name} ({id})"), e)),
    };
    let Some(p) = out.user_pool() else { return Ok(None) };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    Ok(Some(Live {
        id: id.to_string(),
        arn: p.arn().unwrap_or_default().to_string(),
        auto_verified_attributes: sorted(
            p.auto_verified_attributes()
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
        ),
        username_attributes: sorted(p.username_attributes().iter().map(|a| a.as_str().to_string()).collect()),
        tags: p
            .user_pool_tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }))
}

/// What `up` would do to the pool.
pub fn diff(stack: &Stack, live: Option<&Live>) -> Change {
    let name = stack.user_pool_name();
    let Some(live) = live else {
        return Change::create(
            KIND,
            name,
            vec![
                ("username_attributes", want_username().join(",")),
                ("auto_verified_attributes", want_verified().join(",")),
                ("tags", super::fmt_tags(&stack.tags())),
            ],
        );
    };
    if !stack.owns(&live.tags) {
        return Change::new(KIND, name, Action::Foreign);
    }
    let mut d: Vec<AttrDiff> = Vec::new();
    diff_attr(
        &mut d,
        "auto_verified_attributes",
        Some(&live.auto_verified_attributes.join(",")),
        Some(&want_verified().join(",")),
    );
    super::diff_tags(&mut d, stack, &live.tags);
    let mut change = Change::compare(KIND, name, d);
    if live.username_attributes != want_username() {
        change = change.with_note(Note::UsernameMismatch {
            live: live.username_attributes.join(","),
        });
    }
    change
}

/// Creates or updates the pool as `change` says; returns its id.
pub async fn apply(ctx: &Context, stack: &Stack, live: Option<&Live>, change: &Change) -> Result<String> {
    let name = stack.user_pool_name();
    match (live, change.action) {
        (None, _) => {
            let step = ctx.progress.step(format!("creating Cognito user pool {name}"));
            let out = ctx
                .cognito
                .create_user_pool()
                .pool_name(name)
                .username_attributes(UsernameAttributeType::Email)
                .auto_verified_attributes(VerifiedAttributeType::Email)
                .set_user_pool_tags(Some(stack.tags().into_iter().collect()))
                .send()
                .await
                .map_err(|e| aws("CreateUserPool", format!("user pool {name}"), e))?;
            let id = out
                .user_pool()
                .and_then(|p| p.id())
                .ok_or_else(|| DeployError::Other(format!("CreateUserPool returned no id for user pool {name}")))?;
            step.done("created");
            Ok(id.to_string())
        }
        (Some(live), Action::Update) => {
            // UpdateUserPool resets what it is not given: send every setting we own, and the
            // tags exactly as the stack has them (one write for both).
            let step = ctx.progress.step(format!("updating Cognito user pool {name}"));
            ctx.cognito
                .update_user_pool()
                .user_pool_id(&live.id)
                .auto_verified_attributes(VerifiedAttributeType::Email)
                .set_user_pool_tags(Some(stack.tags().into_iter().collect()))
                .send()
                .await
                .map_err(|e| aws("UpdateUserPool", format!("user pool {name}"), e))?;
            step.done("updated");
            Ok(live.id.clone())
        }
        (Some(live), _) => Ok(live.id.clone()),
    }
}

/// Whether the pool has at least one user (ListUsers, one item).
async fn has_users(ctx: &Context, stack: &Stack, pool_id: &str) -> Result<bool> {
    let out = ctx
        .cognito
        .list_users()
        .user_pool_id(pool_id)
        .limit(1)
        .send()
        .await
        .map_err(|e| aws("ListUsers", format!("user pool {}", stack.user_pool_name()), e))?;
    Ok(!out.users().is_empty())
}

/// Whether `down` keeps the pool: it is ours and still has users, and `delete_data` is off.
pub async fn kept(ctx: &Context, stack: &Stack, live: Option<&Live>, delete_data: bool) -> Result<bool> {
    match live.filter(|l| stack.owns(&l.tags)) {
        Some(live) if !delete_data => has_users(ctx, stack, &live.id).await,
        _ => Ok(false),
    }
}

/// Deletes the pool if it is ours (its clients go with it), unless `keep` (see [`kept`]).
pub async fn destroy(ctx: &Context, stack: &Stack, live: Option<&Live>, keep: bool) -> Result<Change> {
    let name = stack.user_pool_name();
    let live = match super::ours(ctx, stack, KIND, name, live, |l| &l.tags) {
        super::Ownership::Ours(live) => live,
        super::Ownership::Skip(row) => return Ok(row),
    };
    if keep {
        return Ok(Change::new(KIND, name, Action::Unchanged).with_note(Note::KeptWithUsers));
    }
    let step = ctx
        .progress
        .step(format!("deleting Cognito user pool {name} ({})", live.id));
    match ctx.cognito.delete_user_pool().user_pool_id(&live.id).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteUserPool", format!("user pool {name}"), e)),
    }
    step.done("deleted");
    Ok(Change::new(KIND, name, Action::Delete))
}
