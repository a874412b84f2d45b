//! Clients that behave as real ones do: a timeout per request, exponential backoff with full
//! jitter, `Retry-After` honoured, the same key and payload on every retry. The workload mixes
//! plain keys, keys raced from several clients at once, keys reused with another payload on
//! purpose, invalid bodies, and requests whose work ends near the function's deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The gateway's own body for a crashed, killed or timed-out invocation.
pub const GATEWAY_ERROR_BODY: &[u8] = br#"{"message":"Internal Server Error"}"#;
/// How long one attempt may take before the client gives up on it.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);
/// How long a client keeps retrying one request.
const RETRY_BUDGET: Duration = Duration::from_secs(90);

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// One client.
    Plain,
    /// This many clients at once, same payload.
    Raced(usize),
    /// One client until it completes, then another with a different payload (expects 422).
    Reused,
    /// An invalid body (expects 400).
    Invalid,
}

/// One attempt a client made.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Which payload: 0 the key's own, 1 the other one of a reused key.
    pub payload: u8,
    /// `None`: no answer (timeout, reset).
    pub status: Option<u16>,
    pub replayed: bool,
    pub body: Bytes,
    /// The gateway's `apigw-requestid`, which its log names a failed invocation by.
    pub gateway_id: Option<String>,
}

/// How a client's request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A final status (201, 400, 422, or anything not worth retrying).
    Final(u16),
    /// Still failing when its retry budget ran out.
    GaveUp,
}

/// Everything seen for one key.
#[derive(Debug, Clone)]
pub struct KeyLog {
    pub plan: Plan,
    /// The simulated work asked for, when the request works until near the function's deadline.
    pub work_ms: Option<u64>,
    pub attempts: Vec<Attempt>,
    /// Per client: the payload it sent and how it ended.
    pub endings: Vec<(u8, Ending)>,
}

/// The campaign's workload options.
pub struct Workload {
    pub seed: u64,
    pub requests: usize,
    pub clients: usize,
    pub kill_every: usize,
}

/// What all clients saw, by key.
pub type Logs = Arc<Mutex<HashMap<String, KeyLog>>>;

type Http = Client<HttpConnector, Full<Bytes>>;

struct Shared {
    http: Http,
    endpoint: String,
    logs: Logs,
    attempts: AtomicUsize,
    kill_every: usize,
    kill: Box<dyn Fn() + Send + Sync>,
}

impl Shared {
    /// Runs `f` on the log of `key` (every key is planned before the clients start).
    fn with_log(&self, key: &str, f: impl FnOnce(&mut KeyLog)) {
        let mut logs = self.logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(logs.get_mut(key).expect("every key is planned"));
    }
}

fn payload(item: &str, quantity: u32) -> String {
    format!(r#"{{"item":"{item}","quantity":{quantity}}}"#)
}

/// Runs the workload against `endpoint`; `kill` SIGKILLs one environment (every `kill_every`
/// attempts). Returns what every key saw and how many HTTP attempts were made.
pub async fn run(
    endpoint: &str,
    workload: &Workload,
    kill: Box<dyn Fn() + Send + Sync>,
) -> (HashMap<String, KeyLog>, usize) {
    let shared = Arc::new(Shared {
        http: Client::builder(TokioExecutor::new()).build_http(),
        endpoint: endpoint.to_string(),
        logs: Arc::default(),
        attempts: AtomicUsize::new(0),
        kill_every: workload.kill_every,
        kill,
    });
    let permits = Arc::new(Semaphore::new(workload.clients.max(1)));
    let mut rng = fastrand::Rng::with_seed(workload.seed);
    let mut tasks = JoinSet::new();
    let mut planned = 0;
    let mut index = 0u64;
    while planned < workload.requests {
        index += 1;
        let key = format!("chaos-{}-{index}", workload.seed);
        let draw = rng.f64();
        let plan = match draw {
            d if d < 0.12 => Plan::Raced(rng.usize(2..=4)),
            d if d < 0.20 => Plan::Reused,
            d if d < 0.25 => Plan::Invalid,
            _ => Plan::Plain,
        };
        // A few requests work until just before the deadline (the function's timeout is 3 s).
        let work_ms = (rng.f64() < 0.05).then(|| rng.u64(1500..2600));
        let item = format!("item-{index}");
        let own = match plan {
            Plan::Invalid => payload(&item, 0),
            _ => payload(&item, rng.u32(1..=1000)),
        };
        let other = payload(&format!("other-{index}"), 7);
        planned += match plan {
            Plan::Raced(n) => n,
            Plan::Reused => 2,
            _ => 1,
        };
        shared
            .logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                key.clone(),
                KeyLog {
                    plan,
                    work_ms,
                    attempts: Vec::new(),
                    endings: Vec::new(),
                },
            );
        let shared = shared.clone();
        let permits = permits.clone();
        let seed = workload.seed.wrapping_mul(1_000_003).wrapping_add(index);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("the semaphore stays open");
            match plan {
                Plan::Raced(n) => {
                    let mut racers = JoinSet::new();
                    for c in 0..n {
                        let (shared, key, own) = (shared.clone(), key.clone(), own.clone());
                        racers.spawn(
                            async move { client(&shared, &key, &own, 0, work_ms, seed + c as u64 * 7919).await },
                        );
                    }
                    while racers.join_next().await.is_some() {}
                }
                Plan::Reused => {
                    client(&shared, &key, &own, 0, work_ms, seed).await;
                    client(&shared, &key, &other, 1, None, seed + 1).await;
                }
                Plan::Plain | Plan::Invalid => client(&shared, &key, &own, 0, work_ms, seed).await,
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let logs = shared
        .logs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    (logs, shared.attempts.load(Ordering::Relaxed))
}

/// One client's request: retried with backoff until a final answer or its budget runs out.
async fn client(shared: &Shared, key: &str, body: &str, which: u8, work_ms: Option<u64>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut retry = 0u32;
    let ending = loop {
        if started.elapsed() > RETRY_BUDGET {
            break Ending::GaveUp;
        }
        let n = shared.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        if shared.kill_every > 0 && n.is_multiple_of(shared.kill_every) {
            (shared.kill)();
        }
        let (status, answer) = send(shared, key, body, work_ms).await;
        let retry_after = answer.retry_after;
        shared.with_log(key, |log| {
            log.attempts.push(Attempt {
                payload: which,
                status,
                replayed: answer.replayed,
                body: answer.body,
                gateway_id: answer.gateway_id,
            });
        });
        match status {
            Some(s @ (201 | 400 | 422)) => break Ending::Final(s),
            Some(409 | 429 | 500..=599) | None => {}
            Some(s) => break Ending::Final(s),
        }
        // Full jitter over an exponential ceiling, and never sooner than Retry-After.
        let ceiling = 100u64.saturating_mul(1 << retry.min(5)).min(2000);
        let wait = rng.u64(0..=ceiling).max(retry_after.unwrap_or(0) * 1000);
        retry += 1;
        tokio::time::sleep(Duration::from_millis(wait)).await;
    };
    shared.with_log(key, |log| log.endings.push((which, ending)));
}

/// What came back for one attempt (all empty when nothing came).
#[derive(Default)]
struct Answer {
    replayed: bool,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
    body: Bytes,
    gateway_id: Option<String>,
}

/// One attempt: its status (none when no answer came) and what came with it.
async fn send(shared: &Shared, key: &str, body: &str, work_ms: Option<u64>) -> (Option<u16>, Answer) {
    let mut request = Request::post(format!("{}/orders", shared.endpoint))
        .header("content-type", "application/json")
        .header("idempotency-key", format!("\"{key}\""));
    if let Some(ms) = work_ms {
        request = request.header("x-simulate-work-ms", ms.to_string());
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid request");
    let answer = tokio::time::timeout(ATTEMPT_TIMEOUT, async {
        let response = shared.http.request(request).await.ok()?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.ok()?.to_bytes();
        Some((parts, body))
    })
    .await
    .ok()
    .flatten();
    let Some((parts, body)) = answer else {
        return (None, Answer::default());
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    (
        Some(parts.status.as_u16()),
        Answer {
            replayed: header("idempotent-replayed") == Some("true"),
            retry_after: header("retry-after").and_then(|v| v.trim().parse().ok()),
            body,
            gateway_id: header("apigw-requestid").map(str::to_string),
        },
    )
}
