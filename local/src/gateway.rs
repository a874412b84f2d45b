//! The HTTP API emulator on 127.0.0.1: CORS preflight, route matching, payload 2.0 events, one
//! Lambda invocation per request through the pool, API Gateway's response mapping, and one log
//! line per request (method, path, status, route, environment, replayed or not, duration).
//!
//! Status codes the gateway itself produces: `404 {"message":"Not Found"}` for no route,
//! `413 {"message":"Request Entity Too Large"}` above 10 MB (the HTTP API payload quota), and
//! `500 {"message":"Internal Server Error"}` for a function error, an invalid response, a crash
//! and a function timeout: Lambda reports a timeout as a function error ("Task timed out after
//! N seconds"), which an HTTP API answers with that 500 (API Gateway developer guide,
//! "Troubleshooting issues with HTTP API Lambda integrations"). The HTTP API's own 30 s
//! integration timeout (`503 {"message":"Service Unavailable"}`) cannot happen first to a running
//! invocation, because the config limits `function.timeout_s` to 29; it answers a request still
//! waiting for an environment. That and the other limits (throttle, head size, Lambda's payload,
//! connections): `limits.rs`, `throttle.rs`.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::clock::now_ms;
use super::cors;
use super::event::{self, Gateway};
use super::hosts::AllowedHosts;
use super::limits::{self, Limits};
use super::pool::{Invoked, Outcome, Pool, trace_id};
use super::response::{self, GatewayResponse, into_response};
use super::routes::Router;
use super::throttle::{self, Bucket};
use oncely_config::CorsSettings;

/// The HTTP API payload quota.
pub const MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;

/// What the request log says for a preflight answered by the gateway.
const PREFLIGHT: &str = "(CORS preflight)";

/// Everything a request needs.
pub struct Api {
    /// Matches a request to a route key.
    pub router: Router,
    /// `api.cors`; `None`: no CORS headers, preflights go to the routes.
    pub cors: Option<CorsSettings>,
    /// The execution environments that run the function.
    pub pool: Arc<Pool>,
    /// The port the API listens on.
    pub port: u16,
    /// The account id of the events.
    pub account_id: String,
    /// The API's id in the events.
    pub api_id: String,
    /// `api.throttle`.
    pub throttle: Bucket,
    /// API Gateway's and Lambda's limits.
    pub limits: Limits,
    /// `api.auth`'s JWT authorizer; `None`: every route is open.
    pub auth: Option<Arc<super::auth::Authorizer>>,
    /// The function's EMF counts, served at `GET /_oncely/metrics` (local only).
    pub metrics: Arc<super::metrics::LocalMetrics>,
    /// The `Host` names answered (others: 403).
    pub hosts: AllowedHosts,
}

/// Binds the API's port on 127.0.0.1, with a clear error when it is taken.
pub fn bind(port: u16) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "port {port} on 127.0.0.1 is already in use: stop what listens there, \
                or choose another port with `--port N`"
            )
        } else {
            anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}")
        }
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves until the task is aborted.
pub async fn serve(listener: std::net::TcpListener, api: Arc<Api>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(api.limits.max_connections));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // Over the connection cap: closed at once (dropped), the open ones keep being served.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            println!(
                "[api] connection from {peer} closed: {} connections are open (the limit)",
                api.limits.max_connections
            );
            continue;
        };
        let api = api.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let header_timeout = api.limits.header_timeout;
            let service = service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(handle(&api, req, peer).await) }
            });
            // The header timer runs from the connection's opening and from each response to the
            // next complete request head: it closes slow-header and idle keep-alive connections.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What the log line says about a request besides its answer.
struct Served {
    route: Option<String>,
    env: usize,
}

async fn handle(api: &Api, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let request_id = gateway_request_id();
    let request_headers = req.headers().clone();
    let (mut answer, served) = answer(api, req, peer, &request_id).await;
    if let Some(c) = &api.cors
        && served.route.as_deref() != Some(PREFLIGHT)
    {
        cors::decorate(c, &request_headers, &mut answer);
    }
    answer.headers.push(("apigw-requestid".into(), request_id));
    let replayed = answer
        .header("idempotent-replayed")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    println!(
        "[api] {method} {path} -> {} ({}, {}, replayed: {}, {:.0} ms)",
        answer.status,
        served
            .route
            .map(|r| format!("route \"{r}\""))
            .unwrap_or_else(|| "no route".into()),
        if served.env > 0 {
            format!("env {}", served.env)
        } else {
            "gateway".into()
        },
        if replayed { "yes" } else { "no" },
        started.elapsed().as_secs_f64() * 1000.0
    );
    into_response(answer)
}

async fn answer(api: &Api, req: Request<Incoming>, peer: SocketAddr, request_id: &str) -> (GatewayResponse, Served) {
    let method = req.method().as_str().to_string();
    if !api.hosts.allows(req.headers()) {
        return (api.hosts.refusal(req.headers()), Served { route: None, env: 0 });
    }
    if let Some(refused) = limits::check_head(&req) {
        return (refused, Served { route: None, env: 0 });
    }
    if method == "GET" && req.uri().path() == super::metrics::METRICS_PATH {
        let route = Some(super::metrics::METRICS_PATH.into());
        return (metrics_answer(api), Served { route, env: 0 });
    }
    if !api.throttle.try_take() {
        return (throttle::too_many_requests(), Served { route: None, env: 0 });
    }
    if let Some(c) = &api.cors
        && cors::is_preflight(&method, req.headers())
    {
        return (
            cors::preflight(c, req.headers()),
            Served {
                route: Some(PREFLIGHT.into()),
                env: 0,
            },
        );
    }
    let raw_path = req.uri().path().to_string();
    let Some(matched) = api.router.find(&method, &raw_path) else {
        return (GatewayResponse::not_found(), Served { route: None, env: 0 });
    };
    let route_key = matched.route.to_string();
    let authorizer = match &api.auth {
        Some(auth) => match auth.authorize(matched.route, req.headers()).await {
            Ok(a) => a,
            Err(denied) => {
                return (
                    denied,
                    Served {
                        route: Some(route_key),
                        env: 0,
                    },
                );
            }
        },
        None => None,
    };
    let path_parameters = matched.path_parameters;
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let protocol = format!("{:?}", req.version());
    let (parts, body) = req.into_parts();
    let body = match read_body(api, body).await {
        Ok(body) => body,
        Err(refused) => {
            return (
                refused,
                Served {
                    route: Some(route_key),
                    env: 0,
                },
            );
        }
    };
    let time_epoch_ms = now_ms();
    let trace = trace_id();
    let domain_name = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| format!("127.0.0.1:{}", api.port));
    let gateway = Gateway {
        account_id: api.account_id.clone(),
        api_id: api.api_id.clone(),
        domain_name,
        port: api.port,
        request_id: request_id.to_string(),
        trace_id: trace.clone(),
        time_epoch_ms,
    };
    let request = event::RequestParts {
        method: &method,
        raw_path: &raw_path,
        raw_query: &raw_query,
        headers: &parts.headers,
        body: &body,
        source_ip: peer.ip().to_string(),
        protocol: &protocol,
    };
    let event = super::auth::with_authorizer(
        event::build(&request, &route_key, &path_parameters, &gateway),
        authorizer,
    )
    .to_string();
    let served = |env| Served {
        route: Some(route_key.clone()),
        env,
    };
    if limits::too_large_for_lambda(event.len()) {
        println!(
            "[api] {method} {raw_path}: Lambda refused the invocation: its {} byte payload is over the {} byte quota",
            event.len(),
            limits::MAX_INVOKE_PAYLOAD
        );
        return (GatewayResponse::internal_error(), served(0));
    }
    let Some(invoked) = api
        .pool
        .invoke_within(Bytes::from(event), trace, api.limits.integration_timeout)
        .await
    else {
        println!(
            "[api] {method} {raw_path}: no execution environment was free within the {} ms integration timeout",
            api.limits.integration_timeout.as_millis()
        );
        return (limits::service_unavailable(), served(0));
    };
    let env = invoked.env;
    let answer = integration_answer(invoked, &format!("{method} {raw_path} (apigw-requestid {request_id})"));
    (answer, served(env))
}

/// `GET /_oncely/metrics`: the counts and latencies of the function's EMF lines so far.
fn metrics_answer(api: &Api) -> GatewayResponse {
    GatewayResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(api.metrics.to_json()),
    }
}

/// The request's body, read within the body timeout and API Gateway's size limit; the answer
/// API Gateway gives when it is not.
async fn read_body(api: &Api, body: Incoming) -> Result<Bytes, GatewayResponse> {
    let read = tokio::time::timeout(api.limits.body_timeout, Limited::new(body, MAX_REQUEST_BODY).collect());
    match read.await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Err(_) => Err(limits::request_timeout()),
        Ok(Err(_)) => Err(GatewayResponse::too_large()),
    }
}

/// What API Gateway answers for an invocation's outcome: the function's response mapped, or a
/// `500` for anything else, the reason printed with `request` (method, path, request id).
fn integration_answer(invoked: Invoked, request: &str) -> GatewayResponse {
    let say = |why: &str| {
        println!("[api] {request}: Lambda request {} failed: {why}", invoked.request_id);
    };
    match invoked.outcome {
        Outcome::Response(ref payload) => match response::from_function(payload) {
            Ok(a) => a,
            Err(why) => {
                say(&format!("invalid response: {why}"));
                GatewayResponse::internal_error()
            }
        },
        Outcome::Error {
            ref error_type,
            ref payload,
        } => {
            say(&format!(
                "function error {}: {}",
                error_type.as_deref().unwrap_or("unhandled"),
                String::from_utf8_lossy(payload)
            ));
            GatewayResponse::internal_error()
        }
        Outcome::TimedOut => {
            say("the function timed out");
            GatewayResponse::internal_error()
        }
        Outcome::Crashed(ref why) => {
            say(why);
            GatewayResponse::internal_error()
        }
    }
}

/// An API Gateway style request id (`UaJ8niKpoAMEbVQ=`).
fn gateway_request_id() -> String {
    base64::engine::general_purpose::STANDARD.encode(&uuid::Uuid::new_v4().as_bytes()[..10])
}
