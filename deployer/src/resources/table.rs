//! The DynamoDB table: hash key `id` (S), TTL on the configured attribute, billed on demand or
//! provisioned, with point-in-time recovery, deletion protection and encryption at rest (the AWS
//! owned key or a customer managed KMS key) as the config says. Holds the idempotency records and
//! the orders.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    PointInTimeRecoveryStatus, ProvisionedThroughput, ScalarAttributeType, SseSpecification, SseStatus, SseType, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use oncely_config::Billing;

use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::report::{Action, AttrDiff, Change, Note, ResourceKind, diff_attr};
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::Table;
const WAIT: Duration = Duration::from_secs(300);

/// What the table looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub arn: String,
    pub billing_mode: String,
    /// `id:S` when the key is what we need.
    pub key: String,
    /// TTL status (ENABLED, ENABLING, DISABLED, DISABLING) and attribute.
    pub ttl_status: String,
    pub ttl_attribute: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Read and write capacity units, when provisioned.
    pub capacity: Option<(i64, i64)>,
    /// Point-in-time recovery, and the earliest time it can restore to (RFC 3339).
    pub point_in_time_recovery: bool,
    pub earliest_restore: Option<String>,
    pub deletion_protection: bool,
    /// The KMS key that encrypts it, when not the AWS owned key.
    pub kms_key: Option<String>,
}

/// The table's billing as `diff` shows it.
fn billing_mode(billing: Billing) -> &'static str {
    match billing {
        Billing::OnDemand => "PAY_PER_REQUEST",
        Billing::Provisioned { .. } => "PROVISIONED",
    }
}

fn capacity_text((read, write): (i64, i64)) -> String {
    format!("read {read}, write {write}")
}

fn on_off(on: bool) -> String {
    if on { "on" } else { "off" }.to_string()
}

/// The encryption at rest as `diff` shows it.
fn encryption_text(kms_key: Option<&String>) -> String {
    kms_key.map_or_else(|| "AWS owned key".to_string(), |k| format!("KMS key {k}"))
}

pub async fn read(ctx: &Context, stack: &Stack) -> Result<Option<Live>> {
    let name = stack.table_name();
    let out = match ctx.dynamodb.describe_table().table_name(name).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(aws("DescribeTable", format!("table {name}"), e)),
    };
    let Some(t) = out.table() else { return Ok(None) };
    let arn = t.table_arn().unwrap_or_default().to_string();
    let billing_mode = t
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".into());
    let types: BTreeMap<&str, &str> = t
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let key = t
        .key_schema()
        .iter()
        .map(|k| {
            format!(
                "{}:{}{}",
                k.attribute_name(),
                types.get(k.attribute_name()).unwrap_or(&"?"),
                if k.key_type() == &KeyType::Range {
                    " (range)"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let capacity = (billing_mode == "PROVISIONED").then(|| {
        use aws_sdk_dynamodb::types::ProvisionedThroughputDescription as Throughput;
        let p = t.provisioned_throughput();
        (
            p.and_then(Throughput::read_capacity_units).unwrap_or(0),
            p.and_then(Throughput::write_capacity_units).unwrap_or(0),
        )
    });
    let deletion_protection = t.deletion_protection_enabled().unwrap_or(false);
    let kms_key = t
        .sse_description()
        .filter(|d| {
            d.sse_type() == Some(&SseType::Kms)
                && matches!(
                    d.status(),
                    Some(SseStatus::Enabled | SseStatus::Enabling | SseStatus::Updating)
                )
        })
        .and_then(|d| d.kms_master_key_arn())
        .map(str::to_string);
    let (ttl_status, ttl_attribute) = read_ttl(ctx, name).await?;
    let (point_in_time_recovery, earliest_restore) = read_recovery(ctx, name).await?;
    let tags = ctx
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| aws("ListTagsOfResource", format!("table {name}"), e))?
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    Ok(Some(Live {
        arn,
        billing_mode,
        key,
        ttl_status,
        ttl_attribute,
        tags,
        capacity,
        point_in_time_recovery,
        earliest_restore,
        deletion_protection,
        kms_key,
    }))
}

/// Whether point-in-time recovery is on, and its earliest restore time.
async fn read_recovery(ctx: &Context, name: &str) -> Result<(bool, Option<String>)> {
    let out = match ctx.dynamodb.describe_continuous_backups().table_name(name).send().await {
        Ok(out) => out,
        // DynamoDB Local (`up --local`) has no continuous backups: none is on.
        Err(e) if e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("UnknownOperationException") => {
            return Ok((false, None));
        }
        Err(e) => return Err(aws("DescribeContinuousBackups", format!("table {name}"), e)),
    };
    let pitr = out
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description());
    let on = pitr.and_then(|p| p.point_in_time_recovery_status()) == Some(&PointInTimeRecoveryStatus::Enabled);
    let earliest = pitr
        .and_then(|p| p.earliest_restorable_date_time())
        .and_then(|t| t.fmt(aws_sdk_dynamodb::primitives::DateTimeFormat::DateTime).ok());
    Ok((on, earliest.filter(|_| on)))
}

/// The table's TTL status (DISABLED when never set) and attribute.
async fn read_ttl(ctx: &Context, name: &str) -> Result<(String, Option<String>)> {
    let out = ctx
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| aws("DescribeTimeToLive", format!("table {name}"), e))?;
    let d = out.time_to_live_description();
    let status = d
        .and_then(|d| d.time_to_live_status())
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| "DISABLED".into());
    Ok((status, d.and_then(|d| d.attribute_name()).map(str::to_string)))
}

fn ttl_on(live: &Live) -> Option<String> {
    matches!(live.ttl_status.as_str(), "ENABLED" | "ENABLING").then(|| live.ttl_attribute.clone().unwrap_or_default())
}

/// What `up` would do to the table.
pub fn diff(stack: &Stack, live: Option<&Live>) -> Change {
    let name = stack.table_name();
    let t = &stack.config.table;
    let want_ttl = t.ttl_attribute.clone();
    let want_capacity = match t.billing {
        Billing::OnDemand => None,
        Billing::Provisioned { read, write } => Some(capacity_text((read, write))),
    };
    let Some(live) = live else {
        let mut attrs = vec![("billing_mode", billing_mode(t.billing).to_string())];
        attrs.extend(want_capacity.map(|c| ("capacity", c)));
        attrs.extend([
            ("key", "id:S".into()),
            ("ttl_attribute", want_ttl),
            ("point_in_time_recovery", on_off(t.point_in_time_recovery)),
            ("deletion_protection", on_off(t.deletion_protection)),
            ("encryption", encryption_text(t.kms_key.as_ref())),
            ("tags", super::fmt_tags(&stack.tags())),
        ]);
        return Change::create(KIND, name, attrs);
    };
    if !stack.owns(&live.tags) {
        return Change::new(KIND, name, Action::Foreign);
    }
    let mut d: Vec<AttrDiff> = Vec::new();
    diff_attr(
        &mut d,
        "billing_mode",
        Some(&live.billing_mode),
        Some(&billing_mode(t.billing).to_string()),
    );
    diff_attr(
        &mut d,
        "capacity",
        live.capacity.map(capacity_text).as_ref(),
        want_capacity.as_ref(),
    );
    diff_attr(&mut d, "ttl_attribute", ttl_on(live).as_ref(), Some(&want_ttl));
    diff_attr(
        &mut d,
        "point_in_time_recovery",
        Some(&on_off(live.point_in_time_recovery)),
        Some(&on_off(t.point_in_time_recovery)),
    );
    diff_attr(
        &mut d,
        "deletion_protection",
        Some(&on_off(live.deletion_protection)),
        Some(&on_off(t.deletion_protection)),
    );
    diff_attr(
        &mut d,
        "encryption",
        Some(&encryption_text(live.kms_key.as_ref())),
        Some(&encryption_text(t.kms_key.as_ref())),
    );
    super::diff_tags(&mut d, stack, &live.tags);
    let mut change = Change::compare(KIND, name, d);
    if live.key != "id:S" {
        change = change.with_note(Note::KeyMismatch { key: live.key.clone() });
    }
    change
}

/// Creates or updates the table as `change` says; sends nothing for an unchanged table.
pub async fn apply(ctx: &Context, stack: &Stack, live: Option<&Live>, change: &Change) -> Result<()> {
    let name = stack.table_name();
    if let Some(note @ Note::KeyMismatch { .. }) = &change.note {
        return Err(DeployError::Conflict(format!("table {name}: {note}")));
    }
    match change.action {
        Action::Create => {
            let step = ctx.progress.step(format!("creating table {name}"));
            let key = |n: &str| {
                KeySchemaElement::builder()
                    .attribute_name(n)
                    .key_type(KeyType::Hash)
                    .build()
            };
            let attr = AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build();
            let tags = dynamodb_tags(stack.tags())?;
            let t = &stack.config.table;
            ctx.dynamodb
                .create_table()
                .table_name(name)
                .billing_mode(sdk_billing_mode(t.billing))
                .set_provisioned_throughput(throughput(t.billing)?)
                .attribute_definitions(attr.map_err(build_err)?)
                .key_schema(key("id").map_err(build_err)?)
                .deletion_protection_enabled(t.deletion_protection)
                .set_sse_specification(t.kms_key.as_ref().map(|k| sse(Some(k))))
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| aws("CreateTable", format!("table {name}"), e))?;
            wait_active(ctx, name).await?;
            step.done("created");
            ensure_ttl(ctx, stack, None).await?;
            if t.point_in_time_recovery {
                set_recovery(ctx, name, true).await?;
            }
            Ok(())
        }
        Action::Update => {
            let t = &stack.config.table;
            if change.touches("billing_mode") || change.touches("capacity") {
                let step = ctx.progress.step(format!("setting table {name}'s billing"));
                ctx.dynamodb
                    .update_table()
                    .table_name(name)
                    .billing_mode(sdk_billing_mode(t.billing))
                    .set_provisioned_throughput(throughput(t.billing)?)
                    .send()
                    .await
                    .map_err(|e| aws("UpdateTable", format!("table {name}"), e))?;
                wait_active(ctx, name).await?;
                step.done("updated");
            }
            if change.touches("deletion_protection") {
                set_deletion_protection(ctx, name, t.deletion_protection).await?;
            }
            if change.touches("encryption") {
                let step = ctx.progress.step(format!("setting table {name}'s encryption key"));
                ctx.dynamodb
                    .update_table()
                    .table_name(name)
                    .sse_specification(sse(t.kms_key.as_ref()))
                    .send()
                    .await
                    .map_err(|e| aws("UpdateTable", format!("table {name}"), e))?;
                wait_active(ctx, name).await?;
                step.done("updated");
            }
            if change.touches("ttl_attribute") {
                ensure_ttl(ctx, stack, live).await?;
            }
            if change.touches("point_in_time_recovery") {
                set_recovery(ctx, name, t.point_in_time_recovery).await?;
            }
            if let Some(live) = live.filter(|_| change.touches("tags")) {
                retag(ctx, stack, live).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Makes the table's tags the stack's: UntagResource for those the stack does not name and those
/// whose value changes, then TagResource for those missing or different (each repeatable). A
/// changed value is untagged first because moto's TagResource appends a second tag with the same
/// key instead of replacing it; removing it first gives the same tags there and on AWS.
async fn retag(ctx: &Context, stack: &Stack, live: &Live) -> Result<()> {
    let name = stack.table_name();
    let mut delta = super::Retag::new(stack, &live.tags);
    delta
        .remove
        .extend(delta.set.keys().filter(|k| live.tags.contains_key(*k)).cloned());
    let what = format!("table {name}");
    let untag = |keys| async {
        let call = ctx
            .dynamodb
            .untag_resource()
            .resource_arn(&live.arn)
            .set_tag_keys(Some(keys));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("UntagResource", what.clone(), e))
    };
    let tag = |tags| async {
        let call = ctx
            .dynamodb
            .tag_resource()
            .resource_arn(&live.arn)
            .set_tags(Some(dynamodb_tags(tags)?));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("TagResource", what.clone(), e))
    };
    super::send_retag(ctx, &what, delta, untag, tag).await
}

fn dynamodb_tags(tags: BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<std::result::Result<_, _>>()
        .map_err(build_err)
}

fn sdk_billing_mode(billing: Billing) -> BillingMode {
    match billing {
        Billing::OnDemand => BillingMode::PayPerRequest,
        Billing::Provisioned { .. } => BillingMode::Provisioned,
    }
}

fn throughput(billing: Billing) -> Result<Option<ProvisionedThroughput>> {
    match billing {
        Billing::OnDemand => Ok(None),
        Billing::Provisioned { read, write } => ProvisionedThroughput::builder()
            .read_capacity_units(read)
            .write_capacity_units(write)
            .build()
            .map(Some)
            .map_err(build_err),
    }
}

/// Encryption with `kms_key`, or with the AWS owned key.
fn sse(kms_key: Option<&String>) -> SseSpecification {
    match kms_key {
        Some(key) => SseSpecification::builder()
            .enabled(true)
            .sse_type(SseType::Kms)
            .kms_master_key_id(key)
            .build(),
        None => SseSpecification::builder().enabled(false).build(),
    }
}

async fn set_deletion_protection(ctx: &Context, name: &str, on: bool) -> Result<()> {
    let step = ctx
        .progress
        .step(format!("turning deletion protection {} on table {name}", on_off(on)));
    ctx.dynamodb
        .update_table()
        .table_name(name)
        .deletion_protection_enabled(on)
        .send()
        .await
        .map_err(|e| aws("UpdateTable", format!("table {name}"), e))?;
    wait_active(ctx, name).await?;
    step.done("updated");
    Ok(())
}

async fn set_recovery(ctx: &Context, name: &str, on: bool) -> Result<()> {
    let step = ctx
        .progress
        .step(format!("turning point-in-time recovery {} on table {name}", on_off(on)));
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(on)
        .build()
        .map_err(build_err)?;
    ctx.dynamodb
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
        .map_err(|e| aws("UpdateContinuousBackups", format!("table {name}"), e))?;
    step.done("updated");
    Ok(())
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> DeployError {
    DeployError::Other(format!("building a DynamoDB request: {e}"))
}

async fn wait_active(ctx: &Context, name: &str) -> Result<()> {
    ctx.dynamodb
        .wait_until_table_exists()
        .table_name(name)
        .wait(WAIT)
        .await
        .map_err(|_| DeployError::Timeout {
            what: format!("table {name} to become ACTIVE"),
            waited_s: WAIT.as_secs(),
        })?;
    Ok(())
}

/// Turns TTL on for the configured attribute. Reads the TTL state first (UpdateTimeToLive is not
/// idempotent and may run once per hour per table).
async fn ensure_ttl(ctx: &Context, stack: &Stack, live: Option<&Live>) -> Result<()> {
    let name = stack.table_name();
    let want = &stack.config.table.ttl_attribute;
    let (status, current) = match live {
        Some(l) => (l.ttl_status.clone(), l.ttl_attribute.clone()),
        None => read_ttl(ctx, name).await?,
    };
    let on = matches!(status.as_str(), "ENABLED" | "ENABLING");
    if on && current.as_ref() == Some(want) {
        return Ok(());
    }
    let step = ctx.progress.step(format!("enabling TTL on {name}.{want}"));
    let send = |enabled: bool, attribute: String| {
        let spec = TimeToLiveSpecification::builder()
            .enabled(enabled)
            .attribute_name(attribute)
            .build();
        let client = ctx.dynamodb.clone();
        async move {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(spec.map_err(build_err)?)
                .send()
                .await
                .map_err(|e| {
                    let mut err = aws("UpdateTimeToLive", format!("table {name}"), e);
                    if let DeployError::Aws {
                        code: Some(c), detail, ..
                    } = &mut err
                        && c == "ValidationException"
                    {
                        detail.push_str(
                            "; DynamoDB allows one TTL change per table per hour: \
                            if TTL changed recently, wait and run `up` again",
                        );
                    }
                    err
                })
        }
    };
    if on && status != TimeToLiveStatus::Disabling.as_str() {
        // Another attribute has TTL: turn that off first.
        send(false, current.unwrap_or_default()).await?;
    }
    send(true, want.clone()).await?;
    step.done("enabled");
    Ok(())
}

/// Counts the items and the orders (`id` starting with `order#`) in the table.
pub async fn count_items(ctx: &Context, name: &str) -> Result<(u64, u64)> {
    let mut items = 0u64;
    let mut orders = 0u64;
    let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
    loop {
        let out = ctx
            .dynamodb
            .scan()
            .table_name(name)
            .projection_expression("id")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| aws("Scan", format!("table {name}"), e))?;
        for item in out.items() {
            items += 1;
            if item
                .get("id")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|id| id.starts_with("order#"))
            {
                orders += 1;
            }
        }
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    Ok((items, orders))
}

/// Deletes the table if it is ours. Keeps one that still holds orders unless `delete_data`.
pub async fn destroy(ctx: &Context, stack: &Stack, live: Option<&Live>, delete_data: bool) -> Result<Change> {
    let name = stack.table_name();
    if let super::Ownership::Skip(row) = super::ours(ctx, stack, KIND, name, live, |l| &l.tags) {
        return Ok(row);
    }
    let (items, orders) = count_items(ctx, name).await?;
    if orders > 0 && !delete_data {
        return Ok(Change::new(KIND, name, Action::Unchanged).with_note(Note::KeptWithData { items, orders }));
    }
    let protected = live.is_some_and(|l| l.deletion_protection);
    if protected && !delete_data {
        return Ok(Change::new(KIND, name, Action::Unchanged).with_note(Note::KeptProtected));
    }
    if protected {
        // `--delete-data` is the say-so to turn it off (`down` printed that it would).
        set_deletion_protection(ctx, name, false).await?;
    }
    let step = ctx.progress.step(format!("deleting table {name}"));
    match ctx.dynamodb.delete_table().table_name(name).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteTable", format!("table {name}"), e)),
    }
    ctx.dynamodb
        .wait_until_table_not_exists()
        .table_name(name)
        .wait(WAIT)
        .await
        .map_err(|_| DeployError::Timeout {
            what: format!("table {name} to be deleted"),
            waited_s: WAIT.as_secs(),
        })?;
    step.done(&format!("deleted ({items} items)"));
    Ok(Change::new(KIND, name, Action::Delete).with_note(Note::ItemsDeleted { items }))
}
