//! An idempotent `POST /payments` on `lambda_http`: the key from the `Idempotency-Key` header, the
//! payment written in the same DynamoDB transaction as its idempotency record.
//!
//! Deployed by Oncely's deployer (`TABLE_NAME` and `IDEMPOTENCY_*` come from `config/stack.yaml`).

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response, service_fn};
use oncely::{Completion, Idempotency, Problem};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    oncely::init_logging();
    // The table and options the deployer sets (TABLE_NAME, IDEMPOTENCY_*).
    let idempotency = Arc::new(Idempotency::from_env()?);
    // The store's connection, opened during init (logged either way; else the first request connects).
    let _ = idempotency.warm_up().await;
    let table = idempotency.persistence().table().to_string();
    lambda_http::run(service_fn(move |request: Request| {
        let (idempotency, table) = (idempotency.clone(), table.clone());
        async move {
            let validate = |r: &Request| {
                serde_json::from_slice::<serde_json::Value>(r.body().as_ref())
                    .ok()
                    .and_then(|v| v["cents"].as_u64())
                    .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "invalid-payment", "Send {\"cents\": N}"))
            };
            let response = idempotency
                .handle(&request, "/payments", validate, |cents| async move {
                    let id = uuid::Uuid::new_v4().to_string();
                    let put = Put::builder()
                        .table_name(&table)
                        .item("id", AttributeValue::S(format!("payment#{id}")))
                        .item("cents", AttributeValue::N(cents.to_string()))
                        .build()?;
                    let body = serde_json::json!({ "id": id, "cents": cents }).to_string();
                    let response = Response::builder().status(201).body(Body::from(body))?;
                    Ok(Completion::new(response).with_write(TransactWriteItem::builder().put(put).build()))
                })
                .await;
            Ok::<_, Error>(response)
        }
    }))
    .await
}
