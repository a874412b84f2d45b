//! The deployer: converges an idempotent HTTP API stack (DynamoDB, IAM, Logs, Lambda, API Gateway
//! HTTP API) from one YAML file. `main.rs` only parses arguments and calls [`run`].

pub mod cli;
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

use std::io::{IsTerminal, Write};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::cli::{Cli, Command, Output};
use crate::config::Config;
use crate::context::Context;
use crate::package::{Artifact, BuildOptions};
use crate::progress::Progress;
use crate::stack::Stack;

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = Progress::new(cli.global.quiet);
    let output = cli.global.output;
    let config = Config::load(&cli.global.config)?;
    match cli.command {
        Command::Package => {
            let artifact = build_package(&config, &progress)?;
            print(output, &artifact)
        }
        Command::Plan(args) => {
            let code = match (&args.zip, args.skip_build) {
                (Some(zip), _) => Some(Artifact::from_zip(zip)?),
                (None, true) => None,
                (None, false) => Some(build_package(&config, &progress)?),
            };
            let (ctx, stack) = connect(&config, &progress).await?;
            let report = engine::plan(&ctx, &stack, code.as_ref())
                .await
                .with_context(|| format!("planning stack {}", stack.name))?;
            print(output, &report)
        }
        Command::Up(args) if args.local => {
            let opts = local::LocalOptions {
                port: args.port,
                dynamodb_endpoint: args.dynamodb_endpoint,
            };
            local::run(&config, opts, &progress).await
        }
        Command::Up(args) => {
            // Build first: a failed build leaves nothing half-created.
            let code = match &args.zip {
                Some(zip) => Artifact::from_zip(zip)?,
                None => build_package(&config, &progress)?,
            };
            let (ctx, stack) = connect(&config, &progress).await?;
            let report = engine::up(&ctx, &stack, &code, Default::default())
                .await
                .with_context(|| {
                    format!(
                        "deploying stack {} (re-run `up` to continue: it picks up where it stopped)",
                        stack.name
                    )
                })?;
            if let Some(endpoint) = &report.endpoint {
                write_endpoint(&config, endpoint, &progress)?;
            }
            print(output, &report)
        }
        Command::Down(args) => {
            let (ctx, stack) = connect(&config, &progress).await?;
            let live = engine::read(&ctx, &stack)
                .await
                .with_context(|| format!("reading stack {}", stack.name))?;
            let doomed = engine::deletable(&stack, &live);
            if !doomed.is_empty() && !args.yes {
                let list: String = doomed.iter().map(|d| format!("\n  - {d}")).collect();
                if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
                    bail!(
                        "`down` would delete, in {} of account {}:{list}\n\
                        There is no terminal to confirm on: pass --yes to go ahead",
                        stack.region,
                        stack.account
                    );
                }
                eprint!(
                    "This deletes, in {} of account {}:{list}\nDelete? [y/N] ",
                    stack.region, stack.account
                );
                std::io::stderr().flush().ok();
                let mut answer = String::new();
                std::io::stdin()
                    .read_line(&mut answer)
                    .context("reading the confirmation")?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
                    bail!("cancelled: nothing was deleted");
                }
            }
            let report = engine::down(&ctx, &stack, &live, args.delete_data)
                .await
                .with_context(|| format!("deleting stack {} (re-run `down` to continue)", stack.name))?;
            print(output, &report)
        }
        Command::SyncEndpoint => {
            let (ctx, stack) = connect(&config, &progress).await?;
            let api = resources::http_api::read(&ctx, &stack)
                .await
                .with_context(|| format!("looking up the HTTP API of {}", stack.name))?;
            let Some(api) = api.filter(|a| stack.owns(&a.tags)) else {
                bail!(
                    "stack {} is not deployed in {} (no HTTP API named {} with oncely's tags): \
                    run `cargo run -- up` first, or `cargo run -- up --local` for a local stack",
                    stack.name,
                    stack.region,
                    stack.api_name()
                );
            };
            write_endpoint(&config, &api.endpoint, &progress)?;
            #[derive(Serialize)]
            struct Synced<'a> {
                endpoint: &'a str,
                env_file: &'a std::path::Path,
            }
            let synced = Synced {
                endpoint: &api.endpoint,
                env_file: &config.frontend.env_file,
            };
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&synced)?),
                Output::Text => println!(
                    "{}={} written to {}",
                    endpoint::VARIABLE,
                    api.endpoint,
                    config.frontend.env_file.display()
                ),
            }
            Ok(())
        }
    }
}

async fn connect(config: &Config, progress: &Progress) -> anyhow::Result<(Context, Stack)> {
    let ctx = Context::connect(config.region.as_deref(), progress.clone())
        .await
        .context("connecting to AWS")?;
    let stack = Stack::new(config, &ctx);
    Ok((ctx, stack))
}

fn build_package(config: &Config, progress: &Progress) -> anyhow::Result<Artifact> {
    let opts = BuildOptions::for_workspace(&config.function.package, config.function.architecture)?;
    let artifact = package::build(&opts, progress)
        .with_context(|| format!("packaging the `{}` crate", config.function.package))?;
    progress.info(format!(
        "package {} (sha256 {})",
        artifact.path.display(),
        artifact.sha256
    ));
    Ok(artifact)
}

/// Writes the endpoint into the frontend's env file (the same code for `up`, `up --local` and
/// `sync-endpoint`).
pub fn write_endpoint(config: &Config, endpoint: &str, progress: &Progress) -> anyhow::Result<()> {
    let path = &config.frontend.env_file;
    endpoint::write(path, endpoint).with_context(|| format!("writing {} to {}", endpoint::VARIABLE, path.display()))?;
    progress.info(format!("wrote {}={endpoint} to {}", endpoint::VARIABLE, path.display()));
    Ok(())
}

fn print<T: Serialize + std::fmt::Display>(output: Output, value: &T) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Text => println!("{value}"),
    }
    Ok(())
}
