//! One module per cloud resource, each with the same small surface: `read` the live state,
//! `diff` it against the desired state (pure), `apply` only what differs, `destroy` (absent is
//! success, foreign is left alone).

pub mod alarm;
pub mod auth;
pub mod authorizer;
pub mod certificate;
pub mod concurrency;
pub mod dns_record;
pub mod domain;
pub mod event_source;
pub mod function;
pub mod function_settings;
pub mod http_api;
pub mod log_group;
pub mod queue;
pub mod role;
pub mod route;
pub mod secrets;
pub mod table;
pub mod user_pool;
pub mod user_pool_client;
pub mod version;

use std::collections::BTreeMap;

use crate::context::Context;
use crate::error::Result;
use crate::report::{Action, AttrDiff, Change, Note, ResourceKind, diff_attr};
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

/// AWS's own tags (`aws:cloudformation:...`): nobody else may set or remove them.
fn is_aws_tag(key: &str) -> bool {
    key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:")
}

/// How a resource's live tags become the stack's: the tags to set (missing or with another value)
/// and the keys to remove (every tag the stack does not name, AWS's own `aws:` tags aside).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Retag {
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

impl Retag {
    pub(crate) fn new(stack: &Stack, live: &BTreeMap<String, String>) -> Retag {
        Retag::toward(&stack.tags(), live)
    }

    /// The delta from `live` to `want` (a resource whose tags are more than the stack's).
    pub(crate) fn toward(want: &BTreeMap<String, String>, live: &BTreeMap<String, String>) -> Retag {
        Retag {
            set: want
                .iter()
                .filter(|(k, v)| live.get(*k) != Some(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            remove: live
                .keys()
                .filter(|k| !want.contains_key(*k) && !is_aws_tag(k))
                .cloned()
                .collect(),
        }
    }

    /// What the progress line says: `+2 -1`.
    pub(crate) fn summary(&self) -> String {
        format!("+{} -{}", self.set.len(), self.remove.len())
    }
}

/// Sends a [`Retag`] for the resource `what` (`table a-b`): `untag` with the keys to remove, then
/// `tag` with the tags to set, each only when it has something to send; one progress step.
pub(crate) async fn send_retag<U, UF, T, TF>(ctx: &Context, what: &str, delta: Retag, untag: U, tag: T) -> Result<()>
where
    U: FnOnce(Vec<String>) -> UF,
    UF: std::future::Future<Output = Result<()>>,
    T: FnOnce(BTreeMap<String, String>) -> TF,
    TF: std::future::Future<Output = Result<()>>,
{
    let step = ctx.progress.step(format!("tagging {what} ({})", delta.summary()));
    if !delta.remove.is_empty() {
        untag(delta.remove).await?;
    }
    if !delta.set.is_empty() {
        tag(delta.set).await?;
    }
    step.done("tagged");
    Ok(())
}

/// The `tags` attribute of a resource's row, when its live tags (AWS's own aside) are not exactly
/// the stack's.
pub(crate) fn diff_tags(d: &mut Vec<AttrDiff>, stack: &Stack, live: &BTreeMap<String, String>) {
    diff_tags_toward(d, &stack.tags(), live);
}

/// The `tags` attribute of a row whose resource must carry exactly `want` (AWS's own aside).
pub(crate) fn diff_tags_toward(
    d: &mut Vec<AttrDiff>,
    want: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) {
    let managed: BTreeMap<String, String> = live
        .iter()
        .filter(|(k, _)| !is_aws_tag(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    diff_attr(d, "tags", Some(&fmt_tags(&managed)), Some(&fmt_tags(want)));
}
