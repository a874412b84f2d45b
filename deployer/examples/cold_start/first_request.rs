//! `--first-request`: the first response after a cold start against a warm request, over TLS,
//! with and without the store connection opened during init (`IDEMPOTENCY_WARM_UP_MS=0` is the
//! before). DynamoDB Local sits behind the test kit's TLS-terminating proxy; the process trusts
//! the platform's roots plus the proxy's CA (`SSL_CERT_FILE`), so it loads a full bundle as it
//! does on Lambda. Each run: spawn, wait for the first `next` (ready), hand it `POST /orders`
//! with a new key (the first response), then `warm` more, one at a time (their median is the
//! warm request). Modes take turns, run by run. Prints a table with the goal; asserts nothing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oncely_local::runtime_api::{Call, NextInvocation};
use testkit::TlsProxy;
use testkit::table::{TTL_ATTRIBUTE, Table};
use tokio::sync::{mpsc, oneshot};

use crate::{Start, median};

/// The goal: the first response after a cold start at most this many warm requests.
const GOAL_RATIO: f64 = 2.0;

/// Where the process finds its store and what it trusts.
struct Store {
    table: Table,
    tls: TlsProxy,
    bundle: PathBuf,
    _dir: testkit::TempDir,
}

impl Store {
    async fn start() -> anyhow::Result<Store> {
        let table = Table::new().await;
        let tls = TlsProxy::start(&table.endpoint).await;
        let dir = testkit::temp_dir();
        let bundle = dir.path().join("bundle.pem");
        // The platform's roots (what Lambda's image has), then the proxy's CA.
        let platform = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let ca = std::fs::read_to_string(tls.ca_file()).context("reading the proxy's CA")?;
        std::fs::write(&bundle, platform + &ca)?;
        Ok(Store {
            table,
            tls,
            bundle,
            _dir: dir,
        })
    }
}

/// One run's figures.
struct Run {
    ready: Duration,
    first: Duration,
    warm: Duration,
}

struct Environment {
    child: tokio::process::Child,
    calls: mpsc::Receiver<Call>,
    server: tokio::task::JoinHandle<()>,
}

impl Environment {
    async fn next(&mut self) -> anyhow::Result<oneshot::Sender<NextInvocation>> {
        match tokio::time::timeout(Duration::from_secs(10), self.calls.recv()).await {
            Ok(Some(Call::Next(reply))) => Ok(reply),
            Ok(other) => bail!("expected `next`, the runtime sent {other:?}"),
            Err(_) => bail!("no `next` within 10 s"),
        }
    }

    /// Hands out one `POST /orders` with a new key and times it to its response, which must be 201.
    async fn invoke(&mut self, reply: oneshot::Sender<NextInvocation>, n: usize) -> anyhow::Result<Duration> {
        let key = format!("first-request-{}-{n}", uuid::Uuid::new_v4());
        let event = testkit::api_events::post_event(Some(&key), r#"{"item":"tea","quantity":1}"#);
        let invocation = NextInvocation {
            request_id: format!("request-{n}"),
            deadline_ms: testkit::api_events::now_ms() + 10_000,
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:cold-start".into(),
            trace_id: "Root=1-00000000-000000000000000000000000".into(),
            event: event.to_string().into(),
        };
        let started = Instant::now();
        reply
            .send(invocation)
            .map_err(|_| anyhow::anyhow!("the runtime stopped waiting"))?;
        let call = tokio::time::timeout(Duration::from_secs(10), self.calls.recv())
            .await
            .context("no response within 10 s")?;
        let elapsed = started.elapsed();
        let Some(Call::Response { payload, reply, .. }) = call else {
            bail!("the invocation did not succeed: {call:?}");
        };
        let _ = reply.send(true);
        let response: serde_json::Value = serde_json::from_slice(&payload)?;
        if response["statusCode"] != 201 {
            bail!("POST /orders answered {response}");
        }
        Ok(elapsed)
    }
}

async fn run_once(start: &Start, store: &Store, warm_up: bool, warm: usize) -> anyhow::Result<Run> {
    let (api, calls, server) = crate::serve_runtime_api().await?;
    let endpoint = store.tls.https_url();
    let mut command = start.command(&api);
    command
        .envs([
            ("AWS_REGION", testkit::REGION),
            ("AWS_ACCESS_KEY_ID", testkit::TEST_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
            ("TABLE_NAME", store.table.name.as_str()),
            ("IDEMPOTENCY_TTL_ATTRIBUTE", TTL_ATTRIBUTE),
        ])
        .env("SSL_CERT_FILE", &store.bundle);
    if !warm_up {
        command.env("IDEMPOTENCY_WARM_UP_MS", "0");
    }
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("spawning {}", start.program.display()))?;
    let mut env = Environment { child, calls, server };
    let reply = env.next().await?;
    let ready = started.elapsed();
    let first = env.invoke(reply, 0).await?;
    let mut times = Vec::with_capacity(warm);
    for n in 1..=warm {
        let reply = env.next().await?;
        times.push(env.invoke(reply, n).await?);
    }
    env.child.kill().await?;
    env.server.abort();
    Ok(Run {
        ready,
        first,
        warm: median(times),
    })
}

/// Runs each binary `runs` times per mode and prints the table.
pub async fn measure(targets: &[(String, Start, u64)], runs: usize, warm: usize) -> anyhow::Result<()> {
    let binaries: Vec<_> = targets.iter().filter(|(_, s, _)| s.args.is_empty()).collect();
    if binaries.is_empty() {
        bail!("--first-request measures `bootstrap` binaries or zips, not scripts");
    }
    let store = Store::start().await?;
    let modes = [("off", false), ("on", true)];
    let mut results: Vec<Vec<Run>> = (0..binaries.len() * modes.len()).map(|_| Vec::new()).collect();
    // One unmeasured run each warms DynamoDB Local's JIT and the page cache.
    for (_, start, _) in &binaries {
        run_once(start, &store, true, warm).await?;
    }
    for _ in 0..runs {
        for (b, (_, start, _)) in binaries.iter().enumerate() {
            for (m, (_, warm_up)) in modes.iter().enumerate() {
                results[b * modes.len() + m].push(run_once(start, &store, *warm_up, warm).await?);
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut added = Vec::new();
    println!(
        "| build | warm-up at init | ready (ms) | first response (ms) | warm request p50 (ms) | first / warm | goal | met |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---|");
    for (b, (label, _, _)) in binaries.iter().enumerate() {
        let mut readies = [0.0; 2];
        for (m, (mode, warm_up)) in modes.iter().enumerate() {
            let runs = &results[b * modes.len() + m];
            let ready = median(runs.iter().map(|r| r.ready).collect());
            let first = median(runs.iter().map(|r| r.first).collect());
            let warm = median(runs.iter().map(|r| r.warm).collect());
            let ratio = ms(first) / ms(warm);
            readies[m] = ms(ready);
            let (goal, met) = if *warm_up {
                (
                    format!("≤ {GOAL_RATIO}x"),
                    if ratio <= GOAL_RATIO { "yes" } else { "no" },
                )
            } else {
                ("(before)".to_string(), "")
            };
            println!(
                "| {label} | {mode} | {:.2} | {:.2} | {:.2} | {ratio:.2}x | {goal} | {met} |",
                ms(ready),
                ms(first),
                ms(warm)
            );
        }
        added.push((label, readies[1] - readies[0]));
    }
    println!();
    for (label, ms) in added {
        println!(
            "{label}: the warm-up added {ms:.2} ms to ready (bound: IDEMPOTENCY_WARM_UP_MS, default {} ms).",
            oncely::config::DEFAULT_WARM_UP_MS
        );
    }
    println!(
        "Medians of {runs} cold starts per row; each warm figure is the median of {warm} requests in \
         the same process. TLS by the test kit's proxy in front of DynamoDB Local, trusted through \
         SSL_CERT_FILE (the platform's bundle plus its CA)."
    );
    Ok(())
}
