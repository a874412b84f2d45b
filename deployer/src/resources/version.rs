//! The function's published versions and its alias `live`, which the HTTP API invokes: `up`
//! publishes a version only when the code or configuration changed since the newest one, points
//! `live` at it, and deletes the versions older than the last `function.keep_versions` that no
//! alias points to. `rollback` moves `live` back (see `commands/rollback.rs`); `up` then moves it forward.

use std::collections::BTreeSet;

use aws_sdk_lambda::operation::create_alias::CreateAliasError;
use aws_sdk_lambda::types::FunctionConfiguration;
use serde::Serialize;

use crate::context::Context;
use crate::error::{Result, aws, is_not_found};
use crate::report::{Action, Change, Note, ResourceKind, diff_attr};
use crate::stack::Stack;

const VERSION: ResourceKind = ResourceKind::Version;
const ALIAS: ResourceKind = ResourceKind::Alias;
/// What plan rows say of a version still to be published.
pub const NEW: &str = "(new version)";
/// At most this many pages of versions or aliases are read (50 per page).
const MAX_PAGES: usize = 100;

/// One published version (or `$LATEST`) as Lambda lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionLive {
    pub version: String,
    pub code_sha256: String,
    pub last_modified: String,
    /// The code and every setting a version freezes: equal fingerprints, nothing to publish.
    #[serde(skip)]
    pub fingerprint: String,
}

/// The function's versions and aliases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    /// `$LATEST`, what the next version would freeze.
    pub latest: Option<VersionLive>,
    /// The published versions, oldest first.
    pub published: Vec<VersionLive>,
    /// The version `live` points to.
    pub alias: Option<String>,
    /// The versions other aliases point to (never deleted).
    pub other_aliases: BTreeSet<String>,
}

impl Live {
    /// The newest published version.
    pub fn newest(&self) -> Option<&VersionLive> {
        self.published.last()
    }
    /// Whether `$LATEST` differs from the newest version (or none was published yet).
    pub fn needs_publish(&self) -> bool {
        match (&self.latest, self.newest()) {
            (Some(l), Some(n)) => l.fingerprint != n.fingerprint,
            _ => true,
        }
    }
    pub fn find(&self, version: &str) -> Option<&VersionLive> {
        self.published.iter().find(|v| v.version == version)
    }
}

fn number(version: &str) -> u64 {
    version.parse().unwrap_or(0)
}

fn version_live(c: &FunctionConfiguration) -> VersionLive {
    let mut env: Vec<(String, String)> = c
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    env.sort();
    let architecture = c
        .architectures()
        .first()
        .map(aws_sdk_lambda::types::Architecture::as_str)
        .unwrap_or("x86_64");
    let tracing = super::function_settings::live_tracing(c);
    let fingerprint = format!(
        "{}|{}|{}|{:?}|{:?}|{}|{architecture}|{tracing}|{env:?}",
        c.code_sha256().unwrap_or_default(),
        c.runtime()
            .map(aws_sdk_lambda::types::Runtime::as_str)
            .unwrap_or_default(),
        c.handler().unwrap_or_default(),
        c.memory_size(),
        c.timeout(),
        c.role().unwrap_or_default(),
    );
    VersionLive {
        version: c.version().unwrap_or_default().to_string(),
        code_sha256: c.code_sha256().unwrap_or_default().to_string(),
        last_modified: c.last_modified().unwrap_or_default().to_string(),
        fingerprint,
    }
}

/// Lists the versions and aliases; `None` when the function does not exist.
pub async fn read(ctx: &Context, stack: &Stack) -> Result<Option<Live>> {
    let name = stack.function_name();
    let mut live = Live::default();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = match ctx
            .lambda
            .list_versions_by_function()
            .function_name(name)
            .set_marker(marker.take())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => {
                return Ok(None);
            }
            Err(e) => return Err(aws("ListVersionsByFunction", format!("function {name}"), e)),
        };
        for c in out.versions() {
            let v = version_live(c);
            if v.version == "$LATEST" {
                live.latest = Some(v);
            } else {
                live.published.push(v);
            }
        }
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    live.published.sort_by_key(|v| number(&v.version));
    for _ in 0..MAX_PAGES {
        let out = match ctx
            .lambda
            .list_aliases()
            .function_name(name)
            .set_marker(marker.take())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => {
                return Ok(None);
            }
            Err(e) => return Err(aws("ListAliases", format!("function {name}"), e)),
        };
        for a in out.aliases() {
            let target = a.function_version().unwrap_or_default().to_string();
            if a.name() == Some(stack.alias_name()) {
                live.alias = Some(target);
            } else {
                live.other_aliases.insert(target);
            }
        }
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    Ok(Some(live))
}

/// The version rows (publish, prune) and the alias row. `function_changes`: `up` updates or
/// creates the function first, so a new version will be published whatever the versions say.
pub fn diff(stack: &Stack, live: Option<&Live>, function_changes: bool) -> Vec<Change> {
    let name = stack.function_name();
    let empty = Live::default();
    let live = live.unwrap_or(&empty);
    let publish = function_changes || live.needs_publish();
    let target = if publish {
        NEW.to_string()
    } else {
        live.newest().map(|v| v.version.clone()).unwrap_or_default()
    };
    let mut out = Vec::new();
    if publish {
        let code = live.latest.as_ref().map(|l| l.code_sha256.clone());
        let mut attrs = vec![("version", NEW.to_string())];
        if let (Some(code), false) = (code, function_changes) {
            attrs.push(("code_sha256", code));
        }
        out.push(Change::create(VERSION, name, attrs));
    } else {
        out.push(Change::new(VERSION, format!("{name}:{target}"), Action::Unchanged));
    }
    out.push(match &live.alias {
        None => Change::create(ALIAS, stack.alias_name(), vec![("function_version", target.clone())]),
        Some(now) => {
            let mut d = Vec::new();
            diff_attr(&mut d, "function_version", Some(now), Some(&target));
            let rolled_back = !publish && !d.is_empty() && live.find(now).is_some();
            let row = Change::compare(ALIAS, stack.alias_name(), d);
            if rolled_back {
                row.with_note(Note::RolledBack)
            } else {
                row
            }
        }
    });
    let keep = stack.config.function.keep_versions as usize;
    let total = live.published.len() + usize::from(publish);
    let excess = total.saturating_sub(keep);
    for v in live.published.iter().take(excess) {
        if live.other_aliases.contains(&v.version) || (v.version == target) {
            continue;
        }
        out.push(
            Change::new(VERSION, format!("{name}:{}", v.version), Action::Delete).with_note(Note::OlderThanKept {
                keep: stack.config.function.keep_versions,
            }),
        );
    }
    out
}

/// Publishes when a version row says so, points `live` at the config's version, then deletes the
/// versions no longer kept. Every step recognises its own earlier, interrupted attempt: a version
/// already published for this code and configuration is reused, an alias that exists is updated,
/// a version already deleted is done.
pub async fn apply(ctx: &Context, stack: &Stack, live: Option<&Live>, changes: &[Change]) -> Result<()> {
    let name = stack.function_name();
    let mut target = live.and_then(Live::newest).map(|v| v.version.clone());
    if changes
        .iter()
        .any(|c| c.resource == VERSION && c.action == Action::Create)
    {
        let step = ctx.progress.step(format!("publishing a version of function {name}"));
        let out = ctx
            .lambda
            .publish_version()
            .function_name(name)
            .send()
            .await
            .map_err(|e| aws("PublishVersion", format!("function {name}"), e))?;
        let version = out.version().unwrap_or_default().to_string();
        step.done(&format!("version {version}"));
        target = Some(version);
    }
    let Some(target) = target else { return Ok(()) };
    if let Some(alias) = changes.iter().find(|c| c.resource == ALIAS && !c.is_noop()) {
        let exists = alias.action == Action::Update;
        point_alias(ctx, stack, &target, exists).await?;
    }
    for c in changes
        .iter()
        .filter(|c| c.resource == VERSION && c.action == Action::Delete)
    {
        let version = c.name.rsplit(':').next().unwrap_or_default();
        delete_version(ctx, stack, version).await?;
    }
    Ok(())
}

/// Points `live` at `version`: UpdateAlias when it `exists`, else CreateAlias (and UpdateAlias
/// when an earlier attempt had created it after all).
pub async fn point_alias(ctx: &Context, stack: &Stack, version: &str, exists: bool) -> Result<()> {
    let name = stack.function_name();
    let alias = stack.alias_name();
    let step = ctx.progress.step(format!(
        "pointing alias {alias} of function {name} at version {version}"
    ));
    let mut update = exists;
    if !exists {
        match ctx
            .lambda
            .create_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .description(format!("oncely: what the HTTP API of {name} invokes"))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(CreateAliasError::is_resource_conflict_exception) =>
            {
                update = true;
            }
            Err(e) => return Err(aws("CreateAlias", format!("alias {alias} of function {name}"), e)),
        }
    }
    if update {
        ctx.lambda
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .send()
            .await
            .map_err(|e| aws("UpdateAlias", format!("alias {alias} of function {name}"), e))?;
    }
    step.done("pointed");
    Ok(())
}

async fn delete_version(ctx: &Context, stack: &Stack, version: &str) -> Result<()> {
    let name = stack.function_name();
    let step = ctx
        .progress
        .step(format!("deleting version {version} of function {name}"));
    match ctx
        .lambda
        .delete_function()
        .function_name(name)
        .qualifier(version)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(aws(
                "DeleteFunction",
                format!("version {version} of function {name}"),
                e,
            ));
        }
    }
    step.done("deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn v(n: &str, fingerprint: &str) -> VersionLive {
        VersionLive {
            version: n.into(),
            code_sha256: format!("sha-{fingerprint}"),
            last_modified: String::new(),
            fingerprint: fingerprint.into(),
        }
    }

    fn stack(keep: u32) -> Stack {
        let mut config = Config::parse("app: a\nstage: b\n").unwrap();
        config.function.keep_versions = keep;
        Stack {
            config,
            name: "a-b".into(),
            region: "eu-west-1".into(),
            account: "111122223333".into(),
            partition: "aws".into(),
            secret_arns: vec![],
        }
    }

    fn actions(rows: &[Change]) -> Vec<String> {
        rows.iter()
            .map(|c| format!("{} {} {:?}", c.resource, c.name, c.action))
            .collect()
    }

    #[test]
    fn unchanged_code_publishes_nothing_and_a_rollback_is_undone() {
        let mut live = Live {
            latest: Some(v("$LATEST", "b")),
            published: vec![v("1", "a"), v("2", "b")],
            alias: Some("2".into()),
            other_aliases: BTreeSet::new(),
        };
        let rows = diff(&stack(5), Some(&live), false);
        assert!(rows.iter().all(|c| c.action == Action::Unchanged), "{rows:#?}");
        live.alias = Some("1".into());
        let rows = diff(&stack(5), Some(&live), false);
        assert_eq!(rows[1].action, Action::Update);
        assert_eq!(rows[1].note, Some(Note::RolledBack));
        assert_eq!(rows[1].attributes[0].to.as_deref(), Some("2"));
    }

    #[test]
    fn a_change_publishes_and_prunes_beyond_keep_except_aliased() {
        let mut other = BTreeSet::new();
        other.insert("2".to_string());
        let live = Live {
            latest: Some(v("$LATEST", "d")),
            published: vec![v("1", "a"), v("2", "b"), v("3", "c")],
            alias: Some("3".into()),
            other_aliases: other,
        };
        let rows = diff(&stack(2), Some(&live), false);
        assert_eq!(
            actions(&rows),
            ["version a-b Create", "alias live Update", "version a-b:1 Delete"]
        );
        assert_eq!(rows[1].attributes[0].to.as_deref(), Some(NEW));
    }
}
