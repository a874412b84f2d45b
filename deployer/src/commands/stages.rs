//! `stages`: this app's stages that exist in the account and region, found by Oncely's tags (the
//! Resource Groups Tagging API, and the HTTP APIs' own tags), never by name: each with its
//! endpoint, the version its alias `live` points at, when its function last changed, and how many
//! of its resources were found.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_sdk_resourcegroupstagging::types::{Tag, TagFilter};
use serde::Serialize;

use crate::config::Config;
use crate::context::Context;
use crate::error::{aws, is_not_found};
use crate::progress::Progress;
use crate::stack::{ALIAS, TAG_APP, TAG_MANAGED_BY, TAG_STAGE};

/// One stage of the app.
#[derive(Debug, Clone, Serialize)]
pub struct StageRow {
    pub stage: String,
    pub endpoint: Option<String>,
    /// The version the alias `live` points at.
    pub live_version: Option<String>,
    /// When the function last changed (Lambda's LastModified).
    pub last_update: Option<String>,
    /// The stage's resources found by tag.
    pub resources: usize,
}

/// The result of `stages`.
#[derive(Debug, Clone, Serialize)]
pub struct Stages {
    pub app: String,
    pub region: String,
    pub stages: Vec<StageRow>,
}

impl fmt::Display for Stages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.stages.len();
        writeln!(
            f,
            "app {} in {}: {n} stage{}",
            self.app,
            self.region,
            if n == 1 { "" } else { "s" }
        )?;
        if n == 0 {
            return Ok(());
        }
        let dash = || "-".to_string();
        let width = self.stages.iter().map(|s| s.stage.len()).max().unwrap_or(0).max(5);
        writeln!(
            f,
            "{:<width$}  LIVE  LAST UPDATE                   RESOURCES  ENDPOINT",
            "STAGE"
        )?;
        for s in &self.stages {
            writeln!(
                f,
                "{:<width$}  {:<4}  {:<28}  {:<9}  {}",
                s.stage,
                s.live_version.clone().unwrap_or_else(dash),
                s.last_update.clone().unwrap_or_else(dash),
                s.resources,
                s.endpoint.clone().unwrap_or_else(dash),
            )?;
        }
        Ok(())
    }
}

/// `stages`: every stage of `config.app` with a resource carrying Oncely's tags.
pub async fn run(config: &Config, progress: &Progress) -> anyhow::Result<Stages> {
    let ctx = Context::connect(config.region.as_deref(), progress.clone()).await?;
    let app = &config.app;
    let step = progress.step(format!("finding the stages of {app} in {} by their tags", ctx.region));
    // Each stage's resources (ARNs) and its HTTP API's endpoint.
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut endpoints: BTreeMap<String, String> = BTreeMap::new();
    let filter = |key: &str, value: &str| TagFilter::builder().key(key).values(value).build();
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .tagging
            .get_resources()
            .tag_filters(filter(TAG_MANAGED_BY, "oncely"))
            .tag_filters(filter(TAG_APP, app))
            .set_pagination_token(token.take())
            .send()
            .await
            .map_err(|e| aws("GetResources", format!("the resources tagged {TAG_APP}={app}"), e))?;
        for r in page.resource_tag_mapping_list() {
            let stage = r.tags().iter().find(|t| t.key() == TAG_STAGE).map(Tag::value);
            if let (Some(stage), Some(arn)) = (stage, r.resource_arn()) {
                found.entry(stage.to_string()).or_default().insert(arn.to_string());
            }
        }
        match page.pagination_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => break,
        }
    }
    // HTTP APIs by their own tags (where the tagging API does not list them).
    let mut next: Option<String> = None;
    loop {
        let page = ctx
            .apigw
            .get_apis()
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws("GetApis", "the HTTP APIs", e))?;
        for api in page.items() {
            let tags = api.tags();
            let tag = |k: &str| tags.and_then(|t| t.get(k)).map(String::as_str);
            if tag(TAG_MANAGED_BY) != Some("oncely") || tag(TAG_APP) != Some(app.as_str()) {
                continue;
            }
            let (Some(stage), Some(id)) = (tag(TAG_STAGE), api.api_id()) else {
                continue;
            };
            let arn = format!("arn:{}:apigateway:{}::/apis/{id}", ctx.partition(), ctx.region);
            found.entry(stage.to_string()).or_default().insert(arn);
            if let Some(endpoint) = api.api_endpoint() {
                endpoints.insert(stage.to_string(), endpoint.to_string());
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_string()),
            _ => break,
        }
    }
    let mut stages = Vec::new();
    for (stage, arns) in found {
        let (live_version, last_update) = function_state(&ctx, &format!("{app}-{stage}")).await?;
        stages.push(StageRow {
            endpoint: endpoints.remove(&stage),
            live_version,
            last_update,
            resources: arns.len(),
            stage,
        });
    }
    step.done(&format!("{} found", stages.len()));
    Ok(Stages {
        app: app.clone(),
        region: ctx.region.clone(),
        stages,
    })
}

/// The version the function's alias `live` points at and the function's last change (`None`s when
/// the function or its alias does not exist).
async fn function_state(ctx: &Context, name: &str) -> anyhow::Result<(Option<String>, Option<String>)> {
    let last_update = match ctx.lambda.get_function().function_name(name).send().await {
        Ok(out) => out.configuration().and_then(|c| c.last_modified()).map(str::to_string),
        Err(e) if is_not_found(&e) => return Ok((None, None)),
        Err(e) => return Err(aws("GetFunction", format!("function {name}"), e).into()),
    };
    let live = match ctx.lambda.get_alias().function_name(name).name(ALIAS).send().await {
        Ok(alias) => alias.function_version().map(str::to_string),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(aws("GetAlias", format!("alias {ALIAS} of function {name}"), e).into()),
    };
    Ok((live, last_update))
}
