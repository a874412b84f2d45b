//! The HTTP adapter for `lambda_http`: the key from a header or body fields, the caller from the
//! JWT authorizer's claims, RFC 9457 problems for every answer that is not the handler's, and
//! replays marked `Idempotent-Replayed: true`.

mod answers;
pub mod metrics;
mod problem;

pub use problem::{PROBLEM_JSON, Problem};

use crate::caller::Caller;
use crate::config::KeySource;
use crate::engine::{Completion, HandlerError, Idempotency, Outcome, Ran, RunError};
use crate::fingerprint::checked_fingerprint;
use crate::key::{KeyError, caller_key_hash, key_from_body_fields, key_from_headers, key_hash};
use crate::persistence::Persistence;
use crate::record::{StoredResponse, now_ms};
use answers::{error_answer, key_problem, lossy_json};
use lambda_http::http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use std::future::Future;

/// The header added to every replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

impl<P: Persistence> Idempotency<P> {
    /// The invocation's deadline (epoch ms): the Lambda context's, or `fallback_deadline` after
    /// `started_ms` outside Lambda.
    pub fn deadline_ms(&self, request: &Request, started_ms: u64) -> u64 {
        match request.lambda_context_ref().map(|c| c.deadline) {
            Some(d) if d > 0 => d,
            _ => started_ms + self.config().fallback_deadline.as_millis() as u64,
        }
    }

    /// The record id for an anonymous caller's `client_key` on `method` + `route` (what is stored
    /// instead of the key).
    pub fn key_hash(&self, method: &str, route: &str, client_key: &str) -> String {
        key_hash(&self.config().function_name, method, route, client_key)
    }

    /// The record id for `caller`'s `client_key` on `method` + `route`: each caller has its own
    /// key space (see [`caller_key_hash`]); an anonymous caller's is [`Idempotency::key_hash`].
    pub fn caller_key_hash(&self, caller: &Caller, method: &str, route: &str, client_key: &str) -> String {
        caller_key_hash(&self.config().function_name, method, route, client_key, caller)
    }

    /// Runs `execute` at most once per key on `route` and returns the response.
    /// See [`Idempotency::handle_with_outcome`].
    pub async fn handle<T, V, F, Fut>(&self, request: &Request, route: &str, validate: V, execute: F) -> Response<Body>
    where
        V: FnOnce(&Request) -> Result<T, Problem>,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Completion<Response<Body>, P::Write>, HandlerError>>,
    {
        self.handle_with_outcome(request, route, validate, execute).await.0
    }

    /// Like [`Idempotency::handle`], also returning what happened. The caller is read from the
    /// request ([`Caller::from_request`]): a token without a subject is refused with `401` and
    /// nothing recorded; otherwise see [`Idempotency::handle_as`].
    pub async fn handle_with_outcome<T, V, F, Fut>(
        &self,
        request: &Request,
        route: &str,
        validate: V,
        execute: F,
    ) -> (Response<Body>, Outcome)
    where
        V: FnOnce(&Request) -> Result<T, Problem>,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Completion<Response<Body>, P::Write>, HandlerError>>,
    {
        match Caller::from_request(request) {
            Ok(caller) => self.handle_as(&caller, request, route, validate, execute).await,
            Err(err) => {
                let ids = ids(request);
                tracing::info!(
                    request_id = %ids.request,
                    trace_id = ids.trace.as_deref(),
                    outcome = "rejected",
                    reason = %err,
                    "caller refused",
                );
                (err.problem().into_response(), Outcome::Rejected)
            }
        }
    }

    /// Runs `execute` at most once per key of `caller` on `route` and returns the response and
    /// what happened. Each caller has its own key space: the same key sent by two callers is two
    /// records, and a record is only ever answered to the caller that made it.
    ///
    /// 1. The key is read (header or body fields); a missing or invalid key → 400. The body's
    ///    fingerprint is taken (RFC 8785); JSON without an exact canonical form → 400.
    /// 2. `validate` parses the request; its [`Problem`] (e.g. a 400) is returned and nothing is recorded.
    /// 3. The local cache may replay a COMPLETED record (no store call).
    /// 4. One conditional write claims the key; a live record answers: replay, 409 or 422.
    /// 5. `execute` runs; on success its response and writes commit in one transaction with the
    ///    record's move to COMPLETED. On an error, a panic or a 5xx, the claim is released.
    pub async fn handle_as<T, V, F, Fut>(
        &self,
        caller: &Caller,
        request: &Request,
        route: &str,
        validate: V,
        execute: F,
    ) -> (Response<Body>, Outcome)
    where
        V: FnOnce(&Request) -> Result<T, Problem>,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Completion<Response<Body>, P::Write>, HandlerError>>,
    {
        let ids = ids(request);
        let started_ms = now_ms();
        let deadline_ms = self.deadline_ms(request, started_ms);

        let client_key = match self.client_key(request) {
            Ok(key) => key,
            Err(err) => {
                tracing::info!(
                    request_id = %ids.request,
                    trace_id = ids.trace.as_deref(),
                    outcome = "rejected",
                    reason = %err,
                    "idempotency key refused",
                );
                return (key_problem(&err).into_response(), Outcome::Rejected);
            }
        };
        let hash = self.caller_key_hash(caller, request.method().as_str(), route, &client_key);
        drop(client_key);
        // A retry that sends the very bytes of an executed or replayed request replays from the
        // cache: the same bytes have the same fingerprint, and they passed `validate` then.
        let body = request.body().as_ref();
        if let Some(stored) = self.cache.replay_if_sent(&hash, body, started_ms) {
            let (response, outcome) = answer(Ok(self.replayed(stored, true)));
            log_request(&ids, &hash, caller, outcome, &response);
            return (response, outcome);
        }
        let fingerprint = match checked_fingerprint(body) {
            Ok(fingerprint) => fingerprint,
            Err(lossy) => {
                tracing::info!(
                    request_id = %ids.request,
                    trace_id = ids.trace.as_deref(),
                    outcome = "rejected",
                    reason = %lossy,
                    "request body has no exact fingerprint",
                );
                return (lossy_json(&lossy).into_response(), Outcome::Rejected);
            }
        };
        let input = match validate(request) {
            Ok(input) => input,
            Err(problem) => {
                tracing::info!(
                    request_id = %ids.request,
                    trace_id = ids.trace.as_deref(),
                    outcome = "rejected",
                    status = problem.status,
                    "request refused before any claim",
                );
                return (problem.into_response(), Outcome::Rejected);
            }
        };
        let ran = self
            .once(&hash, fingerprint, deadline_ms, input, execute, store_response)
            .await;
        let (response, outcome) = answer(ran);
        if matches!(outcome, Outcome::Executed | Outcome::Replayed { .. }) {
            self.cache.remember_sent(&hash, body);
        }
        log_request(&ids, &hash, caller, outcome, &response);
        (response, outcome)
    }

    /// The record id a request of `caller` on `route` has (`None` when its key is missing or invalid).
    pub fn record_id(&self, caller: &Caller, request: &Request, route: &str) -> Option<String> {
        let key = self.client_key(request).ok()?;
        Some(self.caller_key_hash(caller, request.method().as_str(), route, &key))
    }

    fn client_key(&self, request: &Request) -> Result<String, KeyError> {
        match &self.config().key_source {
            KeySource::Header(name) => key_from_headers(request.headers(), name),
            KeySource::BodyFields(fields) => {
                let body = serde_json::from_slice::<serde_json::Value>(request.body().as_ref())
                    .ok()
                    .filter(serde_json::Value::is_object);
                let Some(body) = body else {
                    return Err(KeyError::MissingField {
                        field: fields.first().cloned().unwrap_or_default(),
                    });
                };
                key_from_body_fields(&body, fields)
            }
        }
    }
}

/// The stored form of a response; a 5xx is not stored (the claim is released, a retry runs).
fn store_response(response: &Response<Body>) -> Result<Option<StoredResponse>, String> {
    if response.status().is_server_error() {
        return Ok(None);
    }
    Ok(Some(capture(response)))
}

/// The response for what the engine did, and its outcome.
fn answer(ran: Result<Ran<Response<Body>>, RunError>) -> (Response<Body>, Outcome) {
    match ran {
        Ok(Ran::Executed(response)) => (response, Outcome::Executed),
        Ok(Ran::Replayed { stored, cached }) => (replay(&stored), Outcome::Replayed { cached }),
        Ok(Ran::NotStored(response)) => (response, Outcome::Failed),
        Err(err) => (error_answer(&err), err.outcome()),
    }
}

/// Captures a response (its body is read as bytes: text and binary alike).
pub fn capture(response: &Response<Body>) -> StoredResponse {
    StoredResponse {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect(),
        body: response.body().as_ref().to_vec(),
    }
}

/// Rebuilds a stored response byte for byte and adds `Idempotent-Replayed: true`.
pub fn replay(stored: &StoredResponse) -> Response<Body> {
    let body = match String::from_utf8(stored.body.clone()) {
        Ok(text) if !stored.body.is_empty() => Body::Text(text),
        Ok(_) => Body::Empty,
        Err(_) => Body::Binary(stored.body.clone()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    for (name, value) in &stored.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
            response.headers_mut().append(n, v);
        }
    }
    response.headers_mut().insert(
        HeaderName::from_static(REPLAYED_HEADER),
        HeaderValue::from_static("true"),
    );
    response
}

/// The log line of a request that reached the engine.
fn log_request(ids: &Ids, hash: &str, caller: &Caller, outcome: Outcome, response: &Response<Body>) {
    tracing::info!(
        request_id = %ids.request,
        trace_id = ids.trace.as_deref(),
        key_hash = %hash,
        caller = caller.kind(),
        outcome = outcome.as_str(),
        cached = matches!(outcome, Outcome::Replayed { cached: true }),
        status = response.status().as_u16(),
        "idempotent request",
    );
}

/// What ties a log line to its invocation: Lambda's request id (empty outside Lambda) and the
/// X-Ray trace header (its `Root=...` trace id, parent and sampling; a line without a trace has no
/// `trace_id` field).
struct Ids {
    request: String,
    trace: Option<String>,
}

fn ids(request: &Request) -> Ids {
    let context = request.lambda_context_ref();
    Ids {
        request: context.map(|c| c.request_id.clone()).unwrap_or_default(),
        trace: context.and_then(|c| c.xray_trace_id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IdempotencyConfig;
    use crate::persistence::InMemoryPersistence;
    use crate::record::Status;
    use lambda_http::http::HeaderValue;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn request(key: Option<&str>, body: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder().method("POST").uri("/orders");
        if let Some(key) = key {
            builder = builder.header("Idempotency-Key", key);
        }
        builder.body(Body::from(body.to_string())).unwrap()
    }

    fn ok(text: &str) -> Result<Completion<Response<Body>, (String, String)>, HandlerError> {
        let response = Response::builder()
            .status(201)
            .body(Body::from(text.to_string()))
            .unwrap();
        Ok(Completion::new(response).with_write(("effect".to_string(), text.to_string())))
    }

    #[tokio::test]
    async fn executes_once_then_replays_from_the_cache() {
        let idem = Idempotency::new(IdempotencyConfig::default(), InMemoryPersistence::new());
        let runs = AtomicUsize::new(0);
        for expected in [
            Outcome::Executed,
            Outcome::Replayed { cached: true },
            Outcome::Replayed { cached: true },
        ] {
            let (response, outcome) = idem
                .handle_with_outcome(
                    &request(Some("k"), "{\"a\":1}"),
                    "/orders",
                    |_| Ok(()),
                    |_| async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        ok("one")
                    },
                )
                .await;
            assert_eq!(outcome, expected);
            assert_eq!(response.body().as_ref(), b"one");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(idem.persistence().value("effect").as_deref(), Some("one"));
        assert_eq!(idem.cache.len(), 1);
    }

    #[tokio::test]
    async fn a_retry_with_the_same_bytes_replays_before_fingerprint_and_validation() {
        let idem = Idempotency::new(IdempotencyConfig::default(), InMemoryPersistence::new());
        let validated = AtomicUsize::new(0);
        let send = |body: &'static str| {
            let validated = &validated;
            let idem = &idem;
            async move {
                idem.handle_with_outcome(
                    &request(Some("k"), body),
                    "/orders",
                    |_| {
                        validated.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    },
                    |_| async { ok("one") },
                )
                .await
            }
        };
        assert_eq!(send(r#"{"a":1}"#).await.1, Outcome::Executed);
        assert_eq!(validated.load(Ordering::SeqCst), 1);
        // The very bytes: replayed from the cache, neither fingerprinted nor validated again.
        let (response, outcome) = send(r#"{"a":1}"#).await;
        assert_eq!(outcome, Outcome::Replayed { cached: true });
        assert_eq!(response.body().as_ref(), b"one");
        assert_eq!(response.headers()[REPLAYED_HEADER], "true");
        assert_eq!(validated.load(Ordering::SeqCst), 1);
        // Another spelling of the same JSON: the full path (validated), still a replay.
        assert_eq!(send(r#"{ "a" : 1 }"#).await.1, Outcome::Replayed { cached: true });
        assert_eq!(validated.load(Ordering::SeqCst), 2);
        // Another payload under the key is a mismatch, whatever was remembered.
        let (response, outcome) = send(r#"{"a":2}"#).await;
        assert_eq!((outcome, response.status().as_u16()), (Outcome::Mismatch, 422));
        assert_eq!(validated.load(Ordering::SeqCst), 3);
        // The last spelling replayed is the one remembered: it replays without validation.
        assert_eq!(send(r#"{ "a" : 1 }"#).await.1, Outcome::Replayed { cached: true });
        assert_eq!(validated.load(Ordering::SeqCst), 3);
        assert_eq!(send(r#"{"a":1}"#).await.1, Outcome::Replayed { cached: true });
        assert_eq!(validated.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn without_a_cache_the_store_replays() {
        let config = IdempotencyConfig {
            local_cache_items: 0,
            ..IdempotencyConfig::default()
        };
        let idem = Idempotency::new(config, InMemoryPersistence::new());
        idem.handle(&request(Some("k"), "{}"), "/orders", |_| Ok(()), |_| async { ok("x") })
            .await;
        let (_, outcome) = idem
            .handle_with_outcome(&request(Some("k"), "{ }"), "/orders", |_| Ok(()), |_| async { ok("y") })
            .await;
        assert_eq!(outcome, Outcome::Replayed { cached: false });
        assert!(idem.cache.is_empty());
    }

    #[tokio::test]
    async fn outside_lambda_the_fallback_deadline_applies() {
        let idem = Idempotency::new(IdempotencyConfig::default(), InMemoryPersistence::new());
        let hash = idem.key_hash("POST", "/orders", "k");
        let before = now_ms();
        idem.handle(
            &request(Some("k"), "{}"),
            "/orders",
            |_| Ok(()),
            |_| async {
                let record = idem.persistence().record(&hash).unwrap();
                assert_eq!(record.status, Status::InProgress);
                let deadline = record.in_progress_expiration_ms;
                assert!(
                    deadline >= before + 30_000 && deadline <= now_ms() + 30_000,
                    "{deadline}"
                );
                ok("x")
            },
        )
        .await;
        let stored = idem.persistence().record(&hash).unwrap();
        assert_eq!(stored.status, Status::Completed);
        assert!(stored.expiration_s >= before / 1000 + 86_400);
    }

    #[tokio::test]
    async fn rejections_record_nothing() {
        let idem = Idempotency::new(IdempotencyConfig::default(), InMemoryPersistence::new());
        let (response, outcome) = idem
            .handle_with_outcome(&request(None, "{}"), "/orders", |_| Ok(()), |_| async { ok("x") })
            .await;
        assert_eq!(
            (response.status(), outcome),
            (StatusCode::BAD_REQUEST, Outcome::Rejected)
        );
        let (response, outcome) = idem
            .handle_with_outcome(
                &request(Some("k"), "{}"),
                "/orders",
                |_| Err::<(), _>(Problem::new(StatusCode::BAD_REQUEST, "bad", "Fix the body")),
                |_| async { ok("x") },
            )
            .await;
        assert_eq!(
            (response.status(), outcome),
            (StatusCode::BAD_REQUEST, Outcome::Rejected)
        );
        assert!(
            idem.persistence()
                .record(&idem.key_hash("POST", "/orders", "k"))
                .is_none()
        );
    }

    #[tokio::test]
    async fn each_caller_has_its_own_key_space_and_cache_entries() {
        let idem = Idempotency::new(IdempotencyConfig::default(), InMemoryPersistence::new());
        let alice = Caller::Subject("alice".into());
        let bob = Caller::Subject("bob".into());
        let mut bodies = Vec::new();
        for (caller, text) in [(&alice, "alice's"), (&bob, "bob's"), (&Caller::Anonymous, "anonymous")] {
            let (response, outcome) = idem
                .handle_as(
                    caller,
                    &request(Some("k"), "{}"),
                    "/orders",
                    |_| Ok(()),
                    |_| async move { ok(text) },
                )
                .await;
            assert_eq!(outcome, Outcome::Executed, "{caller:?}");
            bodies.push(response.body().as_ref().to_vec());
        }
        assert_eq!(idem.cache.len(), 3, "one cache entry per caller");
        // Warm cache, same key: each caller gets its own answer, and nothing runs again.
        for (caller, body) in [&alice, &bob, &Caller::Anonymous].into_iter().zip(&bodies) {
            let (response, outcome) = idem
                .handle_as(
                    caller,
                    &request(Some("k"), "{}"),
                    "/orders",
                    |_| Ok(()),
                    |_| async { ok("ran again") },
                )
                .await;
            assert_eq!(outcome, Outcome::Replayed { cached: true }, "{caller:?}");
            assert_eq!(response.body().as_ref(), &body[..], "{caller:?}");
        }
        // The anonymous record has the pre-auth id; the subjects' do not.
        assert!(
            idem.persistence()
                .record(&idem.key_hash("POST", "/orders", "k"))
                .is_some()
        );
        assert_ne!(
            idem.caller_key_hash(&alice, "POST", "/orders", "k"),
            idem.key_hash("POST", "/orders", "k")
        );
    }

    #[test]
    fn outcome_names() {
        let names: Vec<&str> = [
            Outcome::Executed,
            Outcome::Replayed { cached: true },
            Outcome::Conflict,
            Outcome::Mismatch,
            Outcome::Failed,
            Outcome::Rejected,
        ]
        .iter()
        .map(|o| o.as_str())
        .collect();
        assert_eq!(
            names,
            ["executed", "replayed", "conflict", "mismatch", "failed", "rejected"]
        );
    }

    #[test]
    fn stored_response_replays_byte_for_byte() {
        let mut response = Response::new(Body::from("{\"id\":\"1\"}"));
        *response.status_mut() = StatusCode::CREATED;
        response
            .headers_mut()
            .insert("location", HeaderValue::from_static("/orders/1"));
        response
            .headers_mut()
            .append("set-cookie", HeaderValue::from_static("a=1"));
        response
            .headers_mut()
            .append("set-cookie", HeaderValue::from_static("b=2"));
        let stored = capture(&response);
        let replayed = replay(&stored);
        assert_eq!(replayed.status(), StatusCode::CREATED);
        assert_eq!(replayed.headers()["location"], "/orders/1");
        assert_eq!(
            replayed.headers().get_all("set-cookie").iter().collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        assert_eq!(replayed.headers()[REPLAYED_HEADER], "true");
        assert_eq!(replayed.body().as_ref(), b"{\"id\":\"1\"}");
        let binary = StoredResponse {
            status: 200,
            headers: vec![],
            body: vec![0xff, 0x00, 0x80],
        };
        assert_eq!(replay(&binary).body().as_ref(), &[0xff, 0x00, 0x80]);
    }
}
