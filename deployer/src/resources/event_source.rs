//! The Lambda event source mappings that feed each queue of `queues:` to the alias `live` in
//! batches, with `ReportBatchItemFailures` (a batch answers which messages to redeliver). A
//! mapping from one of the stack's queues to our function that the config no longer wants is
//! deleted; mappings are found by their queue, so a retried create finds its own earlier one.

use aws_sdk_lambda::operation::create_event_source_mapping::CreateEventSourceMappingError;
use aws_sdk_lambda::types::FunctionResponseType;

use crate::context::Context;
use crate::error::{Result, aws, is_not_found};
use crate::report::{Action, AttrDiff, Change, ResourceKind, diff_attr};
use crate::stack::Stack;

use super::queue;

const KIND: ResourceKind = ResourceKind::EventSource;
const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

/// A mapping as Lambda reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub uuid: String,
    /// The queue's name (the last part of its ARN).
    pub queue: String,
    pub batch_size: Option<i32>,
    pub response_types: Vec<String>,
}

/// The row name of the mapping from `queue`.
fn row_name(queue: &str) -> String {
    format!("{queue} -> live")
}

/// The mappings from the stack's queues (the ones of `queues` that are ours) to our function.
pub async fn read(ctx: &Context, stack: &Stack, queues: &[queue::Live]) -> Result<Vec<Live>> {
    let function = stack.function_arn();
    let mut live = Vec::new();
    for q in queues.iter().filter(|q| stack.owns(&q.tags)) {
        let arn = stack.queue_arn(&q.name);
        let out = ctx
            .lambda
            .list_event_source_mappings()
            .event_source_arn(&arn)
            .send()
            .await
            .map_err(|e| aws("ListEventSourceMappings", format!("mappings of {}", q.name), e))?;
        for m in out.event_source_mappings() {
            let target = m.function_arn().unwrap_or_default();
            if target != function && !target.starts_with(&format!("{function}:")) {
                continue;
            }
            live.push(Live {
                uuid: m.uuid().unwrap_or_default().to_string(),
                queue: q.name.clone(),
                batch_size: m.batch_size(),
                response_types: m
                    .function_response_types()
                    .iter()
                    .map(|t| t.as_str().to_string())
                    .collect(),
            });
        }
    }
    Ok(live)
}

pub fn diff(stack: &Stack, live: &[Live]) -> Vec<Change> {
    let mut out = Vec::new();
    for q in &stack.config.queues {
        let queue = stack.queue_name(&q.name);
        let want = [
            ("batch_size", q.batch_size.to_string()),
            ("response_types", REPORT_BATCH_ITEM_FAILURES.to_string()),
        ];
        match live.iter().find(|l| l.queue == queue) {
            None => out.push(Change::create(KIND, row_name(&queue), want.to_vec())),
            Some(l) => {
                let mut d: Vec<AttrDiff> = Vec::new();
                diff_attr(
                    &mut d,
                    "batch_size",
                    l.batch_size.map(|b| b.to_string()).as_ref(),
                    Some(&want[0].1),
                );
                diff_attr(
                    &mut d,
                    "response_types",
                    Some(&l.response_types.join(",")),
                    Some(&want[1].1),
                );
                out.push(Change::compare(KIND, row_name(&queue), d));
            }
        }
    }
    for l in live {
        let wanted = stack.config.queues.iter().any(|q| stack.queue_name(&q.name) == l.queue);
        if !wanted {
            out.push(Change::new(KIND, row_name(&l.queue), Action::Delete));
        }
    }
    out
}

/// Creates, updates and deletes the mappings `changes` name (after the alias and the queues exist).
pub async fn apply(ctx: &Context, stack: &Stack, live: &[Live], changes: &[Change]) -> Result<()> {
    for q in &stack.config.queues {
        let queue = stack.queue_name(&q.name);
        let Some(change) = changes
            .iter()
            .find(|c| c.resource == KIND && c.name == row_name(&queue))
        else {
            continue;
        };
        let batch_size = q.batch_size as i32;
        match change.action {
            Action::Create => {
                let step = ctx
                    .progress
                    .step(format!("creating event source mapping {}", change.name));
                let created = ctx
                    .lambda
                    .create_event_source_mapping()
                    .event_source_arn(stack.queue_arn(&queue))
                    .function_name(stack.alias_arn())
                    .batch_size(batch_size)
                    .function_response_types(FunctionResponseType::ReportBatchItemFailures)
                    .enabled(true)
                    .send()
                    .await;
                match created {
                    Ok(_) => {}
                    // An earlier attempt of this create applied (its reply was lost): it is ours.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(CreateEventSourceMappingError::is_resource_conflict_exception) => {}
                    Err(e) => return Err(aws("CreateEventSourceMapping", change.name.clone(), e)),
                }
                step.done("created");
            }
            Action::Update => {
                let Some(l) = live.iter().find(|l| l.queue == queue) else {
                    continue;
                };
                let step = ctx
                    .progress
                    .step(format!("updating event source mapping {}", change.name));
                ctx.lambda
                    .update_event_source_mapping()
                    .uuid(&l.uuid)
                    .batch_size(batch_size)
                    .function_response_types(FunctionResponseType::ReportBatchItemFailures)
                    .send()
                    .await
                    .map_err(|e| aws("UpdateEventSourceMapping", change.name.clone(), e))?;
                step.done("updated");
            }
            _ => {}
        }
    }
    for change in changes
        .iter()
        .filter(|c| c.resource == KIND && c.action == Action::Delete)
    {
        if let Some(l) = live.iter().find(|l| row_name(&l.queue) == change.name) {
            delete(ctx, l).await?;
        }
    }
    Ok(())
}

async fn delete(ctx: &Context, mapping: &Live) -> Result<()> {
    let name = row_name(&mapping.queue);
    let step = ctx.progress.step(format!("deleting event source mapping {name}"));
    match ctx
        .lambda
        .delete_event_source_mapping()
        .uuid(&mapping.uuid)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteEventSourceMapping", name, e)),
    }
    step.done("deleted");
    Ok(())
}

/// `down`: every mapping from the stack's queues to our function (first: nothing reads a queue
/// that is being deleted).
pub async fn destroy(ctx: &Context, live: &[Live]) -> Result<Vec<Change>> {
    let mut rows = Vec::new();
    for l in live {
        delete(ctx, l).await?;
        rows.push(Change::new(KIND, row_name(&l.queue), Action::Delete));
    }
    Ok(rows)
}
