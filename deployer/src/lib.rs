//! The deployer: converges an idempotent HTTP API stack (DynamoDB, IAM, Logs, Lambda, API Gateway
//! HTTP API) from one YAML file. `main.rs` only parses arguments and calls [`run`].

pub mod build_cache;
pub mod build_lock;
pub mod cli;
pub mod commands;
/// The stack's config, a crate of its own (`stack-config/`).
pub use oncely_config as config;
pub mod context;
pub mod engine;
pub mod error;
pub mod frontend_env;
pub mod http_client;
pub mod local;
pub mod package;
pub mod progress;
pub mod report;
pub mod resources;
pub mod stack;
pub mod terminal;

use serde::Serialize;

use crate::cli::{Cli, Command, Output};
use crate::progress::Progress;

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = Progress::new(cli.global.quiet);
    let output = cli.global.output;
    // Read only by the commands that need it (`schema` and `completions` do not).
    let path = cli.global.config;
    let stage = cli.global.stage;
    let load_config = || commands::load_config(&path, stage.as_deref());
    match cli.command {
        Command::Package => print(output, &commands::package::run(&load_config()?, &progress)?),
        Command::Plan(args) => print(output, &commands::plan::run(&load_config()?, &args, &progress).await?),
        Command::Up(args) if args.local => commands::local::run(&load_config()?, args, &progress).await,
        Command::Up(args) => print(output, &commands::up::run(&load_config()?, &args, &progress).await?),
        Command::Down(args) => print(output, &commands::down::run(&load_config()?, &args, &progress).await?),
        Command::SyncEndpoint => print(output, &commands::sync_endpoint::run(&load_config()?, &progress).await?),
        Command::Token(args) => commands::token::run(&load_config()?, &args).await,
        Command::Schema => print_json(commands::schema::run()),
        Command::Completions(args) => {
            commands::completions::run(&args);
            Ok(())
        }
        Command::Logs(args) => commands::logs::run(&load_config()?, &args, output, &progress).await,
        Command::Rollback(args) => print(
            output,
            &commands::rollback::run(&load_config()?, &args, &progress).await?,
        ),
        Command::Status => print(output, &commands::status::run(&load_config()?, &progress).await?),
        Command::Stages => print(output, &commands::stages::run(&load_config()?, &progress).await?),
        Command::New(args) => print(output, &commands::new::run(&args, &progress)?),
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
