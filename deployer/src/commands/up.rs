//! `up [--zip ZIP]`: builds the function, converges the stack, and writes its endpoint for the
//! frontend. (`up --local` is `local.rs`.)

use anyhow::Context as _;

use super::connect;
use crate::cli::UpArgs;
use crate::config::Config;
use crate::engine;
use crate::frontend_env;
use crate::package::{self, Artifact};
use crate::progress::Progress;
use crate::report::Report;

/// `up`: converges the stack, then writes its endpoint for the frontend.
pub async fn run(config: &Config, args: &UpArgs, progress: &Progress) -> anyhow::Result<Report> {
    super::check_redis_secret(config)?;
    // Build first: a failed build leaves nothing half-created.
    let code = match &args.zip {
        Some(zip) => Artifact::from_zip(zip)?,
        None => package::build_for_config(config, progress)?,
    };
    let (ctx, stack) = connect(config, progress).await?;
    let report = engine::up(&ctx, &stack, &code, Default::default())
        .await
        .with_context(|| {
            format!(
                "deploying stack {} (re-run `up` to continue: it picks up where it stopped)",
                stack.name
            )
        })?;
    if let Some(endpoint) = &report.endpoint {
        frontend_env::write_to_frontend(config, endpoint, progress)?;
    }
    if let Some(auth) = &report.auth {
        frontend_env::write_auth_to_frontend(config, auth, progress)?;
    }
    Ok(report)
}
