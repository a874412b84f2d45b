//! The deployer's own timings against moto (run by `scripts/bench-deployer`): a fresh `up`, a no-op
//! `up`, `up --zip` with no change, `plan` and `down --delete-data`, each run 3 times, printed as a table of the
//! median wall time and the AWS calls (all, and mutating) a recording proxy in front of moto saw.
//!
//! Usage: `bench [DEPLOYER]` from the workspace root; DEPLOYER defaults to the `deployer` binary
//! next to this example's directory (the same cargo profile).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use testkit::FaultProxy;

const RUNS: usize = 3;

/// What one command cost: wall seconds, AWS calls and mutating calls.
struct Sample {
    seconds: f64,
    calls: usize,
    mutating: usize,
}

struct Bench {
    deployer: PathBuf,
    workspace: PathBuf,
    dir: testkit::TempDir,
    proxy: FaultProxy,
}

impl Bench {
    fn config(&self, app: &str) -> PathBuf {
        let shipped = std::fs::read_to_string(self.workspace.join("config/stack.yaml")).expect("config/stack.yaml");
        let yaml = shipped
            .replace("app: oncely", &format!("app: {app}"))
            .replace("stage: dev", "stage: bench")
            .replace(
                "env_file: frontend/.env.local",
                &format!("env_file: {}", self.dir.path().join(app).join(".env.local").display()),
            );
        let path = self.dir.path().join(format!("{app}.yaml"));
        std::fs::write(&path, yaml).expect("writing the bench config");
        path
    }

    /// (all calls, mutating calls) the proxy forwarded so far.
    fn counts(&self) -> (usize, usize) {
        let counts = self.proxy.counts();
        let passed = counts.iter().filter(|((kind, _), _)| kind == "pass");
        let all = passed.clone().map(|(_, n)| n).sum();
        let mutating = passed
            .filter(|((_, op), _)| testkit::is_mutating(op))
            .map(|(_, n)| n)
            .sum();
        (all, mutating)
    }

    fn run(&self, app: &str, args: &[&str]) -> Sample {
        let config = self.config(app);
        let (calls, mutating) = self.counts();
        let started = Instant::now();
        let out = Command::new(&self.deployer)
            .args(args)
            .arg("--quiet")
            .arg("--config")
            .arg(&config)
            .current_dir(&self.workspace)
            .env("AWS_ENDPOINT_URL", self.proxy.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", testkit::REGION)
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("the deployer runs");
        let seconds = started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "deployer {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (calls_after, mutating_after) = self.counts();
        Sample {
            seconds,
            calls: calls_after - calls,
            mutating: mutating_after - mutating,
        }
    }
}

fn median(samples: &[Sample]) -> (f64, String, String) {
    let mut seconds: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
    seconds.sort_by(f64::total_cmp);
    let spread = |f: fn(&Sample) -> usize| {
        let mut v: Vec<usize> = samples.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v.iter().map(usize::to_string).collect::<Vec<_>>().join("/")
    };
    (seconds[seconds.len() / 2], spread(|s| s.calls), spread(|s| s.mutating))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let here = std::env::current_exe().expect("this example's path");
    let default = here.parent().and_then(Path::parent).map(|d| d.join("deployer"));
    let deployer = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .or(default)
        .expect("the deployer's path");
    let workspace = std::env::current_dir().expect("the workspace root");
    let moto = testkit::moto();
    let proxy = FaultProxy::start_with(&moto.endpoint(), Arc::new(testkit::classify_aws)).await;
    let bench = Bench {
        deployer,
        workspace,
        dir: testkit::temp_dir(),
        proxy,
    };
    // Blocking runs of the deployer keep off the runtime the proxy serves on.
    let bench = Arc::new(bench);
    let b = bench.clone();
    let rows = tokio::task::spawn_blocking(move || measure(&b))
        .await
        .expect("the bench ran");
    println!("deployer: {}", bench.deployer.display());
    println!(
        "{:<24} {:>10} {:>10} {:>14}",
        "command", "median s", "AWS calls", "mutating calls"
    );
    for (name, samples) in rows {
        let (seconds, calls, mutating) = median(&samples);
        println!("{name:<24} {seconds:>10.2} {calls:>10} {mutating:>14}");
    }
}

fn measure(b: &Bench) -> Vec<(&'static str, Vec<Sample>)> {
    // Untimed: the function is built (or found unchanged), so every timed run starts alike.
    let apps: Vec<String> = (1..=RUNS).map(|i| format!("bench{i}")).collect();
    b.run(&apps[0], &["package"]);
    let fresh: Vec<Sample> = apps.iter().map(|app| b.run(app, &["up"])).collect();
    let noop: Vec<Sample> = (0..RUNS).map(|_| b.run(&apps[0], &["up"])).collect();
    let zip = package_path(b);
    let zip = zip.to_str().expect("a UTF-8 path");
    let noop_zip: Vec<Sample> = (0..RUNS).map(|_| b.run(&apps[0], &["up", "--zip", zip])).collect();
    let plan: Vec<Sample> = (0..RUNS).map(|_| b.run(&apps[0], &["plan"])).collect();
    let down: Vec<Sample> = apps
        .iter()
        .map(|app| b.run(app, &["down", "--yes", "--delete-data"]))
        .collect();
    vec![
        ("up (fresh stack)", fresh),
        ("up (no change)", noop),
        ("up --zip (no change)", noop_zip),
        ("plan (no change)", plan),
        ("down", down),
    ]
}

/// The zip `package` wrote, as its JSON output names it.
fn package_path(b: &Bench) -> PathBuf {
    let out = Command::new(&b.deployer)
        .args(["package", "--quiet", "--output", "json", "--config"])
        .arg(b.config("bench1"))
        .current_dir(&b.workspace)
        .output()
        .expect("the deployer runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("package's JSON");
    PathBuf::from(json["path"].as_str().expect("the zip's path"))
}
