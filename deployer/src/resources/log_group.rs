//! The function's CloudWatch Logs group `/aws/lambda/{name}`, created up front so that it carries
//! our tags and retention instead of being created by Lambda with "never expire".

use std::collections::BTreeMap;

use aws_sdk_cloudwatchlogs::operation::create_log_group::CreateLogGroupError;

use crate::context::Context;
use crate::error::{Result, aws, is_not_found};
use crate::report::{Action, Change, ResourceKind, diff_attr};
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::LogGroup;

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub retention_days: Option<i32>,
    pub tags: BTreeMap<String, String>,
}

pub async fn read(ctx: &Context, stack: &Stack) -> Result<Option<Live>> {
    let name = stack.log_group_name();
    let out = ctx
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&name)
        .send()
        .await
        .map_err(|e| aws("DescribeLogGroups", format!("log group {name}"), e))?;
    let Some(group) = out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name.as_str()))
    else {
        return Ok(None);
    };
    let tags = ctx
        .logs
        .list_tags_for_resource()
        .resource_arn(stack.log_group_arn())
        .send()
        .await
        .map_err(|e| aws("ListTagsForResource", format!("log group {name}"), e))?
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Some(Live {
        retention_days: group.retention_in_days(),
        tags,
    }))
}

pub fn diff(stack: &Stack, live: Option<&Live>) -> Change {
    let name = stack.log_group_name();
    let want = stack.config.function.log_retention_days;
    let Some(live) = live else {
        return Change::create(
            KIND,
            name,
            vec![
                ("retention_days", want.to_string()),
                ("tags", super::fmt_tags(&stack.tags())),
            ],
        );
    };
    if !stack.owns(&live.tags) {
        return Change::new(KIND, name, Action::Foreign);
    }
    let mut d = Vec::new();
    diff_attr(&mut d, "retention_days", live.retention_days.as_ref(), Some(&want));
    super::diff_tags(&mut d, stack, &live.tags);
    Change::compare(KIND, name, d)
}

pub async fn apply(ctx: &Context, stack: &Stack, live: Option<&Live>, change: &Change) -> Result<()> {
    let name = stack.log_group_name();
    let retention = stack.config.function.log_retention_days;
    if change.action == Action::Create {
        let step = ctx.progress.step(format!("creating log group {name}"));
        match ctx
            .logs
            .create_log_group()
            .log_group_name(&name)
            .set_tags(Some(stack.tags().into_iter().collect()))
            .send()
            .await
        {
            Ok(_) => {}
            // Lost a race with Lambda creating it on first invocation: fine, it gets tagged below.
            Err(e)
                if e.as_service_error()
                    .is_some_and(CreateLogGroupError::is_resource_already_exists_exception) =>
            {
                ctx.logs
                    .tag_resource()
                    .resource_arn(stack.log_group_arn())
                    .set_tags(Some(stack.tags().into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| aws("TagResource", format!("log group {name}"), e))?;
            }
            Err(e) => return Err(aws("CreateLogGroup", format!("log group {name}"), e)),
        }
        step.done("created");
    }
    if change.action == Action::Create || change.touches("retention_days") {
        let step = ctx
            .progress
            .step(format!("setting retention of {name} to {retention} days"));
        ctx.logs
            .put_retention_policy()
            .log_group_name(&name)
            .retention_in_days(retention)
            .send()
            .await
            .map_err(|e| aws("PutRetentionPolicy", format!("log group {name}"), e))?;
        step.done("set");
    }
    if let Some(live) = live.filter(|_| change.touches("tags")) {
        retag(ctx, stack, live).await?;
    }
    Ok(())
}

/// Makes the group's tags the stack's: TagResource for those missing or different, UntagResource
/// for the rest (each repeatable).
async fn retag(ctx: &Context, stack: &Stack, live: &Live) -> Result<()> {
    let arn = stack.log_group_arn();
    let what = format!("log group {}", stack.log_group_name());
    let untag = |keys| async {
        let call = ctx.logs.untag_resource().resource_arn(&arn).set_tag_keys(Some(keys));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("UntagResource", what.clone(), e))
    };
    let tag = |tags: BTreeMap<String, String>| async {
        let call = ctx
            .logs
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(tags.into_iter().collect()));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("TagResource", what.clone(), e))
    };
    super::send_retag(ctx, &what, super::Retag::new(stack, &live.tags), untag, tag).await
}

pub async fn destroy(ctx: &Context, stack: &Stack, live: Option<&Live>) -> Result<Change> {
    let name = stack.log_group_name();
    if let super::Ownership::Skip(row) = super::ours(ctx, stack, KIND, &name, live, |l| &l.tags) {
        return Ok(row);
    }
    let step = ctx.progress.step(format!("deleting log group {name}"));
    match ctx.logs.delete_log_group().log_group_name(&name).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteLogGroup", format!("log group {name}"), e)),
    }
    step.done("deleted");
    Ok(Change::new(KIND, name, Action::Delete))
}
