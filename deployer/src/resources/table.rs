//! The DynamoDB table: on-demand, hash key `id` (S), TTL on the configured attribute. Holds the
//! idempotency records and the orders.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};

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
    let (ttl_status, ttl_attribute) = read_ttl(ctx, name).await?;
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
    }))
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
    let want_ttl = stack.config.table.ttl_attribute.clone();
    let Some(live) = live else {
        return Change::create(
            KIND,
            name,
            vec![
                ("billing_mode", "PAY_PER_REQUEST".into()),
                ("key", "id:S".into()),
                ("ttl_attribute", want_ttl),
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
        "billing_mode",
        Some(&live.billing_mode),
        Some(&"PAY_PER_REQUEST".to_string()),
    );
    diff_attr(&mut d, "ttl_attribute", ttl_on(live).as_ref(), Some(&want_ttl));
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
            let tags: Vec<Tag> = stack
                .tags()
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<std::result::Result<_, _>>()
                .map_err(build_err)?;
            ctx.dynamodb
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(attr.map_err(build_err)?)
                .key_schema(key("id").map_err(build_err)?)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| aws("CreateTable", format!("table {name}"), e))?;
            wait_active(ctx, name).await?;
            step.done("created");
            ensure_ttl(ctx, stack, None).await
        }
        Action::Update => {
            if change.touches("billing_mode") {
                let step = ctx.progress.step(format!("switching table {name} to on-demand"));
                ctx.dynamodb
                    .update_table()
                    .table_name(name)
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await
                    .map_err(|e| aws("UpdateTable", format!("table {name}"), e))?;
                wait_active(ctx, name).await?;
                step.done("updated");
            }
            if change.touches("ttl_attribute") {
                ensure_ttl(ctx, stack, live).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
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
