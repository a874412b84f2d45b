//! `deployer`: parses the command line, runs the command, prints the whole cause chain on failure.
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = deployer::cli::Cli::parse();
    match deployer::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
