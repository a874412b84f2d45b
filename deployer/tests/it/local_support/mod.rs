//! Harness for the `up --local` tests: runs the real `deployer up --local` as a subprocess on a
//! free port with a temporary config, waits for the printed endpoint, and talks HTTP to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use testkit::TempDir;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The most a test waits for a line the stack prints while serving.
pub const LINE_WAIT: Duration = Duration::from_secs(20);

/// Output lines collected from a pipe, with a condition variable to wait on.
#[derive(Default)]
pub struct Lines {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
    closed: Mutex<bool>,
}

impl Lines {
    fn collect(stream: impl std::io::Read + Send + 'static, echo: &'static str) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("ONCELY_TEST_ECHO").is_some() {
                    eprintln!("{echo} {line}");
                }
                l.lines.lock().unwrap().push(line);
                l.changed.notify_all();
            }
            *l.closed.lock().unwrap() = true;
            l.changed.notify_all();
        });
        lines
    }

    pub fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn text(&self) -> String {
        self.all().join("\n")
    }

    /// [`Lines::text`] once a line satisfies `pred`, or after [`LINE_WAIT`] without one. For a line
    /// the stack prints while it serves a request: it is written before the answer, but read here
    /// on another thread, which under load trails the answers.
    pub fn text_with(&self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for(LINE_WAIT, pred);
        self.text()
    }

    /// Waits for a line satisfying `pred`; `None` when the stream closed or `limit` passed.
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut guard = self.lines.lock().unwrap();
        loop {
            if let Some(l) = guard.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            if *self.closed.lock().unwrap() || Instant::now() > deadline {
                return None;
            }
            guard = self.changed.wait_timeout(guard, Duration::from_millis(200)).unwrap().0;
        }
    }
}

/// Options of one local stack.
pub struct StackOptions {
    pub app: &'static str,
    pub concurrency: u32,
    pub timeout_s: u32,
    /// Pass `--dynamodb-endpoint` (the shared DynamoDB Local) instead of letting it start its own.
    pub shared_dynamodb: bool,
}

/// A running `deployer up --local`.
pub struct LocalStack {
    pub child: Child,
    pub stdout: Arc<Lines>,
    pub stderr: Arc<Lines>,
    pub endpoint: String,
    pub port: u16,
    pub dir: StackDir,
    pub client: Client<HttpConnector, Full<Bytes>>,
}

/// What a test adds to the stack beyond [`StackOptions`].
#[derive(Default)]
pub struct Extra<'a> {
    /// YAML lines appended to the `api:` section (indented by two spaces), e.g. a throttle.
    pub api_yaml: &'a str,
    /// Environment variables of `up --local` (the test knobs).
    pub env: &'a [(&'a str, &'a str)],
    /// More arguments of `up --local` (e.g. `--store redis`).
    pub args: &'a [&'a str],
}

/// The config every local test stack uses (concurrency, timeout and app vary), with `api_yaml`
/// appended to the `api:` section.
pub fn config_yaml_with(o: &StackOptions, env_file: &Path, api_yaml: &str) -> String {
    let function = format!(
        "  timeout_s: {}\n  environment:\n    ORDERS_SIMULATED_WORK_MAX_MS: \"10000\"\n",
        o.timeout_s
    );
    let local = format!("local:\n  concurrency: {}\n", o.concurrency);
    crate::support::stack_yaml(o.app, &function, api_yaml, &local, env_file)
}

/// A temporary directory with a stack's config (removed when dropped).
pub struct StackDir {
    /// Held for its drop, which removes the directory.
    _dir: TempDir,
    pub config: PathBuf,
    pub env_file: PathBuf,
}

impl StackDir {
    /// A stack whose config is `config`, in `dir` (removed when dropped).
    pub fn at(dir: TempDir, config: PathBuf) -> StackDir {
        let env_file = dir.path().join("frontend").join(".env.local");
        StackDir {
            _dir: dir,
            config,
            env_file,
        }
    }
}

impl StackOptions {
    /// Writes this stack's config into a fresh temporary directory.
    pub fn write(&self) -> StackDir {
        self.write_with("")
    }

    /// [`StackOptions::write`] with `api_yaml` appended to the `api:` section.
    pub fn write_with(&self, api_yaml: &str) -> StackDir {
        let dir = testkit::temp_dir();
        let env_file = dir.path().join("frontend").join(".env.local");
        let config = dir.path().join("stack.yaml");
        std::fs::write(&config, config_yaml_with(self, &env_file, api_yaml)).unwrap();
        StackDir {
            _dir: dir,
            config,
            env_file,
        }
    }
}

/// `deployer up --local --port <port> --config <config>` and `extra`, run from the workspace root.
pub fn up_local(port: u16, config: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deployer"));
    cmd.args(["up", "--local", "--port", &port.to_string(), "--config"])
        .arg(config)
        .args(extra)
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    cmd
}

impl LocalStack {
    pub fn start(o: StackOptions) -> LocalStack {
        LocalStack::start_with(o, &Extra::default())
    }

    /// [`LocalStack::start`] with extra config and environment.
    pub fn start_with(o: StackOptions, x: &Extra) -> LocalStack {
        let dir = o.write_with(x.api_yaml);
        let port = emulators::free_port().unwrap();
        let shared;
        let extra: &[&str] = if o.shared_dynamodb {
            shared = testkit::dynamodb_local().endpoint();
            &["--dynamodb-endpoint", &shared]
        } else {
            &[]
        };
        let mut cmd = up_local(port, &dir.config, extra);
        cmd.args(x.args).envs(x.env.iter().copied());
        LocalStack::spawn(cmd, port, dir)
    }

    /// Runs `cmd` (an `up --local` on `port`) and waits until it says it is up.
    pub fn spawn(mut cmd: Command, port: u16, dir: StackDir) -> LocalStack {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running the deployer");
        let stdout = Lines::collect(child.stdout.take().unwrap(), "[out]");
        let stderr = Lines::collect(child.stderr.take().unwrap(), "[err]");
        let endpoint = format!("http://127.0.0.1:{port}");
        // The first run builds the function in release: allow for it.
        let up = stdout.wait_for(Duration::from_secs(1500), |l| {
            l.contains(" is up: ") && l.contains(&endpoint)
        });
        if up.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`up --local` did not come up.\nstdout:\n{}\nstderr:\n{}",
                stdout.text(),
                stderr.text()
            );
        }
        let client = Client::builder(TokioExecutor::new()).build_http();
        LocalStack {
            child,
            stdout,
            stderr,
            endpoint,
            port,
            dir,
            client,
        }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, HeaderMap, Bytes) {
        self.request_bytes(method, path, headers, Bytes::from(body.to_string()))
            .await
    }

    /// [`LocalStack::request`] with any body.
    pub async fn request_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> (StatusCode, HeaderMap, Bytes) {
        self.send_to(method, &format!("{}{path}", self.endpoint), headers, body)
            .await
    }

    /// A request to any URL (e.g. another server the stack runs, such as its local issuer).
    pub async fn request_url(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, HeaderMap, Bytes) {
        self.send_to(method, url, headers, Bytes::from(body.to_string())).await
    }

    async fn send_to(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let path = url;
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(url);
        for (n, v) in headers {
            builder = builder.header(*n, *v);
        }
        let req = builder.body(Full::new(body)).unwrap();
        let resp = self
            .client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\nstderr:\n{}", self.stderr.text()));
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, body)
    }

    /// [`LocalStack::invocations`] once the gateway's line for `request` (`"GET /orders/x -> 404"`,
    /// the start of `[api] METHOD PATH -> STATUS (...)`) has been read: the stack prints an
    /// invocation's START before the line for its answer, and its output reaches the test through a
    /// pipe, so a count taken as soon as the answer arrived could miss the last START.
    pub fn invocations_after(&self, request: &str) -> usize {
        let line = format!("[api] {request} ");
        if self.stdout.wait_for(LINE_WAIT, |l| l.starts_with(&line)).is_none() {
            panic!("the stack wrote no `{line}` line:\n{}", self.stdout.text());
        }
        self.invocations()
    }

    /// How many invocations the environments started (their `START RequestId` lines).
    pub fn invocations(&self) -> usize {
        self.stdout
            .all()
            .iter()
            .filter(|l| l.starts_with("[env ") && l.contains("START RequestId:"))
            .count()
    }

    /// The ids of the orders in the stack's table (`order#<id>` items), read consistently.
    pub async fn orders(&self, table: &str) -> Vec<String> {
        table_ids(table)
            .await
            .into_iter()
            .filter(|id| id.starts_with("order#"))
            .collect()
    }

    /// A plain TCP connection to the API (for tests that speak HTTP byte by byte).
    pub fn connect(&self) -> std::net::TcpStream {
        let s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Process ids of the `bootstrap` processes it reported starting.
    pub fn bootstrap_pids(&self) -> Vec<i32> {
        self.started()
            .into_iter()
            .filter_map(|(_, pid)| pid.parse().ok())
            .collect()
    }

    /// The binaries the environments started, in order.
    pub fn bootstrap_binaries(&self) -> Vec<PathBuf> {
        self.started()
            .into_iter()
            .map(|(path, _)| PathBuf::from(path))
            .collect()
    }

    /// Each `[env N] started PATH (pid PID)` line as `(PATH, PID)`.
    fn started(&self) -> Vec<(String, String)> {
        self.stdout
            .all()
            .iter()
            .filter(|l| l.starts_with("[env ") && l.contains("bootstrap (pid "))
            .filter_map(|l| {
                let (path, pid) = l.split_once(" started ")?.1.rsplit_once(" (pid ")?;
                Some((path.to_string(), pid.trim_end_matches(')').to_string()))
            })
            .collect()
    }

    /// Sends SIGINT (as Ctrl-C does) and waits for the exit.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "`up --local` did not exit within 60s of SIGINT"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGINT first, so it stops its children; SIGKILL if it hangs.
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// Process ids whose command line contains every one of `needles`.
pub fn pids_with_cmdline(needles: &[&str]) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if needles.iter().all(|n| args.iter().any(|a| a == n)) {
            out.push(pid);
        }
    }
    out
}

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Reads one HTTP/1.1 response (head and `content-length` body) from a plain connection:
/// `None` when the server closed the connection first.
pub fn read_response(s: &mut std::net::TcpStream) -> Option<(u16, String, Vec<u8>)> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    Some((status, head, body))
}

/// Whether the server has closed this connection: a read ends (EOF or reset) within `limit`
/// instead of timing out. Any bytes read first (a response) are skipped.
pub fn closed_within(s: &mut std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// The `id` of every item of `table` in the shared DynamoDB Local, read consistently.
pub async fn table_ids(table: &str) -> Vec<String> {
    table_items(table)
        .await
        .iter()
        .filter_map(|i| i.get("id")?.as_s().ok().cloned())
        .collect()
}

/// Every item of `table` in the shared DynamoDB Local, read consistently.
pub async fn table_items(table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let client = testkit::dynamodb_client(
        &testkit::dynamodb_local().endpoint(),
        deployer::local::LOCAL_ACCESS_KEY_ID,
        None,
    );
    let scan = client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    scan.items().to_vec()
}
