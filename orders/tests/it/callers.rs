//! Keys and orders scoped per caller (the JWT `sub` in API Gateway's authorizer claims), against
//! DynamoDB Local: independent executions and replays per caller, a warm cache that never answers
//! another caller, `customer` from the token, and orders only their owner can read.

use crate::common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use oncely::Caller;

/// A body without `customer`: with a token, the customer is the token's subject.
const BODY: &str = r#"{"item":"book","quantity":2}"#;
const ALICE: &str = "6f1d2c3b-aaaa-4bbb-8ccc-0000000a11ce";
const BOB: &str = "6f1d2c3b-aaaa-4bbb-8ccc-000000000b0b";

fn post_as(sub: &str, key: &str, body: &str) -> lambda_http::Request {
    request(&as_subject(post_event(Some(key), body), sub))
}

fn get_as(sub: &str, id: &str, if_none_match: Option<&str>) -> lambda_http::Request {
    let mut event = as_subject(get_event(id), sub);
    if let Some(tag) = if_none_match {
        event["headers"]["if-none-match"] = tag.into();
    }
    request(&event)
}

fn subject(sub: &str) -> Caller {
    Caller::Subject(sub.into())
}

#[tokio::test]
async fn two_callers_with_one_key_get_two_orders_and_each_replays_its_own() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    let key = "shared-key";

    let alice = api.handle(post_as(ALICE, key, BODY)).await;
    assert_eq!(alice.status(), 201, "{}", String::from_utf8_lossy(&body(&alice)));
    assert_eq!(calls.take(), ["PutItem", "TransactWriteItems"]);
    let bob = api.handle(post_as(BOB, key, BODY)).await;
    assert_eq!(bob.status(), 201, "{}", String::from_utf8_lossy(&body(&bob)));
    assert!(header(&bob, "idempotent-replayed").is_none(), "bob's request executed");
    assert_eq!(
        calls.take(),
        ["PutItem", "TransactWriteItems"],
        "bob's is a new execution"
    );
    assert_ne!(json(&alice)["id"], json(&bob)["id"]);
    assert_eq!(json(&alice)["customer"], ALICE, "the customer is the token's subject");
    assert_eq!(json(&bob)["customer"], BOB);

    // Two orders, each owned by its creator; two records, at each caller's own id.
    let orders = table.orders().await;
    assert_eq!(orders.len(), 2);
    for order in &orders {
        let id = order["order_id"].as_s().unwrap();
        let expected = if *id == json(&alice)["id"] { ALICE } else { BOB };
        assert_eq!(order["owner"].as_s().unwrap(), expected);
        assert_eq!(order["customer"].as_s().unwrap(), expected);
    }
    let records = table.records().await;
    assert_eq!(records.len(), 2);
    let idem = api.idempotency();
    for sub in [ALICE, BOB] {
        let hash = idem.caller_key_hash(&subject(sub), "POST", "/orders", key);
        assert_eq!(table.item(&hash).await.unwrap()["status"].as_s().unwrap(), "COMPLETED");
    }
    assert!(
        table.item(&idem.key_hash("POST", "/orders", key)).await.is_none(),
        "no anonymous record"
    );

    // A cold instance replays each caller's own response, byte for byte.
    for (sub, original) in [(ALICE, &alice), (BOB, &bob)] {
        let (cold, cold_calls) = table.api();
        let replay = cold.handle(post_as(sub, key, BODY)).await;
        assert_replay(original, &replay);
        assert_eq!(cold_calls.take(), ["PutItem"]);
    }

    // Anonymous, same key: its own key space, the id it always had.
    let anonymous = api.handle(post(Some(key), BODY)).await;
    assert_eq!(anonymous.status(), 201);
    assert!(header(&anonymous, "idempotent-replayed").is_none());
    assert_eq!(json(&anonymous)["customer"], serde_json::Value::Null);
    assert!(table.item(&idem.key_hash("POST", "/orders", key)).await.is_some());
    let anonymous_orders: Vec<_> = table
        .orders()
        .await
        .into_iter()
        .filter(|o| !o.contains_key("owner"))
        .collect();
    assert_eq!(anonymous_orders.len(), 1, "an anonymous order has no owner");
    assert_eq!(table.orders().await.len(), 3);
}

#[tokio::test]
async fn a_warm_cache_never_answers_another_caller() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    let key = "warm-key";
    let alice = api.handle(post_as(ALICE, key, BODY)).await;
    assert_eq!(alice.status(), 201);
    calls.take();
    // Alice's completed record is cached on this instance: bob with the same key and body still
    // executes, against the store, and gets his own order.
    let bob = api.handle(post_as(BOB, key, BODY)).await;
    assert_eq!(bob.status(), 201);
    assert!(header(&bob, "idempotent-replayed").is_none());
    assert_eq!(calls.take(), ["PutItem", "TransactWriteItems"]);
    assert_ne!(json(&bob)["id"], json(&alice)["id"]);
    // Both are cached now: each gets its own replay without a DynamoDB call.
    for (sub, original) in [(ALICE, &alice), (BOB, &bob), (ALICE, &alice)] {
        let replay = api.handle(post_as(sub, key, BODY)).await;
        assert_replay(original, &replay);
    }
    assert_eq!(calls.count(), 0, "cached replays");
    // An anonymous request with the key is not answered from either caller's entry.
    let anonymous = api.handle(post(Some(key), BODY)).await;
    assert_eq!(anonymous.status(), 201);
    assert!(header(&anonymous, "idempotent-replayed").is_none());
    assert_eq!(table.orders().await.len(), 3);
    // A different payload from bob is a mismatch for bob's record only.
    let changed = api.handle(post_as(BOB, key, r#"{"item":"pen","quantity":2}"#)).await;
    assert_problem(&changed, 422);
}

#[tokio::test]
async fn only_the_owner_reads_an_order_others_get_the_missing_order_404() {
    let table = Table::new().await;
    let (api, _) = table.api();
    let created = api.handle(post_as(ALICE, "read-key", BODY)).await;
    assert_eq!(created.status(), 201);
    let id = json(&created)["id"].as_str().unwrap().to_string();

    let mine = api.handle(get_as(ALICE, &id, None)).await;
    assert_eq!(mine.status(), 200);
    assert_eq!(json(&mine), json(&created));
    assert_eq!(header(&mine, "vary"), Some("Authorization"));
    let etag = header(&mine, "etag").unwrap().to_string();
    let not_modified = api.handle(get_as(ALICE, &id, Some(&etag))).await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(header(&not_modified, "etag"), Some(etag.as_str()));

    // What a missing order looks like, to bob and to an anonymous caller.
    let missing_id = "0b9c7c1e-6f3a-4c55-9a59-2b8f0f6b5d11";
    let missing = api.handle(get_as(BOB, missing_id, None)).await;
    assert_problem(&missing, 404);
    for (who, response) in [
        ("bob", api.handle(get_as(BOB, &id, None)).await),
        ("bob with alice's etag", api.handle(get_as(BOB, &id, Some(&etag))).await),
        ("anonymous", api.handle(get(&id, None)).await),
        ("anonymous with alice's etag", api.handle(get(&id, Some(&etag))).await),
        ("anonymous, missing", api.handle(get(missing_id, None)).await),
    ] {
        assert_problem(&response, 404);
        assert_eq!(
            body(&response),
            body(&missing),
            "{who}: the same body as a missing order"
        );
        assert_eq!(response.headers(), missing.headers(), "{who}: the same headers");
    }
    // HEAD too.
    let mut head = as_subject(get_event(&id), BOB);
    head["requestContext"]["http"]["method"] = "HEAD".into();
    assert_eq!(api.handle(request(&head)).await.status(), 404);
}

#[tokio::test]
async fn anonymous_orders_stay_readable_and_a_body_customer_owns_nothing() {
    let table = Table::new().await;
    let (api, _) = table.api();
    // Created without a token, naming alice as its customer: still an anonymous order.
    let created = api
        .handle(post(
            Some("anon"),
            &format!(r#"{{"item":"book","quantity":2,"customer":"{ALICE}"}}"#),
        ))
        .await;
    assert_eq!(created.status(), 201);
    let id = json(&created)["id"].as_str().unwrap().to_string();
    let stored = table.item(&format!("order#{id}")).await.unwrap();
    assert!(!stored.contains_key("owner"));

    let anonymous = api.handle(get(&id, None)).await;
    assert_eq!(anonymous.status(), 200);
    assert!(
        header(&anonymous, "vary").is_none(),
        "an anonymous order's GET is unchanged"
    );
    for sub in [ALICE, BOB] {
        let got = api.handle(get_as(sub, &id, None)).await;
        assert_eq!(got.status(), 200, "{sub}");
        assert_eq!(body(&got), body(&anonymous));
        assert_eq!(header(&got, "etag"), header(&anonymous, "etag"));
    }
}

#[tokio::test]
async fn a_body_customer_other_than_the_token_subject_is_400_and_creates_nothing() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    for customer in [BOB, "", "ann"] {
        let bad = format!(r#"{{"item":"book","quantity":2,"customer":"{customer}"}}"#);
        let response = api.handle(post_as(ALICE, "cust-key", &bad)).await;
        let problem = assert_problem(&response, 400);
        assert!(problem["title"].as_str().unwrap().contains("`customer`"), "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("token"), "{problem}");
    }
    assert_eq!(calls.count(), 0, "refused before any claim");
    assert!(table.items().await.is_empty(), "no order and no record");

    // Naming oneself is fine; the key is still free after the refusals.
    let own = format!(r#"{{"item":"book","quantity":2,"customer":"{ALICE}"}}"#);
    let created = api.handle(post_as(ALICE, "cust-key", &own)).await;
    assert_eq!(created.status(), 201);
    assert_eq!(json(&created)["customer"], ALICE);
    assert_eq!(
        table
            .item(&format!("order#{}", json(&created)["id"].as_str().unwrap()))
            .await
            .unwrap()["owner"],
        AttributeValue::S(ALICE.into())
    );
}

#[tokio::test]
async fn a_token_without_a_subject_is_401_and_creates_nothing() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    for claims in [
        serde_json::json!({"iss": "https://issuer.example", "exp": "1710092400"}),
        serde_json::json!({"sub": "", "iss": "https://issuer.example", "exp": "1710092400"}),
    ] {
        let response = api
            .handle(request(&with_claims(post_event(Some("no-sub"), BODY), claims.clone())))
            .await;
        let problem = assert_problem(&response, 401);
        assert!(problem["title"].as_str().unwrap().contains("`sub`"), "{problem}");
        let read = api
            .handle(request(&with_claims(
                get_event("0b9c7c1e-6f3a-4c55-9a59-2b8f0f6b5d11"),
                claims,
            )))
            .await;
        assert_problem(&read, 401);
    }
    assert_eq!(calls.count(), 0);
    assert!(table.items().await.is_empty());
}
