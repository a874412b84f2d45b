//! Idempotency for any event, not only HTTP: an operation over a serde payload that runs at most
//! once per key and returns the stored result on every retry, typed by a serde round trip (what
//! Powertools calls `idempotent_function`). SQS, EventBridge, Step Functions and direct invocation
//! all come through here.

use crate::caller::Caller;
use crate::engine::{Completion, HandlerError, Idempotency, Outcome, Ran, RunError};
use crate::fingerprint::{canonical_json, checked_fingerprint};
use crate::key::{caller_key_hash, key_from_pointers};
use crate::persistence::Persistence;
use crate::record::{IdempotencyRecord, StoredResponse, now_ms};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;

/// The method part of an operation's record id (an HTTP route's is its method): an operation's
/// records never share ids with a route's.
const OPERATION_SCOPE: &str = "OPERATION";

/// What to do with a payload that has no key at the operation's key pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// Refuse it: [`RunError::NoKey`], nothing runs (Powertools' `raise_on_no_idempotency_key`).
    #[default]
    Refuse,
    /// Run the handler without idempotency, and log a warning (Powertools' default).
    RunUnprotected,
}

/// One named operation of a function (its records are scoped by the name), with its deadline,
/// caller, key pointers and payload fields; made by [`Idempotency::operation`].
///
/// ```no_run
/// # async fn example(idempotency: oncely::Idempotency<oncely::InMemoryPersistence>) -> Result<(), oncely::RunError> {
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Charge { order_id: String, cents: u64 }
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Receipt { charge_id: String }
///
/// let charge = Charge { order_id: "o-1".into(), cents: 1250 };
/// let receipt: Receipt = idempotency
///     .operation("charge")
///     .key_from(["/order_id"])
///     .run_keyed(&charge, |charge| async move {
///         // Runs once per order id, whatever the retries; the receipt is stored and replayed.
///         Ok::<_, oncely::HandlerError>(Receipt { charge_id: format!("ch-{}", charge.order_id) })
///     })
///     .await?;
/// # Ok(()) }
/// ```
pub struct Operation<'a, P: Persistence> {
    idempotency: &'a Idempotency<P>,
    name: String,
    deadline_ms: Option<u64>,
    caller: Caller,
    key_pointers: Vec<String>,
    payload_pointers: Vec<String>,
    missing_key: MissingKey,
}

impl<P: Persistence> Idempotency<P> {
    /// The operation `name` (stable across deploys: it scopes the record ids, with the configured
    /// `function_name`). Renaming it starts a new key space.
    pub fn operation(&self, name: impl Into<String>) -> Operation<'_, P> {
        Operation {
            idempotency: self,
            name: name.into(),
            deadline_ms: None,
            caller: Caller::Anonymous,
            key_pointers: Vec::new(),
            payload_pointers: Vec::new(),
            missing_key: MissingKey::Refuse,
        }
    }

    /// Runs `execute(payload)` at most once per `key` (the unnamed operation, the fallback
    /// deadline); see [`Operation::run`].
    pub async fn run<T, R, E, F, Fut>(&self, key: &str, payload: T, execute: F) -> Result<R, RunError>
    where
        T: Serialize,
        R: Serialize + DeserializeOwned,
        E: Into<HandlerError>,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        self.operation("").run(key, payload, execute).await
    }
}

impl<P: Persistence> Operation<'_, P> {
    /// The invocation's deadline (epoch ms, the Lambda context's `deadline`): an execution that
    /// dies is taken over after it, and every store call ends before it. Without it, the
    /// configured `fallback_deadline` from now.
    pub fn until(mut self, deadline_ms: u64) -> Self {
        self.deadline_ms = Some(deadline_ms).filter(|d| *d > 0);
        self
    }

    /// Each caller its own key space (as the HTTP adapter does with the token's subject).
    pub fn as_caller(mut self, caller: Caller) -> Self {
        self.caller = caller;
        self
    }

    /// Where [`Operation::run_keyed`] finds the key in the payload: JSON Pointers (RFC 6901);
    /// with several, the key is the canonical JSON array of their values.
    pub fn key_from<S: Into<String>>(mut self, pointers: impl IntoIterator<Item = S>) -> Self {
        self.key_pointers = pointers.into_iter().map(Into::into).collect();
        self
    }

    /// What a payload without a key gets (default: [`MissingKey::Refuse`]).
    pub fn missing_key(mut self, missing: MissingKey) -> Self {
        self.missing_key = missing;
        self
    }

    /// Compares only these parts of the payload (JSON Pointers) when a key comes back: a retry
    /// that differs elsewhere (a timestamp, a trace id) is still a replay, one that differs here
    /// is a mismatch. Default: the whole payload.
    pub fn payload_from<S: Into<String>>(mut self, pointers: impl IntoIterator<Item = S>) -> Self {
        self.payload_pointers = pointers.into_iter().map(Into::into).collect();
        self
    }

    /// Runs `execute(payload)` at most once per `key` and returns its result; every later call
    /// with the key (until it expires) returns the stored result, decoded as `R`, without running.
    ///
    /// Errors: the same key with another payload ([`RunError::Mismatch`]); an execution in flight
    /// ([`RunError::InProgress`]: retry later); the handler's error or panic and store failures,
    /// after which nothing is stored and a retry runs again.
    pub async fn run<T, R, E, F, Fut>(&self, key: &str, payload: T, execute: F) -> Result<R, RunError>
    where
        T: Serialize,
        R: Serialize + DeserializeOwned,
        E: Into<HandlerError>,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        self.run_completing(key, payload, |payload| async move {
            execute(payload).await.map(Completion::new).map_err(Into::into)
        })
        .await
    }

    /// Like [`Operation::run`], the key read from the payload at [`Operation::key_from`]'s pointers.
    pub async fn run_keyed<T, R, E, F, Fut>(&self, payload: T, execute: F) -> Result<R, RunError>
    where
        T: Serialize,
        R: Serialize + DeserializeOwned,
        E: Into<HandlerError>,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let value = serde_json::to_value(&payload).map_err(|e| RunError::Payload(e.to_string()))?;
        match key_from_pointers(&value, &self.key_pointers) {
            Ok(key) => self.run(&key, payload, execute).await,
            Err(err) if self.missing_key == MissingKey::RunUnprotected => {
                tracing::warn!(operation = %self.name, reason = %err, "no idempotency key: runs unprotected");
                execute(payload).await.map_err(|e| RunError::Handler(e.into()))
            }
            Err(err) => Err(RunError::NoKey(err.to_string())),
        }
    }

    /// Like [`Operation::run`], with writes that commit in one transaction with the result
    /// (for DynamoDB, `TransactWriteItem`s: the effect and its record, or neither).
    pub async fn run_completing<T, R, F, Fut>(&self, key: &str, payload: T, execute: F) -> Result<R, RunError>
    where
        T: Serialize,
        R: Serialize + DeserializeOwned,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Completion<R, P::Write>, HandlerError>>,
    {
        let (result, outcome) = self.run_with_outcome(key, payload, execute).await;
        tracing::info!(operation = %self.name, outcome = outcome.as_str(), "idempotent operation");
        result
    }

    /// [`Operation::run_completing`], also saying what happened (for a batch's log line or metrics).
    pub async fn run_with_outcome<T, R, F, Fut>(
        &self,
        key: &str,
        payload: T,
        execute: F,
    ) -> (Result<R, RunError>, Outcome)
    where
        T: Serialize,
        R: Serialize + DeserializeOwned,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Completion<R, P::Write>, HandlerError>>,
    {
        let fingerprint = match self.fingerprint(&payload) {
            Ok(fingerprint) => fingerprint,
            Err(err) => return (Err(err), Outcome::Rejected),
        };
        let hash = self.record_id(key);
        let deadline_ms = self
            .deadline_ms
            .unwrap_or_else(|| now_ms() + self.idempotency.config().fallback_deadline.as_millis() as u64);
        let ran = self
            .idempotency
            .once(&hash, fingerprint, deadline_ms, payload, execute, store_json::<R>)
            .await;
        match ran {
            Ok(Ran::Executed(value)) => (Ok(value), Outcome::Executed),
            Ok(Ran::Replayed { stored, cached }) => {
                let decoded = serde_json::from_slice(&stored.body).map_err(|e| RunError::Decode(e.to_string()));
                (decoded, Outcome::Replayed { cached })
            }
            // `store_json` stores every result it can serialise; were that to change, this says so.
            Ok(Ran::NotStored(_)) => (
                Err(RunError::Handler("the result was not stored".into())),
                Outcome::Failed,
            ),
            Err(err) => {
                let outcome = err.outcome();
                (Err(err), outcome)
            }
        }
    }

    /// The record id of `key` in this operation (what is stored instead of the key).
    pub fn record_id(&self, key: &str) -> String {
        caller_key_hash(
            &self.idempotency.config().function_name,
            OPERATION_SCOPE,
            &self.name,
            key,
            &self.caller,
        )
    }

    /// The record of `key`, in whatever state (for operators: did it run, what did it answer?).
    pub async fn record(&self, key: &str) -> Result<Option<IdempotencyRecord>, RunError> {
        Ok(self.idempotency.persistence().read(&self.record_id(key)).await?)
    }

    /// Forgets `key`: its record is deleted and the next run with it executes again (the
    /// handler's own writes stay). Whether there was a record.
    pub async fn forget(&self, key: &str) -> Result<bool, RunError> {
        let id = self.record_id(key);
        self.idempotency.cache.remove(&id);
        Ok(self.idempotency.persistence().delete(&id).await?)
    }

    /// The key pointers ([`Operation::key_from`]).
    #[cfg(feature = "sqs")]
    pub(crate) fn key_pointers(&self) -> &[String] {
        &self.key_pointers
    }

    /// What a payload without a key gets.
    #[cfg(feature = "sqs")]
    pub(crate) fn missing_key_policy(&self) -> MissingKey {
        self.missing_key
    }

    /// The payload's fingerprint: RFC 8785 over the whole payload, or over the chosen parts.
    fn fingerprint<T: Serialize>(&self, payload: &T) -> Result<String, RunError> {
        let bytes = if self.payload_pointers.is_empty() {
            serde_json::to_vec(payload)
        } else {
            let value = serde_json::to_value(payload).map_err(|e| RunError::Payload(e.to_string()))?;
            let parts: Vec<serde_json::Value> = self
                .payload_pointers
                .iter()
                .map(|p| value.pointer(p).cloned().unwrap_or(serde_json::Value::Null))
                .collect();
            Ok(canonical_json(&serde_json::Value::Array(parts)).into_bytes())
        }
        .map_err(|e| RunError::Payload(e.to_string()))?;
        checked_fingerprint(&bytes).map_err(|lossy| RunError::Payload(lossy.to_string()))
    }
}

/// A result's stored form: a `200` whose body is its JSON.
fn store_json<R: Serialize>(value: &R) -> Result<Option<StoredResponse>, String> {
    let body = serde_json::to_vec(value).map_err(|e| format!("the result does not serialise: {e}"))?;
    Ok(Some(StoredResponse {
        status: 200,
        headers: Vec::new(),
        body,
    }))
}
