//! The Lambda function (`provided.al2023`, handler `bootstrap`) and the permission that lets the
//! HTTP API invoke it. Code is uploaded only when the zip's SHA-256 differs from CodeSha256.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::operation::create_function::CreateFunctionError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, Runtime, TracingConfig, TracingMode};
use serde_json::Value;

use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::package::Artifact;
use crate::report::{Action, AttrDiff, Change, Note, ResourceKind, diff_attr};
use crate::stack::Stack;

use super::function_settings::{env_attrs, env_diffs, live_tracing, live_vpc, show_vpc, vpc_config, wanted_vpc};

const KIND: ResourceKind = ResourceKind::Function;
const PERMISSION_KIND: ResourceKind = ResourceKind::Permission;
const RUNTIME: &str = "provided.al2023";
const HANDLER: &str = "bootstrap";
const WAIT: Duration = Duration::from_secs(300);

/// How long CreateFunction is retried while IAM has not yet propagated a new role.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    /// About 90 s in all: new roles usually become assumable within 10 s.
    fn default() -> Self {
        Backoff {
            attempts: 12,
            first: Duration::from_secs(1),
            cap: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        self.first.saturating_mul(1u32 << attempt.min(16)).min(self.cap)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub arn: String,
    pub state: Option<String>,
    pub last_update_status: Option<String>,
    pub code_sha256: String,
    pub memory_size: i32,
    pub timeout: i32,
    pub environment: BTreeMap<String, String>,
    pub vpc: Option<crate::config::VpcSettings>,
    pub role: String,
    pub runtime: String,
    pub handler: String,
    pub architecture: String,
    pub tags: BTreeMap<String, String>,
    /// X-Ray tracing, as Lambda names it (`PassThrough`, `Active`).
    pub tracing: String,
    /// Its reserved concurrency (`concurrency.rs`), when it has one.
    pub reserved_concurrency: Option<i32>,
}

pub async fn read(ctx: &Context, stack: &Stack) -> Result<Option<Live>> {
    let name = stack.function_name();
    let out = match ctx.lambda.get_function().function_name(name).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(aws("GetFunction", format!("function {name}"), e)),
    };
    let Some(c) = out.configuration() else { return Ok(None) };
    Ok(Some(Live {
        arn: c.function_arn().unwrap_or_default().to_string(),
        state: c.state().map(|s| s.as_str().to_string()),
        last_update_status: c.last_update_status().map(|s| s.as_str().to_string()),
        code_sha256: c.code_sha256().unwrap_or_default().to_string(),
        memory_size: c.memory_size().unwrap_or_default(),
        timeout: c.timeout().unwrap_or_default(),
        environment: c
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        vpc: live_vpc(c),
        role: c.role().unwrap_or_default().to_string(),
        runtime: c.runtime().map(|r| r.as_str().to_string()).unwrap_or_default(),
        handler: c.handler().unwrap_or_default().to_string(),
        architecture: c
            .architectures()
            .first()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| "x86_64".into()),
        tracing: live_tracing(c).to_string(),
        tags: out
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        reserved_concurrency: out
            .concurrency()
            .and_then(aws_sdk_lambda::types::Concurrency::reserved_concurrent_executions),
    }))
}

/// What `up` would do to the function. `code` is None when no package was built (never uploads).
pub fn diff(stack: &Stack, live: Option<&Live>, code: Option<&Artifact>) -> Change {
    let name = stack.function_name();
    let f = &stack.config.function;
    let env = stack.function_environment();
    let code_sha = code.map(|a| a.sha256.clone()).unwrap_or_else(|| "(built by up)".into());
    let Some(live) = live else {
        let mut attrs = vec![
            ("runtime", RUNTIME.to_string()),
            ("handler", HANDLER.to_string()),
            ("architecture", f.architecture.lambda_name().to_string()),
            ("memory_size", f.memory_mb.to_string()),
            ("timeout", f.timeout_s.to_string()),
            ("role", stack.role_arn()),
            ("tracing", f.tracing.lambda_name().to_string()),
            ("code_sha256", code_sha),
        ];
        if f.vpc.is_some() {
            attrs.push(("vpc", show_vpc(wanted_vpc(stack).as_ref())));
        }
        let env_attrs = env_attrs(&env);
        attrs.extend(env_attrs.iter().map(|(k, v)| (k.as_str(), v.clone())));
        attrs.push(("tags", super::fmt_tags(&stack.tags())));
        return Change::create(KIND, name, attrs);
    };
    if !stack.owns(&live.tags) {
        return Change::new(KIND, name, Action::Foreign);
    }
    let mut d: Vec<AttrDiff> = Vec::new();
    diff_attr(&mut d, "runtime", Some(&live.runtime), Some(&RUNTIME.to_string()));
    diff_attr(&mut d, "handler", Some(&live.handler), Some(&HANDLER.to_string()));
    diff_attr(
        &mut d,
        "architecture",
        Some(&live.architecture),
        Some(&f.architecture.lambda_name().to_string()),
    );
    diff_attr(&mut d, "memory_size", Some(&live.memory_size), Some(&f.memory_mb));
    diff_attr(&mut d, "timeout", Some(&live.timeout), Some(&f.timeout_s));
    diff_attr(&mut d, "role", Some(&live.role), Some(&stack.role_arn()));
    diff_attr(
        &mut d,
        "tracing",
        Some(&live.tracing),
        Some(&f.tracing.lambda_name().to_string()),
    );
    if let Some(code) = code {
        diff_attr(&mut d, "code_sha256", Some(&live.code_sha256), Some(&code.sha256));
    }
    if live.vpc != wanted_vpc(stack) {
        diff_attr(
            &mut d,
            "vpc",
            Some(&show_vpc(live.vpc.as_ref())),
            Some(&show_vpc(wanted_vpc(stack).as_ref())),
        );
    }
    env_diffs(&live.environment, &env, &mut d);
    super::diff_tags(&mut d, stack, &live.tags);
    Change::compare(KIND, name, d)
}

const CONFIG_ATTRS: &[&str] = &[
    "runtime",
    "handler",
    "memory_size",
    "timeout",
    "role",
    "environment",
    "vpc",
    "tracing",
];

/// Creates the function, or sends only what differs: a configuration update, a code update, or
/// neither. Waits for the function to be Active and its last update Successful around each change.
pub async fn apply(
    ctx: &Context,
    stack: &Stack,
    live: Option<&Live>,
    change: &Change,
    code: &Artifact,
    backoff: Backoff,
) -> Result<String> {
    let name = stack.function_name();
    match change.action {
        Action::Create => {
            create(ctx, stack, code, backoff).await?;
            Ok(stack.function_arn())
        }
        Action::Update => {
            let live = live.expect("an update has a live function");
            if live.state.as_deref() != Some("Active") || live.last_update_status.as_deref() == Some("InProgress") {
                wait_updated(ctx, name).await?;
            }
            if CONFIG_ATTRS.iter().any(|a| change.touches(a)) {
                let step = ctx.progress.step(format!("updating configuration of function {name}"));
                let f = &stack.config.function;
                ctx.lambda
                    .update_function_configuration()
                    .function_name(name)
                    .runtime(Runtime::from(RUNTIME))
                    .handler(HANDLER)
                    .memory_size(f.memory_mb)
                    .timeout(f.timeout_s)
                    .role(stack.role_arn())
                    .environment(
                        Environment::builder()
                            .set_variables(Some(stack.function_environment().into_iter().collect()))
                            .build(),
                    )
                    .vpc_config(vpc_config(stack))
                    .tracing_config(tracing_config(stack))
                    .send()
                    .await
                    .map_err(|e| aws("UpdateFunctionConfiguration", format!("function {name}"), e))?;
                wait_updated(ctx, name).await?;
                step.done("updated");
            }
            if change.touches("code_sha256") || change.touches("architecture") {
                let step = ctx.progress.step(format!(
                    "uploading code to function {name} ({} KiB)",
                    code.bytes.len() / 1024
                ));
                ctx.lambda
                    .update_function_code()
                    .function_name(name)
                    .zip_file(Blob::new(code.bytes.clone()))
                    .architectures(Architecture::from(stack.config.function.architecture.lambda_name()))
                    .send()
                    .await
                    .map_err(|e| aws("UpdateFunctionCode", format!("function {name}"), e))?;
                wait_updated(ctx, name).await?;
                step.done("uploaded");
            }
            if change.touches("tags") {
                retag(ctx, stack, live).await?;
            }
            Ok(live.arn.clone())
        }
        _ => Ok(live.map(|l| l.arn.clone()).unwrap_or_else(|| stack.function_arn())),
    }
}

fn tracing_config(stack: &Stack) -> TracingConfig {
    let mode = TracingMode::from(stack.config.function.tracing.lambda_name());
    TracingConfig::builder().mode(mode).build()
}

/// Whether `change` alters what a published version freezes (code or configuration): tags are
/// the function's, not its versions', so a change of tags alone publishes nothing.
pub fn changes_version(change: &Change) -> bool {
    match change.action {
        Action::Create => true,
        Action::Update => change.attributes.iter().any(|a| a.attribute != "tags"),
        _ => false,
    }
}

/// Makes the function's tags the stack's: TagResource for those missing or different,
/// UntagResource for the rest (each repeatable).
async fn retag(ctx: &Context, stack: &Stack, live: &Live) -> Result<()> {
    let what = format!("function {}", stack.function_name());
    let untag = |keys| async {
        let call = ctx.lambda.untag_resource().resource(&live.arn).set_tag_keys(Some(keys));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("UntagResource", what.clone(), e))
    };
    let tag = |tags: BTreeMap<String, String>| async {
        let call = ctx
            .lambda
            .tag_resource()
            .resource(&live.arn)
            .set_tags(Some(tags.into_iter().collect()));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("TagResource", what.clone(), e))
    };
    super::send_retag(ctx, &what, super::Retag::new(stack, &live.tags), untag, tag).await
}

/// CreateFunction, retried while IAM has not propagated the new role yet. Lambda reports that as
/// InvalidParameterValueException; every other parameter was validated before, so the error type
/// is enough to recognise it. Gives up after `backoff.attempts` with the service's own message.
pub async fn create(ctx: &Context, stack: &Stack, code: &Artifact, backoff: Backoff) -> Result<()> {
    let name = stack.function_name();
    let f = &stack.config.function;
    let step = ctx
        .progress
        .step(format!("creating function {name} ({} KiB)", code.bytes.len() / 1024));
    let mut attempt = 0;
    loop {
        let result = ctx
            .lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::from(RUNTIME))
            .handler(HANDLER)
            .role(stack.role_arn())
            .architectures(Architecture::from(f.architecture.lambda_name()))
            .memory_size(f.memory_mb)
            .timeout(f.timeout_s)
            .code(FunctionCode::builder().zip_file(Blob::new(code.bytes.clone())).build())
            .environment(
                Environment::builder()
                    .set_variables(Some(stack.function_environment().into_iter().collect()))
                    .build(),
            )
            .set_vpc_config(f.vpc.is_some().then(|| vpc_config(stack)))
            .tracing_config(tracing_config(stack))
            .set_tags(Some(stack.tags().into_iter().collect()))
            .description(format!("oncely {} ({}/{})", name, stack.config.app, stack.config.stage))
            .send()
            .await;
        match result {
            Ok(_) => break,
            Err(e)
                if e.as_service_error()
                    .is_some_and(CreateFunctionError::is_invalid_parameter_value_exception) =>
            {
                attempt += 1;
                if attempt >= backoff.attempts {
                    let err = aws("CreateFunction", format!("function {name}"), e);
                    return Err(DeployError::Other(format!(
                        "{err}\n  (retried {attempt} times over the IAM propagation window: if the role {} exists, \
                        check that it trusts lambda.amazonaws.com, then run `up` again)",
                        stack.role_arn()
                    )));
                }
                let delay = backoff.delay(attempt - 1);
                ctx.progress.info(format!(
                    "  role {} is not assumable by Lambda yet (IAM propagation); retry {attempt} in {:.1}s",
                    stack.role_name(),
                    delay.as_secs_f64()
                ));
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(aws("CreateFunction", format!("function {name}"), e)),
        }
    }
    ctx.lambda
        .wait_until_function_active_v2()
        .function_name(name)
        .wait(WAIT)
        .await
        .map_err(|_| DeployError::Timeout {
            what: format!("function {name} to become Active"),
            waited_s: WAIT.as_secs(),
        })?;
    step.done(if attempt > 0 {
        "created (after IAM propagation)"
    } else {
        "created"
    });
    Ok(())
}

async fn wait_updated(ctx: &Context, name: &str) -> Result<()> {
    ctx.lambda
        .wait_until_function_updated_v2()
        .function_name(name)
        .wait(WAIT)
        .await
        .map_err(|_| DeployError::Timeout {
            what: format!("function {name} to finish its update (LastUpdateStatus=Successful)"),
            waited_s: WAIT.as_secs(),
        })?;
    Ok(())
}

pub async fn destroy(ctx: &Context, stack: &Stack, live: Option<&Live>) -> Result<Change> {
    let name = stack.function_name();
    if let super::Ownership::Skip(row) = super::ours(ctx, stack, KIND, name, live, |l| &l.tags) {
        return Ok(row);
    }
    let step = ctx.progress.step(format!("deleting function {name}"));
    match ctx.lambda.delete_function().function_name(name).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteFunction", format!("function {name}"), e)),
    }
    step.done("deleted");
    Ok(Change::new(KIND, name, Action::Delete))
}

// ----------------------------------------------------------------------------------------------
// The permission for API Gateway to invoke the function.

/// The alias `live`'s policy statements that carry our statement id (none while there is no alias).
pub async fn read_permission(ctx: &Context, stack: &Stack) -> Result<Vec<Value>> {
    let name = stack.function_name();
    let policy = match ctx
        .lambda
        .get_policy()
        .function_name(name)
        .qualifier(stack.alias_name())
        .send()
        .await
    {
        Ok(out) => out.policy.unwrap_or_default(),
        Err(e) if is_not_found(&e) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(aws("GetPolicy", format!("function {name}"), e)),
    };
    let policy: Value = serde_json::from_str(&policy).unwrap_or(Value::Null);
    let sid = stack.permission_sid();
    Ok(policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Sid"] == sid.as_str())
        .cloned()
        .collect())
}

fn source_arn_of(statement: &Value) -> Option<String> {
    let cond = &statement["Condition"];
    ["ArnLike", "ArnEquals", "StringEquals", "StringLike"]
        .iter()
        .find_map(|op| cond[op]["AWS:SourceArn"].as_str().map(str::to_string))
}

/// The function (alias) a statement grants: in AWS, the qualified ARN for an alias's statement.
fn resource_of(statement: &Value) -> Option<String> {
    statement["Resource"].as_str().map(str::to_string)
}

fn principal_of(statement: &Value) -> Option<String> {
    let p = &statement["Principal"];
    p["Service"].as_str().or_else(|| p.as_str()).map(str::to_string)
}

/// What `up` would do to the permission, given the API id (None: the API is still to be created).
pub fn diff_permission(stack: &Stack, api_id: Option<&str>, statements: &[Value]) -> Change {
    let sid = stack.permission_sid();
    let want_arn = stack.execute_api_source_arn(api_id.unwrap_or("<new api id>"));
    let want_principal = "apigateway.amazonaws.com".to_string();
    match statements {
        [] => Change::create(
            PERMISSION_KIND,
            sid,
            vec![
                ("principal", want_principal),
                ("action", "lambda:InvokeFunction".into()),
                ("resource", stack.alias_arn()),
                ("source_arn", want_arn),
            ],
        ),
        [one] => {
            let mut d = Vec::new();
            diff_attr(&mut d, "principal", principal_of(one).as_ref(), Some(&want_principal));
            diff_attr(&mut d, "resource", resource_of(one).as_ref(), Some(&stack.alias_arn()));
            diff_attr(&mut d, "source_arn", source_arn_of(one).as_ref(), Some(&want_arn));
            Change::compare(PERMISSION_KIND, sid, d)
        }
        many => Change::compare(
            PERMISSION_KIND,
            sid,
            vec![AttrDiff {
                attribute: "statements".into(),
                from: Some(many.len().to_string()),
                to: Some("1".into()),
            }],
        ),
    }
}

async fn remove_permission(ctx: &Context, stack: &Stack, count: usize) -> Result<()> {
    let name = stack.function_name();
    for _ in 0..count {
        match ctx
            .lambda
            .remove_permission()
            .function_name(name)
            .qualifier(stack.alias_name())
            .statement_id(stack.permission_sid())
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                break;
            }
            Err(e) => return Err(aws("RemovePermission", format!("function {name}"), e)),
        }
    }
    Ok(())
}

pub async fn apply_permission(
    ctx: &Context,
    stack: &Stack,
    api_id: &str,
    change: &Change,
    live_count: usize,
) -> Result<()> {
    if change.is_noop() {
        return Ok(());
    }
    let name = stack.function_name();
    let step = ctx
        .progress
        .step(format!("allowing API {api_id} to invoke function {name}"));
    remove_permission(ctx, stack, live_count).await?;
    match ctx
        .lambda
        .add_permission()
        .function_name(name)
        .qualifier(stack.alias_name())
        .statement_id(stack.permission_sid())
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(stack.execute_api_source_arn(api_id))
        .send()
        .await
    {
        Ok(_) => {}
        // A retry whose first attempt was granted but its reply lost: fine if that statement is ours.
        Err(e)
            if e.as_service_error().is_some_and(
                aws_sdk_lambda::operation::add_permission::AddPermissionError::is_resource_conflict_exception,
            ) =>
        {
            let now = read_permission(ctx, stack).await?;
            if !diff_permission(stack, Some(api_id), &now).is_noop() {
                return Err(aws("AddPermission", format!("function {name}"), e));
            }
        }
        Err(e) => return Err(aws("AddPermission", format!("function {name}"), e)),
    }
    step.done("granted");
    Ok(())
}

pub async fn destroy_permission(
    ctx: &Context,
    stack: &Stack,
    function_owned: bool,
    statements: &[Value],
) -> Result<Change> {
    let sid = stack.permission_sid();
    if statements.is_empty() || !function_owned {
        return Ok(Change::new(PERMISSION_KIND, sid, Action::Unchanged).with_note(Note::NotFound));
    }
    let step = ctx.progress.step(format!("removing permission {sid}"));
    remove_permission(ctx, stack, statements.len()).await?;
    step.done("removed");
    Ok(Change::new(PERMISSION_KIND, sid, Action::Delete))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            attempts: 5,
            first: Duration::from_millis(100),
            cap: Duration::from_millis(500),
        };
        let delays: Vec<u128> = (0..5).map(|i| b.delay(i).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn reads_the_source_arn_of_a_statement() {
        let s = serde_json::json!({
            "Sid": "x",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:a"}}
        });
        assert_eq!(source_arn_of(&s).as_deref(), Some("arn:a"));
        assert_eq!(principal_of(&s).as_deref(), Some("apigateway.amazonaws.com"));
    }
}
