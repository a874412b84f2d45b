//! The HTTP API's JWT authorizer (`api.auth`): named `{app}-{stage}`, identity source
//! `$request.header.Authorization`, the issuer and audience of the configured provider (the Cognito
//! pool and app client, or `jwt:`'s own). Every route not in `public_routes` uses it.
//!
//! Read: moto cannot list authorizers (no GetAuthorizers), so the live authorizer is found through
//! the routes: the distinct `AuthorizerId`s of the routes whose `AuthorizationType` is `JWT`, each
//! read with GetAuthorizer, and ours is the one with our name. Write: the authorizer exists only
//! while a route uses it (none is created when every route is public), and `up` attaches it to the
//! protected routes right after creating it, so it is found again on the next run. Removing
//! `api.auth` sets those routes to `NONE` first, then deletes it.

use aws_sdk_apigatewayv2::types::{AuthorizerType, JwtConfiguration};

use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::report::{Action, AttrDiff, Change, Note, ResourceKind, diff_attr};
use crate::resources::http_api;
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::Authorizer;
pub const IDENTITY_SOURCE: &str = "$request.header.Authorization";
const JWT: &str = "JWT";
/// A route's authorization type when it needs no token.
pub const NONE: &str = "NONE";
/// Stands for an id `up` has yet to create.
pub const NEW: &str = "<new>";

/// What an authorizer looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub id: String,
    pub authorizer_type: String,
    pub identity_source: Vec<String>,
    pub issuer: Option<String>,
    /// Sorted.
    pub audience: Vec<String>,
}

/// The issuer and audience the authorizer must have.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    pub issuer: String,
    pub audience: Vec<String>,
}

/// Whether the route with this key needs a token (false without `api.auth`).
pub fn protects(stack: &Stack, key: &str) -> bool {
    stack
        .config
        .api
        .auth
        .as_ref()
        .is_some_and(|a| !a.public_routes.iter().any(|k| k.to_string() == key))
}

/// Whether any configured route needs a token: only then does the authorizer exist.
pub fn needed(stack: &Stack) -> bool {
    stack.config.api.routes.iter().any(|k| protects(stack, &k.to_string()))
}

/// A route's authorization as one text: `NONE`, or `JWT <authorizer id>`.
pub fn route_authorization(authorization_type: Option<&str>, authorizer_id: Option<&str>) -> String {
    match authorization_type {
        None | Some(NONE | "") => NONE.to_string(),
        Some(t) => format!("{t} {}", authorizer_id.unwrap_or_default()),
    }
}

/// The authorization the route with `key` must have, given our authorizer's id (or [`NEW`]).
pub fn want_route_authorization(stack: &Stack, key: &str, authorizer_id: Option<&str>) -> String {
    match authorizer_id {
        Some(id) if protects(stack, key) => format!("{JWT} {id}"),
        _ => NONE.to_string(),
    }
}

/// Our authorizers among those the API's routes use (normally one).
pub async fn read(ctx: &Context, stack: &Stack, api: Option<&http_api::Live>) -> Result<Vec<Live>> {
    let Some(api) = api.filter(|a| stack.owns(&a.tags)) else {
        return Ok(Vec::new());
    };
    let mut ids: Vec<&str> = Vec::new();
    for r in &api.routes {
        if r.authorization_type.as_deref() == Some(JWT)
            && let Some(id) = r.authorizer_id.as_deref().filter(|id| !id.is_empty())
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    let mut out = Vec::new();
    for id in ids {
        let got = match ctx
            .apigw
            .get_authorizer()
            .api_id(&api.api_id)
            .authorizer_id(id)
            .send()
            .await
        {
            Ok(got) => got,
            Err(e) if is_not_found(&e) => {
                continue;
            }
            Err(e) => {
                return Err(aws(
                    "GetAuthorizer",
                    format!("authorizer {id} of http api {}", stack.api_name()),
                    e,
                ));
            }
        };
        if got.name() != Some(stack.authorizer_name()) {
            continue;
        }
        let jwt = got.jwt_configuration();
        let mut audience: Vec<String> = jwt.map(|j| j.audience().to_vec()).unwrap_or_default();
        audience.sort();
        out.push(Live {
            id: id.to_string(),
            authorizer_type: got
                .authorizer_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            identity_source: got.identity_source().to_vec(),
            issuer: jwt.and_then(|j| j.issuer()).map(str::to_string),
            audience,
        });
    }
    Ok(out)
}

fn create_row(stack: &Stack, want: &Want) -> Change {
    Change::create(
        KIND,
        stack.authorizer_name(),
        vec![
            ("type", JWT.into()),
            ("identity_source", IDENTITY_SOURCE.into()),
            ("issuer", want.issuer.clone()),
            ("audience", want.audience.join(",")),
        ],
    )
}

/// What `up` would do: create or update ours, delete what no route should use.
pub fn diff(stack: &Stack, want: Option<&Want>, live: &[Live]) -> Vec<Change> {
    let name = stack.authorizer_name();
    let mut out = Vec::new();
    let extra = match (want, live.first()) {
        (Some(want), None) => {
            out.push(create_row(stack, want));
            live
        }
        (Some(want), Some(l)) => {
            let mut d: Vec<AttrDiff> = Vec::new();
            diff_attr(&mut d, "type", Some(&l.authorizer_type), Some(&JWT.to_string()));
            diff_attr(
                &mut d,
                "identity_source",
                Some(&l.identity_source.join(",")),
                Some(&IDENTITY_SOURCE.to_string()),
            );
            diff_attr(&mut d, "issuer", l.issuer.as_ref(), Some(&want.issuer));
            let mut audience = want.audience.clone();
            audience.sort();
            diff_attr(
                &mut d,
                "audience",
                Some(&l.audience.join(",")),
                Some(&audience.join(",")),
            );
            out.push(Change::compare(KIND, name, d));
            &live[1..]
        }
        (None, _) => live,
    };
    for l in extra {
        out.push(Change::new(KIND, format!("{name} ({})", l.id), Action::Delete).with_note(Note::NoLongerNeeded));
    }
    out
}

fn jwt_configuration(want: &Want) -> JwtConfiguration {
    JwtConfiguration::builder()
        .issuer(&want.issuer)
        .set_audience(Some(want.audience.clone()))
        .build()
}

/// Creates or updates ours (before the routes use it); returns its id, `None` when no route should
/// use one. `want` carries the real issuer and audience (no placeholders).
pub async fn apply(
    ctx: &Context,
    stack: &Stack,
    api_id: &str,
    want: Option<&Want>,
    live: &[Live],
    changes: &[Change],
) -> Result<Option<String>> {
    let Some(want) = want else { return Ok(None) };
    let name = stack.authorizer_name();
    let row = changes
        .iter()
        .find(|c| c.resource == KIND && c.name == name && c.action != Action::Delete);
    match live.first() {
        Some(l) => {
            // The plan may not know the issuer or audience yet (a new pool or client): compare again.
            let stale = row.is_some_and(|c| c.action == Action::Update)
                || l.issuer.as_deref() != Some(want.issuer.as_str())
                || {
                    let mut a = want.audience.clone();
                    a.sort();
                    a != l.audience
                };
            if stale {
                let step = ctx.progress.step(format!("updating authorizer {name}"));
                ctx.apigw
                    .update_authorizer()
                    .api_id(api_id)
                    .authorizer_id(&l.id)
                    .authorizer_type(AuthorizerType::Jwt)
                    .identity_source(IDENTITY_SOURCE)
                    .jwt_configuration(jwt_configuration(want))
                    .send()
                    .await
                    .map_err(|e| aws("UpdateAuthorizer", format!("authorizer {name}"), e))?;
                step.done("updated");
            }
            Ok(Some(l.id.clone()))
        }
        None => {
            let step = ctx.progress.step(format!("creating JWT authorizer {name}"));
            let out = ctx
                .apigw
                .create_authorizer()
                .api_id(api_id)
                .name(name)
                .authorizer_type(AuthorizerType::Jwt)
                .identity_source(IDENTITY_SOURCE)
                .jwt_configuration(jwt_configuration(want))
                .send()
                .await
                .map_err(|e| aws("CreateAuthorizer", format!("authorizer {name}"), e))?;
            let id = out
                .authorizer_id()
                .ok_or_else(|| DeployError::Other(format!("CreateAuthorizer returned no id for authorizer {name}")))?;
            step.done("created");
            Ok(Some(id.to_string()))
        }
    }
}

/// Deletes the authorizers no route uses any more (after the routes were updated).
pub async fn remove_unused(
    ctx: &Context,
    stack: &Stack,
    api_id: &str,
    live: &[Live],
    changes: &[Change],
) -> Result<()> {
    let name = stack.authorizer_name();
    for l in live {
        let doomed = changes.iter().any(|c| {
            c.resource == KIND
                && c.action == Action::Delete
                && (c.name == name || c.name == format!("{name} ({})", l.id))
        });
        if !doomed {
            continue;
        }
        let step = ctx.progress.step(format!("deleting authorizer {name} ({})", l.id));
        match ctx
            .apigw
            .delete_authorizer()
            .api_id(api_id)
            .authorizer_id(&l.id)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(aws("DeleteAuthorizer", format!("authorizer {name}"), e)),
        }
        step.done("deleted");
    }
    Ok(())
}

/// `down`'s rows: our authorizers go with the API (DeleteApi deletes them).
pub fn destroyed_with_api(stack: &Stack, api_deleted: bool, live: &[Live]) -> Vec<Change> {
    if !api_deleted {
        return Vec::new();
    }
    let name = stack.authorizer_name();
    live.iter()
        .map(|l| Change::new(KIND, format!("{name} ({})", l.id), Action::Delete).with_note(Note::DeletedWithApi))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn stack(auth: &str) -> Stack {
        let yaml = format!("app: a\nstage: b\napi:\n  routes: [\"POST /orders\", \"GET /orders/{{id}}\"]\n{auth}");
        Stack {
            config: Config::parse(&yaml).unwrap(),
            name: "a-b".into(),
            region: "eu-west-1".into(),
            account: "111122223333".into(),
            partition: "aws".into(),
            secret_arns: vec![],
        }
    }

    const JWT_PUBLIC_GET: &str = "  auth:\n    jwt: { issuer: \"https://i.example.com/\", audience: [web] }\n    \
        public_routes: [\"GET /orders/{id}\"]\n";

    fn live(issuer: &str) -> Live {
        Live {
            id: "au1".into(),
            authorizer_type: JWT.into(),
            identity_source: vec![IDENTITY_SOURCE.into()],
            issuer: Some(issuer.into()),
            audience: vec!["web".into()],
        }
    }

    fn want(issuer: &str) -> Want {
        Want {
            issuer: issuer.into(),
            audience: vec!["web".into()],
        }
    }

    #[test]
    fn routes_read_none_absent_or_empty_as_none_and_want_jwt_only_when_protected() {
        assert_eq!(route_authorization(None, Some("stale")), "NONE");
        assert_eq!(route_authorization(Some("NONE"), Some("stale")), "NONE");
        assert_eq!(route_authorization(Some("JWT"), Some("au1")), "JWT au1");
        let s = stack(JWT_PUBLIC_GET);
        assert!(needed(&s));
        assert_eq!(want_route_authorization(&s, "POST /orders", Some("au1")), "JWT au1");
        assert_eq!(want_route_authorization(&s, "GET /orders/{id}", Some("au1")), "NONE");
        let open = stack("");
        assert!(!needed(&open));
        assert_eq!(want_route_authorization(&open, "POST /orders", None), "NONE");
    }

    #[test]
    fn diff_creates_updates_in_place_or_deletes() {
        let s = stack(JWT_PUBLIC_GET);
        let i = "https://i.example.com/";
        let rows = diff(&s, Some(&want(i)), &[]);
        assert_eq!((rows.len(), rows[0].action), (1, Action::Create));
        let rows = diff(&s, Some(&want(i)), &[live(i)]);
        assert_eq!((rows.len(), rows[0].action), (1, Action::Unchanged));
        let rows = diff(&s, Some(&want("https://other.example.com/")), &[live(i)]);
        assert_eq!(rows[0].action, Action::Update);
        assert_eq!(rows[0].attributes[0].attribute, "issuer");
        let rows = diff(&s, None, &[live(i)]);
        assert_eq!(
            (rows[0].action, rows[0].name.as_str(), rows[0].note.clone()),
            (Action::Delete, "a-b (au1)", Some(Note::NoLongerNeeded))
        );
        assert!(diff(&s, None, &[]).is_empty(), "no auth, nothing live: no row at all");
    }
}
