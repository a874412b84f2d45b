//! `plan [--skip-build | --zip ZIP]`: reads the live stack and reports what `up` would change.

use anyhow::Context as _;

use super::connect;
use crate::cli::PlanArgs;
use crate::config::Config;
use crate::engine;
use crate::package::{self, Artifact};
use crate::progress::Progress;
use crate::report::Report;

/// `plan`: what `up` would change.
pub async fn run(config: &Config, args: &PlanArgs, progress: &Progress) -> anyhow::Result<Report> {
    super::check_redis_secret(config)?;
    let code = match (&args.zip, args.skip_build) {
        (Some(zip), _) => Some(Artifact::from_zip(zip)?),
        (None, true) => None,
        (None, false) => Some(package::build_for_config(config, progress)?),
    };
    let (ctx, stack) = connect(config, progress).await?;
    let report = engine::plan(&ctx, &stack, code.as_ref())
        .await
        .with_context(|| format!("planning stack {}", stack.name))?;
    Ok(report)
}
