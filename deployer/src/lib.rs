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
pub mod logs;
pub mod package;
pub mod progress;
pub mod report;
pub mod resources;
pub mod rollback;
pub mod secret;
pub mod stack;
pub mod status;
pub mod terminal;
pub mod token;

use serde::Serialize;

use crate::cli::{Cli, Command, Output};
use crate::config::Config;
use crate::progress::Progress;

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = Progress::new(cli.global.quiet);
    let output = cli.global.output;
    // Read only by the commands that need it (`schema` and `completions` do not).
    let path = cli.global.config;
    let load_config = || Config::load(&path);
    match cli.command {
        Command::Package => print(output, &package::build_for_config(&load_config()?, &progress)?),
        Command::Plan(args) => print(output, &commands::plan(&load_config()?, &args, &progress).await?),
        Command::Up(args) if args.local => {
            let opts = local::LocalOptions {
                port: args.port,
                dynamodb_endpoint: args.dynamodb_endpoint,
                watch: args.watch,
                store: local::redis_store::resolve(args.store, args.redis_url.as_deref())?,
                redis_url: args.redis_url,
                hosts: local::hosts::AllowedHosts::new(&args.allow_host)?,
            };
            local::run(&load_config()?, opts, &progress).await
        }
        Command::Up(args) => print(output, &commands::up(&load_config()?, &args, &progress).await?),
        Command::Down(args) => print(output, &commands::down(&load_config()?, &args, &progress).await?),
        Command::SyncEndpoint => print(output, &commands::sync_endpoint(&load_config()?, &progress).await?),
        Command::Token(args) => token::run(&load_config()?, &args).await,
        Command::Schema => print_json(config::json_schema()),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut command, "deployer", &mut std::io::stdout());
            Ok(())
        }
        Command::Logs(args) => logs::run(&load_config()?, &args, output, &progress).await,
        Command::Rollback(args) => print(output, &rollback::run(&load_config()?, &args, &progress).await?),
        Command::Status => print(output, &status::run(&load_config()?, &progress).await?),
    }
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print<T: Serialize + std::fmt::Display>(output: Output, value: &T) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        // Reports carry names and values AWS returned: shown, never obeyed by the terminal.
        Output::Text => println!("{}", terminal::printable(&value.to_string())),
    }
    Ok(())
}
