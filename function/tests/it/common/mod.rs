//! Test harness: one DynamoDB Local per test binary, a fresh table per test, clients that count
//! their round trips, and API Gateway v2 (payload 2.0) requests built from the JSON fixtures.
// Also compiled into `tests/logs.rs` (its own binary, for its subscriber), which uses a part of it.
#![allow(dead_code)]

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveSpecification};
use lambda_http::{Body, Context, Request, RequestExt, Response};
use oncely_function::{IdempotencyConfig, KeySource, OrdersApi};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
pub use testkit::Calls;

pub const TTL_ATTRIBUTE: &str = "expires_at";
pub const FUNCTION_NAME: &str = "oncely-orders-test";

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A client for `endpoint` with the test credentials, counting into `calls`.
pub fn client(endpoint: &str, calls: Option<&Calls>) -> Client {
    testkit::dynamodb_client(endpoint, testkit::TEST_KEY_ID, calls)
}

/// A fresh table (hash key `id` S, on demand, TTL on [`TTL_ATTRIBUTE`]).
pub struct Table {
    pub name: String,
    pub endpoint: String,
    pub admin: Client,
}

impl Table {
    pub async fn new() -> Table {
        let endpoint = testkit::dynamodb_local().endpoint();
        let admin = client(&endpoint, None);
        let name = format!(
            "oncely-{}-{}",
            std::process::id(),
            TABLES.fetch_add(1, Ordering::SeqCst)
        );
        testkit::create_table(&admin, &name).await;
        admin
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("enable TTL");
        Table { name, endpoint, admin }
    }

    pub fn config(&self) -> IdempotencyConfig {
        IdempotencyConfig {
            function_name: FUNCTION_NAME.into(),
            ttl_attribute: TTL_ATTRIBUTE.into(),
            ..IdempotencyConfig::default()
        }
    }

    /// An independent API instance (own client, own cache), like one Lambda environment.
    pub fn api(&self) -> (OrdersApi, Calls) {
        self.api_with(self.config())
    }

    pub fn api_with(&self, config: IdempotencyConfig) -> (OrdersApi, Calls) {
        let calls = Calls::default();
        (
            OrdersApi::new(client(&self.endpoint, Some(&calls)), &self.name, config),
            calls,
        )
    }

    /// Every item (the test may Scan; the function never does).
    pub async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let out = self
            .admin
            .scan()
            .table_name(&self.name)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        out.items.unwrap_or_default()
    }

    pub async fn orders(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.items()
            .await
            .into_iter()
            .filter(|i| i["id"].as_s().unwrap().starts_with("order#"))
            .collect()
    }

    pub async fn records(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.items()
            .await
            .into_iter()
            .filter(|i| !i["id"].as_s().unwrap().starts_with("order#"))
            .collect()
    }

    pub async fn item(&self, id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.admin
            .get_item()
            .table_name(&self.name)
            .key("id", AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get")
            .item
    }

    /// Sets a numeric attribute of an item (to age a record).
    pub async fn set_number(&self, id: &str, attribute: &str, value: u64) {
        self.admin
            .update_item()
            .table_name(&self.name)
            .key("id", AttributeValue::S(id.into()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", AttributeValue::N(value.to_string()))
            .send()
            .await
            .expect("update");
    }
}

pub fn with_key_source(mut config: IdempotencyConfig, source: KeySource) -> IdempotencyConfig {
    config.key_source = source;
    config
}

pub fn now_ms() -> u64 {
    oncely_function::idempotency::now_ms()
}

/// A fixture from tests/fixtures as JSON.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// Turns an API Gateway v2 event into the `Request` lambda_http hands the handler, with a
/// Lambda context whose deadline is 30 s away.
pub fn request(event: &serde_json::Value) -> Request {
    request_with_deadline(event, 30_000)
}

/// Like [`request`], with the Lambda deadline `remaining_ms` away.
pub fn request_with_deadline(event: &serde_json::Value, remaining_ms: u64) -> Request {
    let mut context = Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context.deadline = now_ms() + remaining_ms;
    lambda_http::request::from_str(&event.to_string())
        .expect("a valid API Gateway v2 event")
        .with_lambda_context(context)
}

/// `POST /orders` from the real fixture, with this key (None: no header) and body.
pub fn post_event(key: Option<&str>, body: &str) -> serde_json::Value {
    let mut event = fixture("post-orders.json");
    let headers = event["headers"].as_object_mut().unwrap();
    headers.remove("idempotency-key");
    if let Some(key) = key {
        headers.insert("idempotency-key".into(), key.into());
    }
    headers.insert("content-length".into(), body.len().to_string().into());
    event["body"] = body.into();
    event
}

pub fn post(key: Option<&str>, body: &str) -> Request {
    request(&post_event(key, body))
}

/// The `GET /orders/{id}` event of the real fixture.
pub fn get_event(id: &str) -> serde_json::Value {
    let mut event = fixture("get-order.json");
    event["rawPath"] = format!("/orders/{id}").into();
    event["requestContext"]["http"]["path"] = format!("/orders/{id}").into();
    event["pathParameters"]["id"] = id.into();
    event
}

/// `GET /orders/{id}` from the real fixture.
pub fn get(id: &str, if_none_match: Option<&str>) -> Request {
    let mut event = get_event(id);
    if let Some(tag) = if_none_match {
        event["headers"]["if-none-match"] = tag.into();
    }
    request(&event)
}

/// An event for any method and path (for routing tests).
pub fn event_for(method: &str, path: &str) -> serde_json::Value {
    let mut event = fixture("get-order.json");
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["routeKey"] = "$default".into();
    event["requestContext"]["routeKey"] = "$default".into();
    event.as_object_mut().unwrap().remove("pathParameters");
    event
}

/// `event` as API Gateway's JWT authorizer passes it on: `requestContext.authorizer.jwt.claims`
/// (every value a string) with `claims`, as for a Cognito access token.
pub fn with_claims(mut event: serde_json::Value, claims: serde_json::Value) -> serde_json::Value {
    event["requestContext"]["authorizer"] = serde_json::json!({
        "jwt": {"claims": claims, "scopes": ["orders/write"]}
    });
    event
}

/// `event` sent with a valid token of subject `sub` (the claims of a Cognito access token).
pub fn as_subject(event: serde_json::Value, sub: &str) -> serde_json::Value {
    with_claims(
        event,
        serde_json::json!({
            "sub": sub,
            "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
            "client_id": "3n4b5urk1ft4fl3mg5e62d9ado",
            "token_use": "access",
            "scope": "orders/write",
            "auth_time": "1710088800",
            "iat": "1710088800",
            "exp": "1710092400",
            "jti": "5f9c1bd6-8a5e-4f76-9d3f-1a2b3c4d5e6f",
            "username": sub
        }),
    )
}

/// Asserts that `replay` is `original` replayed: same status, headers and body byte for byte,
/// plus `Idempotent-Replayed: true`.
pub fn assert_replay(original: &Response<Body>, replay: &Response<Body>) {
    assert_eq!(replay.status(), original.status());
    assert_eq!(body(replay), body(original), "the body byte for byte");
    assert_eq!(header(replay, "idempotent-replayed"), Some("true"));
    for (name, value) in original.headers() {
        assert_eq!(
            replay.headers().get_all(name).iter().collect::<Vec<_>>(),
            original.headers().get_all(name).iter().collect::<Vec<_>>(),
            "{name}: {value:?}"
        );
    }
    assert_eq!(replay.headers().len(), original.headers().len() + 1);
}

pub fn body(response: &Response<Body>) -> Vec<u8> {
    response.body().as_ref().to_vec()
}

pub fn json(response: &Response<Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(response.body().as_ref())))
}

pub fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Asserts an RFC 9457 problem with this status and returns its body.
pub fn assert_problem(response: &Response<Body>, status: u16) -> serde_json::Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "body: {}",
        String::from_utf8_lossy(response.body().as_ref())
    );
    assert_eq!(header(response, "content-type"), Some("application/problem+json"));
    let problem = json(response);
    assert_eq!(problem["status"], status);
    assert!(
        problem["title"].as_str().is_some_and(|t| t.len() > 10),
        "a title that says what to fix: {problem}"
    );
    assert!(problem["type"].as_str().is_some_and(|t| !t.is_empty()));
    problem
}
