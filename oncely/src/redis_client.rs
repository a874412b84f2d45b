//! A compact Redis/Valkey client (RESP2) for the idempotency store: `redis://` and `rediss://`
//! URLs (TLS by rustls on ring, the function's own), AUTH (password or ACL user) and the database
//! from the URL, pipelined commands over a small pool of connections. Every call is one attempt
//! bounded by the caller's timeout; a connection that failed or timed out is never reused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// The default port of `redis://` and `rediss://`.
pub const DEFAULT_PORT: u16 = 6379;
/// The most idle connections kept for reuse.
const MAX_IDLE: usize = 16;
/// How long an idle connection is kept by default: as long as the HTTPS client's pool keeps its
/// own (90 s), well inside the idle timeouts between a function and its cache (350 s for the NAT
/// of a VPC function's connections; Redis' own `timeout` is 0, never, unless set).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Bounds on one reply from the server, so that a server that misbehaves (or a man in the middle
/// of a plain `redis://` connection) costs one failed call, never the process: memory is reserved
/// as bytes arrive, never from a length the server announces.
///
/// ```
/// use oncely::redis_client::ReplyLimits;
/// let limits = ReplyLimits { max_reply: 1 << 20, ..ReplyLimits::default() };
/// assert_eq!(limits.max_depth, 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// The deepest nesting of arrays (the store's replies nest at most 2 deep).
    pub max_depth: usize,
    /// The longest line: a simple string, an error, an integer or a length.
    pub max_line: usize,
    /// The most bytes one reply may take on the wire, bulk strings and line ends included.
    pub max_reply: usize,
}

/// Default of [`ReplyLimits::max_reply`] (and of `ONCELY_REDIS_MAX_REPLY_BYTES`): 1 MiB, room for
/// the largest record (400 KiB, as DynamoDB's item limit) several times over.
pub const DEFAULT_MAX_REPLY: usize = 1024 * 1024;

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_depth: 8,
            max_line: 64 * 1024,
            max_reply: DEFAULT_MAX_REPLY,
        }
    }
}

/// Why a Redis URL was refused. The password is never part of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisUrlError {
    /// Not a URL at all.
    #[error("the Redis URL is not a URL ({0}): use redis://[user:password@]host[:port][/db] or rediss://...")]
    Malformed(String),
    /// Neither `redis` nor `rediss`.
    #[error("the Redis URL's scheme is `{0}`: use redis:// (plain) or rediss:// (TLS)")]
    Scheme(String),
    /// No host.
    #[error("the Redis URL has no host: use redis://host:6379")]
    MissingHost,
    /// A path that is not a database number.
    #[error("the Redis URL's path `{0}` is not a database number: use /0 to /15 (or none)")]
    Database(String),
    /// Credentials that do not decode.
    #[error("the Redis URL's user name or password is not valid UTF-8 after percent-decoding")]
    Credentials,
}

/// Where and how to connect, read from a `redis://` or `rediss://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// The host name or address.
    pub host: String,
    /// The port (default 6379).
    pub port: u16,
    /// `rediss://`: TLS.
    pub tls: bool,
    /// The ACL user, if any.
    pub username: Option<String>,
    /// The password (never printed: see the `Debug` impl).
    pub password: Option<String>,
    /// The database number (SELECT).
    pub db: u32,
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl RedisUrl {
    /// Parses `redis[s]://[user[:password]@]host[:port][/db]` (user and password percent-decoded;
    /// a password alone is `redis://:password@host`).
    pub fn parse(text: &str) -> Result<Self, RedisUrlError> {
        let url = url::Url::parse(text.trim()).map_err(|e| RedisUrlError::Malformed(e.to_string()))?;
        let tls = match url.scheme() {
            "redis" | "valkey" => false,
            "rediss" | "valkeys" => true,
            other => return Err(RedisUrlError::Scheme(other.to_string())),
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => return Err(RedisUrlError::MissingHost),
        };
        if host.is_empty() {
            return Err(RedisUrlError::MissingHost);
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(std::borrow::Cow::into_owned)
                .map_err(|_| RedisUrlError::Credentials)
        };
        let username = match url.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = url.password().map(decode).transpose()?;
        let path = url.path().trim_matches('/');
        let db = if path.is_empty() {
            0
        } else {
            path.parse::<u32>()
                .ok()
                .filter(|db| *db < 10_000)
                .ok_or_else(|| RedisUrlError::Database(path.to_string()))?
        };
        Ok(RedisUrl {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            tls,
            username,
            password,
            db,
        })
    }

    /// The URL with the password replaced by `***` (for logs and errors).
    pub fn redacted(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = match (&self.username, &self.password) {
            (Some(user), Some(_)) => format!("{user}:***@"),
            (None, Some(_)) => ":***@".to_string(),
            (Some(user), None) => format!("{user}@"),
            (None, None) => String::new(),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{auth}{host}:{}/{}", self.port, self.db)
    }
}

/// A reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A null bulk string or array.
    Nil,
    /// An integer reply.
    Int(i64),
    /// A simple string reply.
    Simple(String),
    /// A bulk string reply.
    Bulk(Vec<u8>),
    /// An array reply.
    Array(Vec<Value>),
    /// An error reply: its code (the first word, e.g. `NOSCRIPT`, `WRONGPASS`) and its message.
    Error {
        /// The first word.
        code: String,
        /// The rest.
        message: String,
    },
}

/// What can go wrong in one call.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// The TCP connection failed.
    #[error("could not connect to {url}: {source}")]
    Connect {
        /// The server (without credentials).
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS with {url} failed: {message}")]
    Tls {
        /// The server (without credentials).
        url: String,
        /// Why.
        message: String,
    },
    /// Reading or writing failed.
    #[error("the connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// No answer within the call's bound.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Bytes that are not RESP, or a reply over its limits.
    #[error("the server sent something that is not RESP: {0}")]
    Protocol(String),
    /// AUTH or SELECT was refused.
    #[error("the server refused the connection setup ({code}): {message}")]
    Setup {
        /// The error code.
        code: String,
        /// The server's message.
        message: String,
    },
}

impl RespError {
    /// Whether a new attempt on a fresh connection may succeed (connection trouble, not a refusal
    /// such as a wrong password or an untrusted certificate).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RespError::Connect { .. } | RespError::Io(_) | RespError::Timeout(_)
        )
    }
}

/// One command: its arguments as bytes.
#[derive(Debug, Clone, Default)]
pub struct Command(Vec<Vec<u8>>);

impl Command {
    /// A command named `name`.
    pub fn new(name: &str) -> Self {
        Command(vec![name.as_bytes().to_vec()])
    }
    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<[u8]>) -> Self {
        self.0.push(arg.as_ref().to_vec());
        self
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", self.0.len()).as_bytes());
        for arg in &self.0 {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One connection, set up (AUTH, SELECT) and ready for commands.
struct Connection {
    io: BufStream<Box<dyn Io>>,
    /// When it last went back to the pool.
    idle_since: Instant,
}

impl Connection {
    async fn send(&mut self, commands: &[Command]) -> Result<(), RespError> {
        let mut out = Vec::new();
        for command in commands {
            command.encode(&mut out);
        }
        self.io.write_all(&out).await?;
        self.io.flush().await?;
        Ok(())
    }

    async fn read(&mut self, limits: &ReplyLimits) -> Result<Value, RespError> {
        read_reply(&mut self.io, limits).await
    }
}

/// Reads one line (without its CRLF) of at most `limits.max_line` bytes, counting it in `used`.
async fn read_line<R: AsyncBufRead + Unpin>(
    io: &mut R,
    limits: &ReplyLimits,
    used: &mut usize,
) -> Result<Vec<u8>, RespError> {
    let mut line = Vec::new();
    loop {
        let available = io.fill_buf().await?;
        if available.is_empty() {
            return Err(RespError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        // The CRLF does not count towards the line's own length.
        if line.len() + take > limits.max_line + 2 {
            return Err(RespError::Protocol(format!(
                "a line longer than {} bytes",
                limits.max_line
            )));
        }
        line.extend_from_slice(&available[..take]);
        io.consume(take);
        count(used, take, limits)?;
        if done {
            break;
        }
    }
    if !line.ends_with(b"\r\n") {
        return Err(RespError::Protocol("a line without CRLF".into()));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

/// Adds `n` bytes to the reply's total, refusing it past `limits.max_reply`.
fn count(used: &mut usize, n: usize, limits: &ReplyLimits) -> Result<(), RespError> {
    *used += n;
    if *used > limits.max_reply {
        return Err(RespError::Protocol(format!(
            "a reply larger than {} bytes",
            limits.max_reply
        )));
    }
    Ok(())
}

/// Reads one whole reply within `limits`. Arrays are read with an explicit stack (no recursion)
/// and nest at most `max_depth` deep, so the value's drop stays shallow too.
pub async fn read_reply<R: AsyncBufRead + Unpin>(io: &mut R, limits: &ReplyLimits) -> Result<Value, RespError> {
    let mut used = 0;
    let mut stack: Vec<(usize, Vec<Value>)> = Vec::new();
    loop {
        let line = read_line(io, limits, &mut used).await?;
        let (&kind, rest) = line
            .split_first()
            .ok_or_else(|| RespError::Protocol("an empty line".into()))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        let len = || -> Result<i64, RespError> {
            text.parse::<i64>()
                .map_err(|_| RespError::Protocol(format!("bad length `{}`", text.escape_debug())))
        };
        let mut value = match kind {
            b'+' => Value::Simple(text.clone()),
            b'-' => {
                let (code, message) = text.split_once(' ').unwrap_or((&text, ""));
                Value::Error {
                    code: code.to_string(),
                    message: message.to_string(),
                }
            }
            b':' => Value::Int(len()?),
            b'$' => match len()? {
                -1 => Value::Nil,
                n if n < 0 || n as u64 + 2 > (limits.max_reply - used) as u64 => {
                    return Err(RespError::Protocol(format!(
                        "a bulk string of {n} bytes (the reply may take {} bytes)",
                        limits.max_reply
                    )));
                }
                n => {
                    // Grows with what arrives: the announced length reserves nothing.
                    let want = n as usize + 2;
                    let mut data = Vec::new();
                    (&mut *io).take(want as u64).read_to_end(&mut data).await?;
                    if data.len() < want {
                        return Err(RespError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                    }
                    count(&mut used, want, limits)?;
                    if !data.ends_with(b"\r\n") {
                        return Err(RespError::Protocol("a bulk string without CRLF".into()));
                    }
                    data.truncate(n as usize);
                    Value::Bulk(data)
                }
            },
            b'*' => match len()? {
                -1 => Value::Nil,
                0 => Value::Array(Vec::new()),
                // Each element takes at least 3 bytes (`+\r\n`).
                n if n < 0 || n as u64 > ((limits.max_reply - used) / 3) as u64 => {
                    return Err(RespError::Protocol(format!(
                        "an array of {n} elements (the reply may take {} bytes)",
                        limits.max_reply
                    )));
                }
                _ if stack.len() >= limits.max_depth => {
                    return Err(RespError::Protocol(format!(
                        "arrays nested deeper than {}",
                        limits.max_depth
                    )));
                }
                n => {
                    stack.push((n as usize, Vec::new()));
                    continue;
                }
            },
            other => return Err(RespError::Protocol(format!("unknown reply type {:?}", other as char))),
        };
        loop {
            let Some((want, items)) = stack.last_mut() else {
                return Ok(value);
            };
            items.push(value);
            if items.len() < *want {
                break;
            }
            let (_, items) = stack.pop().expect("a frame is open");
            value = Value::Array(items);
        }
    }
}

/// A client for one Redis or Valkey endpoint: a pool of connections made on demand.
pub struct RedisClient {
    url: RedisUrl,
    tls: Option<tokio_rustls::TlsConnector>,
    limits: ReplyLimits,
    idle: Mutex<Vec<Connection>>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RedisClient {
    /// A client for `url`; `rediss://` trusts the platform's root certificates.
    pub fn new(url: RedisUrl) -> Self {
        let tls = url.tls.then(|| tls_connector(crate::tls::native_roots()));
        RedisClient {
            url,
            tls,
            limits: ReplyLimits::default(),
            idle: Mutex::new(Vec::new()),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// A client for `url` that trusts only `roots` for TLS (a private CA).
    pub fn with_roots(url: RedisUrl, roots: rustls::RootCertStore) -> Self {
        let tls = url.tls.then(|| tls_connector(roots));
        RedisClient {
            url,
            tls,
            limits: ReplyLimits::default(),
            idle: Mutex::new(Vec::new()),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// The same client with other bounds on each reply.
    pub fn with_limits(mut self, limits: ReplyLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same client closing connections idle longer than `timeout` instead of reusing them
    /// (default [`DEFAULT_IDLE_TIMEOUT`]): shorter than any idle timeout on the way to the server.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The bounds on each reply.
    pub fn limits(&self) -> &ReplyLimits {
        &self.limits
    }

    /// Closes the idle connections: the next calls connect afresh (after a failover, when the
    /// endpoint's name points at the new primary and the old connections reach a replica).
    pub fn reset(&self) {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The URL it connects to.
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Sends `commands` in one write and reads their replies (one round trip, plus the
    /// connection's setup when no idle one is left), all within `timeout`.
    pub async fn pipeline(&self, commands: &[Command], timeout: Duration) -> Result<Vec<Value>, RespError> {
        match tokio::time::timeout(timeout, self.pipeline_unbounded(commands)).await {
            Ok(result) => result,
            Err(_) => Err(RespError::Timeout(timeout)),
        }
    }

    async fn pipeline_unbounded(&self, commands: &[Command]) -> Result<Vec<Value>, RespError> {
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            idle.retain(|c| c.idle_since.elapsed() < self.idle_timeout);
            idle.pop()
        };
        let mut connection = match idle {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        // Dropped (closed) on any error or timeout: its stream may hold a half-read reply.
        connection.send(commands).await?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            replies.push(connection.read(&self.limits).await?);
        }
        connection.idle_since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
        Ok(replies)
    }

    async fn connect(&self) -> Result<Connection, RespError> {
        let url = &self.url;
        let tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|source| RespError::Connect {
                url: url.redacted(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(url.host.clone()).map_err(|e| RespError::Tls {
                    url: url.redacted(),
                    message: e.to_string(),
                })?;
                Box::new(connector.connect(name, tcp).await.map_err(|e| RespError::Tls {
                    url: url.redacted(),
                    message: e.to_string(),
                })?)
            }
        };
        let mut connection = Connection {
            io: BufStream::new(io),
            idle_since: Instant::now(),
        };
        let mut setup = Vec::new();
        if let Some(password) = &url.password {
            let mut auth = Command::new("AUTH");
            if let Some(user) = &url.username {
                auth = auth.arg(user);
            }
            setup.push(auth.arg(password));
        }
        if url.db != 0 {
            setup.push(Command::new("SELECT").arg(url.db.to_string()));
        }
        if !setup.is_empty() {
            connection.send(&setup).await?;
            for _ in &setup {
                if let Value::Error { code, message } = connection.read(&self.limits).await? {
                    return Err(RespError::Setup { code, message });
                }
            }
        }
        Ok(connection)
    }
}

fn tls_connector(roots: rustls::RootCertStore) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(Arc::new(crate::tls::client_config(roots)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_credentials_tls_and_db() {
        let url = RedisUrl::parse("rediss://app:s%40cret@cache.example:6380/2").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.tls, url.db),
            ("cache.example", 6380, true, 2)
        );
        assert_eq!(url.username.as_deref(), Some("app"));
        assert_eq!(url.password.as_deref(), Some("s@cret"));
        assert_eq!(url.redacted(), "rediss://app:***@cache.example:6380/2");
        assert!(!format!("{url:?}").contains("cret"));
        let url = RedisUrl::parse("redis://:pw@127.0.0.1").unwrap();
        assert_eq!(
            (url.username, url.password.as_deref(), url.port, url.db),
            (None, Some("pw"), 6379, 0)
        );
        let url = RedisUrl::parse("redis://[::1]:7000").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 7000));
        assert_eq!(url.redacted(), "redis://[::1]:7000/0");
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_password() {
        assert!(matches!(RedisUrl::parse("http://h"), Err(RedisUrlError::Scheme(s)) if s == "http"));
        assert!(matches!(RedisUrl::parse("cache:6379"), Err(RedisUrlError::Scheme(_))));
        assert!(matches!(RedisUrl::parse("not a url"), Err(RedisUrlError::Malformed(_))));
        let err = RedisUrl::parse("redis://u:topsecret@h/x").unwrap_err();
        assert!(matches!(err, RedisUrlError::Database(_)));
        assert!(!err.to_string().contains("topsecret"));
        assert!(matches!(RedisUrl::parse("redis:///0"), Err(RedisUrlError::MissingHost)));
    }

    fn read(bytes: &[u8], limits: ReplyLimits) -> Result<Value, RespError> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(read_reply(&mut tokio::io::BufReader::with_capacity(7, bytes), &limits))
    }

    #[test]
    fn replies_of_every_kind_are_read() {
        let limits = ReplyLimits::default();
        let reply = read(
            b"*4\r\n+OK\r\n:-42\r\n$5\r\nhe\r\no\r\n*2\r\n$-1\r\n-NOSCRIPT No matching\r\n",
            limits,
        );
        assert_eq!(
            reply.unwrap(),
            Value::Array(vec![
                Value::Simple("OK".into()),
                Value::Int(-42),
                Value::Bulk(b"he\r\no".to_vec()),
                Value::Array(vec![
                    Value::Nil,
                    Value::Error {
                        code: "NOSCRIPT".into(),
                        message: "No matching".into()
                    }
                ]),
            ])
        );
    }

    #[test]
    fn limits_are_exact() {
        let limits = ReplyLimits {
            max_depth: 2,
            max_line: 4,
            max_reply: 20,
        };
        assert!(read(b"*1\r\n*1\r\n:1\r\n", limits).is_ok());
        assert!(matches!(read(b"*1\r\n*1\r\n*1\r\n:1\r\n", limits),
                Err(RespError::Protocol(m)) if m.contains("deeper than 2")));
        assert!(read(b"+abc\r\n", limits).is_ok());
        assert!(matches!(read(b"+abcd\r\n", limits), Err(RespError::Protocol(m)) if m.contains("longer than 4")));
        // 20 bytes in all: `$14\r\n` (5) + 13 bytes + CRLF = 20.
        assert!(read(b"$13\r\n0123456789abc\r\n", limits).is_ok());
        assert!(matches!(read(b"$14\r\n0123456789abcd\r\n", limits),
                Err(RespError::Protocol(m)) if m.contains("bulk string of 14")));
        assert!(matches!(read(b"*7\r\n", limits), Err(RespError::Protocol(m)) if m.contains("array of 7")));
        assert!(matches!(read(b"$3\r\nabcde", limits), Err(RespError::Protocol(m)) if m.contains("without CRLF")));
        assert!(matches!(read(b"$3\r\nab", limits), Err(RespError::Io(_))));
    }

    #[test]
    fn a_deep_reply_is_refused_without_recursion() {
        // A million nested arrays: read with recursion, or dropped as a value, it would take the
        // stack; refused at the ninth level it costs a few lines.
        let bytes = b"*1\r\n".repeat(1_000_000);
        let err = read(&bytes, ReplyLimits::default()).unwrap_err();
        assert!(
            matches!(&err, RespError::Protocol(m) if m.contains("deeper than 8")),
            "{err}"
        );
    }

    #[test]
    fn commands_encode_as_resp_arrays() {
        let mut out = Vec::new();
        Command::new("GET").arg("k").arg(b"\r\n").encode(&mut out);
        assert_eq!(out, b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$2\r\n\r\n\r\n");
    }
}
