//! SQS batches (the `sqs` feature): each message runs at most once per key, and the batch answers
//! with `batchItemFailures` so that SQS redelivers exactly the messages that did not finish (the
//! event source mapping needs `ReportBatchItemFailures`).
//!
//! | a message that… | answer | what SQS does |
//! |---|---|---|
//! | ran now, or ran before (a duplicate, a redelivery) | success | deletes it; the handler ran once |
//! | failed (handler error or panic, store down) | failure | redelivers it; after `maxReceiveCount`, the dead-letter queue |
//! | meets its key in flight elsewhere | failure | redelivers it; by then it replays |
//! | reuses a key with another body, has no key, or a body that does not parse | failure | the dead-letter queue, after `maxReceiveCount` |
//!
//! On a FIFO queue (the source ARN ends in `.fifo`) the first failure also fails every message
//! after it, unprocessed, so that a message group keeps its order.

use crate::engine::{Completion, HandlerError, Outcome, RunError};
use crate::function::{MissingKey, Operation};
use crate::key::key_from_pointers;
use crate::persistence::Persistence;
/// The event and the answer, re-exported from `aws_lambda_events`.
pub use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;

impl<P: Persistence> Operation<'_, P> {
    /// Runs `handle(body)` for each message of `event` in order, each at most once per key, and
    /// returns the messages to redeliver. The body is parsed as JSON into `T`; the key is read
    /// from it at [`Operation::key_from`]'s pointers, or is the message id when none are set
    /// (which makes redeliveries of one message idempotent, not two sends of the same content).
    pub async fn sqs_batch<T, E, F, Fut>(&self, event: &SqsEvent, handle: F) -> SqsBatchResponse
    where
        T: Serialize + DeserializeOwned,
        E: Into<HandlerError>,
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        self.sqs_batch_completing(event, |body| {
            let run = handle(body);
            async move { run.await.map(Completion::new).map_err(Into::into) }
        })
        .await
    }

    /// Like [`Operation::sqs_batch`], each message's writes committed with its record.
    pub async fn sqs_batch_completing<T, F, Fut>(&self, event: &SqsEvent, handle: F) -> SqsBatchResponse
    where
        T: Serialize + DeserializeOwned,
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<Completion<(), P::Write>, HandlerError>>,
    {
        let fifo = event
            .records
            .first()
            .and_then(|m| m.event_source_arn.as_deref())
            .is_some_and(|arn| arn.ends_with(".fifo"));
        let mut failures = Vec::new();
        for message in &event.records {
            let Some(id) = message.message_id.as_deref() else {
                tracing::error!("an SQS message without a messageId: it cannot be reported, so it is skipped");
                continue;
            };
            if fifo && !failures.is_empty() {
                failures.push(failure(id));
                continue;
            }
            let outcome = self.message(message, id, &handle).await;
            tracing::info!(message_id = id, outcome = outcome.as_str(), "SQS message");
            if !matches!(outcome, Outcome::Executed | Outcome::Replayed { .. }) {
                failures.push(failure(id));
            }
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        response
    }

    async fn message<T, F, Fut>(&self, message: &SqsMessage, id: &str, handle: &F) -> Outcome
    where
        T: Serialize + DeserializeOwned,
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<Completion<(), P::Write>, HandlerError>>,
    {
        let body = message.body.as_deref().unwrap_or_default();
        let value: serde_json::Value = match serde_json::from_str(body) {
            Ok(value) => value,
            Err(err) => {
                tracing::warn!(message_id = id, error = %err, "the message body is not JSON");
                return Outcome::Rejected;
            }
        };
        let key = if self.key_pointers().is_empty() {
            id.to_string()
        } else {
            match key_from_pointers(&value, self.key_pointers()) {
                Ok(key) => key,
                Err(err) if self.missing_key_policy() == MissingKey::RunUnprotected => {
                    tracing::warn!(message_id = id, reason = %err, "no idempotency key: runs unprotected");
                    let Ok(payload) = serde_json::from_value::<T>(value) else {
                        return Outcome::Rejected;
                    };
                    return match handle(payload).await {
                        Ok(_) => Outcome::Executed,
                        Err(_) => Outcome::Failed,
                    };
                }
                Err(err) => {
                    tracing::warn!(message_id = id, reason = %err, "the message has no idempotency key");
                    return Outcome::Rejected;
                }
            }
        };
        let payload = match serde_json::from_value::<T>(value) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::warn!(message_id = id, error = %err, "the message body is not the expected type");
                return Outcome::Rejected;
            }
        };
        let (result, outcome): (Result<(), RunError>, Outcome) = self.run_with_outcome(&key, payload, handle).await;
        if let Err(err) = result {
            tracing::warn!(message_id = id, error = %err, "message not processed");
        }
        outcome
    }
}

fn failure(id: &str) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = id.to_string();
    failure
}
