//! How `POST /orders` writes its order on each store. On DynamoDB the order's Put commits in the
//! completion transaction, atomically with the record. On Redis it cannot (two systems), so the
//! order is written by the handler itself, exactly once another way: its id is derived from the
//! record id and the payload's fingerprint, and its Put is conditional, so a re-execution after
//! a crash between the order write and the completion finds the order already there and answers
//! with it instead of creating a second one.

use crate::orders::{NewOrder, Order, create_order, created_response, order_from_item, order_item};
use crate::ownership::OWNER_ATTRIBUTE;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use lambda_http::{Body, Response};
use oncely::dynamodb::call_config;
use oncely::{Completion, DynamoDbPersistence, HandlerError, Persistence, RedisPersistence, RedisWrite, TimeBounds};
use sha2::{Digest, Sha256};
use std::future::Future;

/// What the order's write needs: where, what, whose, and which execution.
#[derive(Debug, Clone)]
pub struct OrderWrite {
    pub client: Client,
    pub table: String,
    pub order: NewOrder,
    /// The caller's subject, stored in [`OWNER_ATTRIBUTE`].
    pub owner: Option<String>,
    /// The idempotency record's id and the payload's fingerprint (empty unless the store
    /// [`OrderStore::DERIVES_ORDER_IDS`]).
    pub record_id: String,
    pub fingerprint: String,
    /// The invocation's deadline (epoch ms) and the store's time bounds.
    pub deadline_ms: u64,
    pub bounds: TimeBounds,
}

/// A store the orders API runs on.
pub trait OrderStore: Persistence {
    /// Whether the order's id is derived from the record id and the fingerprint (which are then
    /// computed for [`OrderWrite`]).
    const DERIVES_ORDER_IDS: bool;

    /// The time bounds of its calls (the orders' reads use them too).
    fn time_bounds(&self) -> TimeBounds;

    /// Creates the order: its 201 response, and the writes that commit with the completion.
    fn create(
        write: OrderWrite,
    ) -> impl Future<Output = Result<Completion<Response<Body>, Self::Write>, HandlerError>> + Send;
}

impl OrderStore for DynamoDbPersistence {
    const DERIVES_ORDER_IDS: bool = false;

    fn time_bounds(&self) -> TimeBounds {
        DynamoDbPersistence::time_bounds(self)
    }

    async fn create(write: OrderWrite) -> Result<Completion<Response<Body>, Self::Write>, HandlerError> {
        let id = uuid::Uuid::new_v4().to_string();
        create_order(&write.table, &id, write.order, write.owner)
    }
}

/// The order id of the execution of `record_id` with this payload: a UUID-shaped digest.
pub fn derived_order_id(record_id: &str, fingerprint: &str) -> String {
    let digest = Sha256::digest(format!("order\n{record_id}\n{fingerprint}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

/// An order found under the derived id that is not this request's (it cannot happen unless the
/// table was written by something else).
#[derive(Debug, thiserror::Error)]
#[error("order {0} exists with other contents than this request's")]
pub struct ForeignOrder(String);

impl OrderStore for RedisPersistence {
    const DERIVES_ORDER_IDS: bool = true;

    fn time_bounds(&self) -> TimeBounds {
        RedisPersistence::time_bounds(self)
    }

    async fn create(write: OrderWrite) -> Result<Completion<Response<Body>, RedisWrite>, HandlerError> {
        let id = derived_order_id(&write.record_id, &write.fingerprint);
        let (order, item) = order_item(&id, write.order, write.owner.clone())?;
        // Time for the completion and the answer after it.
        let keep = write.bounds.answer_reserve + write.bounds.release_reserve;
        let config = call_config(&write.bounds, write.deadline_ms, keep)?;
        let result = write
            .client
            .put_item()
            .table_name(&write.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .config_override(config)
            .send()
            .await;
        let order = match result {
            Ok(_) => order,
            Err(err) => match err.as_service_error() {
                // A re-execution: the order of the earlier one (which wrote it, then crashed or
                // lost its completion) is the answer, not a second order.
                Some(PutItemError::ConditionalCheckFailedException(e)) => {
                    let existing = e.item().ok_or_else(|| ForeignOrder(id.clone()))?;
                    let found = order_from_item(existing).ok_or_else(|| ForeignOrder(id.clone()))?;
                    let owner = existing.get(OWNER_ATTRIBUTE).and_then(|v| v.as_s().ok()).cloned();
                    let same = Order {
                        created_at: found.created_at.clone(),
                        ..order
                    } == found
                        && owner == write.owner;
                    if !same {
                        return Err(ForeignOrder(id).into());
                    }
                    tracing::info!(order_id = %id, "the order of an earlier execution was found and is the answer");
                    found
                }
                _ => return Err(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string().into()),
            },
        };
        Ok(Completion::new(created_response(&order)?))
    }
}
