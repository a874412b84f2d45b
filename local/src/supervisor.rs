//! The supervisor of one execution environment: starts its `bootstrap`, waits for the runtime's
//! first `/invocation/next` (its init), serves invocations from the pool's queue one at a time
//! with the function timeout, logs Lambda-style START/END/REPORT lines and the process's output,
//! and starts a new process after a crash or a timeout (with a short back-off when it keeps
//! dying). Asked to switch to a new build (`--watch`), it finishes the invocation in hand, then
//! starts the new binary; one that fails its init puts the previous binary back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::clock::now_ms;
use super::pool::{Invoked, Job, Outcome, Spec};
use super::process;
use super::runtime_api::{Call, NextInvocation};

/// Lines of a process's output kept to explain a failed start.
const RECENT_LINES: usize = 30;

/// One execution environment's supervisor.
pub struct Env {
    /// 1-based.
    pub number: usize,
    pub spec: Arc<Spec>,
    /// The address of this environment's Runtime API (`AWS_LAMBDA_RUNTIME_API`).
    pub runtime_api: String,
    pub queue: Arc<AsyncMutex<mpsc::UnboundedReceiver<Job>>>,
    /// Where an invocation the process never got goes back to.
    pub requeue: mpsc::UnboundedSender<Job>,
    pub shutdown: watch::Receiver<bool>,
    /// The pool's live process ids; this environment keeps entry `number - 1`.
    pub pids: Arc<StdMutex<Vec<Option<u32>>>>,
    /// The last lines of output of the current process.
    pub recent: Arc<StdMutex<VecDeque<String>>>,
    /// Requests to switch to a new build.
    pub switches: mpsc::Receiver<Switch>,
    /// While a switched-to process is in its init: the spec to go back to if it fails.
    pub fallback: Option<Arc<Spec>>,
}

/// Switch to `spec` once idle; `done` gets the outcome of the new process's init.
pub struct Switch {
    pub spec: Arc<Spec>,
    pub done: oneshot::Sender<Result<(), String>>,
}

enum End {
    Exited(String),
    TimedOut,
    Shutdown,
    Switch(Switch),
}

impl Env {
    fn say(&self, line: impl AsRef<str>) {
        println!("[env {}] {}", self.number, line.as_ref());
    }

    fn set_pid(&self, pid: Option<u32>) {
        if let Ok(mut p) = self.pids.lock() {
            p[self.number - 1] = pid;
        }
    }

    fn spawn(&self) -> std::io::Result<(Child, Vec<JoinHandle<()>>)> {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        let (y, m, d) = super::event::civil_date(now_ms() / 1000);
        let stream = format!("{y}/{m:02}/{d:02}/[$LATEST]{hex}");
        let env = self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain([
            ("AWS_LAMBDA_RUNTIME_API", self.runtime_api.as_str()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream.as_str()),
        ]);
        let mut child = process::spawn(&self.spec.binary, env)?;
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(self.forward(out));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(self.forward(err));
        }
        Ok((child, readers))
    }

    /// Prints every line of `stream` prefixed by the environment, counts its EMF lines (as
    /// CloudWatch reads EMF from both streams), and keeps the last ones.
    fn forward(&self, stream: impl AsyncRead + Unpin + Send + 'static) -> JoinHandle<()> {
        let (number, recent, metrics) = (self.number, self.recent.clone(), self.spec.metrics.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("[env {number}] {line}");
                metrics.observe(&line);
                if let Ok(mut r) = recent.lock() {
                    if r.len() == RECENT_LINES {
                        r.pop_front();
                    }
                    r.push_back(line);
                }
            }
        })
    }

    fn recent_output(&self) -> String {
        let lines: Vec<String> = self
            .recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        if lines.is_empty() {
            "(it printed nothing)".to_string()
        } else {
            lines.join("\n")
        }
    }

    /// Runs this environment's processes, one after another, until shutdown; `ready` gets the
    /// outcome of the first one's init.
    pub async fn supervise(mut self, mut calls: mpsc::Receiver<Call>, ready: oneshot::Sender<Result<(), String>>) {
        let mut ready = Some(ready);
        let mut quick_failures: u32 = 0;
        loop {
            if *self.shutdown.borrow() {
                return;
            }
            // Calls left over from a previous process are stale.
            while calls.try_recv().is_ok() {}
            if let Ok(mut r) = self.recent.lock() {
                r.clear();
            }
            let (mut child, readers) = match self.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let why = format!("could not start {}: {e}", self.spec.binary.display());
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(why));
                        return;
                    }
                    self.say(why);
                    quick_failures += 1;
                    if self.back_off(quick_failures).await {
                        return;
                    }
                    continue;
                }
            };
            let pid = child.id();
            self.set_pid(pid);
            self.say(format!(
                "started {} (pid {})",
                self.spec.binary.display(),
                pid.map(|p| p.to_string()).unwrap_or_default()
            ));
            let started = Instant::now();
            let end = self.run(&mut child, &mut calls, &mut ready).await;
            if let Some(pid) = pid {
                process::kill_group(pid);
            }
            let _ = child.kill().await;
            self.set_pid(None);
            for r in readers {
                let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
            }
            match end {
                End::Shutdown => return,
                End::Switch(Switch { spec, done }) => {
                    self.say(format!("switching to {}", spec.binary.display()));
                    self.fallback = Some(std::mem::replace(&mut self.spec, spec));
                    ready = Some(done);
                    quick_failures = 0;
                    continue;
                }
                End::Exited(status) => {
                    if let Some(previous) = self.fallback.take() {
                        let why = format!(
                            "the new bootstrap exited during its init ({status}); its last output:\n{}",
                            self.recent_output()
                        );
                        self.say("the new build failed its init: back to the previous one");
                        self.spec = previous;
                        if let Some(r) = ready.take() {
                            let _ = r.send(Err(why));
                        }
                        continue;
                    }
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(format!(
                            "bootstrap (execution environment {}) exited during its init ({status}); \
                            its last output:\n{}",
                            self.number,
                            self.recent_output()
                        )));
                        return;
                    }
                    self.say(format!("bootstrap exited ({status}); starting a new one"));
                }
                End::TimedOut => self.say("starting a new bootstrap after the timeout"),
            }
            if started.elapsed() < Duration::from_secs(2) {
                quick_failures += 1;
                if self.back_off(quick_failures).await {
                    return;
                }
            } else {
                quick_failures = 0;
            }
        }
    }

    /// Waits before a restart (100 ms doubling up to 5 s); true when shut down meanwhile.
    async fn back_off(&mut self, failures: u32) -> bool {
        let wait = Duration::from_millis(100u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(5));
        tokio::select! {
            _ = tokio::time::sleep(wait) => *self.shutdown.borrow(),
            _ = self.shutdown.changed() => true,
        }
    }

    /// Serves invocations with one process until it exits, times out, or we shut down.
    async fn run(
        &mut self,
        child: &mut Child,
        calls: &mut mpsc::Receiver<Call>,
        ready: &mut Option<oneshot::Sender<Result<(), String>>>,
    ) -> End {
        let mut pending: Option<Job> = None;
        loop {
            // Idle: wait for the runtime to ask for an invocation.
            let next = loop {
                tokio::select! {
                    call = calls.recv() => match call {
                        Some(Call::Next(tx)) => break tx,
                        Some(Call::InitError { error_type, payload }) => self.say(format!(
                            "init error {}: {}",
                            error_type.unwrap_or_default(),
                            String::from_utf8_lossy(&payload)
                        )),
                        Some(Call::Response { reply, .. } | Call::Error { reply, .. }) => { let _ = reply.send(false); }
                        None => return End::Shutdown,
                    },
                    status = child.wait() => {
                        if let Some(job) = pending.take() {
                            let _ = self.requeue.send(job);
                        }
                        return End::Exited(describe(status));
                    }
                    Some(switch) = self.switches.recv() => {
                        if let Some(job) = pending.take() {
                            let _ = self.requeue.send(job);
                        }
                        return End::Switch(switch);
                    }
                    _ = self.shutdown.changed() => return End::Shutdown,
                }
            };
            if let Some(r) = ready.take() {
                self.fallback = None;
                let _ = r.send(Ok(()));
            }
            let job = match pending.take() {
                Some(job) => job,
                None => match self.queued_job(child).await {
                    Ok(job) => job,
                    Err(end) => return end,
                },
            };
            let started = Instant::now();
            let deadline = tokio::time::Instant::now() + self.spec.timeout;
            let invocation = NextInvocation {
                request_id: job.request_id.clone(),
                deadline_ms: now_ms() + self.spec.timeout.as_millis() as u64,
                function_arn: self.spec.function_arn.clone(),
                trace_id: job.trace_id.clone(),
                event: job.event.clone(),
            };
            if next.send(invocation).is_err() {
                // The runtime's request went away before it got the event: keep it for its next ask.
                pending = Some(job);
                continue;
            }
            let id = job.request_id.clone();
            self.say(format!("START RequestId: {id} Version: $LATEST"));
            let (outcome, end) = self.outcome(child, calls, &id, deadline).await;
            self.say(format!("END RequestId: {id}"));
            self.say(format!(
                "REPORT RequestId: {id}\tDuration: {:.2} ms",
                started.elapsed().as_secs_f64() * 1000.0
            ));
            let _ = job.reply.send(Invoked {
                env: self.number,
                request_id: id,
                outcome,
            });
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// The next invocation of the queue (skipping those withdrawn by a gateway that stopped
    /// waiting), or how this environment ends meanwhile.
    async fn queued_job(&mut self, child: &mut Child) -> Result<Job, End> {
        let queue = self.queue.clone();
        tokio::select! {
            job = async move {
                let mut queue = queue.lock().await;
                loop {
                    match queue.recv().await {
                        Some(job) if !job.start() => continue,
                        other => break other,
                    }
                }
            } => job.ok_or(End::Shutdown),
            status = child.wait() => Err(End::Exited(describe(status))),
            Some(switch) = self.switches.recv() => Err(End::Switch(switch)),
            _ = self.shutdown.changed() => Err(End::Shutdown),
        }
    }

    /// Waits for the runtime's answer to invocation `id` until `deadline`: its outcome, and how
    /// this environment ends with it (a timeout, an exit, a shutdown), if it does.
    async fn outcome(
        &mut self,
        child: &mut Child,
        calls: &mut mpsc::Receiver<Call>,
        id: &str,
        deadline: tokio::time::Instant,
    ) -> (Outcome, Option<End>) {
        loop {
            tokio::select! {
                call = calls.recv() => match call {
                    Some(Call::Response { request_id, payload, reply }) if request_id == id => {
                        let _ = reply.send(true);
                        return (Outcome::Response(payload), None);
                    }
                    Some(Call::Error { request_id, error_type, payload, reply }) if request_id == id => {
                        let _ = reply.send(true);
                        self.say(format!(
                            "invocation error {}: {}",
                            error_type.as_deref().unwrap_or("unhandled"),
                            String::from_utf8_lossy(&payload)
                        ));
                        return (Outcome::Error { error_type, payload }, None);
                    }
                    Some(Call::Response { reply, .. } | Call::Error { reply, .. }) => { let _ = reply.send(false); }
                    // A second `next` while busy: nothing to give; dropping it answers 500.
                    Some(Call::Next(_)) => {}
                    Some(Call::InitError { error_type, payload }) => self.say(format!(
                        "init error {}: {}",
                        error_type.unwrap_or_default(),
                        String::from_utf8_lossy(&payload)
                    )),
                    None => {
                        return (
                            Outcome::Crashed("the local stack is shutting down".into()),
                            Some(End::Shutdown),
                        );
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    self.say(format!("{id} Task timed out after {:.2} seconds", self.spec.timeout.as_secs_f64()));
                    return (Outcome::TimedOut, Some(End::TimedOut));
                }
                status = child.wait() => {
                    let status = describe(status);
                    self.say(format!("{id} Error: Runtime exited ({status})"));
                    return (Outcome::Crashed(format!("Runtime exited ({status})")), Some(End::Exited(status)));
                }
                _ = self.shutdown.changed() => {
                    return (
                        Outcome::Crashed("the local stack is shutting down".into()),
                        Some(End::Shutdown),
                    );
                }
            }
        }
    }
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("its status is unknown: {e}"),
    }
}
