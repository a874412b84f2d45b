//! The engine, free of any protocol: claim the key, run the handler once, complete (atomically
//! with the handler's own writes) or release; replay a completed result from the store or the
//! local cache. The HTTP adapter, plain functions ([`crate::Operation`]) and SQS batches sit on it.

mod unwind;

use crate::cache::RecordCache;
use crate::config::IdempotencyConfig;
use crate::persistence::{ClaimOutcome, Persistence, PersistenceError};
use crate::record::{Decision, IdempotencyRecord, MAX_RECORD_BYTES, Status, StoredResponse, now_ms};
use std::future::Future;
use unwind::{CatchUnwind, panic_message};

/// The error a handler returns; the execution is then not stored and the claim is released.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A handler's successful result: the value to store and replay, plus writes that commit in the
/// same transaction as the record's move to COMPLETED (for DynamoDB, `TransactWriteItem`s).
///
/// For HTTP the value is the `Response`; for a plain function, anything serde can round-trip.
#[derive(Debug)]
pub struct Completion<R, W> {
    /// What the handler answers (stored, and replayed to every retry).
    pub value: R,
    /// Writes committed in one transaction with the completion, or not at all.
    pub writes: Vec<W>,
}

impl<R, W> Completion<R, W> {
    /// A completion without writes.
    pub fn new(value: R) -> Self {
        Completion {
            value,
            writes: Vec::new(),
        }
    }
    /// Adds a write to the completion transaction.
    pub fn with_write(mut self, write: W) -> Self {
        self.writes.push(write);
        self
    }
}

/// What happened to one request or event (logged as `outcome`, counted by the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler ran and its result was stored.
    Executed,
    /// A stored result was replayed (`cached`: from the local cache, no store call).
    Replayed {
        /// Whether the local cache answered (no store call).
        cached: bool,
    },
    /// Another execution holds the key: retry later (HTTP 409).
    Conflict,
    /// The key was used with another payload (HTTP 422).
    Mismatch,
    /// The handler or the store failed: nothing stored, the claim released where possible.
    Failed,
    /// Refused before any claim (bad key, validation error): nothing recorded.
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

/// Why an idempotent execution gave no result to return. Nothing was stored in any of these
/// cases (a retry with the same key runs again, or meets the execution in flight).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Another execution with this key is in flight (or the store is settling it).
    #[error("another execution with this key is in progress: retry in {retry_after_s} s with the same key")]
    InProgress {
        /// When a retry may find it finished.
        retry_after_s: u64,
    },
    /// The key was used before with another payload.
    #[error("this idempotency key was used with a different payload: use a new key for a new operation")]
    Mismatch,
    /// The handler returned an error; its claim was released.
    #[error("the handler failed and nothing was stored: {0}")]
    Handler(HandlerError),
    /// The handler panicked; its claim was released.
    #[error("the handler panicked and nothing was stored: {0}")]
    Panicked(String),
    /// The result is larger than a record holds.
    #[error(
        "the result takes {bytes} bytes, more than an idempotency record holds ({MAX_RECORD_BYTES}); nothing was stored"
    )]
    TooLarge {
        /// The record's size with this result.
        bytes: usize,
    },
    /// The store failed, refused a write of the handler, or the claim was lost past the deadline.
    #[error(transparent)]
    Store(#[from] PersistenceError),
    /// The payload or the key cannot be used (no exact fingerprint, missing key field, ...).
    #[error("the payload was refused before any claim: {0}")]
    Payload(String),
    /// The payload has no key where the operation looks for it.
    #[error("the payload has no idempotency key: {0}")]
    NoKey(String),
    /// A stored result does not decode as the type asked for (the handler's type changed).
    #[error("the stored result does not decode as the expected type: {0}")]
    Decode(String),
}

/// What the engine did with one key (the adapter turns it into an answer).
pub(crate) enum Ran<R> {
    /// The handler ran and `R` was stored.
    Executed(R),
    /// A completed record answers.
    Replayed {
        /// The stored result.
        stored: StoredResponse,
        /// From the local cache.
        cached: bool,
    },
    /// The handler's result is one that must not be stored (an HTTP 5xx): the claim was
    /// released and the result is returned as it is.
    NotStored(R),
}

/// Turns a handler's result into its stored form; `None`: not to be stored (see [`Ran::NotStored`]).
pub(crate) type Store<R> = fn(&R) -> Result<Option<StoredResponse>, String>;

/// Changes a stored result before it is replayed (see [`Idempotency::with_replay_hook`]).
type ReplayHook = Box<dyn Fn(&mut StoredResponse) + Send + Sync>;

/// Makes handlers idempotent over a [`Persistence`], with an optional LRU cache of COMPLETED records.
pub struct Idempotency<P: Persistence> {
    config: IdempotencyConfig,
    persistence: P,
    pub(crate) cache: RecordCache,
    replay_hook: Option<ReplayHook>,
}

impl<P: Persistence> Idempotency<P> {
    /// Idempotency with `config` over `persistence`.
    pub fn new(config: IdempotencyConfig, persistence: P) -> Self {
        let cache = RecordCache::new(config.local_cache_items, config.local_cache_bytes);
        Idempotency {
            config,
            persistence,
            cache,
            replay_hook: None,
        }
    }

    /// Runs `hook` on every replayed result before it is answered (never on a first execution),
    /// as Powertools' `response_hook` does: to add a header, mark the body, or count replays. The
    /// HTTP adapter adds `Idempotent-Replayed: true` after it.
    ///
    /// ```
    /// use oncely::{Idempotency, IdempotencyConfig, InMemoryPersistence};
    /// let idempotency = Idempotency::new(IdempotencyConfig::default(), InMemoryPersistence::new())
    ///     .with_replay_hook(|stored| stored.headers.push(("x-replayed-by".into(), b"oncely".to_vec())));
    /// ```
    pub fn with_replay_hook(mut self, hook: impl Fn(&mut StoredResponse) + Send + Sync + 'static) -> Self {
        self.replay_hook = Some(Box::new(hook));
        self
    }

    /// A replay of `stored` (after the hook).
    pub(crate) fn replayed<R>(&self, mut stored: StoredResponse, cached: bool) -> Ran<R> {
        if let Some(hook) = &self.replay_hook {
            hook(&mut stored);
        }
        Ran::Replayed { stored, cached }
    }

    /// The configuration.
    pub fn config(&self) -> &IdempotencyConfig {
        &self.config
    }

    /// The persistence layer.
    pub fn persistence(&self) -> &P {
        &self.persistence
    }

    /// Opens the store's connection ahead of the first request, within
    /// [`IdempotencyConfig::warm_up`] (skipped when zero), and logs how it went. Call it in the
    /// function's `main` before the runtime starts: Lambda gives init a burst of CPU, while the
    /// first invocation would pay DNS, TCP and the TLS handshake on the function's slice of it.
    /// An error leaves nothing broken (the first request connects again); the caller may go on.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), oncely::ConfigError> {
    /// let idempotency = oncely::Idempotency::from_env()?;
    /// let _ = idempotency.warm_up().await; // logged either way
    /// # Ok(()) }
    /// ```
    pub async fn warm_up(&self) -> Result<(), PersistenceError> {
        let within = self.config.warm_up;
        if within.is_zero() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(within, self.persistence.warm_up(within)).await {
            Ok(result) => result,
            Err(_) => Err(PersistenceError::Unavailable(format!(
                "no answer within the warm-up's {} ms",
                within.as_millis()
            ))),
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(()) => tracing::info!(elapsed_ms, "warm-up: the store's connection is open"),
            Err(err) => tracing::warn!(elapsed_ms, error = %err, "warm-up failed: the first request connects"),
        }
        result
    }

    /// Runs `execute` at most once for the record `hash`: replays a completed record with the
    /// same `fingerprint`, answers one in flight or of another payload, else claims it, runs,
    /// and completes or releases.
    pub(crate) async fn once<T, R, F, Fut>(
        &self,
        hash: &str,
        fingerprint: String,
        deadline_ms: u64,
        input: T,
        execute: F,
        store: Store<R>,
    ) -> Result<Ran<R>, RunError>
    where
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Completion<R, P::Write>, HandlerError>>,
    {
        let now = now_ms();
        if let Some(record) = self.cache.get(hash, now) {
            match record.decide(&fingerprint, now) {
                Decision::Replay => {
                    let stored = record.response.expect("cached records are completed");
                    return Ok(self.replayed(stored, true));
                }
                Decision::Mismatch => return Err(RunError::Mismatch),
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
            Err(PersistenceError::Busy) => return Err(RunError::InProgress { retry_after_s: 1 }),
            Err(err) => {
                tracing::error!(key_hash = %hash, error = %err, "claim failed");
                // It may have been applied with its reply lost (then timed out): release what is
                // ours, so a retry need not wait for the deadline.
                self.release(&record).await;
                return Err(err.into());
            }
        }

        let completion = match CatchUnwind(Box::pin(execute(input))).await {
            Ok(Ok(completion)) => completion,
            Ok(Err(err)) => {
                tracing::error!(key_hash = %hash, error = %err, "handler failed; not stored");
                self.release(&record).await;
                return Err(RunError::Handler(err));
            }
            Err(panic) => {
                let message = panic_message(&panic).to_string();
                tracing::error!(key_hash = %hash, panic = message, "handler panicked; not stored");
                self.release(&record).await;
                return Err(RunError::Panicked(message));
            }
        };
        let stored = match store(&completion.value) {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                tracing::warn!(key_hash = %hash, "handler answered with a failure; not stored");
                self.release(&record).await;
                return Ok(Ran::NotStored(completion.value));
            }
            Err(reason) => {
                tracing::error!(key_hash = %hash, error = %reason, "the result cannot be stored; not stored");
                self.release(&record).await;
                return Err(RunError::Handler(reason.into()));
            }
        };

        record.status = Status::Completed;
        record.expiration_s = now_ms() / 1000 + self.config.expires_after.as_secs();
        record.response = Some(stored);
        if record.stored_bytes() > MAX_RECORD_BYTES {
            tracing::error!(
                key_hash = %hash,
                bytes = record.stored_bytes(),
                limit = MAX_RECORD_BYTES,
                "the result is too large to store; nothing was written",
            );
            self.release(&record).await;
            return Err(RunError::TooLarge {
                bytes: record.stored_bytes(),
            });
        }
        match self.persistence.complete(&record, completion.writes).await {
            Ok(()) => {
                self.cache.put(record);
                Ok(Ran::Executed(completion.value))
            }
            Err(PersistenceError::ClaimLost) => {
                tracing::warn!(key_hash = %hash, "claim lost before completion; nothing was written");
                Err(PersistenceError::ClaimLost.into())
            }
            Err(err) => {
                match &err {
                    PersistenceError::WriteRejected { index, reason } => tracing::warn!(
                        key_hash = %hash,
                        index,
                        reason = %reason,
                        "a write of the handler was rejected; nothing was written",
                    ),
                    _ => tracing::error!(key_hash = %hash, error = %err, "completion failed; nothing was written"),
                }
                self.release(&record).await;
                Err(err.into())
            }
        }
    }

    fn answer_existing<R>(&self, existing: IdempotencyRecord, fingerprint: &str, now: u64) -> Result<Ran<R>, RunError> {
        match existing.decide(fingerprint, now) {
            Decision::Replay => {
                let stored = existing.response.clone().expect("replayable records have a response");
                self.cache.put(existing);
                Ok(self.replayed(stored, false))
            }
            Decision::Mismatch => Err(RunError::Mismatch),
            Decision::InProgress { retry_after_s } => Err(RunError::InProgress { retry_after_s }),
            // The store saw a live record that our clock calls dead (clock skew): ask for a retry.
            Decision::Absent => Err(RunError::InProgress { retry_after_s: 1 }),
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

impl RunError {
    /// The outcome this error counts as.
    pub fn outcome(&self) -> Outcome {
        match self {
            RunError::InProgress { .. } | RunError::Store(PersistenceError::Busy | PersistenceError::ClaimLost) => {
                Outcome::Conflict
            }
            RunError::Mismatch => Outcome::Mismatch,
            RunError::Payload(_) | RunError::NoKey(_) => Outcome::Rejected,
            _ => Outcome::Failed,
        }
    }
}
