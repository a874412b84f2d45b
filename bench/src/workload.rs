//! The workload every row runs and its figures: the three modes, their keys, the API Gateway v2
//! event of a request, a concurrent runner, and a run's latencies as req/s, p50 and p99.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests in flight at once, in every row.
pub const CONCURRENCY: usize = 8;
/// The keys replayed in the replay modes.
pub const REPLAY_KEYS: usize = 16;
/// The body of every `POST /orders`.
pub const BODY: &str = r#"{"item":"book","quantity":2,"customer":"ann"}"#;

/// What a run's requests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Every request has a key never seen before: the order is created.
    Fresh,
    /// The same 16 completed keys, replayed from the store (local cache off).
    Replay,
    /// The same 16 keys replayed with the local cache on and warm.
    Cached,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Fresh, Mode::Replay, Mode::Cached];

    pub fn label(self) -> &'static str {
        match self {
            Mode::Fresh => "new key",
            Mode::Replay => "replay",
            Mode::Cached => "replay, cache warm",
        }
    }
}

/// The keys of one run of `n` requests; `tag` keeps fresh keys unique across runs.
pub fn keys(mode: Mode, tag: &str, n: usize) -> Vec<String> {
    match mode {
        Mode::Fresh => (0..n).map(|i| format!("fresh-{tag}-{i}")).collect(),
        Mode::Replay | Mode::Cached => (0..n).map(|i| format!("replay-{}", i % REPLAY_KEYS)).collect(),
    }
}

/// The 16 keys of the replay modes, once each.
pub fn replay_keys() -> Vec<String> {
    keys(Mode::Replay, "", REPLAY_KEYS)
}

/// The API Gateway v2 (payload 2.0) event of `POST /orders` with `key` (the Powertools driver
/// builds the same one).
pub fn event(key: &str, i: usize) -> String {
    serde_json::json!({
        "version": "2.0", "routeKey": "POST /orders", "rawPath": "/orders", "rawQueryString": "",
        "headers": { "content-type": "application/json", "idempotency-key": key },
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "bench.local",
            "http": {
                "method": "POST", "path": "/orders", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                "userAgent": "bench"
            },
            "requestId": format!("r{i}"), "routeKey": "POST /orders", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "body": BODY,
        "isBase64Encoded": false
    })
    .to_string()
}

/// One timed run: each request's latency and the wall time of all of them.
#[derive(Debug, Clone)]
pub struct Run {
    pub latencies: Vec<Duration>,
    pub wall: Duration,
}

impl Run {
    pub fn requests_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the latencies, nearest rank.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }
}

/// Calls `call` on every item, [`CONCURRENCY`] at a time, as tasks of the current runtime; the
/// items are built by the caller before the clock starts. The first error ends the run.
pub async fn run_concurrent<T, F, Fut>(items: Vec<T>, call: F) -> anyhow::Result<Run>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let queue = Arc::new(Mutex::new(items.into_iter()));
    let call = Arc::new(call);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (queue, call) = (queue.clone(), call.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let next = queue.lock().expect("the queue").next();
                let Some(item) = next else { break };
                let sent = Instant::now();
                call(item).await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    Ok(Run {
        latencies,
        wall: started.elapsed(),
    })
}
