//! The local stack under test: `deployer up --local` as a child process in front of the fault
//! proxy, its output lines, and the `bootstrap` processes it reports (to SIGKILL them).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The function's timeout in the campaign's config (short, so that expiries pass quickly).
pub const FUNCTION_TIMEOUT_S: u64 = 3;
/// How many execution environments the local pool runs.
pub const ENVIRONMENTS: u32 = 4;

/// A running `deployer up --local`; stopped (SIGINT, then SIGKILL) when dropped.
pub struct Stack {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// `http://127.0.0.1:port` of the local HTTP API.
    pub endpoint: String,
    /// The table (and function) name.
    pub table: String,
    _dir: testkit::TempDir,
}

fn collect(stream: impl std::io::Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>, echo: bool) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("[stack] {line}");
            }
            lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line);
        }
    });
}

impl Stack {
    /// Writes a config and starts `deployer` from `workspace` against `dynamodb_endpoint`.
    pub fn start(deployer: &Path, workspace: &Path, dynamodb_endpoint: &str, echo: bool) -> anyhow::Result<Stack> {
        let dir = testkit::temp_dir();
        let config = dir.path().join("chaos.yaml");
        let env_file = dir.path().join("frontend").join(".env.local");
        std::fs::write(
            &config,
            format!(
                "app: chaos\nstage: test\nregion: us-east-1\nfunction:\n  package: orders\n  timeout_s: {FUNCTION_TIMEOUT_S}\n  \
                environment:\n    ORDERS_SIMULATED_WORK_MAX_MS: \"10000\"\napi:\n  routes: [\"POST /orders\", \
                \"GET /orders/{{id}}\"]\nfrontend:\n  env_file: {}\nlocal:\n  concurrency: {ENVIRONMENTS}\n",
                env_file.display()
            ),
        )
        .context("writing the campaign's config")?;
        let port = emulators::free_port().context("a free port")?;
        let mut child = Command::new(deployer)
            .args([
                "up",
                "--local",
                "--port",
                &port.to_string(),
                "--dynamodb-endpoint",
                dynamodb_endpoint,
            ])
            .arg("--config")
            .arg(&config)
            .current_dir(workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", deployer.display()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().context("stdout")?, lines.clone(), echo);
        collect(child.stderr.take().context("stderr")?, lines.clone(), echo);
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut stack = Stack {
            child,
            lines,
            endpoint: endpoint.clone(),
            table: String::new(),
            _dir: dir,
        };
        // The first run builds the function in release: allow for it.
        let deadline = Instant::now() + Duration::from_secs(1500);
        loop {
            let up = stack
                .lines()
                .into_iter()
                .find(|l| l.contains(" is up: ") && l.contains(&endpoint));
            if let Some(line) = up {
                stack.table = line
                    .split(", table ")
                    .nth(1)
                    .and_then(|rest| rest.split(')').next())
                    .context("the table name in the `is up` line")?
                    .to_string();
                return Ok(stack);
            }
            if stack.child.try_wait()?.is_some() || Instant::now() > deadline {
                bail!(
                    "`deployer up --local` did not come up; its output:\n{}",
                    stack.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every line the deployer printed so far (stdout and stderr).
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The `bootstrap` processes that were reported started and still run.
    pub fn live_bootstraps(&self) -> Vec<i32> {
        self.lines()
            .iter()
            .filter(|l| l.starts_with("[env ") && l.contains("bootstrap (pid "))
            .filter_map(|l| l.rsplit("(pid ").next()?.trim_end_matches(')').parse().ok())
            .filter(|pid| alive(*pid))
            .collect()
    }
}

/// Whether a process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"))
}

/// Sends `signal` to `pid`.
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory effects; the pid is one the stack reported as its child.
    unsafe {
        libc::kill(pid, signal);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(self.child.id() as i32, libc::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
