//! The limits the local gateway enforces the way API Gateway (HTTP API) and Lambda do, and the
//! knobs that make the time limits short enough for tests.
//!
//! Sources (quotas: API Gateway developer guide, "Quotas for configuring and running an HTTP API
//! in API Gateway"; answers: as cited at each item):
//! - "Total combined size of request line and header values: 10240 bytes". What an HTTP API
//!   answers above it is not documented; the closest documented answer is the `REQUEST_TOO_LARGE`
//!   gateway response (default status 413, "Gateway response types for API Gateway"), so it gets
//!   the HTTP API's own 413 body, `{"message":"Request Entity Too Large"}`.
//! - "Payload size: 10 MB" (`gateway::MAX_REQUEST_BODY`, answered 413 in `gateway.rs`).
//! - Lambda's synchronous invocation payload, 6 MB (Lambda quotas; Lambda's error says
//!   "Exceeded maximum allowed payload size (6291556 bytes)"): the JSON event, with a binary body
//!   base64-encoded in it, is what counts. Lambda refuses a larger invocation
//!   (`RequestTooLargeException`) and "If the Lambda API rejects the invocation request, API
//!   Gateway returns a 500 error code" (Lambda developer guide, "Handling Lambda errors with an API
//!   Gateway API"): `500 {"message":"Internal Server Error"}`, the function never runs.
//! - "Maximum integration timeout: 30 seconds": a request still waiting for an idle execution
//!   environment when it expires is answered `503 {"message":"Service Unavailable"}` and never
//!   runs. AWS's guides do not print that answer; it is what HTTP APIs are seen to send at the
//!   timeout (e.g. github.com/cortexlabs/cortex issue 1225, a response with `apigw-requestid`;
//!   github.com/anomalyco/sst issue 2232). An invocation that an environment has taken runs to
//!   its end or its function timeout (at most 29 s, so within the 30 s), as before.

use std::time::Duration;

use anyhow::bail;
use hyper::Request;

use super::response::GatewayResponse;

/// The HTTP API quota on the request line plus the header values.
pub const MAX_HEAD_BYTES: usize = 10_240;
/// Lambda's synchronous invocation payload quota (6 MB as Lambda counts it).
pub const MAX_INVOKE_PAYLOAD: usize = 6_291_556;
/// The HTTP API integration timeout.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may take to deliver a complete request head, counted from its opening or
/// from the previous response: it closes slow-header (slowloris) and idle keep-alive connections.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request body may take to arrive once its head has: a slow body (or a
/// `content-length` that never comes) does not hold a connection forever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 256;

/// The time and connection limits of one local API (the defaults above, or the test knobs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long the gateway waits for a free environment and the function (API Gateway: 30 s).
    pub integration_timeout: Duration,
    /// How long a client may take to send a request's head.
    pub header_timeout: Duration,
    /// How long a client may take to send the body.
    pub body_timeout: Duration,
    /// Connections open at once; more are closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            integration_timeout: INTEGRATION_TIMEOUT,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Environment variables that shorten the limits, for tests only (documented in docs/local-stack.md).
pub const INTEGRATION_TIMEOUT_ENV: &str = "ONCELY_LOCAL_INTEGRATION_TIMEOUT_MS";
/// Shortens [`Limits::header_timeout`] (milliseconds).
pub const HEADER_TIMEOUT_ENV: &str = "ONCELY_LOCAL_HEADER_TIMEOUT_MS";
/// Shortens [`Limits::body_timeout`] (milliseconds).
pub const BODY_TIMEOUT_ENV: &str = "ONCELY_LOCAL_BODY_TIMEOUT_MS";
/// Lowers [`Limits::max_connections`].
pub const MAX_CONNECTIONS_ENV: &str = "ONCELY_LOCAL_MAX_CONNECTIONS";

impl Limits {
    /// The defaults, with any test knob set in the process environment.
    pub fn from_env() -> anyhow::Result<Limits> {
        Limits::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Limits> {
        let mut limits = Limits::default();
        let number = |name: &str, max: u64| -> anyhow::Result<Option<u64>> {
            let Some(text) = var(name) else { return Ok(None) };
            match text.trim().parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                _ => bail!("{name}={text:?} is not a whole number from 1 to {max}"),
            }
        };
        if let Some(ms) = number(INTEGRATION_TIMEOUT_ENV, INTEGRATION_TIMEOUT.as_millis() as u64)? {
            limits.integration_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number(HEADER_TIMEOUT_ENV, 600_000)? {
            limits.header_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number(BODY_TIMEOUT_ENV, 600_000)? {
            limits.body_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = number(MAX_CONNECTIONS_ENV, 65_536)? {
            limits.max_connections = n as usize;
        }
        Ok(limits)
    }
}

/// The size the quota counts: the request line (`METHOD target HTTP/1.1`) plus every header value.
pub fn head_size<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map(|p| p.as_str().len()).unwrap_or(1);
    let version = format!("{:?}", req.version()).len();
    let line = req.method().as_str().len() + 1 + target + 1 + version;
    line + req
        .headers()
        .values()
        .map(hyper::header::HeaderValue::len)
        .sum::<usize>()
}

/// The gateway's answer when the request line and headers are over the quota.
pub fn check_head<B>(req: &Request<B>) -> Option<GatewayResponse> {
    (head_size(req) > MAX_HEAD_BYTES).then(GatewayResponse::too_large)
}

/// Whether Lambda would refuse an invocation with this payload (the serialized event).
pub fn too_large_for_lambda(event_bytes: usize) -> bool {
    event_bytes > MAX_INVOKE_PAYLOAD
}

/// The answer to a body that did not arrive within the body timeout. AWS documents no body timeout
/// for HTTP APIs: this is HTTP's own status for it (RFC 9110, 408 Request Timeout), in API
/// Gateway's JSON shape; the connection is closed after it.
pub fn request_timeout() -> GatewayResponse {
    GatewayResponse::message(408, "Request Timeout")
}

/// The HTTP API's answer to an integration timeout.
pub fn service_unavailable() -> GatewayResponse {
    GatewayResponse::message(503, "Service Unavailable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_counts_the_request_line_and_header_values() {
        let req = Request::builder()
            .method("GET")
            .uri("/orders/1?x=y")
            .header("accept", "a")
            .header("x-long", "v".repeat(100))
            .body(())
            .unwrap();
        // "GET /orders/1?x=y HTTP/1.1" is 26 bytes; the values 1 + 100.
        assert_eq!(head_size(&req), 26 + 101);
        assert!(check_head(&req).is_none());
        let big = Request::builder()
            .uri("/")
            .header("cookie", "c".repeat(MAX_HEAD_BYTES))
            .body(())
            .unwrap();
        let a = check_head(&big).expect("over the quota");
        assert_eq!(
            (a.status, &a.body[..]),
            (413, &br#"{"message":"Request Entity Too Large"}"#[..])
        );
    }

    #[test]
    fn lambda_payload_quota() {
        assert!(!too_large_for_lambda(MAX_INVOKE_PAYLOAD));
        assert!(too_large_for_lambda(MAX_INVOKE_PAYLOAD + 1));
    }

    #[test]
    fn knobs_come_from_the_environment_and_bad_values_are_named() {
        assert_eq!(Limits::from_vars(|_| None).unwrap(), Limits::default());
        let l = Limits::from_vars(|n| match n {
            INTEGRATION_TIMEOUT_ENV => Some("1500".into()),
            HEADER_TIMEOUT_ENV => Some("800".into()),
            BODY_TIMEOUT_ENV => Some("700".into()),
            MAX_CONNECTIONS_ENV => Some("4".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(l.integration_timeout, Duration::from_millis(1500));
        assert_eq!(l.header_timeout, Duration::from_millis(800));
        assert_eq!(l.body_timeout, Duration::from_millis(700));
        assert_eq!(l.max_connections, 4);
        let err = Limits::from_vars(|n| (n == INTEGRATION_TIMEOUT_ENV).then(|| "40000".into()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(INTEGRATION_TIMEOUT_ENV) && err.contains("1 to 30000"),
            "{err}"
        );
        assert!(Limits::from_vars(|n| (n == MAX_CONNECTIONS_ENV).then(|| "many".into())).is_err());
    }

    #[test]
    fn service_unavailable_is_api_gateways_body() {
        let a = service_unavailable();
        assert_eq!(
            (a.status, &a.body[..]),
            (503, &br#"{"message":"Service Unavailable"}"#[..])
        );
    }
}
