//! The HTTP path: the orders API behind `deployer up --local` (the HTTP API emulator, the local
//! Runtime API and real `bootstrap` processes), with requests built before the clock starts and
//! sent over keep-alive connections.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::workload::{BODY, CONCURRENCY, Run, run_concurrent};

/// How long `up --local` may take to come up (it may have to build the function).
const START_LIMIT: Duration = Duration::from_secs(900);
/// The bound of one request.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// A running `up --local`, stopped when dropped.
pub struct Stack {
    child: Child,
    endpoint: String,
    client: Client<HttpConnector, Full<Bytes>>,
    _dir: testkit::TempDir,
}

impl Stack {
    /// Starts `deployer up --local` as `app` with `CONCURRENCY` environments and a local cache of
    /// `cache_items`, on the DynamoDB Local at `dynamodb`, from the workspace root.
    pub fn start(deployer: &Path, app: &str, cache_items: usize, dynamodb: &str) -> anyhow::Result<Stack> {
        let dir = testkit::temp_dir();
        let config = dir.path().join("stack.yaml");
        // The throttle at its maximum: the bench measures the path, not the token bucket.
        let yaml = format!(
            r#"app: {app}
stage: bench
region: us-east-1
function:
  package: orders
idempotency:
  local_cache_items: {cache_items}
api:
  routes: ["POST /orders", "GET /orders/{{id}}"]
  cors: {{ allow_origins: ["http://localhost:5173"] }}
  throttle: {{ burst: 5000, rate: 10000 }}
frontend:
  env_file: {env_file}
local:
  concurrency: {CONCURRENCY}
"#,
            env_file = dir.path().join(".env.local").display()
        );
        std::fs::write(&config, yaml)?;
        let port = emulators::free_port()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(deployer)
            .args([
                "up",
                "--local",
                "--port",
                &port.to_string(),
                "--dynamodb-endpoint",
                dynamodb,
                "--config",
            ])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("running {}", deployer.display()))?;
        // Its request log is read (and dropped) for as long as it runs.
        let (up_tx, up_rx) = mpsc::channel();
        let stdout = child.stdout.take().context("the deployer's stdout")?;
        let wanted = endpoint.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(" is up: ") && line.contains(&wanted) {
                    let _ = up_tx.send(());
                }
            }
        });
        let mut stack = Stack {
            child,
            endpoint,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _dir: dir,
        };
        if up_rx.recv_timeout(START_LIMIT).is_err() {
            bail!("`up --local` ({app}) did not come up: run it alone to see why");
        }
        ensure!(stack.child.try_wait()?.is_none(), "`up --local` ({app}) exited");
        Ok(stack)
    }

    /// POSTs every key, [`CONCURRENCY`] at a time; every answer must be 201.
    pub async fn run(&self, keys: &[String]) -> anyhow::Result<Run> {
        let requests = keys
            .iter()
            .map(|key| {
                hyper::Request::post(format!("{}/orders", self.endpoint))
                    .header("content-type", "application/json")
                    .header("idempotency-key", key)
                    .body(Full::new(Bytes::from_static(BODY.as_bytes())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client.clone();
        run_concurrent(requests, move |request| {
            let client = client.clone();
            async move {
                let response = tokio::time::timeout(REQUEST_LIMIT, client.request(request))
                    .await
                    .context("a request to `up --local` timed out")??;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                ensure!(
                    status == 201,
                    "`up --local` answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                Ok(())
            }
        })
        .await
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SIGINT, as Ctrl-C: it stops every process it started. SIGKILL if it has not within 10 s.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
