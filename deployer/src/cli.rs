//! Command-line arguments (clap), kept apart from the YAML config structs, and the one question
//! the command line asks: `down`'s confirmation.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The examples at the end of `--help`.
const AFTER_HELP: &str = "Examples:
  cargo run -- up --local           the whole stack on this machine, no AWS account
  cargo run -- plan                 show what `up` would change
  cargo run -- up                   deploy or update the stack
  cargo run -- up --output json     the result as JSON
  cargo run -- down --yes           delete the stack (keeps a table holding orders)
  cargo run -- status               what is live, and whether it differs from the config
  cargo run -- up --stage pr-123    a stack of its own, per developer or pull request
  cargo run -- stages               this app's stages in the account and region
  cargo run -- rollback             point `live` back at the previous version
  cargo run -- package              build and zip the function only
  cargo run -- token --sub alice    a token for the running `up --local` stack (api.auth: cognito)
  deployer new payments             a new workspace with an idempotent function, ready for `up --local`";

/// Converge an idempotent HTTP API on AWS Lambda from one YAML file.
///
/// The stack is a DynamoDB table (TTL on), a least-privilege IAM role, a log group, the Lambda
/// function (provided.al2023, built from the package `function.package` names) and an API Gateway HTTP API.
/// Every resource is named `{app}-{stage}` and tagged `managed-by=oncely`.
///
/// AWS access comes from the usual places: AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID/
/// AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL (e.g. an emulator).
#[derive(Debug, Parser)]
#[command(
    name = "deployer",
    version,
    propagate_version = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The stack's YAML file.
    #[arg(
        long,
        short,
        global = true,
        env = "ONCELY_CONFIG",
        default_value = "config/stack.yaml",
        value_name = "PATH"
    )]
    pub config: PathBuf,
    /// Work on this stage instead of the config's `stage` (a stack per developer or pull request:
    /// `up --stage pr-123`); names, tags, outputs and the endpoint written for the page follow it.
    #[arg(long, global = true, env = "ONCELY_STAGE", value_name = "NAME")]
    pub stage: Option<String>,
    /// How to print the result.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Print no progress, only the result and warnings.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout (progress stays on stderr).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the stack so it matches the config; changes only what differs.
    Up(UpArgs),
    /// Show what `up` would create, update or delete; changes nothing.
    Plan(PlanArgs),
    /// Delete the stack's resources (only those tagged as this app/stage's), in dependency order.
    Down(DownArgs),
    /// Look up the deployed endpoint and write VITE_API_URL into the frontend's env file.
    SyncEndpoint,
    /// Build the function as `bootstrap` for provided.al2023 and zip it.
    Package,
    /// Print a token the running `up --local` stack accepts (`api.auth: cognito`), for `sub`.
    Token(TokenArgs),
    /// Print the JSON Schema of the stack's YAML file (editors complete and check it with this).
    Schema,
    /// Print the shell completion script for this command.
    Completions(CompletionsArgs),
    /// Print the function's CloudWatch Logs, newest last (handler JSON lines rendered readably).
    Logs(LogsArgs),
    /// Point the alias `live` back at the previous (or given) version; builds and uploads nothing.
    Rollback(RollbackArgs),
    /// Show what is live: endpoint, version, kept versions, table, drift from the config, alarms.
    Status,
    /// List this app's stages that exist in the account and region (found by their tags), each
    /// with its endpoint, live version and last update.
    Stages,
    /// Write a new workspace: one idempotent function on the `oncely` crate, its stack config, a README.
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The package and app name: a-z, 0-9 and -, 1..32 characters, starting with a letter.
    pub name: String,
    /// Where to write it (default: ./NAME); must not exist, or be empty.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Take `oncely` from this checkout's `oncely/` folder (default: the one this deployer was built from).
    #[arg(long, value_name = "DIR", conflicts_with = "oncely_git")]
    pub oncely_path: Option<PathBuf>,
    /// Take `oncely` from this git repository.
    #[arg(long, value_name = "URL")]
    pub oncely_git: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `deployer completions bash > ~/.local/share/bash-completion/completions/deployer`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// How far back to start: 30s, 10m, 1h, 1h30m, 2d.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub since: String,
    /// Keep polling for new events until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    /// Only events containing this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Only events of this Lambda request id.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The published version to point `live` at (default: the one before the current).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The caller (the token's `sub` and `username`): letters, digits and . _ @ + -, 1..128.
    #[arg(long)]
    pub sub: String,
    /// How long the token is valid: 30s, 10m, 1h, 1h30m (1 s to 24 h).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub ttl: String,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Deploy this prebuilt zip instead of building the function.
    #[arg(long, value_name = "ZIP", conflicts_with = "local")]
    pub zip: Option<PathBuf>,
    /// Run the whole stack on this machine instead of AWS (no account needed), until Ctrl-C.
    #[arg(long)]
    pub local: bool,
    /// With --local: the port of the local HTTP API on 127.0.0.1.
    #[arg(long, default_value_t = 3000, requires = "local")]
    pub port: u16,
    /// With --local: use this DynamoDB endpoint instead of starting DynamoDB Local.
    #[arg(long, value_name = "URL", requires = "local")]
    pub dynamodb_endpoint: Option<String>,
    /// With --local and `queues:`: use this SQS endpoint instead of starting moto's server.
    #[arg(long, value_name = "URL", requires = "local")]
    pub sqs_endpoint: Option<String>,
    /// With --local: rebuild when the function's sources change (cargo's dev profile) and move the
    /// execution environments to the new build one by one, keeping requests and data.
    #[arg(long, requires = "local")]
    pub watch: bool,
    /// With --local: where the idempotency records live: the table (dynamodb, the default) or
    /// Redis (a local redis-server on a free port, or --redis-url).
    #[arg(long, value_enum, requires = "local")]
    pub store: Option<crate::local::redis_store::LocalStore>,
    /// With --local: also answer requests whose Host is NAME (repeatable; `.example.com` allows
    /// its subdomains too). Only this machine's names (localhost, 127.0.0.1, [::1]) are answered
    /// otherwise, so that a web page cannot reach the local API through DNS rebinding.
    #[arg(long, value_name = "NAME", requires = "local")]
    pub allow_host: Vec<String>,
    /// With --local: keep the idempotency records in the Redis at this URL
    /// (redis://[user:password@]host[:port][/db] or rediss://; implies --store redis).
    #[arg(long, value_name = "URL", requires = "local")]
    pub redis_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Compare against this prebuilt zip instead of building the function.
    #[arg(long, value_name = "ZIP")]
    pub zip: Option<PathBuf>,
    /// Do not build: report the code as unknown rather than comparing its SHA-256.
    #[arg(long, conflicts_with = "zip")]
    pub skip_build: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Do not ask for confirmation (needed when there is no terminal to ask on).
    #[arg(long, short)]
    pub yes: bool,
    /// Also delete a table that still holds orders or has deletion protection on (turned off
    /// first), and a user pool that still has users.
    #[arg(long)]
    pub delete_data: bool,
}

/// Asks on the terminal before `down` deletes `doomed` (in `region` of `account`). Fails when
/// there is no terminal to ask on, or when the answer is not yes.
pub fn confirm_down(region: &str, account: &str, doomed: &[String]) -> anyhow::Result<()> {
    let list: String = doomed.iter().map(|d| format!("\n  - {d}")).collect();
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!(
            "`down` would delete, in {region} of account {account}:{list}\n\
            There is no terminal to confirm on: pass --yes to go ahead"
        );
    }
    eprint!("This deletes, in {region} of account {account}:{list}\nDelete? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
        bail!("cancelled: nothing was deleted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Each shell's script names the binary and every subcommand (clap's generator, from `Cli`).
    #[test]
    fn completions_cover_every_subcommand() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert!(names.contains(&"completions".to_string()), "{names:?}");
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::PowerShell,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "deployer", &mut script);
            let script = String::from_utf8(script).unwrap();
            for name in &names {
                assert!(script.contains(name.as_str()), "{shell} completions miss `{name}`");
            }
            let config_flag = match shell {
                clap_complete::Shell::Fish => "-l config",
                _ => "--config",
            };
            assert!(script.contains(config_flag), "{shell} completions miss --config");
        }
        let err = Cli::try_parse_from(["deployer", "completions", "tcsh"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    }
}
