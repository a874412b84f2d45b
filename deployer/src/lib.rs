//! The deployer: converges an idempotent HTTP API stack (DynamoDB, IAM, Logs, Lambda, API Gateway
//! HTTP API) from one YAML file. `main.rs` only parses arguments and calls [`run`].

pub mod build_cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod local;
pub mod package;
pub mod progress;
pub mod report;
pub mod resources;
pub mod stack;
pub mod token;

use serde::Serialize;

use crate::cli::{Cli, Command, Output};
use crate::config::Config;
use crate::progress::Progress;

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = Progress::new(cli.global.quiet);
    let output = cli.global.output;
    let config = Config::load(&cli.global.config)?;
    match cli.command {
        Command::Package => print(output, &package::build_for_config(&config, &progress)?),
        Command::Plan(args) => print(output, &commands::plan(&config, &args, &progress).await?),
        Command::Up(args) if args.local => {
            let opts = local::LocalOptions {
                port: args.port,
                dynamodb_endpoint: args.dynamodb_endpoint,
                store: local::redis_store::resolve(args.store, args.redis_url.as_deref())?,
                redis_url: args.redis_url,
            };
            local::run(&config, opts, &progress).await
        }
        Command::Up(args) => print(output, &commands::up(&config, &args, &progress).await?),
        Command::Down(args) => print(output, &commands::down(&config, &args, &progress).await?),
        Command::SyncEndpoint => print(output, &commands::sync_endpoint(&config, &progress).await?),
        Command::Token(args) => token::run(&config, &args).await,
    }
}

fn print<T: Serialize + std::fmt::Display>(output: Output, value: &T) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Text => println!("{value}"),
    }
    Ok(())
}
