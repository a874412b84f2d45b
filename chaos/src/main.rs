//! `chaos`: a seeded chaos campaign against the real `up --local` stack. DynamoDB Local sits behind
//! a fault-injecting proxy with a seeded random policy, `bootstrap` environments are SIGKILLed
//! mid-invocation, real clients retry with backoff, and at the end the table is scanned directly
//! and every invariant is checked. Prints the faults and the violations; exits 1 on any.
//!
//! `cargo build -p deployer && cargo run -p chaos -- --seed 7 --requests 2000`

mod causes;
mod check;
mod clients;
mod faults;
mod stack;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use oncely::DynamoDbPersistence;
use testkit::FaultProxy;

/// A seeded chaos campaign against the `up --local` stack.
#[derive(Debug, Parser)]
#[command(name = "chaos")]
struct Args {
    /// Seed of every random choice (faults, workload, backoff, kills): the same seed replays the campaign.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// How many client requests (a raced key counts once per racer; retries are not counted).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// The share of store calls that get a fault (0 to 1).
    #[arg(long, default_value_t = 0.2)]
    fault_rate: f64,
    /// Clients (keys in flight) at once.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// SIGKILL a random `bootstrap` every N HTTP attempts (0: never).
    #[arg(long, default_value_t = 50)]
    kill_every: usize,
    /// The deployer binary (default: `deployer` next to this executable).
    #[arg(long)]
    deployer: Option<PathBuf>,
    /// Echo the stack's output to stderr.
    #[arg(long)]
    verbose: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    // Ctrl-C drops the campaign, and with it the stack (which stops `deployer up --local`).
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = campaign(&args) => outcome,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    match outcome {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::from(1),
        Err(err) => {
            eprintln!("chaos: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Runs the campaign; returns the number of violations.
async fn campaign(args: &Args) -> anyhow::Result<usize> {
    let started = Instant::now();
    let deployer = match &args.deployer {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("this executable's path")?
            .with_file_name("deployer"),
    };
    anyhow::ensure!(
        deployer.exists(),
        "no deployer binary at {} (build it with `cargo build -p deployer`, or pass --deployer)",
        deployer.display()
    );
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the workspace root")?
        .to_path_buf();

    let dynamodb = tokio::task::spawn_blocking(testkit::dynamodb_local)
        .await
        .context("starting DynamoDB Local")?;
    let proxy = FaultProxy::start(&dynamodb.endpoint()).await;
    let (endpoint, deployer_path, verbose) = (proxy.endpoint(), deployer.clone(), args.verbose);
    let stack =
        tokio::task::spawn_blocking(move || stack::Stack::start(&deployer_path, &workspace, &endpoint, verbose))
            .await
            .context("starting the local stack")??;
    let stack = Arc::new(stack);

    // Faults from now on (the table was made through the proxy without any).
    let counts = faults::Counts::default();
    proxy.set_policy(faults::policy(args.seed, args.fault_rate, counts.clone()));
    let kill_rng = Mutex::new(fastrand::Rng::with_seed(args.seed ^ 0x0c1a_0511));
    let (kill_stack, kill_counts) = (stack.clone(), counts.clone());
    let kill = Box::new(move || {
        let pids = kill_stack.live_bootstraps();
        if pids.is_empty() {
            return;
        }
        let pid = pids[kill_rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .usize(..pids.len())];
        stack::signal(pid, libc::SIGKILL);
        kill_counts.add("sigkill_bootstrap");
    });
    let workload = clients::Workload {
        seed: args.seed,
        requests: args.requests,
        clients: args.clients,
        kill_every: args.kill_every,
    };
    let (logs, attempts) = clients::run(&stack.endpoint, &workload, kill).await;

    // Past every in-progress expiry, with the faults off, then read the table directly.
    proxy.clear_policy();
    tokio::time::sleep(Duration::from_secs(stack::FUNCTION_TIMEOUT_S + 1)).await;
    let direct = testkit::dynamodb_client(&dynamodb.endpoint(), "oncelylocal", None);
    let items = check::scan(&direct, &stack.table)
        .await
        .with_context(|| format!("scanning table {}", stack.table))?;
    let persistence = DynamoDbPersistence::new(direct, stack.table.clone(), oncely::config::DEFAULT_TTL_ATTRIBUTE);
    let causes = causes::parse(&stack.lines());
    let violations = check::check(&stack.table, &logs, &items, &persistence, &causes);

    println!(
        "chaos campaign: seed {}, {} requests ({attempts} HTTP attempts), {} keys, fault rate {}, \
         {} clients, kill every {}, {:.1} s",
        args.seed,
        args.requests,
        logs.len(),
        args.fault_rate,
        args.clients,
        args.kill_every,
        started.elapsed().as_secs_f64()
    );
    println!("{:<58} {:>8}", "fault", "count");
    println!("{:<58} {:>8}", "pass (store calls without a fault)", counts.get("pass"));
    for (kind, _) in faults::KINDS {
        println!("fault {:<52} {:>8}", kind, counts.get(kind));
    }
    println!(
        "fault {:<52} {:>8}",
        "sigkill_bootstrap",
        counts.get("sigkill_bootstrap")
    );
    let mut statuses = std::collections::BTreeMap::new();
    for attempt in logs.values().flat_map(|log| &log.attempts) {
        let status = match attempt.status {
            Some(500) if attempt.body == clients::GATEWAY_ERROR_BODY => "500 (gateway)".to_string(),
            Some(s) => s.to_string(),
            None => "no answer".to_string(),
        };
        *statuses.entry(status).or_insert(0usize) += 1;
    }
    println!("{:<58} {:>8}", "status seen by clients", "attempts");
    for (status, n) in &statuses {
        println!("status {status:<51} {n:>8}");
    }
    let g = &violations.gateway_errors;
    println!("{:<58} {:>8}", "cause of the gateway's 500s", "attempts");
    println!("cause {:<52} {:>8}", "SIGKILL of the environment", g.killed);
    println!(
        "cause {:<52} {:>8}",
        "function timeout at the deadline edge", g.timed_out
    );
    println!("cause {:<52} {:>8}", "anything else", g.other);
    let d = &violations.deadline_edge;
    println!("{:<58} {:>8}", "deadline edge (work >= 1.5 s of a 3 s timeout)", "keys");
    println!("edge {:<53} {:>8}", "keys", d.keys);
    println!(
        "edge {:<53} {:>8}",
        "an error (500, 503, no answer) before their 201", d.error_first
    );
    println!(
        "edge {:<53} {:>8}",
        "committed while the client saw an error, then replayed", d.committed_then_replayed
    );
    println!("{:<58} {:>8}", "invariant", "violations");
    for invariant in check::INVARIANTS {
        println!(
            "invariant {:<48} {:>8}",
            invariant,
            violations.counts.get(invariant).copied().unwrap_or(0)
        );
    }
    for example in &violations.examples {
        println!("  violation: {example}");
    }
    let total = violations.total();
    println!(
        "{}: {total} violation(s). Replay: cargo run -p chaos -- --seed {} --requests {} \
         --fault-rate {} --clients {} --kill-every {}",
        if total == 0 { "PASS" } else { "FAIL" },
        args.seed,
        args.requests,
        args.fault_rate,
        args.clients,
        args.kill_every
    );
    Ok(total)
}
