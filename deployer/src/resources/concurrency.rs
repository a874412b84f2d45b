//! The function's reserved concurrency (`function.reserved_concurrency`): executions set aside for
//! it and a cap on it, so a burst can neither starve the account's other functions nor run up the
//! table and the bill. Not part of a version (it belongs to the function), so a change publishes
//! nothing. Read with the function (GetFunction's `Concurrency`); it goes with the function on
//! `down`. A row only when the config or the function has a reservation.

use crate::context::Context;
use crate::error::{Result, aws};
use crate::report::{Action, AttrDiff, Change, ResourceKind, diff_attr};
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::Concurrency;

/// What `up` would do: `live` is the function's reservation (`None` inside `Some`: none), or
/// `None` when the function does not exist yet.
pub fn diff(stack: &Stack, live: Option<Option<i32>>) -> Option<Change> {
    let want = stack.config.function.reserved_concurrency;
    let name = stack.function_name();
    match live {
        None => want.map(|n| Change::create(KIND, name, vec![("reserved_concurrency", n.to_string())])),
        Some(now) if now.is_none() && want.is_none() => None,
        Some(now) => {
            let mut d: Vec<AttrDiff> = Vec::new();
            diff_attr(&mut d, "reserved_concurrency", now.as_ref(), want.as_ref());
            Some(Change::compare(KIND, name, d))
        }
    }
}

/// Puts the config's reservation, or removes one the config no longer has.
pub async fn apply(ctx: &Context, stack: &Stack, change: &Change) -> Result<()> {
    if !matches!(change.action, Action::Create | Action::Update) {
        return Ok(());
    }
    let name = stack.function_name();
    match stack.config.function.reserved_concurrency {
        Some(n) => {
            let step = ctx
                .progress
                .step(format!("reserving {n} concurrent executions for function {name}"));
            ctx.lambda
                .put_function_concurrency()
                .function_name(name)
                .reserved_concurrent_executions(n)
                .send()
                .await
                .map_err(|e| aws("PutFunctionConcurrency", format!("function {name}"), e))?;
            step.done("reserved");
        }
        None => {
            let step = ctx
                .progress
                .step(format!("removing function {name}'s reserved concurrency"));
            ctx.lambda
                .delete_function_concurrency()
                .function_name(name)
                .send()
                .await
                .map_err(|e| aws("DeleteFunctionConcurrency", format!("function {name}"), e))?;
            step.done("removed");
        }
    }
    Ok(())
}
