//! `up --local`: the whole stack on this machine, in the foreground until Ctrl-C; the options come
//! from the command line, the stack from `crate::local`.

use crate::cli::UpArgs;
use crate::config::Config;
use crate::local::{self, LocalOptions};
use crate::progress::Progress;

/// Runs the local stack of `config` with the options of `args`.
pub async fn run(config: &Config, args: UpArgs, progress: &Progress) -> anyhow::Result<()> {
    let opts = LocalOptions {
        port: args.port,
        dynamodb_endpoint: args.dynamodb_endpoint,
        sqs_endpoint: args.sqs_endpoint,
        watch: args.watch,
        store: local::redis_store::resolve(args.store, args.redis_url.as_deref())?,
        redis_url: args.redis_url,
        hosts: oncely_local::hosts::AllowedHosts::new(&args.allow_host)?,
    };
    local::run(config, opts, progress).await
}
