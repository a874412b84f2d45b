//! The store interface: the [`Persistence`] trait every store implements, its errors, the time
//! bounds of store calls, and an in-process store for tests of handlers.

use crate::record::{IdempotencyRecord, Status};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// What can go wrong in the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// The store could not be reached or failed (network, throttling, 5xx, permissions).
    #[error("the idempotency store is unavailable: {0}")]
    Unavailable(String),
    /// The record was no longer our claim when we tried to complete it (taken over after the deadline).
    #[error("the in-progress claim was lost before completion")]
    ClaimLost,
    /// One of the handler's own writes in the completion transaction was rejected by its condition.
    #[error("write {index} of the handler was rejected: {reason}")]
    WriteRejected {
        /// The write's position among the handler's writes.
        index: usize,
        /// The store's reason.
        reason: String,
    },
    /// Another writer holds the record right now (a transaction in flight on it).
    #[error("another request is writing this record")]
    Busy,
    /// A stored record could not be read.
    #[error("malformed idempotency record: {0}")]
    Corrupt(String),
}

/// The result of a claim attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The record is ours: execute.
    Claimed,
    /// A live record exists (returned by the failed condition, no extra read).
    Existing(IdempotencyRecord),
}

/// Where idempotency records live. `Write` is the type of the extra writes a handler contributes
/// to the completion, committed atomically with the record's move to COMPLETED.
pub trait Persistence: Send + Sync + 'static {
    /// A write the handler wants committed together with the completion.
    type Write: Send + 'static;

    /// Creates `record` (INPROGRESS) if no live record exists: absent, expired, or in progress
    /// past its deadline at `now_ms`. Otherwise returns the existing record.
    fn claim(
        &self,
        record: &IdempotencyRecord,
        now_ms: u64,
    ) -> impl Future<Output = Result<ClaimOutcome, PersistenceError>> + Send;

    /// Stores `record` (COMPLETED) and `writes` atomically, only if the record is still our claim.
    fn complete(
        &self,
        record: &IdempotencyRecord,
        writes: Vec<Self::Write>,
    ) -> impl Future<Output = Result<(), PersistenceError>> + Send;

    /// Deletes our in-progress record (only if it is still our claim), so a retry runs again.
    fn release(&self, record: &IdempotencyRecord) -> impl Future<Output = Result<(), PersistenceError>> + Send;

    /// Reads the record with this id, in whatever state (for operators: what did this key do?);
    /// `None` when there is none. Bounded by [`TimeBounds::operation_max`].
    fn read(&self, key_hash: &str) -> impl Future<Output = Result<Option<IdempotencyRecord>, PersistenceError>> + Send;

    /// Deletes the record with this id, in whatever state, so the key runs again (for operators:
    /// a result that must not be replayed). Whether there was one. Never deletes a handler's writes.
    fn delete(&self, key_hash: &str) -> impl Future<Output = Result<bool, PersistenceError>> + Send;

    /// Opens the store's connection and keeps it for the first request (DNS, TCP, TLS and one
    /// cheap read, within `within`), so a function pays for them during its init rather than in
    /// its first invocation. A store without connections does nothing (the default).
    fn warm_up(&self, within: Duration) -> impl Future<Output = Result<(), PersistenceError>> + Send {
        let _ = within;
        async { Ok(()) }
    }
}

/// Time bounds of the store calls, derived per call from the invocation's deadline (the record's
/// `in_progress_expiration_ms`): a call must end `answer_reserve` before it (so the client gets an
/// answer before the function times out), and a claim or completion `release_reserve` earlier
/// still (so the release after a failure has its time too). Each call is also capped.
///
/// The caps make a store that does not answer cost at most 2.4 s before the `503` (a claim's
/// 2.1 s, then the release's 0.3 s), whatever the function's timeout: a store whose p99 is a few
/// milliseconds that has not answered in 2 s will not answer in 10, and the client, its retry and
/// a load balancer's health check are better served by a fast `503` + `Retry-After`. The first
/// attempt may take 1.4 s, room for a new connection's TLS handshake on a small function (or an
/// emulator under load), and leaves 0.7 s for a second one on a fresh connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// The most one claim, completion or read may take, all its attempts together.
    pub operation_max: Duration,
    /// The most one attempt may take (it is also at most two thirds of the call's bound, so a
    /// stuck attempt leaves time for a retry on a fresh connection).
    pub attempt_max: Duration,
    /// The most one release may take: it follows a failure, and the answer waits for it.
    pub release_max: Duration,
    /// Kept free before the deadline to send the answer.
    pub answer_reserve: Duration,
    /// Kept free by a claim or a completion for the release that may follow it.
    pub release_reserve: Duration,
}

impl Default for TimeBounds {
    fn default() -> Self {
        TimeBounds {
            operation_max: Duration::from_millis(2100),
            attempt_max: Duration::from_millis(1400),
            release_max: Duration::from_millis(300),
            answer_reserve: Duration::from_millis(500),
            release_reserve: Duration::from_millis(500),
        }
    }
}

/// A call shorter than this is not started: it would only time out.
const MIN_CALL: Duration = Duration::from_millis(20);

impl TimeBounds {
    /// The (operation, attempt) timeouts of a claim, completion or read made at `now_ms` that
    /// must end `keep` before `deadline_ms`; `None` when too little time is left to make it.
    /// `keep` is at most half the time left, so a short function timeout (1 s) still gets its
    /// store calls.
    pub fn call(&self, deadline_ms: u64, keep: Duration, now_ms: u64) -> Option<(Duration, Duration)> {
        self.capped(self.operation_max, deadline_ms, keep, now_ms)
    }

    /// The (operation, attempt) timeouts of a release made at `now_ms`: at most `release_max`,
    /// ending `answer_reserve` before `deadline_ms`.
    pub fn release_call(&self, deadline_ms: u64, now_ms: u64) -> Option<(Duration, Duration)> {
        self.capped(self.release_max, deadline_ms, self.answer_reserve, now_ms)
    }

    fn capped(&self, cap: Duration, deadline_ms: u64, keep: Duration, now_ms: u64) -> Option<(Duration, Duration)> {
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        let operation = (left - keep.min(left / 2)).min(cap);
        if operation < MIN_CALL {
            return None;
        }
        Some((operation, (operation * 2 / 3).max(MIN_CALL).min(self.attempt_max)))
    }
}

/// An in-process store with the same semantics, for unit tests of handlers and local runs.
/// Its writes are `(key, value)` pairs committed atomically with the completion.
#[derive(Debug, Default)]
pub struct InMemoryPersistence {
    state: std::sync::Mutex<(HashMap<String, IdempotencyRecord>, HashMap<String, String>)>,
}

impl InMemoryPersistence {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// The record with this key hash.
    pub fn record(&self, key_hash: &str) -> Option<IdempotencyRecord> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .get(key_hash)
            .cloned()
    }
    /// A value written by a completion.
    pub fn value(&self, key: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .get(key)
            .cloned()
    }
}

impl Persistence for InMemoryPersistence {
    type Write = (String, String);

    async fn claim(&self, record: &IdempotencyRecord, now_ms: u64) -> Result<ClaimOutcome, PersistenceError> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = state.0.get(&record.key_hash) {
            // Our own claim (a retried call): still ours.
            let dead = existing.claim == record.claim
                || existing.is_expired(now_ms)
                || (existing.status == Status::InProgress && existing.in_progress_expiration_ms <= now_ms);
            if !dead {
                return Ok(ClaimOutcome::Existing(existing.clone()));
            }
        }
        state.0.insert(record.key_hash.clone(), record.clone());
        Ok(ClaimOutcome::Claimed)
    }

    async fn complete(
        &self,
        record: &IdempotencyRecord,
        writes: Vec<(String, String)>,
    ) -> Result<(), PersistenceError> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.0.get(&record.key_hash) {
            Some(current) if current.status == Status::InProgress && current.claim == record.claim => {}
            // An earlier attempt of this completion applied: done (its writes are not applied twice).
            Some(current) if current.status == Status::Completed && current.claim == record.claim => return Ok(()),
            _ => return Err(PersistenceError::ClaimLost),
        }
        state.0.insert(record.key_hash.clone(), record.clone());
        state.1.extend(writes);
        Ok(())
    }

    async fn release(&self, record: &IdempotencyRecord) -> Result<(), PersistenceError> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state
            .0
            .get(&record.key_hash)
            .is_some_and(|r| r.claim == record.claim && r.status == Status::InProgress)
        {
            state.0.remove(&record.key_hash);
        }
        Ok(())
    }

    async fn read(&self, key_hash: &str) -> Result<Option<IdempotencyRecord>, PersistenceError> {
        Ok(self.record(key_hash))
    }

    async fn delete(&self, key_hash: &str) -> Result<bool, PersistenceError> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(state.0.remove(key_hash).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_come_from_the_deadline() {
        let bounds = TimeBounds::default();
        let keep = Duration::from_millis(1000);
        let ms = Duration::from_millis;
        // Far from the deadline: the caps.
        assert_eq!(bounds.call(100_000, keep, 0), Some((ms(2100), ms(1400))));
        assert_eq!(bounds.release_call(100_000, 0), Some((ms(300), ms(200))));
        // 3 s away, keeping 1 s: 2 s in all, attempts of two thirds of that.
        assert_eq!(bounds.call(3000, keep, 0), Some((ms(2000), ms(2000) * 2 / 3)));
        // 1 s away: the reserve shrinks to half of what is left.
        assert_eq!(bounds.call(1000, keep, 0), Some((ms(500), ms(500) * 2 / 3)));
        // Too close, or past it: no call.
        assert_eq!(bounds.call(30, keep, 0), None);
        assert_eq!(bounds.call(500, keep, 1000), None);
    }
}
