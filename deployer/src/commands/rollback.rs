//! `rollback [--to VERSION]`: points the alias `live` back at the previous published version (or
//! the given one), without building or uploading anything. `up` later moves it back to the
//! config's version.

use std::fmt;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::RollbackArgs;
use crate::config::Config;
use crate::context::Context;
use crate::progress::Progress;
use crate::resources::{function, version};
use crate::stack::Stack;

/// Why there is nothing to roll back to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RollbackError {
    #[error("function {function} is not deployed (or not tagged as this stack's): run `up` first")]
    NotDeployed { function: String },
    #[error("function {function} has no alias `live` yet: run `up` first")]
    NoAlias { function: String },
    #[error("version {version} of function {function} does not exist; the kept versions are {kept}")]
    NoSuchVersion {
        function: String,
        version: String,
        kept: String,
    },
    #[error(
        "nothing to roll back to: `live` is at version {current}, the oldest kept version of function {function} \
        (keep more with function.keep_versions)"
    )]
    NothingBefore { function: String, current: String },
}

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    pub function: String,
    pub alias: String,
    pub from: String,
    pub to: String,
    pub code_sha256: String,
    pub last_modified: String,
    /// False when `live` already pointed at the version.
    pub moved: bool,
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.moved {
            writeln!(
                f,
                "Rolled back: alias {} of function {} now points at version {} (was {})",
                self.alias, self.function, self.to, self.from
            )?;
        } else {
            writeln!(
                f,
                "No change: alias {} of function {} already points at version {}",
                self.alias, self.function, self.to
            )?;
        }
        writeln!(f, "code sha256: {} (modified {})", self.code_sha256, self.last_modified)?;
        write!(f, "`up` points it at the config's version again")
    }
}

/// The version to roll back to: `to`, else the newest one before the current.
pub fn choose(function: &str, live: &version::Live, to: Option<&str>) -> Result<version::VersionLive, RollbackError> {
    let current = live.alias.clone().ok_or_else(|| RollbackError::NoAlias {
        function: function.to_string(),
    })?;
    if let Some(to) = to {
        return live.find(to).cloned().ok_or_else(|| RollbackError::NoSuchVersion {
            function: function.to_string(),
            version: to.to_string(),
            kept: live
                .published
                .iter()
                .map(|v| v.version.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let n = |v: &str| v.parse::<u64>().unwrap_or(0);
    live.published
        .iter()
        .rev()
        .find(|v| n(&v.version) < n(&current))
        .cloned()
        .ok_or(RollbackError::NothingBefore {
            function: function.to_string(),
            current,
        })
}

/// `rollback`: moves `live`; reads the versions and alias, then one UpdateAlias.
pub async fn run(config: &Config, args: &RollbackArgs, progress: &Progress) -> anyhow::Result<Rollback> {
    let ctx = Context::connect(config.region.as_deref(), progress.clone())
        .await
        .context("connecting to AWS")?;
    let stack = Stack::new(config, &ctx);
    let name = stack.function_name().to_string();
    let (owned, versions) = tokio::try_join!(function::read(&ctx, &stack), version::read(&ctx, &stack))
        .with_context(|| format!("reading the versions of function {name}"))?;
    let not_deployed = || RollbackError::NotDeployed { function: name.clone() };
    let versions = match (owned, versions) {
        (Some(f), Some(v)) if stack.owns(&f.tags) => v,
        _ => return Err(not_deployed().into()),
    };
    let target = choose(&name, &versions, args.to.as_deref())?;
    let from = versions.alias.clone().unwrap_or_default();
    let moved = from != target.version;
    if moved {
        version::point_alias(&ctx, &stack, &target.version, true)
            .await
            .with_context(|| format!("rolling back function {name}"))?;
    }
    Ok(Rollback {
        function: name,
        alias: stack.alias_name().to_string(),
        from,
        to: target.version,
        code_sha256: target.code_sha256,
        last_modified: target.last_modified,
        moved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(alias: &str, versions: &[&str]) -> version::Live {
        version::Live {
            latest: None,
            published: versions
                .iter()
                .map(|v| version::VersionLive {
                    version: v.to_string(),
                    code_sha256: String::new(),
                    last_modified: String::new(),
                    fingerprint: String::new(),
                })
                .collect(),
            alias: Some(alias.into()),
            other_aliases: Default::default(),
        }
    }

    #[test]
    fn picks_the_previous_or_the_given_version_or_says_why_not() {
        let l = live("4", &["2", "3", "4"]);
        assert_eq!(choose("f", &l, None).unwrap().version, "3");
        assert_eq!(choose("f", &l, Some("2")).unwrap().version, "2");
        let err = choose("f", &l, Some("1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "version 1 of function f does not exist; the kept versions are 2, 3, 4"
        );
        let err = choose("f", &live("2", &["2", "3"]), None).unwrap_err();
        assert!(matches!(err, RollbackError::NothingBefore { .. }), "{err}");
    }
}
