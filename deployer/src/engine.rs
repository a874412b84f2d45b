//! The reconcile loop behind `plan`, `up` and `down`: read every resource's live state, diff it
//! against the desired stack, then apply in dependency order (or destroy in reverse).

use serde_json::Value;

use crate::context::Context;
use crate::error::{DeployError, Result};
use crate::package::Artifact;
use crate::report::{Action, Change, Command, Note, Report, ResourceKind};
use crate::resources::function::Backoff;
use crate::resources::{
    alarm, auth, authorizer, certificate, concurrency, dns_record, domain, event_source, function, http_api, log_group,
    queue, role, secrets, table, user_pool, user_pool_client, version,
};
use crate::stack::Stack;

/// The live state of the whole stack.
#[derive(Debug, Clone)]
pub struct LiveStack {
    pub table: Option<table::Live>,
    pub log_group: Option<log_group::Live>,
    pub role: Option<role::Live>,
    pub function: Option<function::Live>,
    pub permission: Vec<Value>,
    pub api: Option<http_api::Live>,
    /// `api.auth`: the JWT authorizers the API's routes use, and the Cognito user pool and app
    /// client (read only for `provider: cognito`).
    pub authorizers: Vec<authorizer::Live>,
    pub user_pool: Option<user_pool::Live>,
    pub user_pool_client: Option<user_pool_client::Live>,
    /// The function's published versions and its alias `live` (`None`: no function).
    pub versions: Option<version::Live>,
    /// The stack's CloudWatch alarms that exist.
    pub alarms: Vec<alarm::Live>,
    /// The queues whose names start with the stack's (ours, or in the way of ours).
    pub queues: Vec<queue::Live>,
    /// The event source mappings from our queues to the function.
    pub event_sources: Vec<event_source::Live>,
    /// The secrets the function reads, as looked up (never created or deleted here).
    pub secrets: Vec<secrets::SecretLive>,
    /// `api.domain`: the domain names that are the config's or ours, with their mappings.
    pub domains: Vec<domain::Live>,
    /// The config's hosted zone and the alias records that concern the stack.
    pub records: dns_record::Records,
    /// The certificate `up` would give the domain name (`None` without `api.domain`).
    pub certificate: Option<certificate::Certificate>,
}

impl LiveStack {
    pub fn is_empty(&self) -> bool {
        self.table.is_none()
            && self.log_group.is_none()
            && self.role.is_none()
            && self.function.is_none()
            && self.api.is_none()
            && self.user_pool.is_none()
            && self.alarms.is_empty()
            && self.queues.is_empty()
            && self.domains.is_empty()
    }
}

/// Reads every resource (concurrently: reads are free of side effects).
pub async fn read(ctx: &Context, stack: &Stack) -> Result<LiveStack> {
    let step = ctx
        .progress
        .step(format!("reading the live state of {} in {}", stack.name, stack.region));
    let queues_and_mappings = async {
        let queues = queue::read(ctx, stack).await?;
        let mappings = event_source::read(ctx, stack, &queues).await?;
        Ok::<_, DeployError>((queues, mappings))
    };
    let domains_and_records = async {
        let domains = domain::read(ctx, stack).await?;
        let records = dns_record::read(ctx, stack, &domains).await?;
        Ok::<_, DeployError>((domains, records))
    };
    let api_and_authorizers = async {
        let api = http_api::read(ctx, stack).await?;
        let authorizers = authorizer::read(ctx, stack, api.as_ref()).await?;
        Ok::<_, DeployError>((api, authorizers))
    };
    let (
        table,
        log_group,
        role,
        function,
        permission,
        (api, authorizers),
        (user_pool, user_pool_client),
        versions,
        alarms,
        (queues, event_sources),
        secrets,
        (domains, records),
        certificate,
    ) = tokio::try_join!(
        table::read(ctx, stack),
        log_group::read(ctx, stack),
        role::read(ctx, stack),
        function::read(ctx, stack),
        function::read_permission(ctx, stack),
        api_and_authorizers,
        auth::read_cognito(ctx, stack),
        version::read(ctx, stack),
        alarm::read(ctx, stack),
        queues_and_mappings,
        secrets::read(ctx, stack),
        domains_and_records,
        certificate::read(ctx, stack),
    )?;
    step.done("read");
    Ok(LiveStack {
        table,
        log_group,
        role,
        function,
        permission,
        api,
        authorizers,
        user_pool,
        user_pool_client,
        versions,
        alarms,
        queues,
        event_sources,
        secrets,
        domains,
        records,
        certificate,
    })
}

/// What the authorizer must be per the live state (`None` when no route needs one).
fn authorizer_want(stack: &Stack, live: &LiveStack) -> Option<authorizer::Want> {
    auth::live_target(stack, live.user_pool.as_ref(), live.user_pool_client.as_ref())
        .filter(|_| authorizer::needed(stack))
}

/// Every change `up` would make, in the order it makes them.
pub fn diff(stack: &Stack, live: &LiveStack, code: Option<&Artifact>) -> Vec<Change> {
    let mut out = vec![
        table::diff(stack, live.table.as_ref()),
        log_group::diff(stack, live.log_group.as_ref()),
    ];
    out.extend(queue::diff(stack, &live.queues));
    out.extend(role::diff(stack, live.role.as_ref()));
    let function = function::diff(stack, live.function.as_ref(), code);
    let function_changes = function::changes_version(&function);
    out.push(function);
    let reserved = live.function.as_ref().map(|f| f.reserved_concurrency);
    out.extend(concurrency::diff(stack, reserved));
    out.extend(version::diff(stack, live.versions.as_ref(), function_changes));
    out.extend(event_source::diff(stack, &live.event_sources));
    out.extend(auth::diff_cognito(
        stack,
        live.user_pool.as_ref(),
        live.user_pool_client.as_ref(),
    ));
    let want = authorizer_want(stack, live);
    let authorizer_id = want
        .as_ref()
        .map(|_| live.authorizers.first().map_or(authorizer::NEW, |a| a.id.as_str()));
    let mut api_rows = http_api::diff(stack, live.api.as_ref(), authorizer_id);
    // The authorizer is made before the routes use it, and deleted after they stopped.
    let at = api_rows
        .iter()
        .position(|c| c.resource == ResourceKind::Route)
        .unwrap_or(api_rows.len());
    api_rows.splice(at..at, authorizer::diff(stack, want.as_ref(), &live.authorizers));
    out.extend(api_rows);
    let owned_api = live
        .api
        .as_ref()
        .filter(|a| stack.owns(&a.tags))
        .map(|a| a.api_id.as_str());
    out.push(function::diff_permission(stack, owned_api, &live.permission));
    let certificate = live.certificate.as_ref().and_then(|c| c.arn.as_deref());
    out.extend(domain::diff(stack, &live.domains, certificate, owned_api));
    let target = domain::wanted(stack, &live.domains).and_then(|d| d.target.as_ref());
    out.extend(dns_record::diff(stack, &live.domains, &live.records, target));
    out.extend(alarm::diff(stack, &live.alarms));
    out
}

/// Everything `plan` and `up` need that the deployer does not make is there (the secrets, the
/// domain's certificate and hosted zone); else what is missing, before any change.
fn check_prerequisites(stack: &Stack, live: &LiveStack) -> Result<()> {
    secrets::check(stack, &live.secrets)?;
    certificate::check(live.certificate.as_ref())?;
    dns_record::check(stack, &live.records)
}

/// The URL the API is reached at: its own domain's when the config names one (that exists, or
/// that `up` just made), else API Gateway's.
fn public_endpoint(stack: &Stack, api_endpoint: Option<String>, domain_exists: bool) -> Option<String> {
    match stack.config.domain_name() {
        Some(name) if domain_exists => Some(format!("https://{name}")),
        _ => api_endpoint,
    }
}

/// The URL of the stack as it is live: the config's domain when it exists and is ours, else the
/// endpoint of our HTTP API (`None`: not deployed).
pub fn live_endpoint(stack: &Stack, api: Option<&http_api::Live>, domains: &[domain::Live]) -> Option<String> {
    let api_endpoint = api.filter(|a| stack.owns(&a.tags)).map(|a| a.endpoint.clone());
    let domain_ours = api_endpoint.is_some() && domain::wanted(stack, domains).is_some_and(|d| stack.owns(&d.tags));
    public_endpoint(stack, api_endpoint, domain_ours)
}

/// Refuses to touch a stack where a resource with our name is not ours.
fn check_adoptable(stack: &Stack, changes: &[Change]) -> Result<()> {
    if let Some(foreign) = changes.iter().find(|c| c.action == Action::Foreign) {
        return Err(DeployError::Foreign {
            kind: foreign.resource,
            name: foreign.name.clone(),
            app: stack.config.app.clone(),
            stage: stack.config.stage.clone(),
        });
    }
    Ok(())
}

/// One warning per resource that has our name but not our tags: `{kind} {name} {what}`.
fn foreign_warnings(report: &Report, what: &str) -> Vec<String> {
    report
        .changes
        .iter()
        .filter(|c| c.action == Action::Foreign)
        .map(|c| format!("{} {} {what}", c.resource, c.name))
        .collect()
}

/// `plan`: what `up` would do; changes nothing.
pub async fn plan(ctx: &Context, stack: &Stack, code: Option<&Artifact>) -> Result<Report> {
    let live = read(ctx, stack).await?;
    check_prerequisites(stack, &live)?;
    let stack = &stack.with_secret_arns(secrets::arns(&live.secrets));
    let mut report = Report::new(Command::Plan, diff(stack, &live, code));
    report.secrets = live.secrets.clone();
    report.warnings = foreign_warnings(&report, "exists without oncely's tags: `up` will refuse to adopt it");
    report.endpoint = live_endpoint(stack, live.api.as_ref(), &live.domains);
    report.domain_target = domain_target(stack, &live);
    Ok(report)
}

/// Where the config's domain name must point, for people whose DNS is not in Route 53 (none
/// with a hosted zone: the records are made).
fn domain_target(stack: &Stack, live: &LiveStack) -> Option<String> {
    domain::wanted(stack, &live.domains)
        .and_then(|d| d.target.as_ref())
        .map(|t| t.dns_name.clone())
}

/// `up`: plan, then converge; makes no mutating call when nothing differs.
pub async fn up(ctx: &Context, stack: &Stack, code: &Artifact, backoff: Backoff) -> Result<Report> {
    let live = read(ctx, stack).await?;
    check_prerequisites(stack, &live)?;
    let stack = &stack.with_secret_arns(secrets::arns(&live.secrets));
    let changes = diff(stack, &live, Some(code));
    check_adoptable(stack, &changes)?;
    let mut report = Report::new(Command::Up, changes);
    report.secrets = live.secrets.clone();
    report.function_name = Some(stack.function_name().to_string());
    report.table_name = Some(stack.table_name().to_string());
    if !report.has_changes() {
        ctx.progress.info("everything is up to date: no changes made");
        report.endpoint = live_endpoint(stack, live.api.as_ref(), &live.domains);
        report.domain_target = domain_target(stack, &live);
        report.auth = auth::live_target(stack, live.user_pool.as_ref(), live.user_pool_client.as_ref())
            .map(|w| auth::outputs(stack, &w, live.user_pool.as_ref().map(|p| p.id.as_str())));
        return Ok(report);
    }
    ctx.progress.info(format!("plan: {}", report.summary()));
    let find = |kind: ResourceKind| report.changes.iter().find(|c| c.resource == kind).cloned();
    let rows = |kinds: &[ResourceKind]| -> Vec<Change> {
        report
            .changes
            .iter()
            .filter(|c| kinds.contains(&c.resource))
            .cloned()
            .collect()
    };

    if let Some(c) = find(ResourceKind::Table) {
        table::apply(ctx, stack, live.table.as_ref(), &c).await?;
    }
    if let Some(c) = find(ResourceKind::LogGroup) {
        log_group::apply(ctx, stack, live.log_group.as_ref(), &c).await?;
    }
    queue::apply(ctx, stack, &live.queues, &report.changes).await?;
    role::apply(ctx, stack, live.role.as_ref(), &rows(&role::KINDS)).await?;
    if let Some(c) = find(ResourceKind::Function) {
        function::apply(ctx, stack, live.function.as_ref(), &c, code, backoff).await?;
    }
    if let Some(c) = find(ResourceKind::Concurrency) {
        concurrency::apply(ctx, stack, &c).await?;
    }
    version::apply(
        ctx,
        stack,
        live.versions.as_ref(),
        &rows(&[ResourceKind::Version, ResourceKind::Alias]),
    )
    .await?;
    // The alias exists now: the mappings feed it; a queue no longer wanted goes after its mapping.
    event_source::apply(ctx, stack, &live.event_sources, &report.changes).await?;
    queue::remove(ctx, &live.queues, &report.changes).await?;
    let target = auth::apply(
        ctx,
        stack,
        live.user_pool.as_ref(),
        live.user_pool_client.as_ref(),
        &report.changes,
    )
    .await?;
    report.auth = target
        .as_ref()
        .map(|(w, pool_id)| auth::outputs(stack, w, pool_id.as_deref()));
    let want = target.map(|(w, _)| w).filter(|_| authorizer::needed(stack));
    let api_auth = http_api::Auth {
        want: want.as_ref(),
        live: &live.authorizers,
    };
    let mut api_kinds = http_api::KINDS.to_vec();
    api_kinds.push(ResourceKind::Authorizer);
    let (api_id, endpoint) = http_api::apply(ctx, stack, live.api.as_ref(), &rows(&api_kinds), api_auth).await?;
    // The permission's source ARN needs the API id, known only now for a new API.
    let permission = function::diff_permission(stack, Some(&api_id), &live.permission);
    function::apply_permission(ctx, stack, &api_id, &permission, live.permission.len()).await?;
    let certificate = live.certificate.as_ref().and_then(|c| c.arn.as_deref());
    let target = domain::apply(ctx, stack, &live.domains, &report.changes, certificate, &api_id).await?;
    if let Some(target) = &target {
        dns_record::apply(ctx, stack, &live.records, &report.changes, target).await?;
    }
    dns_record::remove(ctx, stack, &live.domains, &live.records).await?;
    domain::destroy(ctx, stack, &live.domains, stack.config.domain_name().as_deref()).await?;
    alarm::apply(ctx, stack, &live.alarms, &rows(&[ResourceKind::Alarm])).await?;
    report.endpoint = public_endpoint(stack, Some(endpoint), target.is_some());
    report.domain_target = target.map(|t| t.dns_name);
    report.applied = true;
    Ok(report)
}

/// What `down` would delete: the resources that exist and carry our tags.
pub fn deletable(stack: &Stack, live: &LiveStack) -> Vec<String> {
    let mut out: Vec<String> = live
        .alarms
        .iter()
        .filter(|a| stack.owns(&a.tags))
        .map(|a| format!("alarm {}", a.name))
        .collect();
    out.extend(
        dns_record::ours(stack, &live.domains, &live.records)
            .map(|r| format!("alias record {} {} in hosted zone {}", r.name, r.record_type, r.zone)),
    );
    out.extend(
        live.domains
            .iter()
            .filter(|d| stack.owns(&d.tags))
            .map(|d| format!("domain name {} with its API mappings", d.name)),
    );
    if let Some(a) = live.api.as_ref().filter(|a| stack.owns(&a.tags)) {
        out.push(format!(
            "HTTP API {} ({}) with its routes, integration and stage",
            stack.api_name(),
            a.api_id
        ));
    }
    if let Some(p) = live.user_pool.as_ref().filter(|p| stack.owns(&p.tags)) {
        out.push(format!(
            "Cognito user pool {} ({}) with its app client (kept if it has users, unless --delete-data)",
            stack.user_pool_name(),
            p.id
        ));
    }
    let function_owned = live.function.as_ref().is_some_and(|f| stack.owns(&f.tags));
    if function_owned && !live.permission.is_empty() {
        out.push(format!("permission {} on the function", stack.permission_sid()));
    }
    if function_owned {
        out.push(format!(
            "function {} with its versions and alias",
            stack.function_name()
        ));
    }
    if live.log_group.as_ref().is_some_and(|l| stack.owns(&l.tags)) {
        out.push(format!("log group {}", stack.log_group_name()));
    }
    if let Some(r) = live.role.as_ref().filter(|r| stack.owns(&r.tags)) {
        out.push(format!(
            "role {} and its {} policies",
            stack.role_name(),
            r.inline.len() + r.attached.len()
        ));
    }
    out.extend(
        live.event_sources
            .iter()
            .map(|m| format!("event source mapping {} -> live", m.queue)),
    );
    out.extend(
        live.queues
            .iter()
            .filter(|q| stack.owns(&q.tags))
            .map(|q| format!("queue {} (with the messages it holds)", q.name)),
    );
    if let Some(t) = live.table.as_ref().filter(|t| stack.owns(&t.tags)) {
        out.push(if t.deletion_protection {
            format!(
                "table {} (deletion protection on: kept, unless --delete-data, which turns the protection off)",
                stack.table_name()
            )
        } else {
            format!(
                "table {} (kept if it holds orders, unless --delete-data)",
                stack.table_name()
            )
        });
    }
    out
}

/// `down`: deletes what we own in dependency order; absent is success, foreign is left alone.
pub async fn down(ctx: &Context, stack: &Stack, live: &LiveStack, delete_data: bool) -> Result<Report> {
    let mut changes = event_source::destroy(ctx, &live.event_sources).await?;
    changes.extend(alarm::destroy(ctx, stack, &live.alarms).await?);
    // The domain's records, then its mapping and itself, before the API they lead to.
    changes.extend(dns_record::destroy(ctx, stack, &live.domains, &live.records, None).await?);
    changes.extend(domain::destroy(ctx, stack, &live.domains, None).await?);
    let api = http_api::destroy(ctx, stack, live.api.as_ref()).await?;
    let api_deleted = api.action == Action::Delete;
    changes.push(api);
    changes.extend(authorizer::destroyed_with_api(stack, api_deleted, &live.authorizers));
    if auth::uses_cognito(stack) || live.user_pool.is_some() {
        let keep = user_pool::kept(ctx, stack, live.user_pool.as_ref(), delete_data).await?;
        changes.push(
            user_pool_client::destroy(
                ctx,
                stack,
                live.user_pool.as_ref(),
                live.user_pool_client.as_ref(),
                keep,
            )
            .await?,
        );
        changes.push(user_pool::destroy(ctx, stack, live.user_pool.as_ref(), keep).await?);
    }
    let function_owned = live.function.as_ref().is_some_and(|f| stack.owns(&f.tags));
    changes.push(function::destroy_permission(ctx, stack, function_owned, &live.permission).await?);
    changes.push(function::destroy(ctx, stack, live.function.as_ref()).await?);
    changes.push(log_group::destroy(ctx, stack, live.log_group.as_ref()).await?);
    changes.extend(role::destroy(ctx, stack, live.role.as_ref()).await?);
    changes.extend(queue::destroy(ctx, stack, &live.queues).await?);
    changes.push(table::destroy(ctx, stack, live.table.as_ref(), delete_data).await?);
    let mut report = Report::new(Command::Down, changes);
    report.applied = report.delete > 0;
    report.warnings = foreign_warnings(&report, "was left alone: it exists without oncely's tags");
    report
        .warnings
        .extend(report.changes.iter().filter_map(|c| match &c.note {
            Some(note @ (Note::KeptWithData { .. } | Note::KeptProtected)) => {
                Some(format!("{} {} {note}", c.resource, c.name))
            }
            Some(note @ Note::KeptWithUsers) if c.resource == ResourceKind::UserPool => {
                Some(format!("{} {} {note}", c.resource, c.name))
            }
            _ => None,
        }));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Config;
    use crate::progress::Progress;

    /// A context whose every client points at a closed port: any call it sent would fail.
    fn unreachable_ctx() -> Context {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:1")
            .build();
        Context::from_sdk_config(&sdk, "eu-west-1".into(), "111122223333".into(), Progress::silent())
    }

    /// The shipped config's stack, seen through an unreachable context, and a code zip.
    fn shipped_stack() -> (Context, Stack, Artifact) {
        let ctx = unreachable_ctx();
        let config = Config::parse(include_str!("../../config/stack.yaml")).unwrap();
        let stack = Stack::new(&config, &ctx);
        let bytes = crate::package::zip_bootstrap(b"code").unwrap();
        let code = Artifact {
            path: "x.zip".into(),
            sha256: crate::package::sha256_b64(&bytes),
            bytes,
            glibc: None,
            built_with: "test".into(),
        };
        (ctx, stack, code)
    }

    /// The live state of a stack that matches `stack` exactly.
    fn converged(stack: &Stack, code: &Artifact) -> LiveStack {
        let c = &stack.config;
        let tags = stack.tags();
        let cors = c.api.cors.as_ref().unwrap();
        let live_cors = aws_sdk_apigatewayv2::types::Cors::builder()
            .set_allow_origins(Some(cors.allow_origins.clone()))
            .set_allow_methods(Some(cors.allow_methods.iter().rev().cloned().collect()))
            .set_allow_headers(Some(cors.allow_headers.iter().map(|h| h.to_uppercase()).collect()))
            .set_expose_headers(Some(cors.expose_headers.clone()))
            .max_age(cors.max_age_s)
            .allow_credentials(false)
            .build();
        LiveStack {
            table: Some(table::Live {
                arn: stack.table_arn(),
                billing_mode: "PAY_PER_REQUEST".into(),
                key: "id:S".into(),
                ttl_status: "ENABLED".into(),
                ttl_attribute: Some(c.table.ttl_attribute.clone()),
                tags: tags.clone(),
                capacity: None,
                point_in_time_recovery: c.table.point_in_time_recovery,
                earliest_restore: None,
                deletion_protection: c.table.deletion_protection,
                kms_key: c.table.kms_key.clone(),
            }),
            log_group: Some(log_group::Live {
                retention_days: Some(c.function.log_retention_days),
                tags: tags.clone(),
            }),
            role: Some(role::Live {
                arn: stack.role_arn(),
                trust_policy: role::trust_policy(),
                tags: tags.clone(),
                inline: BTreeMap::from([(stack.policy_name(), role::access_policy(stack))]),
                attached: vec![],
            }),
            function: Some(function::Live {
                arn: stack.function_arn(),
                state: Some("Active".into()),
                last_update_status: Some("Successful".into()),
                code_sha256: code.sha256.clone(),
                memory_size: c.function.memory_mb,
                timeout: c.function.timeout_s,
                environment: stack.function_environment(),
                vpc: None,
                role: stack.role_arn(),
                runtime: "provided.al2023".into(),
                handler: "bootstrap".into(),
                architecture: "x86_64".into(),
                tags: tags.clone(),
                tracing: "PassThrough".into(),
                reserved_concurrency: c.function.reserved_concurrency,
            }),
            permission: vec![serde_json::json!({
                "Sid": stack.permission_sid(),
                "Resource": stack.alias_arn(),
                "Principal": {"Service": "apigateway.amazonaws.com"},
                "Condition": {"ArnLike": {"AWS:SourceArn": stack.execute_api_source_arn("abc123")}}
            })],
            api: Some(http_api::Live {
                api_id: "abc123".into(),
                endpoint: "https://abc123.execute-api.eu-west-1.amazonaws.com".into(),
                cors: Some(http_api::live_cors(&live_cors)),
                tags,
                integrations: vec![http_api::IntegrationLive {
                    id: "int1".into(),
                    integration_type: "AWS_PROXY".into(),
                    uri: stack.alias_arn(),
                    payload_format_version: "2.0".into(),
                }],
                routes: c
                    .api
                    .routes
                    .iter()
                    .enumerate()
                    .map(|(i, k)| crate::resources::route::RouteLive {
                        id: format!("r{i}"),
                        key: k.to_string(),
                        target: Some("integrations/int1".into()),
                        authorization_type: None,
                        authorizer_id: None,
                    })
                    .collect(),
                stage: Some(http_api::StageLive {
                    auto_deploy: true,
                    burst: Some(c.api.throttle.burst),
                    rate: Some(c.api.throttle.rate),
                }),
            }),
            authorizers: vec![],
            user_pool: None,
            user_pool_client: None,
            versions: Some(version::Live {
                latest: Some(version::VersionLive {
                    version: "$LATEST".into(),
                    code_sha256: code.sha256.clone(),
                    last_modified: String::new(),
                    fingerprint: "f".into(),
                }),
                published: vec![version::VersionLive {
                    version: "1".into(),
                    code_sha256: code.sha256.clone(),
                    last_modified: String::new(),
                    fingerprint: "f".into(),
                }],
                alias: Some("1".into()),
                other_aliases: Default::default(),
            }),
            alarms: alarm::SPECS
                .iter()
                .map(|s| {
                    let name = stack.alarm_name(s.suffix);
                    let want = alarm::diff(stack, &[]).into_iter().find(|c| c.name == name).unwrap();
                    alarm::Live {
                        arn: format!("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:{name}"),
                        name,
                        state: "OK".into(),
                        settings: want
                            .attributes
                            .iter()
                            .map(|a| (alarm_key(&a.attribute), a.to.clone().unwrap()))
                            .collect(),
                        tags: stack.tags(),
                    }
                })
                .collect(),
            queues: vec![],
            event_sources: vec![],
            secrets: vec![],
            domains: vec![],
            records: Default::default(),
            certificate: None,
        }
    }

    /// The `&'static` setting name of an alarm row's attribute.
    fn alarm_key(attribute: &str) -> &'static str {
        Box::leak(attribute.to_string().into_boxed_str())
    }

    #[tokio::test]
    async fn an_up_to_date_stack_diffs_unchanged_and_apply_sends_zero_calls() {
        let (ctx, stack, code) = shipped_stack();
        let live = converged(&stack, &code);
        let changes = diff(&stack, &live, Some(&code));
        let changed: Vec<&Change> = changes.iter().filter(|c| c.action != Action::Unchanged).collect();
        assert!(changed.is_empty(), "{changed:#?}");
        assert_eq!(changes.len(), 16);

        // Every apply is a no-op: a single call would fail against the closed port.
        for c in &changes {
            match c.resource {
                ResourceKind::Table => table::apply(&ctx, &stack, live.table.as_ref(), c).await.unwrap(),
                ResourceKind::LogGroup => log_group::apply(&ctx, &stack, live.log_group.as_ref(), c)
                    .await
                    .unwrap(),
                ResourceKind::Function => {
                    function::apply(&ctx, &stack, live.function.as_ref(), c, &code, Backoff::default())
                        .await
                        .unwrap();
                }
                ResourceKind::Permission => function::apply_permission(&ctx, &stack, "abc123", c, 1).await.unwrap(),
                _ => {}
            }
        }
        role::apply(&ctx, &stack, live.role.as_ref(), &changes).await.unwrap();
        version::apply(&ctx, &stack, live.versions.as_ref(), &changes)
            .await
            .unwrap();
        alarm::apply(&ctx, &stack, &live.alarms, &changes).await.unwrap();
        let api_rows: Vec<Change> = changes
            .iter()
            .filter(|c| http_api::KINDS.contains(&c.resource))
            .cloned()
            .collect();
        let (api_id, _) = http_api::apply(&ctx, &stack, live.api.as_ref(), &api_rows, Default::default())
            .await
            .unwrap();
        assert_eq!(api_id, "abc123");
    }

    #[tokio::test]
    async fn one_drifted_attribute_is_the_only_change() {
        let (_ctx, stack, code) = shipped_stack();
        let mut live = converged(&stack, &code);
        live.function.as_mut().unwrap().timeout = 3;
        live.api
            .as_mut()
            .unwrap()
            .routes
            .push(crate::resources::route::RouteLive {
                id: "old".into(),
                key: "GET /legacy".into(),
                target: Some("integrations/int1".into()),
                authorization_type: None,
                authorizer_id: None,
            });
        let report = Report::new(Command::Plan, diff(&stack, &live, Some(&code)));
        // The function's update also publishes a version and moves the alias to it.
        assert_eq!(
            (report.create, report.update, report.delete, report.unchanged),
            (1, 2, 1, 13)
        );
        let f = report.changes.iter().find(|c| c.action == Action::Update).unwrap();
        assert_eq!(
            f.attributes,
            vec![crate::report::AttrDiff {
                attribute: "timeout".into(),
                from: Some("3".into()),
                to: Some("15".into())
            }]
        );
        let d = report.changes.iter().find(|c| c.action == Action::Delete).unwrap();
        assert_eq!((d.resource, d.name.as_str()), (ResourceKind::Route, "GET /legacy"));
    }

    #[test]
    fn new_tags_touch_only_the_tags_of_every_tagged_row_and_publish_no_version() {
        let (_ctx, plain, code) = shipped_stack();
        let mut live = converged(&plain, &code);
        // A tag someone added by hand goes; AWS's own stays.
        let function = live.function.as_mut().unwrap();
        function.tags.insert("added-by".into(), "hand".into());
        function.tags.insert("aws:cloudformation:stack-name".into(), "x".into());
        let mut stack = plain.clone();
        stack.config.tags = BTreeMap::from([("team".to_string(), "payments".to_string())]);
        let report = Report::new(Command::Plan, diff(&stack, &live, Some(&code)));
        let updated: Vec<(ResourceKind, Vec<&str>)> = report
            .changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .map(|c| (c.resource, c.attributes.iter().map(|a| a.attribute.as_str()).collect()))
            .collect();
        let tags_only = |kind| (kind, vec!["tags"]);
        assert_eq!(
            updated,
            [
                tags_only(ResourceKind::Table),
                tags_only(ResourceKind::LogGroup),
                tags_only(ResourceKind::Role),
                tags_only(ResourceKind::Function),
                tags_only(ResourceKind::HttpApi),
                tags_only(ResourceKind::Alarm),
                tags_only(ResourceKind::Alarm),
                tags_only(ResourceKind::Alarm),
            ]
        );
        let f = &live.function.as_ref().unwrap().tags;
        let delta = crate::resources::Retag::new(&stack, f);
        assert_eq!(delta.set, BTreeMap::from([("team".into(), "payments".into())]));
        assert_eq!(delta.remove, ["added-by"]);
        // Without the hand-made tag, the function is unchanged: `aws:` tags are not ours to remove.
        live.function.as_mut().unwrap().tags.remove("added-by");
        let rows = diff(&plain, &live, Some(&code));
        assert!(rows.iter().all(|c| c.action == Action::Unchanged), "{rows:#?}");
    }

    #[test]
    fn a_key_prefix_reaches_the_function_only_when_set() {
        let ctx = unreachable_ctx();
        let shipped = Config::parse(include_str!("../../config/stack.yaml")).unwrap();
        assert!(
            !Stack::new(&shipped, &ctx)
                .function_environment()
                .contains_key("IDEMPOTENCY_KEY_PREFIX")
        );
        let yaml = "app: shop\nstage: prod\nidempotency:\n  key_prefix: payments\n";
        let env = Stack::new(&Config::parse(yaml).unwrap(), &ctx).function_environment();
        assert_eq!(env.get("IDEMPOTENCY_KEY_PREFIX").map(String::as_str), Some("payments"));
        let reserved = "app: shop\nstage: prod\nfunction:\n  environment: { IDEMPOTENCY_KEY_PREFIX: x }\n";
        assert!(
            Config::parse(reserved).is_err(),
            "the deployer's variable cannot be set by hand"
        );
    }

    /// The shipped stack with `api.domain` in zone `Z1`, and the live state of it converged.
    fn with_domain() -> (Stack, LiveStack, Artifact) {
        let (ctx, plain, code) = shipped_stack();
        let yaml = include_str!("../../config/stack.yaml").replace(
            "api:\n",
            "api:\n  domain: { name: \"{stage}.api.example.com\", hosted_zone_id: Z1 }\n",
        );
        let stack = Stack::new(&Config::parse(&yaml).unwrap(), &ctx);
        let mut live = converged(&plain, &code);
        let name = stack.config.domain_name().unwrap();
        let target = domain::Target {
            dns_name: "d-abc.execute-api.eu-west-1.amazonaws.com".into(),
            hosted_zone_id: "ZLY8HYME6SFDD".into(),
        };
        live.domains = vec![domain::Live {
            name: name.clone(),
            certificate_arn: Some("arn:aws:acm:eu-west-1:111122223333:certificate/c".into()),
            endpoint_type: Some("REGIONAL".into()),
            security_policy: Some("TLS_1_2".into()),
            target: Some(target.clone()),
            tags: domain::tags(&stack),
            mappings: vec![domain::MappingLive {
                id: "m1".into(),
                api_id: "abc123".into(),
                stage: "$default".into(),
                key: String::new(),
            }],
        }];
        let record = |t: &str| dns_record::Live {
            zone: "Z1".into(),
            name: name.clone(),
            record_type: t.into(),
            alias: Some(target.clone()),
            set: aws_sdk_route53::types::ResourceRecordSet::builder()
                .name(&name)
                .r#type(t.into())
                .build()
                .unwrap(),
        };
        live.records = dns_record::Records {
            zone: Some(("Z1".into(), Some("example.com".into()))),
            records: vec![record("A"), record("AAAA")],
        };
        live.certificate = Some(certificate::Certificate {
            arn: Some("arn:aws:acm:eu-west-1:111122223333:certificate/c".into()),
            found: true,
            problem: None,
        });
        (stack, live, code)
    }

    #[tokio::test]
    async fn a_converged_domain_diffs_unchanged_and_its_apply_sends_nothing() {
        let (stack, live, code) = with_domain();
        let changes = diff(&stack, &live, Some(&code));
        let changed: Vec<&Change> = changes.iter().filter(|c| c.action != Action::Unchanged).collect();
        assert!(changed.is_empty(), "{changed:#?}");
        let kinds = |k| changes.iter().filter(|c| c.resource == k).count();
        assert_eq!(
            (
                kinds(ResourceKind::DomainName),
                kinds(ResourceKind::ApiMapping),
                kinds(ResourceKind::DnsRecord)
            ),
            (1, 1, 2)
        );
        // Every call would fail against the closed port.
        let ctx = unreachable_ctx();
        let cert = live.certificate.as_ref().and_then(|c| c.arn.as_deref());
        let target = domain::apply(&ctx, &stack, &live.domains, &changes, cert, "abc123")
            .await
            .unwrap()
            .unwrap();
        dns_record::apply(&ctx, &stack, &live.records, &changes, &target)
            .await
            .unwrap();
        dns_record::remove(&ctx, &stack, &live.domains, &live.records)
            .await
            .unwrap();
        let kept = stack.config.domain_name();
        assert!(
            domain::destroy(&ctx, &stack, &live.domains, kept.as_deref())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            live_endpoint(&stack, live.api.as_ref(), &live.domains).as_deref(),
            Some("https://dev.api.example.com")
        );
    }

    #[test]
    fn someone_else_s_record_or_domain_is_refused_and_a_dropped_domain_is_deleted() {
        let (stack, mut live, code) = with_domain();
        // A record pointing elsewhere is not ours: `up` refuses to touch the stack.
        let other = domain::Target {
            dns_name: "d111.cloudfront.net".into(),
            hosted_zone_id: "Z2FDTNDATAQYW2".into(),
        };
        live.records.records[0].alias = Some(other);
        let changes = diff(&stack, &live, Some(&code));
        let foreign: Vec<String> = changes
            .iter()
            .filter(|c| c.action == Action::Foreign)
            .map(|c| format!("{} {}", c.resource, c.name))
            .collect();
        assert_eq!(foreign, ["dns record dev.api.example.com A in Z1"]);
        assert!(check_adoptable(&stack, &changes).is_err());

        // Without `api.domain`, ours goes: both records, the mapping and the domain name.
        let (stack, live, code) = with_domain();
        let mut plain = stack.clone();
        plain.config.api.domain = None;
        let deleted: Vec<String> = diff(&plain, &live, Some(&code))
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| format!("{} {}", c.resource, c.name))
            .collect();
        assert_eq!(
            deleted,
            [
                "api mapping dev.api.example.com/ -> abc123 $default (m1)",
                "domain name dev.api.example.com",
                "dns record dev.api.example.com A in Z1",
                "dns record dev.api.example.com AAAA in Z1",
            ]
        );

        // A domain name of that name without our tags (another stack's) is refused.
        let (stack, mut live, code) = with_domain();
        live.domains[0].tags = BTreeMap::from([("oncely:stage".to_string(), "other".to_string())]);
        let changes = diff(&stack, &live, Some(&code));
        assert!(
            changes
                .iter()
                .any(|c| c.resource == ResourceKind::DomainName && c.action == Action::Foreign)
        );
    }
}
