//! Orders from a queue: each SQS message `{"order_key": "…", "item": "…", "quantity": n,
//! "customer"?: "…"}` creates its order once per `order_key`, however often the message (or
//! another with the same key and body) arrives. The order commits with the idempotency record as
//! `POST /orders` does; a message that fails validation or meets a failing store is reported in
//! `batchItemFailures`, so SQS redelivers it and, after the queue's `max_receive_count`, moves it to
//! the dead-letter queue.

use crate::orders::{NewOrder, OrdersApi, parse_new_order};
use crate::orders_store::{OrderStore, OrderWrite};
use oncely::sqs::{SqsBatchResponse, SqsEvent};
use oncely::{Completion, HandlerError};
use serde::{Deserialize, Serialize};

/// The operation the imports' records are scoped by (never shared with `POST /orders`' keys).
pub const IMPORT_OPERATION: &str = "import-order";
/// Where a message's key is: its `order_key`.
pub const ORDER_KEY_POINTER: &str = "/order_key";

/// One message's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderImport {
    /// The producer's key for this order (its retries and duplicates carry the same one).
    pub order_key: String,
    /// As in `POST /orders`.
    pub item: serde_json::Value,
    /// As in `POST /orders`.
    pub quantity: serde_json::Value,
    /// As in `POST /orders`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<serde_json::Value>,
}

impl OrderImport {
    /// The order, validated exactly as a `POST /orders` body is.
    fn order(&self) -> Result<NewOrder, HandlerError> {
        let body = serde_json::json!({ "item": self.item, "quantity": self.quantity, "customer": self.customer });
        parse_new_order(&serde_json::to_vec(&body)?)
            .map_err(|problem| format!("order {:?} is invalid: {}", self.order_key, problem.title).into())
    }
}

impl<P: OrderStore> OrdersApi<P> {
    /// Creates the orders of `event`'s messages (each once per `order_key`) before `deadline_ms`
    /// (the invocation's), and answers which messages SQS must redeliver.
    pub async fn import(&self, event: &SqsEvent, deadline_ms: u64) -> SqsBatchResponse {
        let operation = self
            .idempotency()
            .operation(IMPORT_OPERATION)
            .until(deadline_ms)
            .key_from([ORDER_KEY_POINTER]);
        let operation = &operation;
        operation
            .sqs_batch_completing(event, |message: OrderImport| async move {
                let order = message.order()?;
                // Both are needed only where the order's id is derived (see `orders_store`).
                let (record_id, fingerprint) = if P::DERIVES_ORDER_IDS {
                    // The key exactly as the batch derived it from the body.
                    let value = serde_json::to_value(&message)?;
                    let key = oncely::key::key_from_pointers(&value, &[ORDER_KEY_POINTER.to_string()])?;
                    (
                        operation.record_id(&key),
                        oncely::fingerprint::checked_fingerprint(&serde_json::to_vec(&value)?)?,
                    )
                } else {
                    Default::default()
                };
                let write = OrderWrite {
                    client: self.client().clone(),
                    table: self.table().to_string(),
                    order,
                    owner: None,
                    record_id,
                    fingerprint,
                    deadline_ms,
                    bounds: self.idempotency().persistence().time_bounds(),
                };
                let created = P::create(write).await?;
                Ok(Completion {
                    value: (),
                    writes: created.writes,
                })
            })
            .await
    }
}
