//! `status`: what is live, read from AWS without building: the endpoint, the version the alias
//! `live` points at (its CodeSha256 and date), the kept versions, the function's reserved
//! concurrency, the table's item count, TTL and protection (point-in-time recovery with its
//! earliest restore time, deletion protection), whether the stack differs from the config
//! (`plan --skip-build`'s summary), the alarms' states and the secrets the function reads (each
//! reference and whether it exists, never a value).

use std::fmt;

use anyhow::Context as _;
use serde::Serialize;

use crate::config::Config;
use crate::context::Context;
use crate::engine;
use crate::error::{aws, is_not_found};
use crate::progress::Progress;
use crate::report::{Action, Change, Command, Report};
use crate::resources::alarm::{self, AlarmState};
use crate::resources::secrets::SecretLive;
use crate::resources::version::VersionLive;
use crate::stack::Stack;

/// The table's size, TTL and protection.
#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    pub name: String,
    /// DynamoDB's ItemCount (AWS refreshes it about every six hours).
    pub items: i64,
    pub ttl_status: String,
    pub ttl_attribute: Option<String>,
    pub point_in_time_recovery: bool,
    /// The earliest time point-in-time recovery can restore to (RFC 3339).
    pub earliest_restore: Option<String>,
    pub deletion_protection: bool,
}

/// The result of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub stack: String,
    pub region: String,
    /// Whether any resource of the stack exists.
    pub deployed: bool,
    pub endpoint: Option<String>,
    /// The version `live` points at.
    pub live: Option<VersionLive>,
    /// The published versions kept, oldest first.
    pub versions: Vec<VersionLive>,
    /// The function's reserved concurrency, when it has one.
    pub reserved_concurrency: Option<i32>,
    pub table: Option<TableStatus>,
    /// Whether `up` would change anything (the code is not compared: nothing is built).
    pub differs: bool,
    /// The plan's summary, and the rows that would change.
    pub plan: String,
    pub changes: Vec<Change>,
    pub alarms: Vec<AlarmState>,
    /// The secrets the function reads: references and whether they exist, never values.
    pub secrets: Vec<SecretLive>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stack:    {} in {}", self.stack, self.region)?;
        if !self.deployed {
            return writeln!(f, "not deployed: run `up`");
        }
        let none = "(none)".to_string();
        writeln!(f, "endpoint: {}", self.endpoint.as_ref().unwrap_or(&none))?;
        match &self.live {
            Some(v) => writeln!(
                f,
                "live:     version {} (code sha256 {}, modified {})",
                v.version, v.code_sha256, v.last_modified
            )?,
            None => writeln!(f, "live:     (no alias)")?,
        }
        let kept: Vec<&str> = self.versions.iter().map(|v| v.version.as_str()).collect();
        writeln!(
            f,
            "versions: {}",
            if kept.is_empty() { none.clone() } else { kept.join(", ") }
        )?;
        if let Some(n) = self.reserved_concurrency {
            writeln!(f, "reserved: {n} concurrent executions")?;
        }
        match &self.table {
            Some(t) => {
                writeln!(
                    f,
                    "table:    {} ({} items, TTL {}{})",
                    t.name,
                    t.items,
                    t.ttl_status,
                    t.ttl_attribute.as_ref().map(|a| format!(" on {a}")).unwrap_or_default()
                )?;
                let recovery = match (&t.earliest_restore, t.point_in_time_recovery) {
                    (Some(at), true) => format!("on, earliest restore {at}"),
                    (None, true) => "on".to_string(),
                    (_, false) => "off".to_string(),
                };
                let protection = if t.deletion_protection { "on" } else { "off" };
                writeln!(
                    f,
                    "          point-in-time recovery {recovery}; deletion protection {protection}"
                )?;
            }
            None => writeln!(f, "table:    (none)")?,
        }
        if self.differs {
            writeln!(f, "config:   differs ({})", self.plan)?;
            for c in &self.changes {
                writeln!(f, "{c}")?;
            }
        } else {
            writeln!(f, "config:   in sync ({})", self.plan)?;
        }
        if self.alarms.is_empty() {
            writeln!(f, "alarms:   (none)")?;
        }
        for a in &self.alarms {
            writeln!(f, "alarm:    {} {}", a.name, a.state)?;
        }
        for s in &self.secrets {
            writeln!(f, "secret:   {s}")?;
        }
        Ok(())
    }
}

/// The table's ItemCount, `None` when it does not exist.
async fn item_count(ctx: &Context, stack: &Stack) -> crate::error::Result<Option<i64>> {
    let name = stack.table_name();
    match ctx.dynamodb.describe_table().table_name(name).send().await {
        Ok(out) => Ok(out
            .table()
            .and_then(aws_sdk_dynamodb::types::TableDescription::item_count)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws("DescribeTable", format!("table {name}"), e)),
    }
}

/// `status`: reads the stack once and diffs it against the config without the code.
pub async fn run(config: &Config, progress: &Progress) -> anyhow::Result<Status> {
    let ctx = Context::connect(config.region.as_deref(), progress.clone())
        .await
        .context("connecting to AWS")?;
    let stack = Stack::new(config, &ctx);
    let (live, items) = tokio::try_join!(engine::read(&ctx, &stack), item_count(&ctx, &stack))
        .with_context(|| format!("reading stack {}", stack.name))?;
    let stack = stack.with_secret_arns(crate::resources::secrets::arns(&live.secrets));
    let report = Report::new(Command::Plan, engine::diff(&stack, &live, None));
    let versions = live.versions.clone().unwrap_or_default();
    let alias = versions.alias.as_deref().and_then(|a| versions.find(a)).cloned();
    Ok(Status {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        deployed: !live.is_empty(),
        endpoint: engine::live_endpoint(&stack, live.api.as_ref(), &live.domains),
        live: alias,
        versions: versions.published.clone(),
        reserved_concurrency: live.function.as_ref().and_then(|f| f.reserved_concurrency),
        table: live.table.as_ref().map(|t| TableStatus {
            name: stack.table_name().to_string(),
            items: items.unwrap_or(0),
            ttl_status: t.ttl_status.clone(),
            ttl_attribute: t.ttl_attribute.clone(),
            point_in_time_recovery: t.point_in_time_recovery,
            earliest_restore: t.earliest_restore.clone(),
            deletion_protection: t.deletion_protection,
        }),
        differs: report.has_changes(),
        plan: report.summary(),
        changes: report
            .changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .cloned()
            .collect(),
        alarms: alarm::states(&stack, &live.alarms),
        secrets: live.secrets.clone(),
    })
}
