//! The Lambda Runtime API (version 2018-06-01) one execution environment's `bootstrap` talks to,
//! as the Lambda developer guide ("Using the Lambda runtime API for custom runtimes") defines it:
//!
//! - `GET  /2018-06-01/runtime/invocation/next`: blocks until there is an invocation; answers the
//!   event with `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn`, `-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error`: `202`, or `400`
//!   for an unknown request id; payloads above 6 MB (Lambda's synchronous limit) get `413`;
//! - `POST /2018-06-01/runtime/init/error`: `202`.
//!
//! Each environment has its own listener (its own `AWS_LAMBDA_RUNTIME_API`), so every call is
//! known to come from that environment; the environment's supervisor (`supervisor.rs`) answers them.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Lambda's limit for a synchronous response payload: the same figure as for the invocation
/// (`limits::MAX_INVOKE_PAYLOAD`, 6 MB as Lambda counts it and names it in its errors).
pub const MAX_PAYLOAD: usize = super::limits::MAX_INVOKE_PAYLOAD;

const PREFIX: &str = "/2018-06-01/runtime/";

/// An invocation as handed to the runtime.
#[derive(Debug, Clone)]
pub struct NextInvocation {
    /// The Lambda request id (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// The deadline, epoch milliseconds (`Lambda-Runtime-Deadline-Ms`).
    pub deadline_ms: u64,
    /// The function's ARN (`Lambda-Runtime-Invoked-Function-Arn`).
    pub function_arn: String,
    /// The trace id (`Lambda-Runtime-Trace-Id`).
    pub trace_id: String,
    /// The event, the body of the answer to `next`.
    pub event: Bytes,
}

/// A call of the runtime, for the environment's supervisor to answer.
#[derive(Debug)]
pub enum Call {
    /// The runtime is idle and waits for an invocation.
    Next(oneshot::Sender<NextInvocation>),
    /// The result of invocation `request_id`; the reply says whether that id is the current one.
    Response {
        /// The invocation's request id.
        request_id: String,
        /// The response payload.
        payload: Bytes,
        /// Whether the id was the current invocation's.
        reply: oneshot::Sender<bool>,
    },
    /// The error of invocation `request_id`; the reply says whether that id is the current one.
    Error {
        /// The invocation's request id.
        request_id: String,
        /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
        error_type: Option<String>,
        /// The error document.
        payload: Bytes,
        /// Whether the id was the current invocation's.
        reply: oneshot::Sender<bool>,
    },
    /// The runtime failed its initialisation.
    InitError {
        /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
        error_type: Option<String>,
        /// The error document.
        payload: Bytes,
    },
}

/// A response of the Runtime API to the runtime.
type RuntimeResponse = Response<Full<Bytes>>;

fn json(status: StatusCode, body: String) -> RuntimeResponse {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static header"));
    r
}

fn error(status: StatusCode, error_type: &str, message: &str) -> RuntimeResponse {
    json(
        status,
        serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string(),
    )
}

fn accepted() -> RuntimeResponse {
    json(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_string())
}

/// The Runtime API endpoint a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RuntimeEndpoint<'a> {
    /// `GET /2018-06-01/runtime/invocation/next`.
    Next,
    /// `POST .../invocation/{id}/response`, with the id.
    Response(&'a str),
    /// `POST .../invocation/{id}/error`, with the id.
    Error(&'a str),
    /// `POST /2018-06-01/runtime/init/error`.
    InitError,
}

/// Which endpoint `method` and `path` name, if any.
pub fn endpoint<'a>(method: &Method, path: &'a str) -> Option<RuntimeEndpoint<'a>> {
    let rest = path.strip_prefix(PREFIX)?;
    match (method, rest) {
        (&Method::GET, "invocation/next") => Some(RuntimeEndpoint::Next),
        (&Method::POST, "init/error") => Some(RuntimeEndpoint::InitError),
        (&Method::POST, r) => {
            let r = r.strip_prefix("invocation/")?;
            if let Some(id) = r
                .strip_suffix("/response")
                .filter(|id| !id.is_empty() && !id.contains('/'))
            {
                Some(RuntimeEndpoint::Response(id))
            } else {
                r.strip_suffix("/error")
                    .filter(|id| !id.is_empty() && !id.contains('/'))
                    .map(RuntimeEndpoint::Error)
            }
        }
        _ => None,
    }
}

async fn handle(calls: mpsc::Sender<Call>, req: Request<Incoming>) -> RuntimeResponse {
    let path = req.uri().path().to_string();
    let Some(endpoint) = endpoint(req.method(), &path) else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no such Runtime API endpoint: {} {path}", req.method()),
        );
    };
    let error_type = req
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if endpoint == RuntimeEndpoint::Next {
        let (tx, rx) = oneshot::channel();
        if calls.send(Call::Next(tx)).await.is_err() {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Runtime.ExitError",
                "the execution environment is shutting down",
            );
        }
        return match rx.await {
            Ok(inv) => {
                let mut r = Response::new(Full::new(inv.event));
                let h = r.headers_mut();
                let mut set = |name: &'static str, value: &str| {
                    if let Ok(v) = value.parse() {
                        h.insert(name, v);
                    }
                };
                set("content-type", "application/json");
                set("lambda-runtime-aws-request-id", &inv.request_id);
                set("lambda-runtime-deadline-ms", &inv.deadline_ms.to_string());
                set("lambda-runtime-invoked-function-arn", &inv.function_arn);
                set("lambda-runtime-trace-id", &inv.trace_id);
                r
            }
            Err(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Runtime.ExitError",
                "the execution environment is shutting down",
            ),
        };
    }
    let payload = match Limited::new(req.into_body(), MAX_PAYLOAD).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let (request_id, is_invocation) = match endpoint {
                RuntimeEndpoint::Response(id) | RuntimeEndpoint::Error(id) => (id.to_string(), true),
                _ => (String::new(), false),
            };
            if is_invocation {
                // The invocation fails as in Lambda when a response is too large.
                let (reply, _) = oneshot::channel();
                let payload = Bytes::from(format!(
                    concat!(
                        r#"{{"errorType":"Function.ResponseSizeTooLarge","#,
                        r#""errorMessage":"Response payload size exceeded "#,
                        r#"maximum allowed payload size ({} bytes)."}}"#,
                    ),
                    MAX_PAYLOAD
                ));
                let _ = calls
                    .send(Call::Error {
                        request_id,
                        error_type: Some("Function.ResponseSizeTooLarge".into()),
                        payload,
                        reply,
                    })
                    .await;
            }
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("payloads are limited to {MAX_PAYLOAD} bytes"),
            );
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &format!("reading the body: {e}"),
            );
        }
    };
    let (reply, known) = oneshot::channel();
    let call = match endpoint {
        RuntimeEndpoint::Response(id) => Call::Response {
            request_id: id.to_string(),
            payload,
            reply,
        },
        RuntimeEndpoint::Error(id) => Call::Error {
            request_id: id.to_string(),
            error_type,
            payload,
            reply,
        },
        RuntimeEndpoint::InitError => {
            let _ = calls.send(Call::InitError { error_type, payload }).await;
            return accepted();
        }
        RuntimeEndpoint::Next => unreachable!("handled above"),
    };
    if calls.send(call).await.is_err() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.ExitError",
            "the execution environment is shutting down",
        );
    }
    match known.await {
        Ok(true) => accepted(),
        _ => error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "no invocation with this request id is in progress in this environment",
        ),
    }
}

/// Serves the Runtime API on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, calls: mpsc::Sender<Call>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let calls = calls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let calls = calls.clone();
                async move { Ok::<_, Infallible>(handle(calls, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// POSTs a response of `size` bytes for invocation `id` to a Runtime API whose environment
    /// knows every id; answers the status line and the body.
    async fn post_response(size: usize) -> (String, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let server = tokio::spawn(serve(listener, tx));
        let environment = tokio::spawn(async move {
            while let Some(call) = rx.recv().await {
                if let Call::Response { reply, .. } | Call::Error { reply, .. } = call {
                    let _ = reply.send(true);
                }
            }
        });
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\nHost: {addr}\r\n\
            Content-Length: {size}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // A refused body may be cut off half-way: what matters is the answer.
        let _ = stream.write_all(&vec![b'x'; size]).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        server.abort();
        environment.abort();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.lines().next().unwrap_or_default().to_string();
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        (status, body)
    }

    #[tokio::test]
    async fn responses_up_to_lambdas_figure_are_taken_and_larger_ones_refused_with_it() {
        let (status, _) = post_response(MAX_PAYLOAD).await;
        assert_eq!(status, "HTTP/1.1 202 Accepted");
        let (status, body) = post_response(MAX_PAYLOAD + 1).await;
        assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
        assert!(body.contains(&format!("limited to {MAX_PAYLOAD} bytes")), "{body}");
        assert_eq!(MAX_PAYLOAD, 6_291_556, "the figure Lambda's own error names");
    }

    #[test]
    fn paths_of_the_runtime_api() {
        assert_eq!(
            endpoint(&Method::GET, "/2018-06-01/runtime/invocation/next"),
            Some(RuntimeEndpoint::Next)
        );
        assert_eq!(
            endpoint(&Method::POST, "/2018-06-01/runtime/invocation/abc-1/response"),
            Some(RuntimeEndpoint::Response("abc-1"))
        );
        assert_eq!(
            endpoint(&Method::POST, "/2018-06-01/runtime/invocation/abc-1/error"),
            Some(RuntimeEndpoint::Error("abc-1"))
        );
        assert_eq!(
            endpoint(&Method::POST, "/2018-06-01/runtime/init/error"),
            Some(RuntimeEndpoint::InitError)
        );
        assert_eq!(endpoint(&Method::POST, "/2018-06-01/runtime/invocation/next"), None);
        assert_eq!(
            endpoint(&Method::GET, "/2018-06-01/runtime/invocation/abc/response"),
            None
        );
        assert_eq!(
            endpoint(&Method::POST, "/2018-06-01/runtime/invocation//response"),
            None
        );
        assert_eq!(endpoint(&Method::GET, "/other"), None);
    }
}
