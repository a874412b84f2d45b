//! `down [--yes] [--delete-data]`: deletes exactly the resources tagged as this app and stage's,
//! after a confirmation.

use anyhow::Context as _;

use super::connect;
use crate::cli::{self, DownArgs};
use crate::config::Config;
use crate::engine;
use crate::progress::Progress;
use crate::report::Report;

/// `down`: deletes what is ours, after a confirmation unless `--yes`.
pub async fn run(config: &Config, args: &DownArgs, progress: &Progress) -> anyhow::Result<Report> {
    let (ctx, stack) = connect(config, progress).await?;
    let live = engine::read(&ctx, &stack)
        .await
        .with_context(|| format!("reading stack {}", stack.name))?;
    let doomed = engine::deletable(&stack, &live);
    if !doomed.is_empty() && !args.yes {
        cli::confirm_down(&stack.region, &stack.account, &doomed)?;
    }
    let report = engine::down(&ctx, &stack, &live, args.delete_data)
        .await
        .with_context(|| format!("deleting stack {} (re-run `down` to continue)", stack.name))?;
    Ok(report)
}
