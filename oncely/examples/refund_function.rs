//! A function invoked directly (or by EventBridge, or a Step Functions task) that refunds once per
//! `refund_id` and answers every retry with the first refund's confirmation, typed.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use oncely::{HandlerError, Idempotency};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Serialize, Deserialize)]
struct Refund {
    refund_id: String,
    cents: u64,
}

#[derive(Serialize, Deserialize)]
struct Confirmation {
    refund_id: String,
    refunded_at_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    oncely::init_logging();
    // The table and options the deployer sets (TABLE_NAME, IDEMPOTENCY_*).
    let idempotency = Arc::new(Idempotency::from_env()?);
    // The store's connection, opened during init (logged either way; else the first request connects).
    let _ = idempotency.warm_up().await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Refund>| {
        let idempotency = idempotency.clone();
        async move {
            let confirmation: Confirmation = idempotency
                .operation("refund")
                .until(event.context.deadline)
                .key_from(["/refund_id"])
                .run_keyed(event.payload, |refund| async move {
                    Ok::<_, HandlerError>(Confirmation {
                        refund_id: refund.refund_id,
                        refunded_at_ms: oncely::now_ms(),
                    })
                })
                .await?;
            Ok::<_, Error>(confirmation)
        }
    }))
    .await
}
