//! The HTTP API's routes: one per route key of the config, each to the function's integration and,
//! when it needs a token, to the JWT authorizer; a route no longer in the config is removed. Read
//! and applied as part of the API (`http_api`), with their own rows.

use aws_sdk_apigatewayv2::types::AuthorizationType;

use crate::context::Context;
use crate::error::{Result, aws, is_not_found};
use crate::report::{Action, Change, Note, ResourceKind, diff_attr};
use crate::resources::authorizer;
use crate::stack::Stack;

pub const KIND: ResourceKind = ResourceKind::Route;

/// A live route.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteLive {
    pub id: String,
    pub key: String,
    pub target: Option<String>,
    /// `NONE` (or absent) or `JWT`, with the authorizer's id.
    pub authorization_type: Option<String>,
    pub authorizer_id: Option<String>,
}

/// The API's live routes, every page.
pub async fn read(ctx: &Context, api_id: &str, name: &str) -> Result<Vec<RouteLive>> {
    let mut routes = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = ctx
            .apigw
            .get_routes()
            .api_id(api_id)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws("GetRoutes", format!("http api {name}"), e))?;
        routes.extend(page.items().iter().map(|r| RouteLive {
            id: r.route_id().unwrap_or_default().to_string(),
            key: r.route_key().unwrap_or_default().to_string(),
            target: r.target().map(str::to_string),
            authorization_type: r.authorization_type().map(|t| t.as_str().to_string()),
            authorizer_id: r.authorizer_id().map(str::to_string),
        }));
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(routes)
}

/// A new route's row: its target, and its authorizer when it needs a token.
fn create_row(stack: &Stack, key: String, target: String, authorizer_id: Option<&str>) -> Change {
    let mut attrs = vec![("target", target)];
    let auth = authorizer::want_route_authorization(stack, &key, authorizer_id);
    if auth != authorizer::NONE {
        attrs.push(("authorization", auth));
    }
    Change::create(KIND, key, attrs)
}

/// A row per configured route (created, or compared with its live twin) and one per live route
/// the config no longer has (deleted).
pub fn diff(stack: &Stack, live: &[RouteLive], target: &str, authorizer_id: Option<&str>) -> Vec<Change> {
    let routes = &stack.config.api.routes;
    let mut out = Vec::new();
    for route in routes {
        let key = route.to_string();
        let Some(r) = live.iter().find(|r| r.key == key) else {
            out.push(create_row(stack, key, target.to_string(), authorizer_id));
            continue;
        };
        let mut d = Vec::new();
        diff_attr(&mut d, "target", r.target.as_ref(), Some(&target.to_string()));
        diff_attr(
            &mut d,
            "authorization",
            Some(&authorizer::route_authorization(
                r.authorization_type.as_deref(),
                r.authorizer_id.as_deref(),
            )),
            Some(&authorizer::want_route_authorization(stack, &key, authorizer_id)),
        );
        out.push(Change::compare(KIND, key, d));
    }
    for r in live.iter().filter(|r| !routes.iter().any(|k| k.to_string() == r.key)) {
        out.push(Change::new(KIND, r.key.clone(), Action::Delete).with_note(Note::NoLongerInConfig));
    }
    out
}

/// What a route must be: its target and its authorization (`NONE` or `JWT <id>`).
pub struct Want<'a> {
    pub target: &'a str,
    pub authorization: String,
}

impl Want<'_> {
    /// The JWT authorizer's id when the route needs a token.
    fn authorizer_id(&self) -> Option<&str> {
        self.authorization.strip_prefix("JWT ")
    }
}

/// One route row: creates the route, or updates or deletes the live routes with its key.
pub async fn apply(
    ctx: &Context,
    stack: &Stack,
    api_id: &str,
    want: &Want<'_>,
    live_routes: &[RouteLive],
    change: &Change,
) -> Result<()> {
    let key = &change.name;
    let live_ids = live_routes.iter().filter(|r| &r.key == key).map(|r| r.id.as_str());
    match change.action {
        Action::Create => create(ctx, stack, api_id, key, want).await?,
        Action::Update => {
            for route_id in live_ids {
                update(ctx, stack, api_id, key, route_id, want, change).await?;
            }
        }
        Action::Delete => {
            for route_id in live_ids {
                delete(ctx, stack, api_id, key, route_id).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn create(ctx: &Context, stack: &Stack, api_id: &str, key: &str, want: &Want<'_>) -> Result<()> {
    let name = stack.api_name();
    let step = ctx.progress.step(format!("adding route {key}"));
    let jwt = want.authorizer_id();
    ctx.apigw
        .create_route()
        .api_id(api_id)
        .route_key(key)
        .target(want.target)
        .set_authorization_type(jwt.map(|_| AuthorizationType::Jwt))
        .set_authorizer_id(jwt.map(str::to_string))
        .send()
        .await
        .map_err(|e| aws("CreateRoute", format!("route {key} of http api {name}"), e))?;
    step.done("added");
    Ok(())
}

/// Points the route at the function and, when its authorization changes, sets it: `JWT` with the
/// authorizer's id, or `NONE` (which detaches the authorizer).
async fn update(
    ctx: &Context,
    stack: &Stack,
    api_id: &str,
    key: &str,
    route_id: &str,
    want: &Want<'_>,
    change: &Change,
) -> Result<()> {
    let name = stack.api_name();
    let jwt = want.authorizer_id();
    let authorization = match jwt {
        Some(_) => Some(AuthorizationType::Jwt),
        None if change.touches("authorization") => Some(AuthorizationType::None),
        None => None,
    };
    let what = match (&authorization, jwt) {
        (Some(_), Some(_)) => format!("protecting route {key} with the JWT authorizer"),
        (Some(_), None) => format!("opening route {key} (no token needed)"),
        _ => format!("pointing route {key} at the function"),
    };
    let step = ctx.progress.step(what);
    ctx.apigw
        .update_route()
        .api_id(api_id)
        .route_id(route_id)
        .target(want.target)
        .set_authorization_type(authorization)
        .set_authorizer_id(jwt.map(str::to_string))
        .send()
        .await
        .map_err(|e| aws("UpdateRoute", format!("route {key} of http api {name}"), e))?;
    step.done("updated");
    Ok(())
}

/// Deletes a route; one already gone is fine.
async fn delete(ctx: &Context, stack: &Stack, api_id: &str, key: &str, route_id: &str) -> Result<()> {
    let name = stack.api_name();
    let step = ctx.progress.step(format!("removing route {key}"));
    match ctx.apigw.delete_route().api_id(api_id).route_id(route_id).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteRoute", format!("route {key} of http api {name}"), e)),
    }
    step.done("removed");
    Ok(())
}
