//! One module per cloud resource, each with the same small surface: `read` the live state,
//! `diff` it against the desired state (pure), `apply` only what differs, `destroy` (absent is
//! success, foreign is left alone).

pub mod alarm;
pub mod auth;
pub mod authorizer;
pub mod function;
pub mod function_settings;
pub mod http_api;
pub mod log_group;
pub mod role;
pub mod table;
pub mod user_pool;
pub mod user_pool_client;
pub mod version;

use std::collections::BTreeMap;

use crate::context::Context;
use crate::report::{Action, Change, Note, ResourceKind};
use crate::stack::Stack;

/// The common start of every `destroy`: an absent resource is "not found", one without our tags
/// is left alone with a warning (`Err` with that row); `Ok` is ours, to delete.
pub(crate) fn ours<'a, L>(
    ctx: &Context,
    stack: &Stack,
    kind: ResourceKind,
    name: &str,
    live: Option<&'a L>,
    tags: impl Fn(&L) -> &BTreeMap<String, String>,
) -> Result<&'a L, Change> {
    let Some(live) = live else {
        return Err(Change::new(kind, name, Action::Unchanged).with_note(Note::NotFound));
    };
    if stack.owns(tags(live)) {
        return Ok(live);
    }
    ctx.progress.warn(format!(
        "{kind} {name} exists but is not tagged as oncely's {}/{}: left alone",
        stack.config.app, stack.config.stage
    ));
    Err(Change::new(kind, name, Action::Foreign).with_note(Note::LeftAlone))
}

/// Tags as one attribute value of a row: `k=v,k=v`.
pub fn fmt_tags(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
