//! Execution environments: N separate `bootstrap` processes, each with its own Runtime API, fed
//! from one queue of invocations. An environment takes the next invocation when its runtime asks
//! for one (`/invocation/next`), so invocations go to idle environments and wait while all are
//! busy. Each environment has a supervisor (`supervisor.rs`): an invocation past the function
//! timeout is answered as timed out and its process killed; a crashed or killed process is started
//! again (with a short back-off when it keeps dying). How processes are started and killed so that
//! none is left behind: `process.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::clock::now_ms;
use super::process::kill_group;
use super::runtime_api;
use super::supervisor::{Env, Switch};

/// How long the first start of every environment may take before `up --local` gives up.
const INIT_LIMIT: Duration = Duration::from_secs(60);

/// What every environment runs.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The `bootstrap` binary.
    pub binary: PathBuf,
    /// The process environment (without `AWS_LAMBDA_RUNTIME_API` and the log stream name, which
    /// are per environment).
    pub env: BTreeMap<String, String>,
    /// The function timeout.
    pub timeout: Duration,
    /// The function's ARN, given to each invocation.
    pub function_arn: String,
    /// Counts the EMF lines of the environments' output.
    pub metrics: Arc<super::metrics::LocalMetrics>,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The runtime posted a response payload.
    Response(Bytes),
    /// The runtime posted an error (`/error`).
    Error {
        /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
        error_type: Option<String>,
        /// The error document.
        payload: Bytes,
    },
    /// Past the function timeout; the process was killed.
    TimedOut,
    /// The process exited during the invocation (or we are shutting down).
    Crashed(String),
}

/// The result of [`Pool::invoke`].
#[derive(Debug, Clone)]
pub struct Invoked {
    /// 1-based environment number, 0 when no environment ran it.
    pub env: usize,
    /// The invocation's Lambda request id.
    pub request_id: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// An invocation waiting in the queue.
pub(super) struct Job {
    pub request_id: String,
    pub trace_id: String,
    pub event: Bytes,
    pub reply: oneshot::Sender<Invoked>,
    /// [`WAITING`], [`STARTED`] (an environment took it) or [`WITHDRAWN`] (its caller stopped
    /// waiting before that: it must never run).
    pub state: Arc<AtomicU8>,
}

const WAITING: u8 = 0;
const STARTED: u8 = 1;
const WITHDRAWN: u8 = 2;

impl Job {
    /// Called by the environment that takes the job: `false` when it was withdrawn (skip it).
    /// A job put back in the queue after its process died is already started, and runs again.
    pub fn start(&self) -> bool {
        self.state
            .compare_exchange(WAITING, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .unwrap_or_else(|now| now)
            != WITHDRAWN
    }
}

/// The running environments.
pub struct Pool {
    queue: mpsc::UnboundedSender<Job>,
    shutdown: watch::Sender<bool>,
    supervisors: StdMutex<Vec<JoinHandle<()>>>,
    servers: Vec<JoinHandle<()>>,
    /// Live process ids (= process group ids), by environment.
    pids: Arc<StdMutex<Vec<Option<u32>>>>,
    /// Each environment's channel for switching builds, and the spec they all run.
    switches: Vec<mpsc::Sender<Switch>>,
    current: StdMutex<Arc<Spec>>,
}

/// A fresh Lambda request id (a UUID, as Lambda's).
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An X-Ray style trace header: `Root=1-<epoch hex>-<24 hex>;Sampled=0`.
pub fn trace_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{};Sampled=0", now_ms() / 1000, &hex[..24])
}

fn shutting_down(request_id: String) -> Invoked {
    Invoked {
        env: 0,
        request_id,
        outcome: Outcome::Crashed("the local stack is shutting down".into()),
    }
}

impl Pool {
    /// Starts `count` environments and waits until each runtime has asked for its first
    /// invocation. A process that exits first is an error carrying its last output lines.
    pub async fn start(spec: Spec, count: usize) -> anyhow::Result<Pool> {
        let (queue, queue_rx) = mpsc::unbounded_channel();
        let queue_rx = Arc::new(AsyncMutex::new(queue_rx));
        let (shutdown, _) = watch::channel(false);
        let pids = Arc::new(StdMutex::new(vec![None; count]));
        let spec = Arc::new(spec);
        let mut servers = Vec::new();
        let mut supervisors = Vec::new();
        let mut readies = Vec::new();
        let mut switches = Vec::new();
        for index in 0..count {
            let listener = TcpListener::bind(("127.0.0.1", 0))
                .await
                .context("opening a port for the Lambda Runtime API")?;
            let addr = listener.local_addr()?.to_string();
            let (calls_tx, calls_rx) = mpsc::channel(16);
            servers.push(tokio::spawn(runtime_api::serve(listener, calls_tx)));
            let (ready_tx, ready_rx) = oneshot::channel();
            let (switch_tx, switch_rx) = mpsc::channel(1);
            switches.push(switch_tx);
            let env = Env {
                number: index + 1,
                spec: spec.clone(),
                runtime_api: addr,
                queue: queue_rx.clone(),
                requeue: queue.clone(),
                shutdown: shutdown.subscribe(),
                pids: pids.clone(),
                recent: Arc::new(StdMutex::new(VecDeque::new())),
                switches: switch_rx,
                fallback: None,
            };
            supervisors.push(tokio::spawn(env.supervise(calls_rx, ready_tx)));
            readies.push(ready_rx);
        }
        let pool = Pool {
            queue,
            shutdown,
            supervisors: StdMutex::new(supervisors),
            servers,
            pids,
            switches,
            current: StdMutex::new(spec),
        };
        let deadline = tokio::time::Instant::now() + INIT_LIMIT;
        for (i, ready) in readies.into_iter().enumerate() {
            let failure = match tokio::time::timeout_at(deadline, ready).await {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(why))) => why,
                Ok(Err(_)) => format!("execution environment {} stopped while starting", i + 1),
                Err(_) => format!(
                    "execution environment {} did not ask the Runtime API for an invocation within {}s",
                    i + 1,
                    INIT_LIMIT.as_secs()
                ),
            };
            pool.shutdown().await;
            bail!(failure);
        }
        Ok(pool)
    }

    /// Runs one invocation on the next idle environment (waiting while all are busy).
    pub async fn invoke(&self, event: Bytes, trace_id: String) -> Invoked {
        let (request_id, answer, _) = self.enqueue(event, trace_id);
        answer.await.unwrap_or_else(|_| shutting_down(request_id))
    }

    /// As [`Pool::invoke`], but gives up when no environment has taken the invocation within
    /// `queue_limit`: `None`, and the invocation is withdrawn (it never runs). Once an environment
    /// has it, this waits for its end as `invoke` does (bounded by the function timeout).
    pub async fn invoke_within(&self, event: Bytes, trace_id: String, queue_limit: Duration) -> Option<Invoked> {
        let (request_id, mut answer, state) = self.enqueue(event, trace_id);
        if let Ok(done) = tokio::time::timeout(queue_limit, &mut answer).await {
            return Some(done.unwrap_or_else(|_| shutting_down(request_id)));
        }
        let withdrawn = state
            .compare_exchange(WAITING, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if withdrawn {
            return None;
        }
        Some(answer.await.unwrap_or_else(|_| shutting_down(request_id)))
    }

    /// Queues an invocation; its answer comes on the receiver (closed when shutting down).
    fn enqueue(&self, event: Bytes, trace_id: String) -> (String, oneshot::Receiver<Invoked>, Arc<AtomicU8>) {
        let request_id = request_id();
        let (reply, answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(WAITING));
        let job = Job {
            request_id: request_id.clone(),
            trace_id,
            event,
            reply,
            state: state.clone(),
        };
        // When the queue is closed the job (and its reply sender) drops: the receiver says so.
        let _ = self.queue.send(job);
        (request_id, answer, state)
    }

    /// Moves every environment to `spec`, one after the other: each finishes the invocation it has,
    /// starts the new binary and waits for its init before the next one switches, so the others
    /// keep serving and no invocation is dropped. If a new process fails its init, that environment
    /// goes back to the previous binary, the ones already switched are moved back too, and the
    /// error says why.
    pub async fn replace(&self, spec: Spec) -> anyhow::Result<()> {
        let spec = Arc::new(spec);
        let previous = self
            .current
            .lock()
            .map(|c| c.clone())
            .map_err(|_| anyhow::anyhow!("pool state poisoned"))?;
        // An environment may be busy with one invocation (up to the function timeout) first.
        let limit = INIT_LIMIT + spec.timeout;
        for (index, switch) in self.switches.iter().enumerate() {
            if let Err(why) = Self::switch(switch, spec.clone(), limit).await {
                for back in &self.switches[..index] {
                    let _ = Self::switch(back, previous.clone(), limit).await;
                }
                bail!(
                    "execution environment {}: {why}; every environment runs the previous build",
                    index + 1
                );
            }
        }
        if let Ok(mut current) = self.current.lock() {
            *current = spec;
        }
        Ok(())
    }

    async fn switch(to: &mpsc::Sender<Switch>, spec: Arc<Spec>, limit: Duration) -> Result<(), String> {
        let (done, outcome) = oneshot::channel();
        to.send(Switch { spec, done })
            .await
            .map_err(|_| "the environment has stopped".to_string())?;
        match tokio::time::timeout(limit, outcome).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the environment stopped while switching".into()),
            Err(_) => Err(format!("the new process did not start within {}s", limit.as_secs())),
        }
    }

    /// What every environment runs now.
    pub fn current_spec(&self) -> Spec {
        self.current
            .lock()
            .map(|c| (**c).clone())
            .unwrap_or_else(|e| (**e.into_inner()).clone())
    }

    /// Process ids of the running `bootstrap` processes.
    pub fn pids(&self) -> Vec<u32> {
        self.pids
            .lock()
            .map(|p| p.iter().flatten().copied().collect())
            .unwrap_or_default()
    }

    /// Stops every environment and waits for the processes to be gone.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let supervisors: Vec<JoinHandle<()>> = self
            .supervisors
            .lock()
            .map(|mut s| s.drain(..).collect())
            .unwrap_or_default();
        for s in supervisors {
            let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
        }
        for s in &self.servers {
            s.abort();
        }
        for pid in self.pids() {
            kill_group(pid);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for pid in self.pids() {
            kill_group(pid);
        }
        for s in &self.servers {
            s.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The pool against a tiny Python runtime client speaking the Runtime API (so crashes,
    //! errors and timeouts can be provoked on demand).
    use super::*;
    use crate::process;

    const CLIENT: &str = concat!(
        r#"
import json, os, sys, time, urllib.request, urllib.error
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
if os.environ.get("FAIL_INIT"):
    print("cannot start: FAIL_INIT is set", file=sys.stderr, flush=True)
    sys.exit(2)
def post(path, body, headers={}):
    req = urllib.request.Request(base + path, data=body, method="POST", headers=headers)
    try:
        return urllib.request.urlopen(req).status
    except urllib.error.HTTPError as e:
        return e.code
while True:
    with urllib.request.urlopen(base + "/invocation/next") as r:
        h = r.headers
        rid = h["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    action = event.get("action")
    if action == "crash":
        sys.exit(3)
    if action == "sleep":
        time.sleep(60)
    if action == "nap":
        time.sleep(1)
    if action == "error":
        post("/invocation/" + rid + "/error", b'{"errorType":"Boom","errorMessage":"boom"}', "#,
        r#"{"Lambda-Runtime-Function-Error-Type": "Boom"})
        continue
    wrong = post("/invocation/not-" + rid + "/response", b"{}") if action == "wrong-id" else None
    out = {"rid": rid, "deadline": h["Lambda-Runtime-Deadline-Ms"], "#,
        r#""arn": h["Lambda-Runtime-Invoked-Function-Arn"], "#,
        r#""trace": h["Lambda-Runtime-Trace-Id"], "pid": os.getpid(), "wrong": wrong, "#,
        r#""marker": os.environ.get("MARKER")}
    print("handled", rid, flush=True)
    post("/invocation/" + rid + "/response", json.dumps(out).encode())
"#
    );

    /// Writes the client as an executable with an absolute interpreter path (the environment
    /// of an execution environment has Lambda's PATH only), in a directory removed on drop.
    fn client() -> (testkit::TempDir, PathBuf) {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 runs the test runtime client");
        let python = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(!python.is_empty(), "python3 printed no sys.executable");
        let dir = testkit::temp_dir();
        let path = dir.path().join("bootstrap");
        std::fs::write(&path, format!("#!{python}\n{CLIENT}")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    }

    fn spec(binary: PathBuf, extra: &[(&str, &str)]) -> Spec {
        let mut env = BTreeMap::from([("AWS_LAMBDA_FUNCTION_NAME".to_string(), "t".to_string())]);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Spec {
            binary,
            env,
            timeout: Duration::from_secs(2),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:t".into(),
            metrics: Default::default(),
        }
    }

    fn response(invoked: &Invoked) -> serde_json::Value {
        match &invoked.outcome {
            Outcome::Response(p) => serde_json::from_slice(p).unwrap(),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    async fn invoke(pool: &Pool, action: &str) -> Invoked {
        pool.invoke(Bytes::from(format!(r#"{{"action":"{action}"}}"#)), trace_id())
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invocations_errors_crashes_and_timeouts() {
        let (_dir, binary) = client();
        let pool = Pool::start(spec(binary, &[]), 1).await.unwrap();

        let first = invoke(&pool, "echo").await;
        let r = response(&first);
        assert_eq!(first.env, 1);
        assert_eq!(r["rid"], first.request_id.as_str());
        assert_eq!(r["arn"], "arn:aws:lambda:us-east-1:000000000000:function:t");
        assert!(r["trace"].as_str().unwrap().starts_with("Root=1-"));
        assert!(r["deadline"].as_str().unwrap().parse::<u64>().unwrap() > now_ms());
        let pid = r["pid"].clone();

        // A response for another request id is refused with 400.
        assert_eq!(response(&invoke(&pool, "wrong-id").await)["wrong"], 400);

        let err = invoke(&pool, "error").await;
        assert_eq!(
            err.outcome,
            Outcome::Error {
                error_type: Some("Boom".into()),
                payload: Bytes::from_static(br#"{"errorType":"Boom","errorMessage":"boom"}"#)
            }
        );
        assert_eq!(
            response(&invoke(&pool, "echo").await)["pid"],
            pid,
            "an error does not restart the process"
        );

        assert!(matches!(invoke(&pool, "crash").await.outcome, Outcome::Crashed(_)));
        let after_crash = response(&invoke(&pool, "echo").await);
        assert_ne!(after_crash["pid"], pid, "a new process serves after the crash");

        assert_eq!(invoke(&pool, "sleep").await.outcome, Outcome::TimedOut);
        let after_timeout = response(&invoke(&pool, "echo").await);
        assert_ne!(
            after_timeout["pid"], after_crash["pid"],
            "a new process serves after the timeout"
        );
        let timed_out_pid = after_crash["pid"].as_i64().unwrap() as i32;
        assert!(!process::exists(timed_out_pid), "the timed-out process was killed");

        let live = pool.pids();
        assert_eq!(live.len(), 1);
        pool.shutdown().await;
        assert!(pool.pids().is_empty());
        assert!(!process::exists(live[0] as i32), "shutdown kills the process");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invocations_wait_for_an_idle_environment() {
        let (_dir, binary) = client();
        let pool = Arc::new(Pool::start(spec(binary, &[]), 2).await.unwrap());
        let runs = (0..6).map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { invoke(&pool, "echo").await })
        });
        let mut envs = BTreeSet::new();
        for run in runs {
            let invoked = run.await.unwrap();
            response(&invoked);
            envs.insert(invoked.env);
        }
        assert!(envs.is_subset(&BTreeSet::from([1, 2])));
        pool.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invocation_not_started_within_the_limit_is_withdrawn_and_never_runs() {
        let (_dir, binary) = client();
        let pool = Arc::new(Pool::start(spec(binary, &[]), 1).await.unwrap());
        let event = |action: &str| Bytes::from(format!(r#"{{"action":"{action}"}}"#));
        // One started in time is waited for past the limit: its own end (here a timeout) counts.
        let slow = pool
            .invoke_within(event("sleep"), trace_id(), Duration::from_millis(300))
            .await;
        assert_eq!(slow.map(|i| i.outcome), Some(Outcome::TimedOut));
        let pid = response(&invoke(&pool, "echo").await)["pid"].clone();
        // The environment naps for a second; a crash queued behind it gives up after 300 ms...
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { invoke(&pool, "nap").await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let queued = pool
            .invoke_within(event("crash"), trace_id(), Duration::from_millis(300))
            .await;
        assert!(queued.is_none(), "{queued:?}");
        response(&busy.await.unwrap());
        // ... and never runs: the same process serves on.
        assert_eq!(response(&invoke(&pool, "echo").await)["pid"], pid);
        pool.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_runtime_that_dies_at_init_is_a_clear_error() {
        let (_dir, binary) = client();
        let err = Pool::start(spec(binary, &[("FAIL_INIT", "1")]), 2)
            .await
            .err()
            .expect("the start fails")
            .to_string();
        assert!(
            err.contains("exited during its init") && err.contains("cannot start: FAIL_INIT is set"),
            "{err}"
        );
    }

    /// `--watch`'s switch: a stream of invocations (some in flight across the switch) all get
    /// answers; afterwards only the new build answers; a build that fails its init changes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replacing_the_build_drops_no_invocation_and_a_broken_build_changes_nothing() {
        let (_dir, binary) = client();
        let pool = Arc::new(
            Pool::start(spec(binary.clone(), &[("MARKER", "old")]), 2)
                .await
                .unwrap(),
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (pool, stop) = (pool.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let action = if w == 0 { "nap" } else { "echo" };
                        let invoked = invoke(&pool, action).await;
                        answers.push(response(&invoked)["marker"].as_str().unwrap().to_string());
                    }
                    answers
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        pool.replace(spec(binary.clone(), &[("MARKER", "new")])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        assert!(
            all.contains(&"old".to_string()) && all.last().map(String::as_str) == Some("new"),
            "{all:?}"
        );
        for _ in 0..4 {
            assert_eq!(response(&invoke(&pool, "echo").await)["marker"], "new");
        }

        let err = pool
            .replace(spec(binary, &[("MARKER", "broken"), ("FAIL_INIT", "1")]))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot start: FAIL_INIT is set"), "{err}");
        let envs: BTreeSet<usize> = naps_at_once(&pool, 6).await;
        assert_eq!(
            envs,
            BTreeSet::from([1, 2]),
            "both environments serve the previous build"
        );
        pool.shutdown().await;
    }

    /// Runs `n` echo invocations at once; every one answered by the build marked `new`.
    async fn naps_at_once(pool: &Arc<Pool>, n: usize) -> BTreeSet<usize> {
        let runs: Vec<_> = (0..n)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { invoke(&pool, "nap").await })
            })
            .collect();
        let mut envs = BTreeSet::new();
        for run in runs {
            let invoked = run.await.unwrap();
            assert_eq!(response(&invoked)["marker"], "new");
            envs.insert(invoked.env);
        }
        envs
    }

    use std::collections::BTreeSet;
}
