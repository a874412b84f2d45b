//! [`FaultProxy`]: an HTTP/1.1 proxy on 127.0.0.1 in front of DynamoDB (Local) that injects faults
//! per operation (`X-Amz-Target`): latency, resets, lost responses, DynamoDB's own error bodies and
//! black holes, and counts what it did. With [`FaultProxy::start_with`] it fronts any AWS-style
//! HTTP/1.1 endpoint (moto): a caller-supplied function names each request's operation, and an
//! observer sees each forwarded request right after its response came back, before the client does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and send the response back.
    Pass,
    /// Wait this long, then forward it.
    Latency(Duration),
    /// Close the client's connection (with a reset) without forwarding anything.
    ResetBeforeForward,
    /// Forward it, read the whole response, then close the client's connection without sending
    /// it: the write applied, its reply lost.
    DropResponse,
    /// Answer this error without forwarding, in its service's protocol (see [`ErrorReply`] and
    /// [`Fault::internal_server_error`]).
    Error(ErrorReply),
    /// Never answer; the connection stays open until the client closes it.
    BlackHole,
}

impl Fault {
    /// The name it is counted under: `pass`, `latency`, `reset`, `drop_response`, `error`, `black_hole`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Pass => "pass",
            Fault::Latency(_) => "latency",
            Fault::ResetBeforeForward => "reset",
            Fault::DropResponse => "drop_response",
            Fault::Error(..) => "error",
            Fault::BlackHole => "black_hole",
        }
    }

    /// DynamoDB's `500 InternalServerError`, as it sends it.
    pub fn internal_server_error() -> Fault {
        Fault::dynamodb_error(500, "InternalServerError", "Internal server error")
    }

    /// DynamoDB's `400 ThrottlingException`, as it sends it.
    pub fn throttling() -> Fault {
        Fault::dynamodb_error(
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        )
    }

    /// DynamoDB's `400 ProvisionedThroughputExceededException`, as it sends it.
    pub fn provisioned_throughput_exceeded() -> Fault {
        Fault::dynamodb_error(
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your \
            provisioning level with the UpdateTable API.",
        )
    }

    fn dynamodb_error(status: u16, error_type: &str, message: &str) -> Fault {
        Fault::Error(ErrorReply::aws_json(
            status,
            "1.0",
            &format!("com.amazonaws.dynamodb.v20120810#{error_type}"),
            message,
        ))
    }
}

/// An AWS error response as the service's protocol sends it: status, `Content-Type`, the
/// `x-amzn-ErrorType` header of the REST protocols, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub status: u16,
    pub content_type: &'static str,
    pub error_type: Option<String>,
    pub body: String,
}

impl ErrorReply {
    /// The awsJson protocols (DynamoDB `1.0`, CloudWatch Logs `1.1`): the code in `__type`.
    pub fn aws_json(status: u16, version: &str, error_type: &str, message: &str) -> ErrorReply {
        ErrorReply {
            status,
            content_type: if version == "1.0" {
                "application/x-amz-json-1.0"
            } else {
                "application/x-amz-json-1.1"
            },
            error_type: None,
            body: format!(r#"{{"__type":"{error_type}","message":"{message}"}}"#),
        }
    }

    /// The awsQuery protocol (IAM, STS): an XML `ErrorResponse`; `Sender` faults below 500.
    pub fn aws_query(status: u16, xmlns: &str, code: &str, message: &str) -> ErrorReply {
        let kind = if status < 500 { "Sender" } else { "Receiver" };
        ErrorReply {
            status,
            content_type: "text/xml",
            error_type: None,
            body: format!(
                "<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type><Code>{code}</Code>\
                <Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
            ),
        }
    }

    /// The restJson protocol (Lambda, API Gateway): the code in `x-amzn-ErrorType`, `body` as the
    /// service words it.
    pub fn rest_json(status: u16, error_type: &str, body: &str) -> ErrorReply {
        ErrorReply {
            status,
            content_type: "application/json",
            error_type: Some(error_type.to_string()),
            body: body.to_string(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            s if s >= 500 => "Internal Server Error",
            _ => "Error",
        }
    }

    /// The whole response, head and body.
    fn to_bytes(&self) -> Vec<u8> {
        let error_type = self
            .error_type
            .as_ref()
            .map(|t| format!("x-amzn-ErrorType: {t}\r\n"))
            .unwrap_or_default();
        let mut bytes = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\n{error_type}x-amzn-RequestId: fault-proxy\r\n\
            Content-Length: {}\r\n\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

/// What a classifier sees of one request: its method, path (with the query), `X-Amz-Target`
/// (the part after the last dot) and body.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub target: Option<&'a str>,
    pub body: &'a [u8],
}

/// Names a request's operation (what rules match and counts are kept by).
pub type Classify = Arc<dyn Fn(&RequestView<'_>) -> String + Send + Sync>;

/// Called with a forwarded request's operation once its response has been read, before the
/// client gets it.
pub type Observe = Arc<dyn Fn(&str) + Send + Sync>;

/// The default classifier: the `X-Amz-Target` operation (DynamoDB's), else `Unknown`.
fn by_target(request: &RequestView<'_>) -> String {
    request.target.unwrap_or("Unknown").to_string()
}

/// For how many matching requests a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// The next `n` matching requests, then the rule is gone.
    Next(usize),
    /// Every matching request until [`FaultProxy::clear`].
    Always,
}

#[derive(Debug)]
struct Rule {
    operation: String,
    fault: Fault,
    times: Times,
}

/// Rewrites the body of a forwarded response, given the request's operation: `Some(body)`
/// replaces it (the proxy sets its length), `None` keeps it. For what an emulator leaves out of a
/// reply that the real service gives (see [`crate::api_gateway_domain_targets`]).
pub type Rewrite = Arc<dyn Fn(&str, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// Decides the fault of a request that no rule matches, by its operation (see [`FaultProxy::set_policy`]).
pub type Policy = Arc<dyn Fn(&str) -> Fault + Send + Sync>;

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    policy: Option<Policy>,
    counts: HashMap<(String, String), usize>,
    observer: Option<Observe>,
    rewrite: Option<Rewrite>,
}

impl State {
    /// The fault for a request of `operation`: the first live rule that matches, else the
    /// policy's answer, else `Pass`.
    fn choose(&mut self, operation: &str) -> Fault {
        let index = self
            .rules
            .iter()
            .position(|r| r.operation == "*" || r.operation == operation);
        let fault = match index {
            None => self.policy.as_ref().map_or(Fault::Pass, |policy| policy(operation)),
            Some(i) => {
                let fault = self.rules[i].fault.clone();
                if let Times::Next(n) = &mut self.rules[i].times {
                    *n -= 1;
                    if *n == 0 {
                        self.rules.remove(i);
                    }
                }
                fault
            }
        };
        *self
            .counts
            .entry((fault.kind().to_string(), operation.to_string()))
            .or_default() += 1;
        fault
    }
}

/// A fault-injecting proxy on 127.0.0.1 (a free port) in front of `upstream`. Every request
/// passes until a rule says otherwise. Each client connection gets its own upstream connection
/// (keep-alive on both sides). It stops, with every connection it holds, when dropped.
pub struct FaultProxy {
    endpoint: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://host:port`) on the current tokio runtime.
    pub async fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_with(upstream, Arc::new(by_target)).await
    }

    /// Starts a proxy in front of `upstream` whose requests `classify` names.
    pub async fn start_with(upstream: &str, classify: Classify) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("the proxy's address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            // Dropped with this task when the proxy is: every connection ends with it.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        connections.spawn(serve(client, upstream.clone(), shared.clone(), classify.clone()));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        FaultProxy { endpoint, state, task }
    }

    /// The URL clients use (`http://127.0.0.1:port`).
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Applies `fault` to requests of `operation` (`PutItem`, ..., or `*` for any) `times`.
    /// Rules are tried in the order they were set; the first live match wins.
    pub fn inject(&self, operation: &str, fault: Fault, times: Times) {
        self.lock().rules.push(Rule {
            operation: operation.to_string(),
            fault,
            times,
        });
    }

    /// Calls `observe` with every forwarded request's operation, after its response came back and
    /// before it is passed on (replacing any earlier observer).
    pub fn observe(&self, observe: Observe) {
        self.lock().observer = Some(observe);
    }

    /// Rewrites every forwarded response `rewrite` answers `Some` for, from now on (one at a time:
    /// a second call replaces the first).
    pub fn rewrite(&self, rewrite: Rewrite) {
        self.lock().rewrite = Some(rewrite);
    }

    /// Removes every rule: everything passes from now on (unless a policy is set).
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Lets `policy` decide the fault of every request that no rule matches (a seeded random
    /// campaign, say). It is called with the proxy's lock held: it must not call the proxy.
    pub fn set_policy(&self, policy: Policy) {
        self.lock().policy = Some(policy);
    }

    /// Removes the policy: requests that no rule matches pass again.
    pub fn clear_policy(&self) {
        self.lock().policy = None;
    }

    /// How many requests of `operation` got a fault of `kind` (see [`Fault::kind`]).
    pub fn count(&self, kind: &str, operation: &str) -> usize {
        self.lock()
            .counts
            .get(&(kind.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every count so far, by (fault kind, operation).
    pub fn counts(&self) -> HashMap<(String, String), usize> {
        self.lock().counts.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("endpoint", &self.endpoint).finish()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One parsed HTTP/1.1 message: its raw bytes (head and body, as received) and what we need of it.
struct Message {
    raw: Vec<u8>,
    /// Where the body starts in `raw`.
    head_len: usize,
    /// The request line's method and path (empty for a response).
    method: String,
    path: String,
    target: Option<String>,
    close: bool,
    chunked: bool,
}

/// Reads one message (request, or response when `response`) from `reader`; `None` at a clean EOF.
async fn read_message<R: AsyncBufReadExt + Unpin>(reader: &mut R, response: bool) -> std::io::Result<Option<Message>> {
    let mut raw = Vec::new();
    let mut first = true;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut target = None;
    let mut close = false;
    let (mut method, mut path) = (String::new(), String::new());
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            if first && raw.is_empty() {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if first {
            first = false;
            close = response && text.starts_with("HTTP/1.0");
            if !response {
                let mut parts = text.split(' ');
                method = parts.next().unwrap_or("").to_string();
                path = parts.next().unwrap_or("").to_string();
            }
            continue;
        }
        if text.is_empty() {
            break;
        }
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "x-amz-target" => target = Some(value.rsplit('.').next().unwrap_or(value).to_string()),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let head_len = raw.len();
    if chunked {
        loop {
            let mut size_line = Vec::new();
            reader.read_until(b'\n', &mut size_line).await?;
            raw.extend_from_slice(&size_line);
            let size_text = String::from_utf8_lossy(&size_line);
            let size_text = size_text.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut trailer = Vec::new();
                    reader.read_until(b'\n', &mut trailer).await?;
                    raw.extend_from_slice(&trailer);
                    if trailer.is_empty() || trailer == b"\r\n" || trailer == b"\n" {
                        break;
                    }
                }
                break;
            }
            // The chunk and its CRLF.
            append_exactly(reader, size.saturating_add(2), &mut raw).await?;
        }
    } else if let Some(length) = length {
        append_exactly(reader, length as u64, &mut raw).await?;
    } else if response {
        // No length: the body runs to the end of the connection.
        reader.read_to_end(&mut raw).await?;
        close = true;
    }
    Ok(Some(Message {
        raw,
        head_len,
        method,
        path,
        target,
        close,
        chunked,
    }))
}

/// Serves one client connection until it closes or a fault closes it.
async fn serve(client: TcpStream, upstream_addr: String, state: Arc<Mutex<State>>, classify: Classify) {
    let (client_read, mut client_write) = client.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut upstream: Option<BufReader<TcpStream>> = None;
    while let Ok(Some(request)) = read_message(&mut client_read, false).await {
        let operation = classify(&RequestView {
            method: &request.method,
            path: &request.path,
            target: request.target.as_deref(),
            body: &request.raw[request.head_len..],
        });
        let fault = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .choose(&operation);
        match fault {
            Fault::ResetBeforeForward => {
                if let Ok(stream) = client_read.into_inner().reunite(client_write) {
                    let _ = stream.set_zero_linger();
                }
                return;
            }
            Fault::BlackHole => {
                // Swallow whatever comes until the client gives up.
                let mut sink = [0; 4096];
                while matches!(client_read.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            Fault::Error(reply) => {
                if client_write.write_all(&reply.to_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
            Fault::Latency(delay) => tokio::time::sleep(delay).await,
            Fault::Pass | Fault::DropResponse => {}
        }
        let Some(mut response) = forward(&mut upstream, &upstream_addr, &request.raw).await else {
            return;
        };
        if response.close {
            upstream = None;
        }
        let (observer, rewrite) = {
            let s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (s.observer.clone(), s.rewrite.clone())
        };
        if let Some(rewrite) = rewrite
            && !response.chunked
            && let Some(body) = rewrite(&operation, &response.raw[response.head_len..])
        {
            response.raw = with_body(&response.raw[..response.head_len], &body);
        }
        if let Some(observe) = observer {
            observe(&operation);
        }
        if fault == Fault::DropResponse || client_write.write_all(&response.raw).await.is_err() || request.close {
            return;
        }
    }
}

/// A response of head `head` (as received) with `body` instead of its own: its length set anew.
fn with_body(head: &[u8], body: &[u8]) -> Vec<u8> {
    let head = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name != "content-length" && name != "transfer-encoding" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut raw = out.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Sends `request` upstream (connecting first if needed) and reads the whole response.
async fn forward(upstream: &mut Option<BufReader<TcpStream>>, addr: &str, request: &[u8]) -> Option<Message> {
    if upstream.is_none() {
        *upstream = Some(BufReader::new(TcpStream::connect(addr).await.ok()?));
    }
    let connection = upstream.as_mut()?;
    connection.get_mut().write_all(request).await.ok()?;
    read_message(connection, true).await.ok().flatten()
}

/// Appends exactly `n` more bytes of `reader` to `raw`, growing it by what arrives rather than
/// reserving `n` up front (a peer's length is not to be trusted); an early end is an error.
async fn append_exactly<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    n: u64,
    raw: &mut Vec<u8>,
) -> std::io::Result<()> {
    let before = raw.len();
    reader.take(n).read_to_end(raw).await?;
    if ((raw.len() - before) as u64) < n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the message ended early",
        ));
    }
    Ok(())
}
