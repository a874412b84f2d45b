//! Orders from SQS batches against DynamoDB Local (and Redis for the records): a duplicate
//! message, an invalid one and a redelivered batch give one order per key and exactly the invalid
//! message in `batchItemFailures`; a message that met a failing store (faults injected by a proxy)
//! is reported, and its redelivery creates the order once.

use crate::common;

use common::*;
use oncely::sqs::{SqsBatchResponse, SqsEvent};
use oncely::{RedisClient, RedisPersistence, RedisUrl};
use orders::OrdersApi;
use orders::orders_store::OrderStore;
use testkit::{Fault, FaultProxy, Times};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:shop-dev-imports";

/// A batch of `(message id, body)` as the event source mapping sends it.
fn batch(messages: &[(&str, &str)]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": { "ApproximateReceiveCount": "1", "SentTimestamp": "1767225600000" },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

fn failed(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn deadline() -> u64 {
    oncely::now_ms() + 10_000
}

const A: &str = r#"{"order_key":"imp-a","item":"book","quantity":2}"#;
const C: &str = r#"{"order_key":"imp-c","item":"pen","quantity":1,"customer":"ann"}"#;
const INVALID: &str = r#"{"order_key":"imp-b","item":"book","quantity":0}"#;

/// The duplicate, the invalid message, a body that is not JSON, and the whole batch redelivered.
async fn duplicates_and_failures<P: OrderStore>(api: &OrdersApi<P>, table: &Table) {
    let event = batch(&[
        ("m-1", A),
        ("m-2", A),
        ("m-3", INVALID),
        ("m-4", C),
        ("m-5", "not json"),
    ]);
    let first = api.import(&event, deadline()).await;
    assert_eq!(failed(&first), ["m-3", "m-5"]);
    let orders = table.orders().await;
    let mut items: Vec<(&str, &str)> = orders
        .iter()
        .map(|o| {
            (
                o["item"].as_s().unwrap().as_str(),
                o["quantity"].as_n().unwrap().as_str(),
            )
        })
        .collect();
    items.sort();
    assert_eq!(items, [("book", "2"), ("pen", "1")], "one order per key");
    // SQS redelivers the batch (say the answer was lost): nothing new, the same failures.
    let again = api.import(&event, deadline()).await;
    assert_eq!(failed(&again), ["m-3", "m-5"]);
    assert_eq!(table.orders().await.len(), 2);
}

#[tokio::test]
async fn a_batch_creates_one_order_per_key_and_reports_only_its_failures() {
    let table = Table::new().await;
    let (api, _) = table.api();
    duplicates_and_failures(&api, &table).await;
    // The imports' keys are not `POST /orders`' keys: the same text there is another order.
    let response = api.handle(post(Some("imp-a"), r#"{"item":"book","quantity":2}"#)).await;
    assert_eq!(response.status(), 201);
    assert_eq!(table.orders().await.len(), 3);
}

#[tokio::test]
async fn a_batch_on_redis_records_creates_one_order_per_key() {
    let table = Table::new().await;
    let redis = RedisPersistence::new(RedisClient::new(RedisUrl::parse(&testkit::redis_url()).unwrap()))
        .with_prefix(format!("imports-{}:", std::process::id()));
    let api = OrdersApi::with_redis(client(&table.endpoint, None), &table.name, table.config(), redis);
    duplicates_and_failures(&api, &table).await;
}

#[tokio::test]
async fn a_message_that_met_a_failing_store_is_redelivered_and_creates_its_order_once() {
    let table = Table::new().await;
    let proxy = FaultProxy::start(&table.endpoint).await;
    let api = OrdersApi::new(client(&proxy.endpoint(), None), &table.name, table.config());
    proxy.inject("TransactWriteItems", Fault::internal_server_error(), Times::Always);
    let event = batch(&[("m-1", A), ("m-2", C)]);
    let first = api.import(&event, deadline()).await;
    assert!(proxy.count("error", "TransactWriteItems") >= 2);
    assert_eq!(failed(&first), ["m-1", "m-2"], "neither completed");
    assert!(table.orders().await.is_empty(), "nothing half-written");
    proxy.clear();
    // SQS redelivers both: each runs now, once.
    let retried = api.import(&event, deadline()).await;
    assert_eq!(failed(&retried), Vec::<&str>::new());
    assert_eq!(table.orders().await.len(), 2);
    let again = api.import(&event, deadline()).await;
    assert_eq!(failed(&again), Vec::<&str>::new());
    assert_eq!(table.orders().await.len(), 2, "a later duplicate replays");
}
