//! The idempotency layer under store faults, injected by a proxy between the SDK and DynamoDB
//! Local: replies lost after the write applied (the SDK retries), and a store that never answers
//! (bounded by the invocation's deadline: 503 before it, nothing half-written).

use crate::common;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use common::*;
use lambda_http::{Body, Response};
use oncely::{Completion, DynamoDbPersistence, HandlerError, Idempotency, Outcome};
use orders::OrdersApi;
use std::time::Duration;
use testkit::{Fault, FaultProxy, Times};

const BODY: &str = r#"{"item":"book","quantity":2,"customer":"ann"}"#;

/// A table and a proxy in front of its DynamoDB Local.
async fn setup() -> (Table, FaultProxy) {
    let table = Table::new().await;
    let proxy = FaultProxy::start(&table.endpoint).await;
    (table, proxy)
}

/// The orders API (one Lambda environment) whose store calls go through `proxy`.
fn api(table: &Table, proxy: &FaultProxy) -> (OrdersApi, Calls) {
    let calls = Calls::default();
    let api = OrdersApi::new(client(&proxy.endpoint(), Some(&calls)), &table.name, table.config());
    (api, calls)
}

/// Asserts exactly one order in the table, equal to the 201 the client got, and the key's record
/// COMPLETED.
async fn assert_one_order(table: &Table, api: &OrdersApi, key: &str, response: &Response<Body>) {
    assert_eq!(response.status(), 201, "{}", String::from_utf8_lossy(&body(response)));
    let orders = table.orders().await;
    assert_eq!(orders.len(), 1, "exactly one order");
    let id = json(response)["id"].as_str().unwrap().to_string();
    assert_eq!(orders[0]["id"].as_s().unwrap(), &format!("order#{id}"));
    let record = table
        .item(&api.idempotency().key_hash("POST", "/orders", key))
        .await
        .expect("the record");
    assert_eq!(record["status"].as_s().unwrap(), "COMPLETED");
}

#[tokio::test]
async fn a_claim_whose_reply_was_lost_is_recognised_as_ours() {
    let (table, proxy) = setup().await;
    let (api, calls) = api(&table, &proxy);
    proxy.inject("PutItem", Fault::DropResponse, Times::Next(1));
    let response = api.handle(post(Some("lost-claim"), BODY)).await;
    assert_eq!(proxy.count("drop_response", "PutItem"), 1, "the fault was injected");
    assert_eq!(
        calls.take(),
        ["PutItem", "PutItem", "TransactWriteItems"],
        "the SDK retried the claim"
    );
    assert_one_order(&table, &api, "lost-claim", &response).await;
}

#[tokio::test]
async fn a_completion_whose_reply_was_lost_is_recognised_as_ours() {
    let (table, proxy) = setup().await;
    let (api, calls) = api(&table, &proxy);
    proxy.inject("TransactWriteItems", Fault::DropResponse, Times::Next(1));
    let response = api.handle(post(Some("lost-completion"), BODY)).await;
    assert_eq!(proxy.count("drop_response", "TransactWriteItems"), 1);
    assert_eq!(calls.take(), ["PutItem", "TransactWriteItems", "TransactWriteItems"]);
    assert_one_order(&table, &api, "lost-completion", &response).await;
    let replay = api.handle(post(Some("lost-completion"), BODY)).await;
    assert_eq!(body(&replay), body(&response));
}

#[tokio::test]
async fn a_release_whose_reply_was_lost_is_done_and_the_retry_runs() {
    let (table, proxy) = setup().await;
    let persistence = DynamoDbPersistence::new(client(&proxy.endpoint(), None), &table.name, TTL_ATTRIBUTE);
    let idem = Idempotency::new(table.config(), persistence);
    proxy.inject("DeleteItem", Fault::DropResponse, Times::Next(1));
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("lost-release"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async {
                Err::<Completion<Response<Body>, TransactWriteItem>, HandlerError>("payment provider down".into())
            },
        )
        .await;
    assert_eq!(outcome, Outcome::Failed);
    assert_problem(&response, 500);
    assert_eq!(proxy.count("drop_response", "DeleteItem"), 1);
    assert!(table.items().await.is_empty(), "the claim is gone");

    let effect = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(&table.name)
                .item("id", AttributeValue::S("order#1".into()))
                .build()
                .unwrap(),
        )
        .build();
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("lost-release"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async { Ok(Completion::new(Response::builder().status(201).body(Body::Empty)?).with_write(effect)) },
        )
        .await;
    assert_eq!((response.status().as_u16(), outcome), (201, Outcome::Executed));
    assert_eq!(table.orders().await.len(), 1);
}

#[tokio::test]
async fn a_completion_committed_but_never_acknowledged_is_not_released() {
    let (table, proxy) = setup().await;
    let (api, calls) = api(&table, &proxy);
    // Both attempts the SDK makes commit, and both replies are lost: the call fails.
    proxy.inject("TransactWriteItems", Fault::DropResponse, Times::Next(2));
    let response = api.handle(post(Some("unacknowledged"), BODY)).await;
    assert_problem(&response, 503);
    assert_eq!(
        calls.take(),
        ["PutItem", "TransactWriteItems", "TransactWriteItems", "DeleteItem"],
        "claim, completion tried twice, release"
    );
    // The release left the committed record with its order: the retry replays that answer.
    let retry = api.handle(post(Some("unacknowledged"), BODY)).await;
    assert_eq!(header(&retry, "idempotent-replayed"), Some("true"));
    assert_one_order(&table, &api, "unacknowledged", &retry).await;
}

/// The invocation's deadline in the black-hole tests.
const DEADLINE_MS: u64 = 3000;

/// `POST /orders` with `key` whose Lambda deadline is [`DEADLINE_MS`] away, answered before it
/// (a correctness bound, not a speed target: the function would be killed at its deadline).
async fn post_before_deadline(api: &OrdersApi, key: &str) -> Response<Body> {
    let request = request_with_deadline(&post_event(Some(key), BODY), DEADLINE_MS);
    tokio::time::timeout(Duration::from_millis(DEADLINE_MS), api.handle(request))
        .await
        .expect("an answer before the invocation's deadline")
}

fn assert_unavailable(response: &Response<Body>) {
    assert_problem(response, 503);
    assert!(header(response, "retry-after").is_some_and(|v| v.parse::<u64>().is_ok()));
}

#[tokio::test]
async fn a_store_that_never_answers_the_claim_is_503_before_the_deadline() {
    let (table, proxy) = setup().await;
    let (api, _) = api(&table, &proxy);
    proxy.inject("PutItem", Fault::BlackHole, Times::Always);
    let response = post_before_deadline(&api, "black-hole").await;
    assert_unavailable(&response);
    assert!(proxy.count("black_hole", "PutItem") >= 1);
    assert!(table.orders().await.is_empty());

    proxy.clear();
    let retry = api.handle(post(Some("black-hole"), BODY)).await;
    assert_one_order(&table, &api, "black-hole", &retry).await;
}

#[tokio::test]
async fn a_store_that_never_answers_the_completion_is_503_and_the_key_runs_once_after_the_deadline() {
    let (table, proxy) = setup().await;
    let (api, _) = api(&table, &proxy);
    // The claim is written; the completion and the release after it never get an answer.
    proxy.inject("TransactWriteItems", Fault::BlackHole, Times::Always);
    proxy.inject("DeleteItem", Fault::BlackHole, Times::Always);
    let started = now_ms();
    let response = post_before_deadline(&api, "stuck").await;
    assert_unavailable(&response);
    assert!(proxy.count("black_hole", "TransactWriteItems") >= 1);
    assert!(proxy.count("black_hole", "DeleteItem") >= 1);
    assert!(table.orders().await.is_empty(), "nothing half-written");

    // Until the claim's deadline the key is in progress; after it, the retry runs exactly once.
    proxy.clear();
    assert_problem(&api.handle(post(Some("stuck"), BODY)).await, 409);
    let wait = (started + DEADLINE_MS + 100).saturating_sub(now_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let retry = api.handle(post(Some("stuck"), BODY)).await;
    assert_one_order(&table, &api, "stuck", &retry).await;
}

/// However far the deadline (a function with a 30 s timeout), a store that does not answer costs
/// the client at most 3 s: the claim's 2.1 s, the release's 0.3 s, then the 503.
#[tokio::test]
async fn a_black_holed_store_is_503_within_three_seconds_of_a_far_deadline() {
    let (table, proxy) = setup().await;
    let (api, _) = api(&table, &proxy);
    for (faulted, key) in [
        (&["PutItem"][..], "far-claim"),
        (&["TransactWriteItems", "DeleteItem"][..], "far-completion"),
    ] {
        for operation in faulted {
            proxy.inject(operation, Fault::BlackHole, Times::Always);
        }
        let request = request_with_deadline(&post_event(Some(key), BODY), 30_000);
        let started = std::time::Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(3), api.handle(request))
            .await
            .unwrap_or_else(|_| panic!("{key}: no answer within 3 s"));
        assert_unavailable(&response);
        for operation in faulted {
            assert!(proxy.count("black_hole", operation) >= 1, "{key}: {operation}");
        }
        eprintln!("{key}: 503 after {:?}", started.elapsed());
        proxy.clear();
    }
    assert!(table.orders().await.is_empty());
}

#[tokio::test]
async fn a_store_that_never_answers_a_read_is_503_before_the_deadline() {
    let (table, proxy) = setup().await;
    let (api, _) = api(&table, &proxy);
    let created = api.handle(post(Some("read-me"), BODY)).await;
    assert_one_order(&table, &api, "read-me", &created).await;
    let id = json(&created)["id"].as_str().unwrap().to_string();

    proxy.inject("GetItem", Fault::BlackHole, Times::Always);
    let request = request_with_deadline(&get_event(&id), DEADLINE_MS);
    let response = tokio::time::timeout(Duration::from_millis(DEADLINE_MS), api.handle(request))
        .await
        .expect("an answer before the invocation's deadline");
    assert_unavailable(&response);
    assert!(proxy.count("black_hole", "GetItem") >= 1);

    proxy.clear();
    let read = api.handle(get(&id, None)).await;
    assert_eq!(read.status(), 200);
    assert_eq!(json(&read), json(&created));
}
