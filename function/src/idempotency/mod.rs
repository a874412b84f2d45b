//! The idempotency wrapper for any `lambda_http` handler: key → claim → execute → complete
//! (atomically with the handler's writes) or release, with replay, conflict and mismatch answers.

mod answers;
mod unwind;

use crate::cache::RecordCache;
use crate::caller::Caller;
use crate::config::{IdempotencyConfig, KeySource};
use crate::fingerprint::checked_fingerprint;
use crate::key::{KeyError, caller_key_hash, key_from_body_fields, key_from_headers, key_hash};
use crate::persistence::{ClaimOutcome, Persistence, PersistenceError};
use crate::problem::Problem;
/// The clock of the records (epoch milliseconds), here too for the wrapper's users.
pub use crate::record::now_ms;
use crate::record::{Decision, IdempotencyRecord, MAX_RECORD_BYTES, Status, StoredResponse};
use answers::{in_progress, internal_error, key_problem, lossy_json, mismatch, unavailable};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use std::future::Future;
use unwind::{CatchUnwind, panic_message};

/// The error a handler returns; the execution is then not stored and the claim is released.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A handler's successful result: the response to store and replay, plus writes that commit in the
/// same transaction as the record's move to COMPLETED (for DynamoDB, `TransactWriteItem`s).
#[derive(Debug)]
pub struct Completion<W> {
    pub response: Response<Body>,
    pub writes: Vec<W>,
}

impl<W> Completion<W> {
    /// A completion without writes.
    pub fn new(response: Response<Body>) -> Self {
        Completion {
            response,
            writes: Vec::new(),
        }
    }
    /// Adds a write to the completion transaction.
    pub fn with_write(mut self, write: W) -> Self {
        self.writes.push(write);
        self
    }
}

/// What happened to one request (logged as `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler ran and its result was stored.
    Executed,
    /// A stored response was replayed (`cached`: from the local cache, no DynamoDB call).
    Replayed { cached: bool },
    /// Another execution holds the key: 409.
    Conflict,
    /// The key was used with another payload: 422.
    Mismatch,
    /// The handler or the store failed: nothing stored, the claim released where possible.
    Failed,
    /// The request was refused before any claim (bad key, validation error): nothing recorded.
    Rejected,
}

impl Outcome {
    /// The log name: executed, replayed, conflict, mismatch, failed, rejected.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::Replayed { .. } => "replayed",
            Outcome::Conflict => "conflict",
            Outcome::Mismatch => "mismatch",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
        }
    }
}

/// Makes handlers idempotent over a [`Persistence`], with an optional LRU cache of COMPLETED records.
pub struct Idempotency<P: Persistence> {
    config: IdempotencyConfig,
    persistence: P,
    cache: RecordCache,
}

impl<P: Persistence> Idempotency<P> {
    /// A wrapper with `config` over `persistence`.
    pub fn new(config: IdempotencyConfig, persistence: P) -> Self {
        let cache = RecordCache::new(config.local_cache_items, config.local_cache_bytes);
        Idempotency {
            config,
            persistence,
            cache,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &IdempotencyConfig {
        &self.config
    }

    /// The persistence layer.
    pub fn persistence(&self) -> &P {
        &self.persistence
    }

    /// The invocation's deadline (epoch ms): the Lambda context's, or `fallback_deadline` after
    /// `started_ms` outside Lambda.
    pub fn deadline_ms(&self, request: &Request, started_ms: u64) -> u64 {
        match request.lambda_context_ref().map(|c| c.deadline) {
            Some(d) if d > 0 => d,
            _ => started_ms + self.config.fallback_deadline.as_millis() as u64,
        }
    }

    /// The record id for an anonymous caller's `client_key` on `method` + `route` (what is stored
    /// instead of the key).
    pub fn key_hash(&self, method: &str, route: &str, client_key: &str) -> String {
        key_hash(&self.config.function_name, method, route, client_key)
    }

    /// The record id for `caller`'s `client_key` on `method` + `route`: each caller has its own
    /// key space (see [`caller_key_hash`]); an anonymous caller's is [`Idempotency::key_hash`].
    pub fn caller_key_hash(&self, caller: &Caller, method: &str, route: &str, client_key: &str) -> String {
        caller_key_hash(&self.config.function_name, method, route, client_key, caller)
    }

    /// Runs `execute` at most once per key on `route` and returns the response.
    /// See [`Idempotency::handle_with_outcome`].
    pub async fn handle<T, V, F, Fut>(&self, request: &Request, route: &str, validate: V, execute: F) -> Response<Body>
    where
        V: FnOnce(&Request) -> Result<T, Problem>,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Completion<P::Write>, HandlerError>>,
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
        Fut: Future<Output = Result<Completion<P::Write>, HandlerError>>,
    {
        match Caller::from_request(request) {
            Ok(caller) => self.handle_as(&caller, request, route, validate, execute).await,
            Err(err) => {
                tracing::info!(
                    request_id = %request_id(request),
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
    /// 3. The local cache may replay a COMPLETED record (no DynamoDB call).
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
        Fut: Future<Output = Result<Completion<P::Write>, HandlerError>>,
    {
        let request_id = request_id(request);
        let started_ms = now_ms();
        let deadline_ms = self.deadline_ms(request, started_ms);

        let client_key = match self.client_key(request) {
            Ok(key) => key,
            Err(err) => {
                tracing::info!(
                    request_id = %request_id,
                    outcome = "rejected",
                    reason = %err,
                    "idempotency key refused",
                );
                return (key_problem(&err).into_response(), Outcome::Rejected);
            }
        };
        let fingerprint = match checked_fingerprint(request.body().as_ref()) {
            Ok(fingerprint) => fingerprint,
            Err(lossy) => {
                tracing::info!(
                    request_id = %request_id,
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
                    request_id = %request_id,
                    outcome = "rejected",
                    status = problem.status,
                    "request refused before any claim",
                );
                return (problem.into_response(), Outcome::Rejected);
            }
        };
        let hash = self.caller_key_hash(caller, request.method().as_str(), route, &client_key);
        drop(client_key);

        let (response, outcome) = self
            .run(&hash, fingerprint, started_ms, deadline_ms, input, execute)
            .await;
        tracing::info!(
            request_id = %request_id,
            key_hash = %hash,
            caller = caller.kind(),
            outcome = outcome.as_str(),
            cached = matches!(outcome, Outcome::Replayed { cached: true }),
            status = response.status().as_u16(),
            "idempotent request",
        );
        (response, outcome)
    }

    /// The record id a request of `caller` on `route` has (`None` when its key is missing or invalid).
    pub fn record_id(&self, caller: &Caller, request: &Request, route: &str) -> Option<String> {
        let key = self.client_key(request).ok()?;
        Some(self.caller_key_hash(caller, request.method().as_str(), route, &key))
    }

    fn client_key(&self, request: &Request) -> Result<String, KeyError> {
        match &self.config.key_source {
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

    async fn run<T, F, Fut>(
        &self,
        hash: &str,
        fingerprint: String,
        now: u64,
        deadline_ms: u64,
        input: T,
        execute: F,
    ) -> (Response<Body>, Outcome)
    where
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Completion<P::Write>, HandlerError>>,
    {
        if let Some(record) = self.cache.get(hash, now) {
            match record.decide(&fingerprint, now) {
                Decision::Replay => {
                    return (
                        record.response.as_ref().expect("cached records are completed").replay(),
                        Outcome::Replayed { cached: true },
                    );
                }
                Decision::Mismatch => return (mismatch(), Outcome::Mismatch),
                _ => self.cache.remove(hash),
            }
        }

        let mut record = IdempotencyRecord {
            key_hash: hash.to_string(),
            status: Status::InProgress,
            expiration_s: now / 1000 + self.config.expires_after.as_secs(),
            in_progress_expiration_ms: deadline_ms,
            fingerprint,
            claim: uuid::Uuid::new_v4().to_string(),
            response: None,
        };
        match self.persistence.claim(&record, now).await {
            Ok(ClaimOutcome::Claimed) => {}
            Ok(ClaimOutcome::Existing(existing)) => return self.answer_existing(existing, &record.fingerprint, now),
            Err(PersistenceError::Busy) => return (in_progress(1), Outcome::Conflict),
            Err(err) => {
                tracing::error!(key_hash = %hash, error = %err, "claim failed");
                // It may have been applied with its reply lost (then timed out): release what is
                // ours, so a retry need not wait for the deadline.
                self.release(&record).await;
                return (unavailable(), Outcome::Failed);
            }
        }

        let result = CatchUnwind(Box::pin(execute(input))).await;
        let completion = match result {
            Ok(Ok(completion)) if !completion.response.status().is_server_error() => completion,
            Ok(Ok(completion)) => {
                tracing::warn!(
                    key_hash = %hash,
                    status = completion.response.status().as_u16(),
                    "handler answered with a server error; not stored",
                );
                self.release(&record).await;
                return (completion.response, Outcome::Failed);
            }
            Ok(Err(err)) => {
                tracing::error!(key_hash = %hash, error = %err, "handler failed; not stored");
                self.release(&record).await;
                return (internal_error(), Outcome::Failed);
            }
            Err(panic) => {
                tracing::error!(key_hash = %hash, panic = panic_message(&panic), "handler panicked; not stored");
                self.release(&record).await;
                return (internal_error(), Outcome::Failed);
            }
        };

        record.status = Status::Completed;
        record.expiration_s = now_ms() / 1000 + self.config.expires_after.as_secs();
        record.response = Some(StoredResponse::capture(&completion.response));
        if record.stored_bytes() > MAX_RECORD_BYTES {
            tracing::error!(
                key_hash = %hash,
                bytes = record.stored_bytes(),
                limit = MAX_RECORD_BYTES,
                "the response is too large to store; nothing was written",
            );
            self.release(&record).await;
            return (
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "response-too-large",
                    "The response is larger than an idempotency record holds (400 KB), so it was not \
                    stored and nothing was written",
                )
                .into_response(),
                Outcome::Failed,
            );
        }
        match self.persistence.complete(&record, completion.writes).await {
            Ok(()) => {
                self.cache.put(record);
                (completion.response, Outcome::Executed)
            }
            Err(PersistenceError::ClaimLost) => {
                tracing::warn!(key_hash = %hash, "claim lost before completion; nothing was written");
                (
                    Problem::new(
                        StatusCode::CONFLICT,
                        "claim-lost",
                        "This request ran past its deadline and another request took over its key: \
                        retry with the same key",
                    )
                    .with_retry_after(1)
                    .into_response(),
                    Outcome::Conflict,
                )
            }
            Err(PersistenceError::WriteRejected { index, reason }) => {
                tracing::warn!(
                    key_hash = %hash,
                    index,
                    reason = %reason,
                    "a write of the handler was rejected; nothing was written",
                );
                self.release(&record).await;
                (
                    Problem::new(
                        StatusCode::CONFLICT,
                        "write-conflict",
                        "The operation conflicts with the current state of the resource: check it and retry",
                    )
                    .into_response(),
                    Outcome::Failed,
                )
            }
            Err(err) => {
                tracing::error!(key_hash = %hash, error = %err, "completion failed; nothing was written");
                self.release(&record).await;
                (unavailable(), Outcome::Failed)
            }
        }
    }

    fn answer_existing(&self, existing: IdempotencyRecord, fingerprint: &str, now: u64) -> (Response<Body>, Outcome) {
        match existing.decide(fingerprint, now) {
            Decision::Replay => {
                let response = existing
                    .response
                    .as_ref()
                    .expect("replayable records have a response")
                    .replay();
                self.cache.put(existing);
                (response, Outcome::Replayed { cached: false })
            }
            Decision::Mismatch => (mismatch(), Outcome::Mismatch),
            Decision::InProgress { retry_after_s } => (in_progress(retry_after_s), Outcome::Conflict),
            // The store saw a live record that our clock calls dead (clock skew): ask for a retry.
            Decision::Absent => (in_progress(1), Outcome::Conflict),
        }
    }

    async fn release(&self, record: &IdempotencyRecord) {
        if let Err(err) = self.persistence.release(record).await {
            tracing::error!(
                key_hash = %record.key_hash,
                error = %err,
                "could not release the claim; it expires at its deadline",
            );
        }
    }
}

/// The Lambda request id, empty outside Lambda.
fn request_id(request: &Request) -> String {
    request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::InMemoryPersistence;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn request(key: Option<&str>, body: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder().method("POST").uri("/orders");
        if let Some(key) = key {
            builder = builder.header("Idempotency-Key", key);
        }
        builder.body(Body::from(body.to_string())).unwrap()
    }

    fn ok(text: &str) -> Result<Completion<(String, String)>, HandlerError> {
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
}
