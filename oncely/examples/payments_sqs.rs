//! An SQS consumer that charges each payment once, however often SQS delivers it (at-least-once)
//! or the producer sends it: the key is the body's `payment_id`; the batch answers
//! `batchItemFailures` (the event source mapping needs `ReportBatchItemFailures`).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use oncely::sqs::{SqsBatchResponse, SqsEvent};
use oncely::{HandlerError, Idempotency};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Serialize, Deserialize)]
struct Payment {
    payment_id: String,
    cents: u64,
}

async fn charge(payment: Payment) -> Result<(), HandlerError> {
    tracing::info!(payment_id = %payment.payment_id, cents = payment.cents, "charged");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    oncely::init_logging();
    // The table and options the deployer sets (TABLE_NAME, IDEMPOTENCY_*).
    let idempotency = Arc::new(Idempotency::from_env()?);
    // The store's connection, opened during init (logged either way; else the first request connects).
    let _ = idempotency.warm_up().await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let idempotency = idempotency.clone();
        async move {
            let batch = idempotency
                .operation("charge")
                .until(event.context.deadline)
                .key_from(["/payment_id"])
                .sqs_batch(&event.payload, charge)
                .await;
            Ok::<SqsBatchResponse, Error>(batch)
        }
    }))
    .await
}
