//! Cold start of packaged `bootstrap` binaries: the time from spawning the process to its first
//! `GET /runtime/invocation/next` on the local Runtime API, and its peak RSS at that moment.
//!
//! `cargo run -p deployer --example cold_start -- [--runs N] LABEL=PATH [LABEL=PATH ...]`
//! (a PATH may be a deployment zip, a bare binary, or a `.mjs`/`.js` script run by `node`, whose
//! size is then its folder's, `node_modules` included). Binaries take turns, run by run, so
//! machine load hits them alike. Prints a table; it measures, it never asserts.
//!
//! With `--first-request [--requests N]`, it times instead the first response after a cold start
//! against a warm request, over TLS, with and without the store connection opened during init
//! (`first_request.rs`).

mod first_request;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oncely_local::runtime_api::{self, Call};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What is started: a program and its arguments.
struct Start {
    program: PathBuf,
    args: Vec<PathBuf>,
}

impl Start {
    /// The command that starts it as Lambda would, against the Runtime API at `api`: an empty
    /// environment but Lambda's own variables, output discarded; the caller adds the store's.
    fn command(&self, api: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", api),
                ("AWS_LAMBDA_FUNCTION_NAME", "cold-start"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/cold-start"),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start"),
                ("TZ", ":UTC"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// A local Runtime API for one process: its address, the calls it receives, its server task.
async fn serve_runtime_api() -> anyhow::Result<(String, mpsc::Receiver<Call>, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let (tx, calls) = mpsc::channel(4);
    Ok((api, calls, tokio::spawn(runtime_api::serve(listener, tx))))
}

/// One start: time to the first `next` and the peak RSS (VmHWM) then, in KiB.
async fn start_once(start: &Start) -> anyhow::Result<(Duration, u64)> {
    let binary = start.program.as_path();
    let (api, mut rx, server) = serve_runtime_api().await?;
    let started = Instant::now();
    let mut child = start
        .command(&api)
        .envs([
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            // Never contacted: the measurement ends before the first invocation, and the store's
            // warm-up is off (this is the process's own start; `--first-request` times the warm-up).
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9"),
            ("IDEMPOTENCY_WARM_UP_MS", "0"),
            ("TABLE_NAME", "orders"),
        ])
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))?;
    let call = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .with_context(|| format!("{} did not ask for an invocation within 10 s", binary.display()))?;
    let elapsed = started.elapsed();
    let Some(Call::Next(_)) = call else {
        bail!("{}: the first Runtime API call was not `next`", binary.display());
    };
    let hwm = child.id().map_or(0, peak_rss_kib);
    child.kill().await?;
    server.abort();
    Ok((elapsed, hwm))
}

/// `VmHWM` of a running process, in KiB (0 when unreadable).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The bytes of every file under `dir`.
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// What to start for PATH, and its size: a script runs under `node`; the `bootstrap` inside a
/// zip is extracted next to it.
fn binary_for(path: &Path) -> anyhow::Result<(Start, u64)> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if path.extension().is_some_and(|e| e == "mjs" || e == "js") {
        let node = emulators::which("node").context("node is not on PATH")?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let start = Start {
            program: node,
            args: vec![path.to_path_buf()],
        };
        return Ok((start, tree_size(dir)));
    }
    let bare = |program: PathBuf| Start {
        program,
        args: Vec::new(),
    };
    if path.extension().is_none_or(|e| e != "zip") {
        return Ok((bare(path.to_path_buf()), size));
    }
    let file = std::fs::File::open(path)?;
    let mut archive = zip::ZipArchive::new(file).with_context(|| format!("reading the zip {}", path.display()))?;
    let mut entry = archive.by_name("bootstrap").context("the zip has no `bootstrap`")?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes)?;
    let out = path.with_extension("bootstrap");
    std::fs::write(&out, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok((bare(out), size))
}

fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
    values.sort_unstable();
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let mut runs = 15;
    let mut first_request = false;
    let mut requests = 20;
    let mut targets = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args
                .next()
                .context("--runs needs a number")?
                .parse()
                .context("--runs")?;
        } else if arg == "--requests" {
            requests = args
                .next()
                .context("--requests needs a number")?
                .parse()
                .context("--requests")?;
        } else if arg == "--first-request" {
            first_request = true;
        } else {
            let (label, path) = arg.split_once('=').context("arguments are LABEL=PATH")?;
            let (binary, size) = binary_for(Path::new(path))?;
            targets.push((label.to_string(), binary, size));
        }
    }
    if targets.is_empty() || runs == 0 || requests == 0 {
        bail!("usage: cold_start [--runs N] [--first-request [--requests N]] LABEL=PATH [LABEL=PATH ...]");
    }
    if first_request {
        return first_request::measure(&targets, runs, requests).await;
    }
    let mut times = vec![Vec::new(); targets.len()];
    let mut rss = vec![Vec::new(); targets.len()];
    // One unmeasured start each warms the page cache.
    for (_, binary, _) in &targets {
        start_once(binary).await?;
    }
    for _ in 0..runs {
        for (i, (_, binary, _)) in targets.iter().enumerate() {
            let (elapsed, hwm) = start_once(binary).await?;
            times[i].push(elapsed);
            rss[i].push(hwm);
        }
    }
    println!("| build | size (bytes) | cold start median of {runs} (ms) | min..max (ms) | peak RSS at ready (MiB) |");
    println!("|---|---:|---:|---:|---:|");
    for (i, (label, _, size)) in targets.iter().enumerate() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (min, max) = (times[i].iter().min().copied(), times[i].iter().max().copied());
        println!(
            "| {label} | {size} | {:.2} | {:.2}..{:.2} | {:.1} |",
            ms(median(times[i].clone())),
            ms(min.unwrap_or_default()),
            ms(max.unwrap_or_default()),
            median(rss[i].clone()) as f64 / 1024.0
        );
    }
    Ok(())
}
