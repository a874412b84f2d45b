//! The API Gateway HTTP API (v2): the API with its CORS, one AWS_PROXY integration (payload 2.0)
//! to the function, its routes (`route.rs`: one per configured route key, the others removed), and
//! the `$default` stage with auto-deploy and the throttle.

use std::collections::BTreeMap;

use aws_sdk_apigatewayv2::types::{Cors, IntegrationType, ProtocolType, RouteSettings};

use crate::config::CorsSettings;
use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::report::{Action, AttrDiff, Change, Note, ResourceKind, diff_attr};
use crate::resources::authorizer;
use crate::resources::route::{self, RouteLive};
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::HttpApi;
const INTEGRATION_KIND: ResourceKind = ResourceKind::Integration;
const STAGE_KIND: ResourceKind = ResourceKind::Stage;
/// The kinds of the rows [`diff`] emits and [`apply`] takes.
pub const KINDS: [ResourceKind; 4] = [KIND, INTEGRATION_KIND, route::KIND, STAGE_KIND];
const STAGE: &str = "$default";
const PAYLOAD_FORMAT: &str = "2.0";

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub api_id: String,
    pub endpoint: String,
    /// Normalised CORS, rendered as text (None: no CORS configuration).
    pub cors: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub integrations: Vec<IntegrationLive>,
    pub routes: Vec<RouteLive>,
    pub stage: Option<StageLive>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationLive {
    pub id: String,
    pub integration_type: String,
    pub uri: String,
    pub payload_format_version: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageLive {
    pub auto_deploy: bool,
    pub burst: Option<i32>,
    pub rate: Option<f64>,
}

fn sorted(items: &[String], lower: bool) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|s| if lower { s.to_ascii_lowercase() } else { s.clone() })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// One text form for configured and live CORS, so the two compare equal when they mean the same.
fn render_cors(
    origins: &[String],
    methods: &[String],
    headers: &[String],
    expose: &[String],
    max_age: Option<i32>,
    credentials: Option<bool>,
) -> String {
    format!(
        "origins={:?} methods={:?} headers={:?} expose={:?} max_age={} credentials={}",
        sorted(origins, false),
        sorted(
            &methods.iter().map(|m| m.to_ascii_uppercase()).collect::<Vec<_>>(),
            false
        ),
        sorted(headers, true),
        sorted(expose, true),
        max_age.unwrap_or(0),
        credentials.unwrap_or(false)
    )
}

fn want_cors(c: &CorsSettings) -> String {
    render_cors(
        &c.allow_origins,
        &c.allow_methods,
        &c.allow_headers,
        &c.expose_headers,
        Some(c.max_age_s),
        Some(c.allow_credentials),
    )
}

pub fn live_cors(c: &Cors) -> String {
    render_cors(
        c.allow_origins(),
        c.allow_methods(),
        c.allow_headers(),
        c.expose_headers(),
        c.max_age(),
        c.allow_credentials(),
    )
}

/// Finds our API by name. Several APIs may share a name; the one with our tags is ours.
pub async fn read(ctx: &Context, stack: &Stack) -> Result<Option<Live>> {
    let name = stack.api_name();
    let mut candidates = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = ctx
            .apigw
            .get_apis()
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws("GetApis", format!("http api {name}"), e))?;
        candidates.extend(out.items().iter().filter(|a| a.name() == Some(name)).cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    let tags_of = |a: &aws_sdk_apigatewayv2::types::Api| -> BTreeMap<String, String> {
        a.tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let owned: Vec<_> = candidates.iter().filter(|a| stack.owns(&tags_of(a))).collect();
    let api = match (owned.as_slice(), candidates.first()) {
        ([one], _) => *one,
        ([], None) => return Ok(None),
        ([], Some(foreign)) => foreign,
        (many, _) => {
            let ids: Vec<&str> = many.iter().filter_map(|a| a.api_id()).collect();
            return Err(DeployError::Conflict(format!(
                "{} HTTP APIs named {name} carry oncely's tags ({}); \
                delete all but one (`aws apigatewayv2 delete-api --api-id ID`) and run again",
                many.len(),
                ids.join(", ")
            )));
        }
    };
    let api_id = api.api_id().unwrap_or_default().to_string();
    let tags = tags_of(api);
    let mut live = Live {
        api_id: api_id.clone(),
        endpoint: api.api_endpoint().unwrap_or_default().to_string(),
        cors: api.cors_configuration().map(live_cors),
        tags,
        integrations: Vec::new(),
        routes: Vec::new(),
        stage: None,
    };
    if !stack.owns(&live.tags) {
        return Ok(Some(live));
    }
    let ints = ctx
        .apigw
        .get_integrations()
        .api_id(&api_id)
        .send()
        .await
        .map_err(|e| aws("GetIntegrations", format!("http api {name}"), e))?;
    live.integrations = ints
        .items()
        .iter()
        .map(|i| IntegrationLive {
            id: i.integration_id().unwrap_or_default().to_string(),
            integration_type: i.integration_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            uri: i.integration_uri().unwrap_or_default().to_string(),
            payload_format_version: i.payload_format_version().unwrap_or_default().to_string(),
        })
        .collect();
    live.routes = route::read(ctx, &api_id, name).await?;
    let stages = ctx
        .apigw
        .get_stages()
        .api_id(&api_id)
        .send()
        .await
        .map_err(|e| aws("GetStages", format!("http api {name}"), e))?;
    live.stage = stages
        .items()
        .iter()
        .find(|s| s.stage_name() == Some(STAGE))
        .map(|s| StageLive {
            auto_deploy: s.auto_deploy().unwrap_or(false),
            burst: s
                .default_route_settings()
                .and_then(aws_sdk_apigatewayv2::types::RouteSettings::throttling_burst_limit),
            rate: s
                .default_route_settings()
                .and_then(aws_sdk_apigatewayv2::types::RouteSettings::throttling_rate_limit),
        });
    Ok(Some(live))
}

/// The integration we route to: the AWS_PROXY one for our function, else the first one.
fn our_integration<'a>(stack: &Stack, live: &'a Live) -> Option<&'a IntegrationLive> {
    live.integrations
        .iter()
        .find(|i| i.uri == stack.alias_arn() || i.uri == stack.function_arn())
        .or_else(|| live.integrations.first())
}

/// What `up` would do: rows for the API, the integration, every route and the stage.
/// `authorizer_id`: the JWT authorizer protected routes use (its id or [`authorizer::NEW`]), `None`
/// without one.
pub fn diff(stack: &Stack, live: Option<&Live>, authorizer_id: Option<&str>) -> Vec<Change> {
    let name = stack.api_name();
    let want_cors = stack.config.api.cors.as_ref().map(want_cors);
    let Some(live) = live else {
        let api = Change::create(
            KIND,
            name,
            vec![
                ("protocol", "HTTP".into()),
                ("cors", want_cors.unwrap_or_else(|| "(none)".into())),
                ("tags", super::fmt_tags(&stack.tags())),
            ],
        );
        let mut out = vec![api, integration_create_row(stack)];
        out.extend(route::diff(stack, &[], "integrations/<new>", authorizer_id));
        out.push(stage_row(stack, None));
        return out;
    };
    if !stack.owns(&live.tags) {
        return vec![Change::new(KIND, name, Action::Foreign)];
    }
    let mut d = Vec::new();
    diff_attr(&mut d, "cors", live.cors.as_ref(), want_cors.as_ref());
    super::diff_tags(&mut d, stack, &live.tags);
    let (integration, target) = integration_row(stack, live);
    let mut out = vec![Change::compare(KIND, name, d), integration];
    out.extend(route::diff(stack, &live.routes, &target, authorizer_id));
    out.push(stage_row(stack, live.stage.as_ref()));
    out
}

fn integration_name(stack: &Stack) -> String {
    format!("AWS_PROXY -> {}", stack.function_name())
}

fn integration_create_row(stack: &Stack) -> Change {
    Change::create(
        INTEGRATION_KIND,
        integration_name(stack),
        vec![
            ("uri", stack.alias_arn()),
            ("payload_format_version", PAYLOAD_FORMAT.into()),
        ],
    )
}

/// The integration's row, and the target routes point at (`integrations/<new>` until it exists).
fn integration_row(stack: &Stack, live: &Live) -> (Change, String) {
    let Some(i) = our_integration(stack, live) else {
        return (integration_create_row(stack), "integrations/<new>".to_string());
    };
    let mut d = Vec::new();
    diff_attr(
        &mut d,
        "type",
        Some(&i.integration_type),
        Some(&"AWS_PROXY".to_string()),
    );
    diff_attr(&mut d, "uri", Some(&i.uri), Some(&stack.alias_arn()));
    diff_attr(
        &mut d,
        "payload_format_version",
        Some(&i.payload_format_version),
        Some(&PAYLOAD_FORMAT.to_string()),
    );
    let row = Change::compare(INTEGRATION_KIND, integration_name(stack), d);
    (row, format!("integrations/{}", i.id))
}

/// The `$default` stage's row: auto-deploy and the throttle.
fn stage_row(stack: &Stack, live: Option<&StageLive>) -> Change {
    let throttle = &stack.config.api.throttle;
    let Some(s) = live else {
        return Change::create(
            STAGE_KIND,
            STAGE,
            vec![
                ("auto_deploy", "true".into()),
                ("throttling_burst_limit", throttle.burst.to_string()),
                ("throttling_rate_limit", throttle.rate.to_string()),
            ],
        );
    };
    let mut d: Vec<AttrDiff> = Vec::new();
    diff_attr(&mut d, "auto_deploy", Some(&s.auto_deploy), Some(&true));
    diff_attr(
        &mut d,
        "throttling_burst_limit",
        s.burst.as_ref(),
        Some(&throttle.burst),
    );
    diff_attr(&mut d, "throttling_rate_limit", s.rate.as_ref(), Some(&throttle.rate));
    Change::compare(STAGE_KIND, STAGE, d)
}

fn cors_of(c: &CorsSettings) -> Cors {
    Cors::builder()
        .set_allow_origins(Some(c.allow_origins.clone()))
        .set_allow_methods(Some(c.allow_methods.clone()))
        .set_allow_headers(Some(c.allow_headers.clone()))
        .set_expose_headers(Some(c.expose_headers.clone()))
        .max_age(c.max_age_s)
        .allow_credentials(c.allow_credentials)
        .build()
}

fn stage_settings(stack: &Stack) -> RouteSettings {
    let t = &stack.config.api.throttle;
    RouteSettings::builder()
        .throttling_burst_limit(t.burst)
        .throttling_rate_limit(t.rate)
        .build()
}

/// The authorizer's part of [`apply`]: what it must be (real issuer and audience, `None` when no
/// route needs it) and what is live.
#[derive(Debug, Clone, Default)]
pub struct Auth<'a> {
    pub want: Option<&'a authorizer::Want>,
    pub live: &'a [authorizer::Live],
}

/// Converges the API as `changes` (from [`diff`]) say: the API, its integration, the authorizer,
/// the routes (then the authorizers no route uses), and the stage. Returns the API id and endpoint.
pub async fn apply(
    ctx: &Context,
    stack: &Stack,
    live: Option<&Live>,
    changes: &[Change],
    auth: Auth<'_>,
) -> Result<(String, String)> {
    let row = |kind: ResourceKind| changes.iter().find(|c| c.resource == kind);
    let (api_id, endpoint) = apply_api(ctx, stack, live, row(KIND)).await?;
    let integration = live.and_then(|l| our_integration(stack, l));
    let integration_id = apply_integration(ctx, stack, &api_id, integration, row(INTEGRATION_KIND)).await?;
    let target = format!("integrations/{integration_id}");
    let authorizer_id = authorizer::apply(ctx, stack, &api_id, auth.want, auth.live, changes).await?;
    let live_routes: &[RouteLive] = live.map(|l| l.routes.as_slice()).unwrap_or(&[]);
    let route_rows = changes.iter().filter(|c| c.resource == route::KIND && !c.is_noop());
    for change in route_rows {
        let want = route::Want {
            target: &target,
            authorization: authorizer::want_route_authorization(stack, &change.name, authorizer_id.as_deref()),
        };
        route::apply(ctx, stack, &api_id, &want, live_routes, change).await?;
    }
    authorizer::remove_unused(ctx, stack, &api_id, auth.live, changes).await?;
    let live_stage = live.and_then(|l| l.stage.as_ref());
    apply_stage(ctx, stack, &api_id, live_stage, row(STAGE_KIND)).await?;
    Ok((api_id, endpoint))
}

/// The API itself: creates it, or updates its CORS. Returns its id and endpoint.
async fn apply_api(
    ctx: &Context,
    stack: &Stack,
    live: Option<&Live>,
    change: Option<&Change>,
) -> Result<(String, String)> {
    let name = stack.api_name();
    let cfg = &stack.config.api;
    let Some(live) = live else {
        let step = ctx.progress.step(format!("creating HTTP API {name}"));
        let out = ctx
            .apigw
            .create_api()
            .name(name)
            .protocol_type(ProtocolType::Http)
            .set_cors_configuration(cfg.cors.as_ref().map(cors_of))
            .set_tags(Some(stack.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws("CreateApi", format!("http api {name}"), e))?;
        step.done("created");
        return Ok((
            out.api_id().unwrap_or_default().to_string(),
            out.api_endpoint().unwrap_or_default().to_string(),
        ));
    };
    if change.is_some_and(|c| c.touches("cors")) {
        let step = ctx.progress.step(format!("updating CORS of HTTP API {name}"));
        match &cfg.cors {
            Some(c) => {
                ctx.apigw
                    .update_api()
                    .api_id(&live.api_id)
                    .cors_configuration(cors_of(c))
                    .send()
                    .await
                    .map_err(|e| aws("UpdateApi", format!("http api {name}"), e))?;
            }
            None => {
                ctx.apigw
                    .delete_cors_configuration()
                    .api_id(&live.api_id)
                    .send()
                    .await
                    .map_err(|e| aws("DeleteCorsConfiguration", format!("http api {name}"), e))?;
            }
        }
        step.done("updated");
    }
    if change.is_some_and(|c| c.touches("tags")) {
        retag(ctx, stack, live).await?;
    }
    Ok((live.api_id.clone(), live.endpoint.clone()))
}

/// Makes the API's tags the stack's: TagResource for those missing or different, UntagResource
/// for the rest (each repeatable). The `$default` stage keeps the tags it was created with.
async fn retag(ctx: &Context, stack: &Stack, live: &Live) -> Result<()> {
    let arn = format!(
        "arn:{}:apigateway:{}::/apis/{}",
        stack.partition, stack.region, live.api_id
    );
    let what = format!("HTTP API {}", stack.api_name());
    send_retag(ctx, &arn, &what, super::Retag::new(stack, &live.tags)).await
}

/// Sends `delta` to the API Gateway resource `arn` (an API, a domain name), `what` naming it.
pub(crate) async fn send_retag(ctx: &Context, arn: &str, what: &str, delta: super::Retag) -> Result<()> {
    let untag = |keys| async {
        let call = ctx.apigw.untag_resource().resource_arn(arn).set_tag_keys(Some(keys));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("UntagResource", what.to_string(), e))
    };
    let tag = |tags: BTreeMap<String, String>| async {
        let call = ctx
            .apigw
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.into_iter().collect()));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("TagResource", what.to_string(), e))
    };
    super::send_retag(ctx, what, delta, untag, tag).await
}

/// The AWS_PROXY integration to the function: creates it, or updates it. Returns its id.
async fn apply_integration(
    ctx: &Context,
    stack: &Stack,
    api_id: &str,
    live: Option<&IntegrationLive>,
    change: Option<&Change>,
) -> Result<String> {
    let name = stack.api_name();
    match (live, change) {
        (Some(i), Some(change)) if change.action == Action::Update => {
            let step = ctx
                .progress
                .step(format!("updating the integration of HTTP API {name}"));
            ctx.apigw
                .update_integration()
                .api_id(api_id)
                .integration_id(&i.id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(stack.alias_arn())
                .payload_format_version(PAYLOAD_FORMAT)
                .send()
                .await
                .map_err(|e| aws("UpdateIntegration", format!("http api {name}"), e))?;
            step.done("updated");
            Ok(i.id.clone())
        }
        (Some(i), _) => Ok(i.id.clone()),
        (None, _) => {
            let step = ctx.progress.step(format!(
                "connecting HTTP API {name} to function {}",
                stack.function_name()
            ));
            let out = ctx
                .apigw
                .create_integration()
                .api_id(api_id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(stack.alias_arn())
                .integration_method("POST")
                .payload_format_version(PAYLOAD_FORMAT)
                .timeout_in_millis(30_000)
                .send()
                .await
                .map_err(|e| aws("CreateIntegration", format!("http api {name}"), e))?;
            step.done("created");
            Ok(out.integration_id().unwrap_or_default().to_string())
        }
    }
}

/// The `$default` stage with auto-deploy and the throttle: creates it, or updates it.
async fn apply_stage(
    ctx: &Context,
    stack: &Stack,
    api_id: &str,
    live: Option<&StageLive>,
    change: Option<&Change>,
) -> Result<()> {
    let name = stack.api_name();
    match (live, change) {
        (None, _) => {
            let step = ctx.progress.step(format!("creating stage {STAGE} (auto-deploy)"));
            ctx.apigw
                .create_stage()
                .api_id(api_id)
                .stage_name(STAGE)
                .auto_deploy(true)
                .default_route_settings(stage_settings(stack))
                .set_tags(Some(stack.tags().into_iter().collect()))
                .send()
                .await
                .map_err(|e| aws("CreateStage", format!("stage {STAGE} of http api {name}"), e))?;
            step.done("created");
        }
        (Some(_), Some(change)) if change.action == Action::Update => {
            let step = ctx.progress.step(format!("updating stage {STAGE}"));
            ctx.apigw
                .update_stage()
                .api_id(api_id)
                .stage_name(STAGE)
                .auto_deploy(true)
                .default_route_settings(stage_settings(stack))
                .send()
                .await
                .map_err(|e| aws("UpdateStage", format!("stage {STAGE} of http api {name}"), e))?;
            step.done("updated");
        }
        _ => {}
    }
    Ok(())
}

/// Deletes the API (with its integration, routes and stage) if it is ours.
pub async fn destroy(ctx: &Context, stack: &Stack, live: Option<&Live>) -> Result<Change> {
    let name = stack.api_name();
    let live = match super::ours(ctx, stack, KIND, name, live, |l| &l.tags) {
        super::Ownership::Ours(live) => live,
        super::Ownership::Skip(row) => return Ok(row),
    };
    let step = ctx.progress.step(format!("deleting HTTP API {name} ({})", live.api_id));
    match ctx.apigw.delete_api().api_id(&live.api_id).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteApi", format!("http api {name}"), e)),
    }
    step.done("deleted");
    Ok(Change::new(KIND, name, Action::Delete).with_note(Note::ApiId(live.api_id.clone())))
}
