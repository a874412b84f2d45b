//! The `bootstrap` opens its store connections during init, before it asks for its first
//! invocation, and the first request reuses them: DynamoDB Local and `redis-server` behind the
//! kit's TLS proxy (the process trusts its CA through `SSL_CERT_FILE`), the Lambda Runtime API of
//! the local stack, the handshakes counted by the proxy. `IDEMPOTENCY_WARM_UP_MS=0` is the
//! before; a store out of reach delays the start by the bound only. A deployed stack's Redis URL
//! comes from SSM Parameter Store (moto) during init, never from the environment.

use super::common::*;
use oncely_local::runtime_api::{self, Call, NextInvocation};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::{FaultProxy, TlsProxy};
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;

/// A `bootstrap` process and the Runtime API it talks to.
struct Environment {
    child: tokio::process::Child,
    calls: mpsc::Receiver<Call>,
    server: tokio::task::JoinHandle<()>,
}

impl Environment {
    async fn start(vars: &[(&str, &str)]) -> Environment {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap().to_string();
        let (tx, calls) = mpsc::channel(4);
        let server = tokio::spawn(runtime_api::serve(listener, tx));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .env_clear()
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
                ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_REGION", testkit::REGION),
                ("AWS_ACCESS_KEY_ID", testkit::TEST_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("IDEMPOTENCY_TTL_ATTRIBUTE", TTL_ATTRIBUTE),
            ])
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning bootstrap");
        Environment { child, calls, server }
    }

    /// Waits for the runtime's first `next` (its init is over).
    async fn ready(&mut self) -> tokio::sync::oneshot::Sender<NextInvocation> {
        match tokio::time::timeout(Duration::from_secs(20), self.calls.recv()).await {
            Ok(Some(Call::Next(reply))) => reply,
            other => panic!("the runtime's first call is not `next`: {other:?}"),
        }
    }

    /// Hands `event` to the waiting runtime and returns its response document.
    async fn invoke(
        &mut self,
        reply: tokio::sync::oneshot::Sender<NextInvocation>,
        event: serde_json::Value,
    ) -> serde_json::Value {
        let invocation = NextInvocation {
            request_id: "invocation-1".into(),
            deadline_ms: now_ms() + 10_000,
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:orders".into(),
            trace_id: "Root=1-00000000-000000000000000000000000".into(),
            event: event.to_string().into(),
        };
        reply.send(invocation).expect("the runtime waits");
        match tokio::time::timeout(Duration::from_secs(20), self.calls.recv()).await {
            Ok(Some(Call::Response { payload, reply, .. })) => {
                let _ = reply.send(true);
                serde_json::from_slice(&payload).expect("a JSON response")
            }
            other => panic!("no response: {other:?}"),
        }
    }

    /// Stops the process and returns what it logged.
    async fn logs(mut self) -> String {
        self.child.kill().await.unwrap();
        self.server.abort();
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        out
    }
}

/// A fault proxy (passing everything) that records the operations it forwards.
async fn recording_proxy(upstream: &str) -> (FaultProxy, Arc<Mutex<Vec<String>>>) {
    let proxy = FaultProxy::start(upstream).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    proxy.observe(Arc::new(move |operation: &str| {
        log.lock().unwrap().push(operation.to_string());
    }));
    (proxy, seen)
}

async fn first_request_over_tls(warm_up_ms: &str) -> (usize, Vec<String>, usize, serde_json::Value, String) {
    let table = Table::new().await;
    let (proxy, seen) = recording_proxy(&table.endpoint).await;
    let tls = TlsProxy::start(&proxy.endpoint()).await;
    let (endpoint, ca) = (tls.https_url(), tls.ca_file());
    let mut env = Environment::start(&[
        ("TABLE_NAME", table.name.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("IDEMPOTENCY_WARM_UP_MS", warm_up_ms),
    ])
    .await;
    let next = env.ready().await;
    let at_ready = (tls.handshakes(), seen.lock().unwrap().clone());
    let response = env
        .invoke(
            next,
            post_event(Some("warm-up-key-1"), r#"{"item":"tea","quantity":1}"#),
        )
        .await;
    (at_ready.0, at_ready.1, tls.handshakes(), response, env.logs().await)
}

#[tokio::test]
async fn the_tls_connection_to_dynamodb_opens_during_init_and_serves_the_first_request() {
    let (at_ready, seen, after, response, logs) = first_request_over_tls("1000").await;
    assert_eq!(at_ready, 1, "one TLS connection before the first `next`");
    assert_eq!(seen, ["GetItem"], "one read opened it");
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(after, 1, "the first request reused it: {logs}");
    assert!(logs.contains("warm-up: the store's connection is open"), "{logs}");
}

#[tokio::test]
async fn without_warm_up_the_first_request_opens_the_connection() {
    let (at_ready, seen, after, response, logs) = first_request_over_tls("0").await;
    assert_eq!((at_ready, seen.len()), (0, 0), "nothing before the first `next`");
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(after, 1, "the first request opened it");
    assert!(!logs.contains("\"warm-up"), "no warm-up: {logs}");
}

#[tokio::test]
async fn redis_over_tls_and_the_orders_table_are_both_opened_during_init() {
    let table = Table::new().await;
    let (proxy, seen) = recording_proxy(&table.endpoint).await;
    let tls = TlsProxy::start(&format!("127.0.0.1:{}", testkit::redis_server().port())).await;
    let url = format!("rediss://{}", tls.addr());
    let (endpoint, ca) = (proxy.endpoint(), tls.ca_file());
    let mut env = Environment::start(&[
        ("TABLE_NAME", table.name.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("ONCELY_STORE", "redis"),
        ("ONCELY_REDIS_URL", url.as_str()),
    ])
    .await;
    let next = env.ready().await;
    assert_eq!(tls.handshakes(), 1, "Redis' TLS connection opened during init");
    assert_eq!(*seen.lock().unwrap(), ["GetItem"], "and the orders table's");
    let response = env
        .invoke(
            next,
            post_event(Some("warm-up-redis-1"), r#"{"item":"tea","quantity":1}"#),
        )
        .await;
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(tls.handshakes(), 1, "the first request reused it");
    let logs = env.logs().await;
    assert!(logs.contains("warm-up: the store's connection is open"), "{logs}");
}

#[tokio::test]
async fn a_store_out_of_reach_costs_the_start_the_bound_and_nothing_else() {
    // A server that accepts and never answers, then nothing listening at all.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    for endpoint in [silent_url, testkit::closed_endpoint()] {
        let mut env = Environment::start(&[
            ("TABLE_NAME", "orders"),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
            ("IDEMPOTENCY_WARM_UP_MS", "300"),
        ])
        .await;
        let _next = env.ready().await;
        let logs = env.logs().await;
        assert!(
            logs.contains("warm-up failed: the first request connects"),
            "{endpoint}: {logs}"
        );
    }
}

/// A deployed stack's Redis URL: read from an SSM SecureString (moto) during init, named in
/// `ONCELY_SECRETS`, absent from the environment; the store works with it. A missing parameter
/// stops the start with its reference and the service's code.
#[tokio::test]
async fn the_redis_url_is_read_from_ssm_during_init() {
    let table = Table::new().await;
    let moto = testkit::moto();
    let sdk = testkit::sdk_config(&moto.endpoint(), testkit::TEST_KEY_ID);
    let url = format!("redis://127.0.0.1:{}", testkit::redis_server().port());
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name("/orders/test/redis-url")
        .value(&url)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let vars = |reference: &str| {
        vec![
            ("TABLE_NAME".to_string(), table.name.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB".to_string(), table.endpoint.clone()),
            ("AWS_ENDPOINT_URL_SSM".to_string(), moto.endpoint()),
            ("ONCELY_STORE".to_string(), "redis".to_string()),
            ("ONCELY_SECRETS".to_string(), format!("ONCELY_REDIS_URL={reference}")),
        ]
    };
    let found = vars("ssm:/orders/test/redis-url");
    let found: Vec<(&str, &str)> = found.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut env = Environment::start(&found).await;
    let next = env.ready().await;
    let response = env
        .invoke(
            next,
            post_event(Some("secret-redis-1"), r#"{"item":"tea","quantity":1}"#),
        )
        .await;
    assert_eq!(response["statusCode"], 201, "{response}");
    let logs = env.logs().await;
    assert!(logs.contains("warm-up: the store's connection is open"), "{logs}");
    assert!(!logs.contains(&url), "the URL is never logged: {logs}");

    let missing = vars("ssm:/orders/test/nothing");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .envs(missing)
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:1"),
            ("AWS_REGION", testkit::REGION),
            ("AWS_ACCESS_KEY_ID", testkit::TEST_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ssm:/orders/test/nothing does not exist (ParameterNotFound)"),
        "{stderr}"
    );
}
