//! `completions SHELL`: clap's completion script for the deployer. Needs no config.

use crate::cli::{Cli, CompletionsArgs};

/// Writes the script for `args.shell` to stdout.
pub fn run(args: &CompletionsArgs) {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "deployer", &mut std::io::stdout());
}
