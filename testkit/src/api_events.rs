//! API Gateway HTTP API (payload 2.0) requests built from real events, as `lambda_http` hands them
//! to a handler, and assertions on the responses (replays, RFC 9457 problems).

use lambda_http::{Body, Context, Request, RequestExt, Response};

/// The current time in epoch milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fixture of `testkit/fixtures/` (real API Gateway v2 events) as JSON.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
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
    // As Lambda passes it: `Root=1-{time}-{24 hex}` with the parent segment and the sampling.
    let id = uuid::Uuid::new_v4().simple().to_string();
    context.xray_trace_id = Some(format!(
        "Root=1-{:08x}-{};Parent={};Sampled=1",
        now_ms() / 1000,
        &id[..24],
        &id[16..32]
    ));
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

/// `POST /orders` from the real fixture, with this key (None: no header) and body.
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

/// The body's bytes.
pub fn body(response: &Response<Body>) -> Vec<u8> {
    response.body().as_ref().to_vec()
}

/// The body as JSON (panics, showing it, when it is not).
pub fn json(response: &Response<Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(response.body().as_ref())))
}

/// One header's value as text.
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
