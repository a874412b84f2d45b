//! The DynamoDB store: one conditional PutItem to claim, one TransactWriteItems to complete
//! (with the handler's own writes), one DeleteItem to release; every call bounded by the deadline.

use crate::persistence::{ClaimOutcome, Persistence, PersistenceError, TimeBounds};
use crate::record::{IdempotencyRecord, Status, StoredResponse};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use std::collections::HashMap;
use std::time::Duration;

/// The SDK configuration override of a claim, completion or read that must end `keep` before
/// `deadline_ms`, or `Unavailable` when no time is left. A handler's own DynamoDB calls use it to
/// be bounded like the store's (`.customize().config_override(call_config(..)?)`).
pub fn call_config(
    bounds: &TimeBounds,
    deadline_ms: u64,
    keep: Duration,
) -> Result<aws_sdk_dynamodb::config::Builder, PersistenceError> {
    sdk_timeouts(bounds.call(deadline_ms, keep, crate::record::now_ms()))
}

/// The SDK configuration override of an operator's read or delete (no invocation deadline).
fn operator_config(bounds: &TimeBounds) -> aws_sdk_dynamodb::config::Builder {
    sdk_timeouts(Some((bounds.operation_max, bounds.attempt_max))).expect("bounds given")
}

/// The SDK configuration override of a release.
fn release_config(
    bounds: &TimeBounds,
    deadline_ms: u64,
) -> Result<aws_sdk_dynamodb::config::Builder, PersistenceError> {
    sdk_timeouts(bounds.release_call(deadline_ms, crate::record::now_ms()))
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

/// The id [`open_connection`] reads: no record has it (record ids are hex digests).
pub const WARM_UP_ID: &str = "oncely:warm-up";

/// Opens `client`'s connection to DynamoDB and keeps it in its pool: one eventually consistent
/// GetItem of [`WARM_UP_ID`] in `table` (half a read unit; the function's role may already read
/// the table), within `within`. It runs the client's whole path once (endpoint, signing, DNS,
/// TCP, TLS with the platform's roots loaded), so the first request finds it ready; the pool keeps
/// an idle connection 90 s. A handler's own client for another table warms up the same way.
pub async fn open_connection(client: &Client, table: &str, within: Duration) -> Result<(), PersistenceError> {
    client
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(WARM_UP_ID.into()))
        .projection_expression("id")
        .customize()
        .config_override(sdk_timeouts(Some((within, within)))?)
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}

impl crate::Idempotency<DynamoDbPersistence> {
    /// Idempotency on the DynamoDB table the environment names, as the deployer sets it
    /// (`TABLE_NAME`, `IDEMPOTENCY_*`, see [`crate::Settings`]), with a client from Lambda's
    /// environment ([`crate::sdk::dynamodb_client_from_env`]).
    ///
    /// ```no_run
    /// let idempotency = oncely::Idempotency::from_env()?;
    /// # Ok::<(), oncely::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, crate::ConfigError> {
        let settings = crate::Settings::from_env()?;
        let client = crate::sdk::dynamodb_client_from_env();
        let store = DynamoDbPersistence::new(client, &settings.table_name, &settings.idempotency.ttl_attribute);
        Ok(crate::Idempotency::new(settings.idempotency, store))
    }
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

    async fn warm_up(&self, within: Duration) -> Result<(), PersistenceError> {
        open_connection(&self.client, &self.table, within).await
    }

    async fn claim(&self, record: &IdempotencyRecord, now_ms: u64) -> Result<ClaimOutcome, PersistenceError> {
        let bounds = call_config(&self.bounds, record.in_progress_expiration_ms, self.keep_for_release())?;
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
            let bounds = call_config(&self.bounds, record.in_progress_expiration_ms, self.keep_for_release())?;
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

    async fn read(&self, key_hash: &str) -> Result<Option<IdempotencyRecord>, PersistenceError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key_hash.into()))
            .consistent_read(true)
            .customize()
            .config_override(operator_config(&self.bounds))
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(|item| self.from_item(&item)).transpose()
    }

    async fn delete(&self, key_hash: &str) -> Result<bool, PersistenceError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key_hash.into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .customize()
            .config_override(operator_config(&self.bounds))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn release(&self, record: &IdempotencyRecord) -> Result<(), PersistenceError> {
        let bounds = release_config(&self.bounds, record.in_progress_expiration_ms)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
