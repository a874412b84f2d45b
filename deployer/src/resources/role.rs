//! The function's IAM role: trusted by Lambda only, with one inline least-privilege policy (the
//! DynamoDB item actions the handler uses on its table, its KMS key when it has one, and writing
//! to its log group). Any other policy found on our role is removed.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::config::{SecretSource, Tracing};
use crate::context::Context;
use crate::error::{Result, aws, is_not_found};
use crate::report::{Action, AttrDiff, Change, Note, ResourceKind};
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::Role;
const POLICY_KIND: ResourceKind = ResourceKind::RolePolicy;
const MANAGED_KIND: ResourceKind = ResourceKind::ManagedPolicy;
/// The kinds of the rows [`diff`] emits and [`apply`] takes.
pub const KINDS: [ResourceKind; 3] = [KIND, POLICY_KIND, MANAGED_KIND];

/// The DynamoDB actions the handler needs: item reads and writes, and the condition checks of its
/// transactional writes (TransactWriteItems is authorized through these per-item actions).
pub const DYNAMODB_ACTIONS: &[&str] = &[
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub arn: String,
    pub trust_policy: Value,
    pub tags: BTreeMap<String, String>,
    /// Inline policies by name, with their documents.
    pub inline: BTreeMap<String, Value>,
    pub attached: Vec<String>,
}

pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
}

pub fn access_policy(stack: &Stack) -> Value {
    let mut statements = vec![
        json!({
            "Sid": "IdempotencyRecordsAndOrders",
            "Effect": "Allow",
            "Action": DYNAMODB_ACTIONS,
            "Resource": stack.table_arn()
        }),
        json!({
            "Sid": "FunctionLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": format!("{}:*", stack.log_group_arn())
        }),
    ];
    if let Some(key) = &stack.config.table.kms_key {
        // The table's customer managed key: what reading and writing its items takes, on that key.
        statements.push(json!({
            "Sid": "TableKey",
            "Effect": "Allow",
            "Action": KMS_ACTIONS,
            "Resource": key
        }));
    }
    if !stack.config.queues.is_empty() {
        // What the event source mappings read and delete with the function's role.
        let queues: Vec<String> = stack
            .config
            .queues
            .iter()
            .map(|q| stack.queue_arn(&stack.queue_name(&q.name)))
            .collect();
        statements.push(json!({
            "Sid": "Queues",
            "Effect": "Allow",
            "Action": SQS_ACTIONS,
            "Resource": queues
        }));
    }
    if stack.config.function.vpc.is_some() {
        // What Lambda needs to manage the function's network interfaces in the VPC, as
        // AWSLambdaVPCAccessExecutionRole grants it (without its log statements: ours are narrower).
        // DescribeNetworkInterfaces only works on "*", and the interfaces do not exist before.
        statements.push(json!({
            "Sid": "FunctionNetworkInterfaces",
            "Effect": "Allow",
            "Action": ENI_ACTIONS,
            "Resource": "*"
        }));
    }
    // The secrets the function reads during init: exactly their ARNs, per service.
    for (source, sid, action) in [
        (SecretSource::Ssm, "SecretParameters", "ssm:GetParameter"),
        (
            SecretSource::SecretsManager,
            "SecretValues",
            "secretsmanager:GetSecretValue",
        ),
    ] {
        let arns: Vec<&String> = stack
            .secret_arns
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|(_, arn)| arn)
            .collect();
        if !arns.is_empty() {
            statements.push(json!({ "Sid": sid, "Effect": "Allow", "Action": [action], "Resource": arns }));
        }
    }
    if stack.config.function.tracing == Tracing::Active {
        // What Lambda sends traces with, as AWSXRayDaemonWriteAccess grants it: X-Ray has no
        // resource-level permissions for these, so "*" is the narrowest resource.
        statements.push(json!({
            "Sid": "Traces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*"
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The KMS actions reading and writing a table encrypted with a customer managed key takes (as
/// the AWS CDK's `grantReadWriteData` grants them on the table's key).
pub const KMS_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
];

/// The SQS actions an event source mapping takes with the function's role (as
/// AWSLambdaSQSQueueExecutionRole grants them, on the stack's queues only).
pub const SQS_ACTIONS: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
];

/// The EC2 actions Lambda takes with the function's role to attach it to a VPC.
pub const ENI_ACTIONS: &[&str] = &[
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];

/// IAM returns policy documents URL-encoded (RFC 3986); some emulators return them as is.
pub fn decode_document(doc: &str) -> Value {
    if let Ok(v) = serde_json::from_str(doc) {
        return v;
    }
    let bytes = doc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    serde_json::from_slice(&out).unwrap_or(Value::String(doc.to_string()))
}

pub async fn read(ctx: &Context, stack: &Stack) -> Result<Option<Live>> {
    let name = stack.role_name();
    let role = match ctx.iam.get_role().role_name(name).send().await {
        Ok(out) => out.role,
        Err(e) if is_not_found(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(aws("GetRole", format!("role {name}"), e)),
    };
    let Some(role) = role else { return Ok(None) };
    let tags_out = ctx
        .iam
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws("ListRoleTags", format!("role {name}"), e))?;
    let tags = tags_out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let names = ctx
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws("ListRolePolicies", format!("role {name}"), e))?;
    let mut inline = BTreeMap::new();
    for policy in names.policy_names() {
        let doc = ctx
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| aws("GetRolePolicy", format!("role {name} policy {policy}"), e))?;
        inline.insert(policy.clone(), decode_document(doc.policy_document()));
    }
    let attached_out = ctx
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws("ListAttachedRolePolicies", format!("role {name}"), e))?;
    let attached = attached_out
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    Ok(Some(Live {
        arn: role.arn().to_string(),
        trust_policy: role
            .assume_role_policy_document()
            .map(decode_document)
            .unwrap_or(Value::Null),
        tags,
        inline,
        attached,
    }))
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub fn diff(stack: &Stack, live: Option<&Live>) -> Vec<Change> {
    let name = stack.role_name();
    let policy = stack.policy_name();
    let Some(live) = live else {
        return vec![
            Change::create(
                KIND,
                name,
                vec![
                    ("trust_policy", compact(&trust_policy())),
                    ("tags", super::fmt_tags(&stack.tags())),
                ],
            ),
            Change::create(POLICY_KIND, policy, vec![("document", compact(&access_policy(stack)))]),
        ];
    };
    if !stack.owns(&live.tags) {
        return vec![Change::new(KIND, name, Action::Foreign)];
    }
    let mut out = Vec::new();
    let mut d = Vec::new();
    if live.trust_policy != trust_policy() {
        d.push(AttrDiff {
            attribute: "trust_policy".into(),
            from: Some(compact(&live.trust_policy)),
            to: Some(compact(&trust_policy())),
        });
    }
    super::diff_tags(&mut d, stack, &live.tags);
    out.push(Change::compare(KIND, name, d));
    let want = access_policy(stack);
    match live.inline.get(&policy) {
        None => out.push(Change::create(
            POLICY_KIND,
            policy.clone(),
            vec![("document", compact(&want))],
        )),
        Some(doc) if *doc != want => out.push(Change::compare(
            POLICY_KIND,
            policy.clone(),
            vec![AttrDiff {
                attribute: "document".into(),
                from: Some(compact(doc)),
                to: Some(compact(&want)),
            }],
        )),
        Some(_) => out.push(Change::compare(POLICY_KIND, policy.clone(), vec![])),
    }
    for extra in live.inline.keys().filter(|k| **k != policy) {
        out.push(Change::new(POLICY_KIND, extra.clone(), Action::Delete).with_note(Note::NotLeastPrivilege));
    }
    for arn in &live.attached {
        out.push(Change::new(MANAGED_KIND, arn.clone(), Action::Delete).with_note(Note::Detached));
    }
    out
}

fn iam_tags(tags: BTreeMap<String, String>) -> Result<Vec<aws_sdk_iam::types::Tag>> {
    tags.into_iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| crate::error::DeployError::Other(format!("building an IAM tag: {e}")))
}

/// Makes the role's tags the stack's: TagRole for those missing or different, UntagRole for the
/// rest (each repeatable).
async fn retag(ctx: &Context, stack: &Stack, live: &Live) -> Result<()> {
    let name = stack.role_name();
    let what = format!("role {name}");
    let untag = |keys| async {
        let call = ctx.iam.untag_role().role_name(name).set_tag_keys(Some(keys));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("UntagRole", what.clone(), e))
    };
    let tag = |tags| async {
        let call = ctx.iam.tag_role().role_name(name).set_tags(Some(iam_tags(tags)?));
        call.send().await.map(drop).map_err(|e| aws("TagRole", what.clone(), e))
    };
    super::send_retag(ctx, &what, super::Retag::new(stack, &live.tags), untag, tag).await
}

pub async fn apply(ctx: &Context, stack: &Stack, live: Option<&Live>, changes: &[Change]) -> Result<()> {
    let name = stack.role_name();
    for change in changes {
        match (change.resource, change.action) {
            (KIND, Action::Create) => {
                let step = ctx.progress.step(format!("creating role {name}"));
                let tags = iam_tags(stack.tags())?;
                ctx.iam
                    .create_role()
                    .role_name(name)
                    .assume_role_policy_document(compact(&trust_policy()))
                    .description(format!("Execution role of the oncely function {name}"))
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| aws("CreateRole", format!("role {name}"), e))?;
                step.done("created");
            }
            (KIND, Action::Update) => {
                if change.touches("trust_policy") {
                    let step = ctx.progress.step(format!("updating the trust policy of role {name}"));
                    ctx.iam
                        .update_assume_role_policy()
                        .role_name(name)
                        .policy_document(compact(&trust_policy()))
                        .send()
                        .await
                        .map_err(|e| aws("UpdateAssumeRolePolicy", format!("role {name}"), e))?;
                    step.done("updated");
                }
                if let Some(live) = live.filter(|_| change.touches("tags")) {
                    retag(ctx, stack, live).await?;
                }
            }
            (POLICY_KIND, Action::Create | Action::Update) => {
                let step = ctx
                    .progress
                    .step(format!("writing policy {} of role {name}", change.name));
                ctx.iam
                    .put_role_policy()
                    .role_name(name)
                    .policy_name(&change.name)
                    .policy_document(compact(&access_policy(stack)))
                    .send()
                    .await
                    .map_err(|e| aws("PutRolePolicy", format!("role {name} policy {}", change.name), e))?;
                step.done("written");
            }
            (POLICY_KIND | MANAGED_KIND, Action::Delete) => remove_policy(ctx, name, change).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn remove_policy(ctx: &Context, role: &str, change: &Change) -> Result<()> {
    let step = ctx
        .progress
        .step(format!("removing {} {} from role {role}", change.resource, change.name));
    let result = if change.resource == MANAGED_KIND {
        ctx.iam
            .detach_role_policy()
            .role_name(role)
            .policy_arn(&change.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let gone = is_not_found(&e);
                (
                    gone,
                    aws("DetachRolePolicy", format!("role {role} policy {}", change.name), e),
                )
            })
    } else {
        ctx.iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(&change.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let gone = is_not_found(&e);
                (
                    gone,
                    aws("DeleteRolePolicy", format!("role {role} policy {}", change.name), e),
                )
            })
    };
    match result {
        Ok(()) | Err((true, _)) => {
            step.done("removed");
            Ok(())
        }
        Err((false, e)) => Err(e),
    }
}

/// Deletes the role's policies, then the role, if it is ours.
pub async fn destroy(ctx: &Context, stack: &Stack, live: Option<&Live>) -> Result<Vec<Change>> {
    let name = stack.role_name();
    let Some(live) = live else {
        return Ok(vec![
            Change::new(KIND, name, Action::Unchanged).with_note(Note::NotFound),
        ]);
    };
    if !stack.owns(&live.tags) {
        ctx.progress
            .warn(format!("role {name} exists but is not tagged as oncely's: left alone"));
        return Ok(vec![
            Change::new(KIND, name, Action::Foreign).with_note(Note::LeftAlone),
        ]);
    }
    let mut out = Vec::new();
    for policy in live.inline.keys() {
        let change = Change::new(POLICY_KIND, policy.clone(), Action::Delete);
        remove_policy(ctx, name, &change).await?;
        out.push(change);
    }
    for arn in &live.attached {
        let change = Change::new(MANAGED_KIND, arn.clone(), Action::Delete);
        remove_policy(ctx, name, &change).await?;
        out.push(change);
    }
    let step = ctx.progress.step(format!("deleting role {name}"));
    match ctx.iam.delete_role().role_name(name).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteRole", format!("role {name}"), e)),
    }
    step.done("deleted");
    out.push(Change::new(KIND, name, Action::Delete));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_document(encoded),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        assert_eq!(decode_document("{\"a\":1}"), json!({"a": 1}));
        assert_eq!(decode_document("%zz"), Value::String("%zz".into()));
    }
}
