//! The Powertools row: `bench/powertools/driver.mjs` run by node, which calls the Powertools
//! orders handler in-process; this side sends it one JSON command per run and reads its latencies.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::workload::{CONCURRENCY, Mode, Run};

/// How long one command may take (a run is a few hundred requests).
const RUN_LIMIT: Duration = Duration::from_secs(300);

pub struct Powertools {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Powertools {
    /// Starts the driver in `dir` (where `npm ci` installed Powertools) and waits until it is ready.
    pub async fn start(dir: &Path) -> anyhow::Result<Powertools> {
        let node = emulators::which("node").context("node is not on PATH (the Powertools row needs it)")?;
        let mut child = Command::new(node)
            // The AWS SDK warns that future versions will need node 22: not this bench's concern.
            .args(["--no-warnings", "driver.mjs"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting node in {}", dir.display()))?;
        let stdin = child.stdin.take().context("the driver's stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the driver's stdout")?).lines();
        let mut driver = Powertools {
            _child: child,
            stdin,
            stdout,
        };
        let ready = driver.answer(Duration::from_secs(30)).await?;
        if ready["ready"] != true {
            bail!("the Powertools driver did not start: {ready}");
        }
        Ok(driver)
    }

    async fn answer(&mut self, limit: Duration) -> anyhow::Result<serde_json::Value> {
        let line = tokio::time::timeout(limit, self.stdout.next_line())
            .await
            .context("the Powertools driver did not answer in time")??
            .context("the Powertools driver exited")?;
        serde_json::from_str(&line).with_context(|| format!("the driver's answer: {line}"))
    }

    /// One run of `keys` in `mode` against `table` at `endpoint` (DynamoDB Local's key id `key_id`).
    pub async fn run(
        &mut self,
        endpoint: &str,
        key_id: &str,
        table: &str,
        mode: Mode,
        keys: &[String],
    ) -> anyhow::Result<Run> {
        let command = serde_json::json!({
            "endpoint": endpoint, "keyId": key_id, "table": table, "cache": mode == Mode::Cached,
            "keys": keys, "concurrency": CONCURRENCY,
        });
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await?;
        let answer = self.answer(RUN_LIMIT).await?;
        if let Some(error) = answer.get("error") {
            bail!("the Powertools handler failed: {}", error.as_str().unwrap_or_default());
        }
        let statuses = answer["statuses"].as_object().context("statuses")?;
        if statuses.keys().any(|status| status != "201") {
            bail!("the Powertools handler answered other than 201: {}", answer["statuses"]);
        }
        let micros = |v: &serde_json::Value| Duration::from_secs_f64(v.as_f64().unwrap_or(0.0) / 1e6);
        let latencies = answer["latencies_us"]
            .as_array()
            .context("latencies")?
            .iter()
            .map(micros)
            .collect();
        Ok(Run {
            latencies,
            wall: micros(&answer["wall_us"]),
        })
    }
}
