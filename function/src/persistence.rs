//! The persistence layer: the [`Persistence`] trait and its DynamoDB implementation
//! (one conditional PutItem to claim, one TransactWriteItems to complete, one DeleteItem to release).

use crate::record::{IdempotencyRecord, Status, StoredResponse};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
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
    WriteRejected { index: usize, reason: String },
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

    /// The SDK configuration override of a claim, completion or read, or `Unavailable` when no
    /// time is left.
    pub(crate) fn config(
        &self,
        deadline_ms: u64,
        keep: Duration,
    ) -> Result<aws_sdk_dynamodb::config::Builder, PersistenceError> {
        sdk_timeouts(self.call(deadline_ms, keep, crate::record::now_ms()))
    }

    /// The SDK configuration override of a release.
    pub(crate) fn release_config(
        &self,
        deadline_ms: u64,
    ) -> Result<aws_sdk_dynamodb::config::Builder, PersistenceError> {
        sdk_timeouts(self.release_call(deadline_ms, crate::record::now_ms()))
    }
}

fn sdk_timeouts(call: Option<(Duration, Duration)>) -> Result<aws_sdk_dynamodb::config::Builder, PersistenceError> {
    let (operation, attempt) =
        call.ok_or_else(|| PersistenceError::Unavailable("no time left before the invocation's deadline".into()))?;
    Ok(aws_sdk_dynamodb::config::Builder::default().timeout_config(
        TimeoutConfig::builder()
            .operation_timeout(operation)
            .operation_attempt_timeout(attempt)
            .build(),
    ))
}

/// Records in a DynamoDB table with hash key `id` (S) and TTL on `ttl_attribute`.
#[derive(Debug, Clone)]
pub struct DynamoDbPersistence {
    client: Client,
    table: String,
    ttl_attribute: String,
    bounds: TimeBounds,
}

/// How often a completion that hit a `TransactionConflict` is tried again.
const COMPLETE_ATTEMPTS: usize = 4;

impl DynamoDbPersistence {
    /// A persistence layer over `table`, whose TTL attribute is `ttl_attribute`.
    pub fn new(client: Client, table: impl Into<String>, ttl_attribute: impl Into<String>) -> Self {
        DynamoDbPersistence {
            client,
            table: table.into(),
            ttl_attribute: ttl_attribute.into(),
            bounds: TimeBounds::default(),
        }
    }

    /// The same with other time bounds.
    pub fn with_time_bounds(mut self, bounds: TimeBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// The time bounds of its calls.
    pub fn time_bounds(&self) -> TimeBounds {
        self.bounds
    }

    /// The keep of a claim or a completion: time to release after it, then to answer.
    fn keep_for_release(&self) -> Duration {
        self.bounds.answer_reserve + self.bounds.release_reserve
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The item that stores `record`.
    pub fn to_item(&self, record: &IdempotencyRecord) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            ("id".to_string(), AttributeValue::S(record.key_hash.clone())),
            (
                "status".to_string(),
                AttributeValue::S(record.status.as_str().to_string()),
            ),
            (
                self.ttl_attribute.clone(),
                AttributeValue::N(record.expiration_s.to_string()),
            ),
            (
                "in_progress_expiration".to_string(),
                AttributeValue::N(record.in_progress_expiration_ms.to_string()),
            ),
            ("fingerprint".to_string(), AttributeValue::S(record.fingerprint.clone())),
            ("claim".to_string(), AttributeValue::S(record.claim.clone())),
        ]);
        if let Some(response) = &record.response {
            item.insert("response_status".into(), AttributeValue::N(response.status.to_string()));
            let headers = response
                .headers
                .iter()
                .map(|(name, value)| {
                    AttributeValue::L(vec![
                        AttributeValue::S(name.clone()),
                        AttributeValue::B(Blob::new(value.clone())),
                    ])
                })
                .collect();
            item.insert("response_headers".into(), AttributeValue::L(headers));
            item.insert(
                "response_body".into(),
                AttributeValue::B(Blob::new(response.body.clone())),
            );
        }
        item
    }

    /// Reads a record from its item.
    pub fn from_item(&self, item: &HashMap<String, AttributeValue>) -> Result<IdempotencyRecord, PersistenceError> {
        let s = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .ok_or_else(|| PersistenceError::Corrupt(format!("`{name}` is missing or not a string")))
        };
        let n = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| PersistenceError::Corrupt(format!("`{name}` is missing or not a number")))
        };
        let status =
            Status::parse(&s("status")?).ok_or_else(|| PersistenceError::Corrupt("unknown `status`".into()))?;
        let response = match status {
            Status::InProgress => None,
            Status::Completed => {
                let code = n("response_status")?;
                let mut headers = Vec::new();
                if let Some(AttributeValue::L(list)) = item.get("response_headers") {
                    for pair in list {
                        match pair.as_l().map(std::vec::Vec::as_slice) {
                            Ok([AttributeValue::S(name), AttributeValue::B(value)]) => {
                                headers.push((name.clone(), value.as_ref().to_vec()));
                            }
                            _ => {
                                return Err(PersistenceError::Corrupt(
                                    "`response_headers` entry is not [name, bytes]".into(),
                                ));
                            }
                        }
                    }
                }
                let body = match item.get("response_body") {
                    Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
                    None => Vec::new(),
                    Some(_) => return Err(PersistenceError::Corrupt("`response_body` is not binary".into())),
                };
                Some(StoredResponse {
                    status: u16::try_from(code)
                        .map_err(|_| PersistenceError::Corrupt("bad `response_status`".into()))?,
                    headers,
                    body,
                })
            }
        };
        Ok(IdempotencyRecord {
            key_hash: s("id")?,
            status,
            expiration_s: n(&self.ttl_attribute)?,
            in_progress_expiration_ms: n("in_progress_expiration")?,
            fingerprint: s("fingerprint")?,
            claim: s("claim")?,
            response,
        })
    }
}

fn unavailable<E, R>(err: SdkError<E, R>) -> PersistenceError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    PersistenceError::Unavailable(DisplayErrorContext(&err).to_string())
}

impl Persistence for DynamoDbPersistence {
    type Write = TransactWriteItem;

    async fn claim(&self, record: &IdempotencyRecord, now_ms: u64) -> Result<ClaimOutcome, PersistenceError> {
        let bounds = self
            .bounds
            .config(record.in_progress_expiration_ms, self.keep_for_release())?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.to_item(record)))
            .condition_expression(
                "attribute_not_exists(id) OR #ttl <= :now_s OR (#status = :inprogress AND \
                in_progress_expiration <= :now_ms)",
            )
            .expression_attribute_names("#ttl", &self.ttl_attribute)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now_s", AttributeValue::N((now_ms / 1000).to_string()))
            .expression_attribute_values(":now_ms", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":inprogress", AttributeValue::S(Status::InProgress.as_str().into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .config_override(bounds)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) => match e.item() {
                    // Our own claim: an earlier attempt of this call applied but its reply was
                    // lost, and the SDK retried it.
                    Some(item) if item.get("claim").and_then(|c| c.as_s().ok()) == Some(&record.claim) => {
                        Ok(ClaimOutcome::Claimed)
                    }
                    Some(item) => Ok(ClaimOutcome::Existing(self.from_item(item)?)),
                    None => Err(PersistenceError::Busy),
                },
                Some(PutItemError::TransactionConflictException(_)) => Err(PersistenceError::Busy),
                _ => Err(unavailable(err)),
            },
        }
    }

    async fn complete(
        &self,
        record: &IdempotencyRecord,
        writes: Vec<TransactWriteItem>,
    ) -> Result<(), PersistenceError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.to_item(record)))
            .condition_expression("#status = :inprogress AND claim = :claim")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":inprogress", AttributeValue::S(Status::InProgress.as_str().into()))
            .expression_attribute_values(":claim", AttributeValue::S(record.claim.clone()))
            .build()
            .map_err(|e| PersistenceError::Unavailable(e.to_string()))?;
        let mut items = Vec::with_capacity(writes.len() + 1);
        items.push(TransactWriteItem::builder().put(put).build());
        items.extend(writes);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Bounded afresh for each try: the deadline does not move.
            let bounds = self
                .bounds
                .config(record.in_progress_expiration_ms, self.keep_for_release())?;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                // The claim token makes an SDK retry of a committed transaction a no-op success.
                .client_request_token(&record.claim)
                .customize()
                .config_override(bounds)
                .send()
                .await;
            let Err(err) = result else { return Ok(()) };
            let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) = err.as_service_error() else {
                if matches!(err.as_service_error(), Some(e) if e.code() == Some("TransactionInProgressException"))
                    && attempt < COMPLETE_ATTEMPTS
                {
                    continue;
                }
                return Err(unavailable(err));
            };
            let reasons = canceled.cancellation_reasons();
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            if code(0) == "ConditionalCheckFailed" {
                return Err(PersistenceError::ClaimLost);
            }
            if let Some(index) = (1..reasons.len()).find(|&i| code(i) == "ConditionalCheckFailed") {
                let reason = reasons[index].message().unwrap_or("ConditionalCheckFailed").to_string();
                return Err(PersistenceError::WriteRejected {
                    index: index - 1,
                    reason,
                });
            }
            if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) && attempt < COMPLETE_ATTEMPTS {
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt as u64)).await;
                continue;
            }
            return Err(unavailable(err));
        }
    }

    async fn release(&self, record: &IdempotencyRecord) -> Result<(), PersistenceError> {
        let bounds = self.bounds.release_config(record.in_progress_expiration_ms)?;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(record.key_hash.clone()))
            // Only our claim while still in progress: a completion whose reply was lost may have
            // committed, and its COMPLETED record (with our token) must stay with its effects.
            .condition_expression("claim = :claim AND #status = :inprogress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claim", AttributeValue::S(record.claim.clone()))
            .expression_attribute_values(":inprogress", AttributeValue::S(Status::InProgress.as_str().into()))
            .customize()
            .config_override(bounds)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Gone (an earlier attempt applied and its reply was lost), completed, or another
            // request's claim: nothing of ours is left to release.
            Err(err)
                if err.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::delete_item::DeleteItemError::is_conditional_check_failed_exception,
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(unavailable(err)),
        }
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

    fn persistence() -> DynamoDbPersistence {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        DynamoDbPersistence::new(Client::from_conf(config), "t", "ttl")
    }

    #[test]
    fn items_round_trip() {
        let p = persistence();
        let mut record = IdempotencyRecord {
            key_hash: "abc".into(),
            status: Status::InProgress,
            expiration_s: 10,
            in_progress_expiration_ms: 20,
            fingerprint: "json:x".into(),
            claim: "c1".into(),
            response: None,
        };
        let item = p.to_item(&record);
        assert_eq!(item["ttl"], AttributeValue::N("10".into()));
        assert!(!item.contains_key("response_body"));
        assert_eq!(p.from_item(&item).unwrap(), record);
        record.status = Status::Completed;
        record.response = Some(StoredResponse {
            status: 201,
            headers: vec![("location".into(), b"/x".to_vec()), ("x".into(), vec![])],
            body: vec![0, 159, 146, 150],
        });
        assert_eq!(p.from_item(&p.to_item(&record)).unwrap(), record);
    }

    #[test]
    fn corrupt_items_are_reported() {
        let p = persistence();
        let item = HashMap::from([
            ("id".to_string(), AttributeValue::S("a".into())),
            ("status".to_string(), AttributeValue::S("WEIRD".into())),
        ]);
        assert!(matches!(p.from_item(&item), Err(PersistenceError::Corrupt(_))));
    }
}
