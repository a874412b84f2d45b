//! The SQS queues of `queues:`: each `{app}-{stage}-{name}` with a redrive policy to its
//! dead-letter queue `{app}-{stage}-{name}-dlq` (which keeps a message 14 days). Queues of ours
//! that the config no longer names are deleted; a queue with our name but not our tags is left alone.

use std::collections::BTreeMap;

use aws_sdk_sqs::operation::delete_queue::DeleteQueueError;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::config::QueueSettings;
use crate::context::Context;
use crate::error::{Result, aws};
use crate::report::{Action, AttrDiff, Change, ResourceKind, diff_attr};
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::Queue;
/// How long a dead-letter queue keeps a message: SQS's longest, time to look at it and redrive it.
const DEAD_LETTER_RETENTION_S: &str = "1209600";

/// A queue as SQS reports it, its settings as comparable text.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub name: String,
    pub url: String,
    /// `visibility_timeout_s`, `message_retention_s`, `redrive` (`<dlq arn> after <n> receives`).
    pub settings: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// One queue the config asks for: its name, its settings as compared, and the redrive policy
/// as SQS takes it (the main queue's).
struct Want {
    name: String,
    settings: BTreeMap<String, String>,
    redrive_policy: Option<String>,
}

/// The queues the config asks for, each dead-letter queue before the queue that sends to it.
fn wanted(stack: &Stack) -> Vec<Want> {
    stack
        .config
        .queues
        .iter()
        .flat_map(|q| {
            let dlq = stack.dead_letter_queue_name(&q.name);
            let dlq_arn = stack.queue_arn(&dlq);
            let main = BTreeMap::from([
                ("visibility_timeout_s".to_string(), q.visibility_timeout_s.to_string()),
                ("redrive".to_string(), redrive_text(&dlq_arn, q)),
            ]);
            let policy = serde_json::json!({
                "deadLetterTargetArn": dlq_arn,
                "maxReceiveCount": q.max_receive_count.to_string(),
            });
            [
                Want {
                    name: dlq,
                    settings: BTreeMap::from([("message_retention_s".to_string(), DEAD_LETTER_RETENTION_S.into())]),
                    redrive_policy: None,
                },
                Want {
                    name: stack.queue_name(&q.name),
                    settings: main,
                    redrive_policy: Some(policy.to_string()),
                },
            ]
        })
        .collect()
}

fn redrive_text(dlq_arn: &str, q: &QueueSettings) -> String {
    format!("{dlq_arn} after {} receives", q.max_receive_count)
}

/// A redrive policy as SQS returns it (`maxReceiveCount` a number or a string) as [`redrive_text`].
fn parse_redrive(policy: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(policy).ok()?;
    let arn = v["deadLetterTargetArn"].as_str()?;
    let count = match &v["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return None,
    };
    Some(format!("{arn} after {count} receives"))
}

/// Every queue whose name starts with the stack's prefix (ours, or in the way of ours).
pub async fn read(ctx: &Context, stack: &Stack) -> Result<Vec<Live>> {
    let prefix = stack.queue_prefix();
    let mut urls = Vec::new();
    let mut token = None;
    loop {
        let out = ctx
            .sqs
            .list_queues()
            .queue_name_prefix(&prefix)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("ListQueues", format!("queues {prefix}*"), e))?;
        urls.extend(out.queue_urls().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut live = Vec::new();
    for url in urls {
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        let attributes = ctx
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| aws("GetQueueAttributes", format!("queue {name}"), e))?;
        let attrs = attributes.attributes();
        let get = |n: QueueAttributeName| attrs.and_then(|a| a.get(&n)).cloned();
        let mut settings = BTreeMap::new();
        if let Some(v) = get(QueueAttributeName::VisibilityTimeout) {
            settings.insert("visibility_timeout_s".into(), v);
        }
        if let Some(v) = get(QueueAttributeName::MessageRetentionPeriod) {
            settings.insert("message_retention_s".into(), v);
        }
        if let Some(v) = get(QueueAttributeName::RedrivePolicy).and_then(|p| parse_redrive(&p)) {
            settings.insert("redrive".into(), v);
        }
        let tags = ctx
            .sqs
            .list_queue_tags()
            .queue_url(&url)
            .send()
            .await
            .map_err(|e| aws("ListQueueTags", format!("queue {name}"), e))?
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        live.push(Live {
            name,
            url,
            settings,
            tags,
        });
    }
    Ok(live)
}

pub fn diff(stack: &Stack, live: &[Live]) -> Vec<Change> {
    let wanted = wanted(stack);
    let mut out = Vec::new();
    for want in &wanted {
        match live.iter().find(|l| l.name == want.name) {
            None => {
                let mut attrs: Vec<(&str, String)> =
                    want.settings.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                attrs.push(("tags", super::fmt_tags(&stack.tags())));
                out.push(Change::create(KIND, &want.name, attrs));
            }
            Some(l) if !stack.owns(&l.tags) => out.push(Change::new(KIND, &want.name, Action::Foreign)),
            Some(l) => {
                let mut d: Vec<AttrDiff> = Vec::new();
                for (k, v) in &want.settings {
                    diff_attr(&mut d, k, l.settings.get(k), Some(v));
                }
                super::diff_tags(&mut d, stack, &l.tags);
                out.push(Change::compare(KIND, &want.name, d));
            }
        }
    }
    // Ours, no longer in the config: deleted (after the event source mappings that read them).
    for l in live {
        if stack.owns(&l.tags) && !wanted.iter().any(|w| w.name == l.name) {
            out.push(Change::new(KIND, &l.name, Action::Delete));
        }
    }
    out
}

/// Creates and updates the queues `changes` name (deletions are [`remove`]'s).
pub async fn apply(ctx: &Context, stack: &Stack, live: &[Live], changes: &[Change]) -> Result<()> {
    for want in wanted(stack) {
        let Some(change) = changes.iter().find(|c| c.resource == KIND && c.name == want.name) else {
            continue;
        };
        let attributes: Vec<(QueueAttributeName, String)> = want
            .settings
            .iter()
            .filter(|(k, _)| change.action == Action::Create || change.touches(k))
            .map(|(k, v)| match (attribute(k), &want.redrive_policy) {
                (QueueAttributeName::RedrivePolicy, Some(policy)) => {
                    (QueueAttributeName::RedrivePolicy, policy.clone())
                }
                (name, _) => (name, v.clone()),
            })
            .collect();
        match change.action {
            Action::Create => {
                let step = ctx.progress.step(format!("creating queue {}", want.name));
                let mut create = ctx.sqs.create_queue().queue_name(&want.name);
                for (k, v) in attributes {
                    create = create.attributes(k, v);
                }
                for (k, v) in stack.tags() {
                    create = create.tags(k, v);
                }
                create
                    .send()
                    .await
                    .map_err(|e| aws("CreateQueue", format!("queue {}", want.name), e))?;
                step.done("created");
            }
            Action::Update => {
                let Some(l) = live.iter().find(|l| l.name == want.name) else {
                    continue;
                };
                if !attributes.is_empty() {
                    let step = ctx.progress.step(format!("updating queue {}", want.name));
                    ctx.sqs
                        .set_queue_attributes()
                        .queue_url(&l.url)
                        .set_attributes(Some(attributes.into_iter().collect()))
                        .send()
                        .await
                        .map_err(|e| aws("SetQueueAttributes", format!("queue {}", want.name), e))?;
                    step.done("updated");
                }
                if change.touches("tags") {
                    retag(ctx, stack, l).await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Makes a queue's tags the stack's: TagQueue for those missing or different, UntagQueue for the
/// rest (each repeatable).
async fn retag(ctx: &Context, stack: &Stack, live: &Live) -> Result<()> {
    let what = format!("queue {}", live.name);
    let untag = |keys| async {
        let call = ctx.sqs.untag_queue().queue_url(&live.url).set_tag_keys(Some(keys));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("UntagQueue", what.clone(), e))
    };
    let tag = |tags: BTreeMap<String, String>| async {
        let call = ctx
            .sqs
            .tag_queue()
            .queue_url(&live.url)
            .set_tags(Some(tags.into_iter().collect()));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("TagQueue", what.clone(), e))
    };
    super::send_retag(ctx, &what, super::Retag::new(stack, &live.tags), untag, tag).await
}

fn attribute(key: &str) -> QueueAttributeName {
    match key {
        "visibility_timeout_s" => QueueAttributeName::VisibilityTimeout,
        "message_retention_s" => QueueAttributeName::MessageRetentionPeriod,
        _ => QueueAttributeName::RedrivePolicy,
    }
}

/// Deletes the queues `changes` delete (ours that the config no longer names).
pub async fn remove(ctx: &Context, live: &[Live], changes: &[Change]) -> Result<()> {
    for change in changes
        .iter()
        .filter(|c| c.resource == KIND && c.action == Action::Delete)
    {
        if let Some(l) = live.iter().find(|l| l.name == change.name) {
            delete(ctx, l).await?;
        }
    }
    Ok(())
}

async fn delete(ctx: &Context, queue: &Live) -> Result<()> {
    let step = ctx.progress.step(format!("deleting queue {}", queue.name));
    match ctx.sqs.delete_queue().queue_url(&queue.url).send().await {
        Ok(_) => {}
        // Already gone (an earlier attempt applied): done.
        Err(e)
            if e.as_service_error()
                .is_some_and(DeleteQueueError::is_queue_does_not_exist) => {}
        Err(e) => return Err(aws("DeleteQueue", format!("queue {}", queue.name), e)),
    }
    step.done("deleted");
    Ok(())
}

/// `down`: every queue of ours, wanted or left over; a wanted one that is absent or not ours is
/// reported as such.
pub async fn destroy(ctx: &Context, stack: &Stack, live: &[Live]) -> Result<Vec<Change>> {
    let mut rows = Vec::new();
    let wanted = wanted(stack);
    for want in wanted.iter().rev() {
        let found = live.iter().find(|l| l.name == want.name);
        match super::ours(ctx, stack, KIND, &want.name, found, |l| &l.tags) {
            super::Ownership::Ours(l) => {
                delete(ctx, l).await?;
                rows.push(Change::new(KIND, &want.name, Action::Delete));
            }
            super::Ownership::Skip(row) => rows.push(row),
        }
    }
    for l in live {
        if stack.owns(&l.tags) && !wanted.iter().any(|w| w.name == l.name) {
            delete(ctx, l).await?;
            rows.push(Change::new(KIND, &l.name, Action::Delete));
        }
    }
    Ok(rows)
}
