//! One module per cloud resource, each with the same small surface: `read` the live state,
//! `diff` it against the desired state (pure), `apply` only what differs, `destroy` (absent is
//! success, foreign is left alone).

pub mod alarm;
pub mod auth;
pub mod authorizer;
pub mod concurrency;
pub mod event_source;
pub mod function;
pub mod function_settings;
pub mod http_api;
pub mod log_group;
pub mod queue;
pub mod role;
pub mod route;
pub mod table;
pub mod user_pool;
pub mod user_pool_client;
pub mod version;

use std::collections::BTreeMap;

use crate::context::Context;
use crate::report::{Action, Change, Note, ResourceKind};
use crate::stack::Stack;

/// What the common start of every `destroy` found: a resource of this stack, to delete, or the
/// row to report instead (absent: "not found"; without our tags: left alone, with a warning).
pub(crate) enum Ownership<'a, L> {
    Ours(&'a L),
    Skip(Change),
}

/// The common start of every `destroy`: whose is the live resource `live` named `name`.
pub(crate) fn ours<'a, L>(
    ctx: &Context,
    stack: &Stack,
    kind: ResourceKind,
    name: &str,
    live: Option<&'a L>,
    tags: impl Fn(&L) -> &BTreeMap<String, String>,
) -> Ownership<'a, L> {
    let Some(live) = live else {
        return Ownership::Skip(Change::new(kind, name, Action::Unchanged).with_note(Note::NotFound));
    };
    if stack.owns(tags(live)) {
        return Ownership::Ours(live);
    }
    ctx.progress.warn(format!(
        "{kind} {name} exists but is not tagged as oncely's {}/{}: left alone",
        stack.config.app, stack.config.stage
    ));
    Ownership::Skip(Change::new(kind, name, Action::Foreign).with_note(Note::LeftAlone))
}

/// Tags as one attribute value of a row: `k=v,k=v`.
pub fn fmt_tags(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
