//! `up --local`: the whole stack on this machine (DynamoDB Local, the real `bootstrap` behind an
//! embedded Lambda Runtime API, an HTTP API emulator). Being written (issue 4).

use crate::config::Config;
use crate::progress::Progress;

/// Options of `up --local` beyond the config.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Port of the local HTTP API on 127.0.0.1.
    pub port: u16,
    /// Use this DynamoDB instead of starting DynamoDB Local.
    pub dynamodb_endpoint: Option<String>,
}

/// Runs the local stack in the foreground until Ctrl-C.
pub async fn run(_config: &Config, _opts: LocalOptions, _progress: &Progress) -> anyhow::Result<()> {
    anyhow::bail!("`up --local` is not available yet")
}
