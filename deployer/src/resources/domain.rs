//! `api.domain` in API Gateway: the regional custom domain name (TLS 1.2, the ACM certificate),
//! tagged like every resource plus the hosted zone its records live in (so that a later `up` or
//! `down` finds them even once the config no longer names the domain), and its one API mapping to
//! the HTTP API's `$default` stage. A domain name of ours the config no longer wants is deleted
//! with its mappings; one with our name but not our tags is never touched.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_apigatewayv2::types::{DomainName, DomainNameConfiguration, EndpointType, SecurityPolicy};

use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::report::{Action, Change, Note, ResourceKind, diff_attr};
use crate::stack::Stack;

pub const KIND: ResourceKind = ResourceKind::DomainName;
pub const MAPPING_KIND: ResourceKind = ResourceKind::ApiMapping;
/// The tag that names the hosted zone of the domain's alias records.
pub const TAG_HOSTED_ZONE: &str = "oncely:hosted-zone";
const ENDPOINT_TYPE: &str = "REGIONAL";
const SECURITY_POLICY: &str = "TLS_1_2";
/// The stage the mapping serves (the only one the deployer makes).
const STAGE: &str = "$default";
/// What a row says of an API or a target not made yet.
pub const NEW: &str = "(new)";

/// Where the domain's DNS name must point: API Gateway's own name for it and its hosted zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub dns_name: String,
    pub hosted_zone_id: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (zone {})", self.dns_name, self.hosted_zone_id)
    }
}

/// A domain name as API Gateway reports it (ours, or in the way of ours).
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub name: String,
    pub certificate_arn: Option<String>,
    pub endpoint_type: Option<String>,
    pub security_policy: Option<String>,
    /// `None` when API Gateway named no target (it always does; moto does not).
    pub target: Option<Target>,
    pub tags: BTreeMap<String, String>,
    pub mappings: Vec<MappingLive>,
}

/// One API mapping of a domain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingLive {
    pub id: String,
    pub api_id: String,
    pub stage: String,
    pub key: String,
}

impl MappingLive {
    fn row_name(&self, domain: &str) -> String {
        format!("{domain}/{} -> {} {} ({})", self.key, self.api_id, self.stage, self.id)
    }
}

/// The tags the domain name carries: the stack's and, with records, their hosted zone.
pub fn tags(stack: &Stack) -> BTreeMap<String, String> {
    let mut tags = stack.tags();
    if let Some(zone) = stack.config.api.domain.as_ref().and_then(|d| d.hosted_zone_id.as_ref()) {
        tags.insert(TAG_HOSTED_ZONE.to_string(), zone.clone());
    }
    tags
}

/// The domain names that are the config's or carry our tags, each with its mappings.
pub async fn read(ctx: &Context, stack: &Stack) -> Result<Vec<Live>> {
    let wanted = stack.config.domain_name();
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = ctx
            .apigw
            .get_domain_names()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("GetDomainNames", "the API Gateway domain names", e))?;
        for d in page.items() {
            let live = of(d);
            if wanted.as_deref() == Some(live.name.as_str()) || stack.owns(&live.tags) {
                out.push(live);
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for live in &mut out {
        live.mappings = mappings(ctx, &live.name).await?;
    }
    Ok(out)
}

fn of(d: &DomainName) -> Live {
    let config = d.domain_name_configurations().first();
    let target = config.and_then(|c| {
        Some(Target {
            dns_name: c.api_gateway_domain_name()?.to_string(),
            hosted_zone_id: c.hosted_zone_id()?.to_string(),
        })
    });
    Live {
        name: d.domain_name().unwrap_or_default().to_string(),
        certificate_arn: config.and_then(|c| c.certificate_arn().map(str::to_string)),
        endpoint_type: config.and_then(|c| c.endpoint_type().map(|t| t.as_str().to_string())),
        security_policy: config.and_then(|c| c.security_policy().map(|p| p.as_str().to_string())),
        target,
        tags: d
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        mappings: Vec::new(),
    }
}

async fn mappings(ctx: &Context, domain: &str) -> Result<Vec<MappingLive>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = match ctx
            .apigw
            .get_api_mappings()
            .domain_name(domain)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if is_not_found(&e) => return Ok(out),
            Err(e) => return Err(aws("GetApiMappings", format!("domain name {domain}"), e)),
        };
        out.extend(page.items().iter().map(|m| MappingLive {
            id: m.api_mapping_id().unwrap_or_default().to_string(),
            api_id: m.api_id().unwrap_or_default().to_string(),
            stage: m.stage().unwrap_or_default().to_string(),
            key: m.api_mapping_key().unwrap_or_default().to_string(),
        }));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The config's domain name among the live ones.
pub fn wanted<'a>(stack: &Stack, live: &'a [Live]) -> Option<&'a Live> {
    let name = stack.config.domain_name()?;
    live.iter().find(|d| d.name == name)
}

/// The domain names of ours the config does not want (any more).
pub fn unwanted<'a>(stack: &'a Stack, live: &'a [Live]) -> impl Iterator<Item = &'a Live> + 'a {
    let name = stack.config.domain_name();
    live.iter()
        .filter(move |d| Some(d.name.as_str()) != name.as_deref() && stack.owns(&d.tags))
}

/// The rows of the domain name and its mapping (`certificate`: the ARN `up` would use; `api_id`:
/// the HTTP API's, `None` while it is to be made), then the deletions of what is ours and unwanted.
pub fn diff(stack: &Stack, live: &[Live], certificate: Option<&str>, api_id: Option<&str>) -> Vec<Change> {
    let mut out = Vec::new();
    if let Some(name) = stack.config.domain_name() {
        let certificate = certificate.unwrap_or("(none)").to_string();
        let api_id = api_id.unwrap_or(NEW).to_string();
        let mapping_name = format!("{name} -> {STAGE}");
        match wanted(stack, live) {
            None => {
                out.push(Change::create(
                    KIND,
                    &name,
                    vec![
                        ("certificate_arn", certificate),
                        ("endpoint_type", ENDPOINT_TYPE.into()),
                        ("security_policy", SECURITY_POLICY.into()),
                        ("tags", super::fmt_tags(&tags(stack))),
                    ],
                ));
                out.push(Change::create(
                    MAPPING_KIND,
                    mapping_name,
                    vec![("api_id", api_id), ("stage", STAGE.into())],
                ));
            }
            Some(d) if !stack.owns(&d.tags) => out.push(Change::new(KIND, &name, Action::Foreign)),
            Some(d) => {
                let mut attrs = Vec::new();
                diff_attr(
                    &mut attrs,
                    "certificate_arn",
                    d.certificate_arn.as_ref(),
                    Some(&certificate),
                );
                let (endpoint_type, policy) = (ENDPOINT_TYPE.to_string(), SECURITY_POLICY.to_string());
                diff_attr(
                    &mut attrs,
                    "endpoint_type",
                    d.endpoint_type.as_ref(),
                    Some(&endpoint_type),
                );
                diff_attr(&mut attrs, "security_policy", d.security_policy.as_ref(), Some(&policy));
                super::diff_tags_toward(&mut attrs, &tags(stack), &d.tags);
                out.push(Change::compare(KIND, &name, attrs));
                let is_wanted = |m: &MappingLive| m.key.is_empty() && m.api_id == api_id && m.stage == STAGE;
                if d.mappings.iter().any(is_wanted) {
                    out.push(Change::new(MAPPING_KIND, mapping_name, Action::Unchanged));
                } else {
                    out.push(Change::create(
                        MAPPING_KIND,
                        mapping_name,
                        vec![("api_id", api_id.clone()), ("stage", STAGE.into())],
                    ));
                }
                // A mapping to another API, stage or path on our domain is not the config's.
                out.extend(
                    d.mappings
                        .iter()
                        .filter(|m| !is_wanted(m))
                        .map(|m| Change::new(MAPPING_KIND, m.row_name(&d.name), Action::Delete)),
                );
            }
        }
    }
    for d in unwanted(stack, live) {
        out.extend(
            d.mappings
                .iter()
                .map(|m| Change::new(MAPPING_KIND, m.row_name(&d.name), Action::Delete)),
        );
        out.push(Change::new(KIND, &d.name, Action::Delete).with_note(Note::NoLongerInConfig));
    }
    out
}

fn configuration(certificate: &str) -> DomainNameConfiguration {
    DomainNameConfiguration::builder()
        .certificate_arn(certificate)
        .endpoint_type(EndpointType::Regional)
        .security_policy(SecurityPolicy::Tls12)
        .build()
}

/// Converges the config's domain name and its mapping to `api_id` as `changes` say. Returns its
/// target (where its DNS name must point), `None` without `api.domain`.
pub async fn apply(
    ctx: &Context,
    stack: &Stack,
    live: &[Live],
    changes: &[Change],
    certificate: Option<&str>,
    api_id: &str,
) -> Result<Option<Target>> {
    let Some(name) = stack.config.domain_name() else {
        return Ok(None);
    };
    let row = changes.iter().find(|c| c.resource == KIND && c.name == name);
    let certificate = certificate.ok_or_else(|| DeployError::Other(format!("no certificate for {name}")))?;
    let current = wanted(stack, live);
    let target = match current {
        None => {
            let step = ctx.progress.step(format!("creating domain name {name}"));
            let out = ctx
                .apigw
                .create_domain_name()
                .domain_name(&name)
                .domain_name_configurations(configuration(certificate))
                .set_tags(Some(tags(stack).into_iter().collect()))
                .send()
                .await
                .map_err(|e| aws("CreateDomainName", format!("domain name {name}"), e))?;
            step.done("created");
            let created = DomainName::builder()
                .domain_name(&name)
                .set_domain_name_configurations(Some(out.domain_name_configurations().to_vec()))
                .build();
            of(&created).target
        }
        Some(d) => {
            let row = row.filter(|c| c.action == Action::Update);
            let reconfigure = ["certificate_arn", "endpoint_type", "security_policy"];
            if row.is_some_and(|c| reconfigure.iter().any(|a| c.touches(a))) {
                let step = ctx.progress.step(format!("updating domain name {name}"));
                ctx.apigw
                    .update_domain_name()
                    .domain_name(&name)
                    .domain_name_configurations(configuration(certificate))
                    .send()
                    .await
                    .map_err(|e| aws("UpdateDomainName", format!("domain name {name}"), e))?;
                step.done("updated");
            }
            if row.is_some_and(|c| c.touches("tags")) {
                retag(ctx, stack, d).await?;
            }
            d.target.clone()
        }
    };
    let mapping_rows = changes.iter().filter(|c| c.resource == MAPPING_KIND);
    for change in mapping_rows.clone().filter(|c| c.action == Action::Delete) {
        if let Some(m) = current.and_then(|d| d.mappings.iter().find(|m| m.row_name(&name) == change.name)) {
            delete_mapping(ctx, &name, m).await?;
        }
    }
    if mapping_rows.clone().any(|c| c.action == Action::Create) {
        let step = ctx
            .progress
            .step(format!("mapping {name} to HTTP API {api_id} ({STAGE})"));
        ctx.apigw
            .create_api_mapping()
            .domain_name(&name)
            .api_id(api_id)
            .stage(STAGE)
            .send()
            .await
            .map_err(|e| aws("CreateApiMapping", format!("domain name {name}"), e))?;
        step.done("mapped");
    }
    target.map(Some).ok_or_else(|| {
        DeployError::Other(format!(
            "API Gateway named no target (apiGatewayDomainName, hostedZoneId) for domain name {name}"
        ))
    })
}

async fn delete_mapping(ctx: &Context, domain: &str, m: &MappingLive) -> Result<()> {
    let step = ctx.progress.step(format!("deleting API mapping {} of {domain}", m.id));
    match ctx
        .apigw
        .delete_api_mapping()
        .domain_name(domain)
        .api_mapping_id(&m.id)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteApiMapping", format!("domain name {domain}"), e)),
    }
    step.done("deleted");
    Ok(())
}

/// Makes the domain's tags [`tags`]: TagResource / UntagResource on its ARN.
async fn retag(ctx: &Context, stack: &Stack, live: &Live) -> Result<()> {
    let what = format!("domain name {}", live.name);
    let delta = super::Retag::toward(&tags(stack), &live.tags);
    super::http_api::send_retag(ctx, &stack.domain_arn(&live.name), &what, delta).await
}

/// Deletes the domain names of ours that `keep` does not name (none for `down`), mappings first.
/// Absent is success; one with our name but not our tags is left alone.
pub async fn destroy(ctx: &Context, stack: &Stack, live: &[Live], keep: Option<&str>) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for d in live.iter().filter(|d| Some(d.name.as_str()) != keep) {
        if let super::Ownership::Skip(row) = super::ours(ctx, stack, KIND, &d.name, Some(d), |l| &l.tags) {
            out.push(row);
            continue;
        }
        for m in &d.mappings {
            delete_mapping(ctx, &d.name, m).await?;
            out.push(Change::new(MAPPING_KIND, m.row_name(&d.name), Action::Delete));
        }
        let step = ctx.progress.step(format!("deleting domain name {}", d.name));
        match ctx.apigw.delete_domain_name().domain_name(&d.name).send().await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(aws("DeleteDomainName", format!("domain name {}", d.name), e)),
        }
        step.done("deleted");
        out.push(Change::new(KIND, &d.name, Action::Delete));
    }
    Ok(out)
}
