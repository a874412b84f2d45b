//! The orders API and its idempotency contract, driven by API Gateway v2 fixtures against DynamoDB Local.

use crate::common;

use common::*;
use oncely::IdempotencyRecord;
use oncely::fingerprint::fingerprint;
use oncely::persistence::{ClaimOutcome, Persistence};
use oncely::record::Status;

const BODY: &str = r#"{"item":"book","quantity":2,"customer":"ann"}"#;

#[tokio::test]
async fn first_post_creates_the_order_and_replays_byte_for_byte() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    let key = "order-key-1";

    let first = api.handle(post(Some(key), BODY)).await;
    assert_eq!(first.status(), 201, "{}", String::from_utf8_lossy(&body(&first)));
    assert_eq!(
        calls.take(),
        ["PutItem", "TransactWriteItems"],
        "first request: claim + transaction"
    );
    let order = json(&first);
    let id = order["id"].as_str().unwrap().to_string();
    assert_eq!(header(&first, "location"), Some(format!("/orders/{id}").as_str()));
    assert_eq!(header(&first, "content-type"), Some("application/json"));
    assert!(header(&first, "idempotent-replayed").is_none());
    assert_eq!(
        (
            order["item"].as_str(),
            order["quantity"].as_u64(),
            order["customer"].as_str(),
            order["status"].as_str()
        ),
        (Some("book"), Some(2), Some("ann"), Some("created"))
    );
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));

    // The order lives in the shared table as order#<id>, without the TTL attribute.
    let orders = table.orders().await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["id"].as_s().unwrap(), &format!("order#{id}"));
    assert!(!orders[0].contains_key(TTL_ATTRIBUTE));

    // The record: id = scoped key hash, COMPLETED, TTL, deadline, fingerprint; the raw key is nowhere.
    let hash = api.idempotency().key_hash("POST", "/orders", key);
    let record = table.item(&hash).await.expect("the idempotency record");
    assert_eq!(record["status"].as_s().unwrap(), "COMPLETED");
    let expires = record[TTL_ATTRIBUTE].as_n().unwrap().parse::<u64>().unwrap();
    let now_s = now_ms() / 1000;
    assert!(
        expires > now_s + 86_000 && expires <= now_s + 86_400,
        "expiration is now + 24 h"
    );
    assert!(record["in_progress_expiration"].as_n().unwrap().parse::<u64>().unwrap() > now_ms());
    assert_eq!(record["fingerprint"].as_s().unwrap(), &fingerprint(BODY.as_bytes()));
    assert!(!format!("{record:?}").contains(key), "the raw key is never stored");

    // Same instance: replay from the local cache, no DynamoDB call.
    let cached = api.handle(post(Some(key), BODY)).await;
    assert_eq!(calls.count(), 0, "a cached replay makes no DynamoDB call");
    assert_replay(&first, &cached);

    // Another instance (cold cache): one PutItem, whose failed condition returns the record.
    let (other, other_calls) = table.api();
    let replay = other.handle(post(Some(key), BODY)).await;
    assert_eq!(other_calls.take(), ["PutItem"], "a replay is one round trip");
    assert_replay(&first, &replay);
    assert_eq!(table.orders().await.len(), 1);
}

#[tokio::test]
async fn reordered_json_replays_and_a_changed_value_is_422() {
    let table = Table::new().await;
    let (api, warm_calls) = table.api();
    let first = api.handle(post(Some("k-json"), r#"{"item":"pen","quantity":3}"#)).await;
    assert_eq!(first.status(), 201);

    let (cold, calls) = table.api();
    let reordered = cold
        .handle(post(Some("k-json"), "{\n  \"quantity\" : 3 ,\n  \"item\":\"pen\"\n}"))
        .await;
    assert_replay(&first, &reordered);
    assert_eq!(calls.take().len(), 1);

    let (cold, calls) = table.api();
    let changed = cold
        .handle(post(Some("k-json"), r#"{"item":"pen","quantity":4}"#))
        .await;
    let problem = assert_problem(&changed, 422);
    assert!(problem["title"].as_str().unwrap().contains("different payload"));
    assert_eq!(calls.take(), ["PutItem"], "a mismatch is one round trip");
    // The same instance that completed it answers the mismatch from its cache.
    let cached_mismatch = api.handle(post(Some("k-json"), r#"{"item":"pen","quantity":5}"#)).await;
    assert_problem(&cached_mismatch, 422);
    assert_eq!(
        warm_calls.take(),
        ["PutItem", "TransactWriteItems"],
        "a cached mismatch makes no DynamoDB call"
    );
    assert_eq!(table.orders().await.len(), 1);
}

#[tokio::test]
async fn the_key_is_required_and_validated_without_touching_dynamodb() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    let missing = api.handle(post(None, BODY)).await;
    let problem = assert_problem(&missing, 400);
    assert!(
        problem["title"].as_str().unwrap().contains("Idempotency-Key"),
        "{problem}"
    );

    let too_long = "k".repeat(256);
    for bad in [too_long.as_str(), "", "\"unterminated", "tab\there", "\"a\"b"] {
        let response = api.handle(post(Some(bad), BODY)).await;
        assert_problem(&response, 400);
    }
    // Non-ASCII bytes in the header value.
    let mut event = post_event(None, BODY);
    event["headers"]["idempotency-key"] = "caf\u{e9}".into();
    assert_problem(&api.handle(request(&event)).await, 400);

    assert_eq!(calls.count(), 0);
    assert!(table.items().await.is_empty());

    // 255 characters is fine.
    let ok = api.handle(post(Some(&"k".repeat(255)), BODY)).await;
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn a_header_sent_twice_is_400_and_creates_nothing() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    // API Gateway payload 2.0 joins a repeated header with a comma: each form the handler can see.
    for joined in [
        "k1,k2",
        "k1, k2",
        "\"k1\", \"k2\"",
        "\"k1\",\"k2\"",
        "k1,\"k2\"",
        "k1,k1",
    ] {
        let response = api.handle(post(Some(joined), BODY)).await;
        let problem = assert_problem(&response, 400);
        assert_eq!(
            problem["type"], "urn:oncely:problem:invalid-idempotency-key",
            "{joined}: {problem}"
        );
        assert!(
            problem["title"].as_str().unwrap().contains("exactly once"),
            "{joined}: {problem}"
        );
    }
    // Values that are no key at all: never accepted as some other key.
    for bad in ["k1 k2", " k1", "k1\\", "k\"1", "\"k1\";p=1"] {
        let response = api.handle(post(Some(bad), BODY)).await;
        let problem = assert_problem(&response, 400);
        assert_eq!(
            problem["type"], "urn:oncely:problem:invalid-idempotency-key",
            "{bad}: {problem}"
        );
    }
    assert_eq!(calls.count(), 0, "refused before any DynamoDB call");
    assert!(table.items().await.is_empty());
    // The real fixture's event with its header doubled.
    let mut event = post_event(None, BODY);
    event["headers"]["idempotency-key"] =
        "8e03978e-40d5-43e8-bc93-6894a57f9324,8e03978e-40d5-43e8-bc93-6894a57f9325".into();
    assert_problem(&api.handle(request(&event)).await, 400);
    assert!(table.items().await.is_empty());
    // One quoted key may hold a comma: it is one key.
    assert_eq!(api.handle(post(Some("\"k1,k2\""), BODY)).await.status(), 201);
}

#[tokio::test]
async fn bodies_without_an_exact_fingerprint_are_400_naming_the_member() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    for (body, pointer) in [
        (r#"{"item":"book","quantity":2,"ref":12345678901234567890}"#, "/ref"),
        (r#"{"item":"book","quantity":2,"ref":12345678901234567891}"#, "/ref"),
        (r#"{"item":"book","quantity":2,"quantity":3}"#, "/quantity"),
        (r#"{"item":"book","quantity":2,"customer":"ann\ud800"}"#, "/customer"),
        (r#"{"item":"book","quantity":2,"meta":{"x":[1,1e400]}}"#, "/meta/x/1"),
    ] {
        let response = api.handle(post(Some("exact-key"), body)).await;
        let problem = assert_problem(&response, 400);
        assert_eq!(problem["type"], "urn:oncely:problem:inexact-json", "{body}: {problem}");
        assert_eq!(
            problem["detail"],
            format!("JSON pointer: {pointer}"),
            "{body}: {problem}"
        );
        assert!(
            problem["title"].as_str().unwrap().contains(pointer),
            "{body}: {problem}"
        );
    }
    assert_eq!(calls.count(), 0, "refused before any DynamoDB call");
    assert!(table.items().await.is_empty());
    // Exact numbers in other spellings are the same payload.
    let first = api
        .handle(post(Some("exact-key"), r#"{"item":"book","quantity":2,"ref":1e2}"#))
        .await;
    assert_eq!(first.status(), 201);
    let (cold, _) = table.api();
    let again = cold
        .handle(post(Some("exact-key"), r#"{"ref":100.0,"quantity":2,"item":"book"}"#))
        .await;
    assert_replay(&first, &again);
    let other = cold
        .handle(post(Some("exact-key"), r#"{"ref":101,"quantity":2,"item":"book"}"#))
        .await;
    assert_problem(&other, 422);
}

#[tokio::test]
async fn the_quoted_key_is_the_bare_key_and_named_stages_route() {
    let table = Table::new().await;
    let (api, _) = table.api();
    // Real event: stage `prod` (rawPath /prod/orders), base64 body, quoted structured-header key.
    let staged = api.handle(request(&fixture("post-orders-base64-stage.json"))).await;
    assert_eq!(staged.status(), 201, "{}", String::from_utf8_lossy(&body(&staged)));
    assert_eq!(json(&staged)["item"], "pen");

    let (cold, _) = table.api();
    let bare = cold
        .handle(post(
            Some("quoted-key-42"),
            r#"{"item":"pen","quantity":3,"customer":"ann"}"#,
        ))
        .await;
    assert_replay(&staged, &bare);
    assert_eq!(table.orders().await.len(), 1);
}

#[tokio::test]
async fn invalid_bodies_are_400_and_not_recorded() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    for bad in [
        "{",
        "[]",
        r#"{"item":"","quantity":1}"#,
        r#"{"item":"b","quantity":0}"#,
        r#"{"item":"b","quantity":1001}"#,
        r#"{"item":"b","quantity":"2"}"#,
        r#"{"item":"b","quantity":2.5}"#,
    ] {
        let response = api.handle(post(Some("fix-me"), bad)).await;
        let problem = assert_problem(&response, 400);
        assert!(
            problem["title"].as_str().unwrap().contains('`') || problem["title"].as_str().unwrap().contains("JSON"),
            "{problem}"
        );
    }
    assert_eq!(calls.count(), 0, "validation happens before the claim");
    assert!(table.items().await.is_empty());
    // The client fixes the body and retries with the same key.
    let fixed = api.handle(post(Some("fix-me"), BODY)).await;
    assert_eq!(fixed.status(), 201);
}

#[tokio::test]
async fn get_returns_the_order_with_etag_and_304() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    let created = api.handle(post(Some("get-me"), BODY)).await;
    let id = json(&created)["id"].as_str().unwrap().to_string();
    calls.take();

    let got = api.handle(get(&id, None)).await;
    assert_eq!(got.status(), 200);
    assert_eq!(json(&got), json(&created));
    let etag = header(&got, "etag").unwrap().to_string();
    assert!(etag.starts_with('"'));
    assert!(header(&got, "cache-control").unwrap().contains("max-age"));
    assert_eq!(calls.take(), ["GetItem"]);

    let not_modified = api.handle(get(&id, Some(&etag))).await;
    assert_eq!(not_modified.status(), 304);
    assert!(body(&not_modified).is_empty());
    assert_eq!(header(&not_modified, "etag"), Some(etag.as_str()));

    let stale = api.handle(get(&id, Some("\"other\""))).await;
    assert_eq!(stale.status(), 200);

    let missing = api.handle(get("0b9c7c1e-6f3a-4c55-9a59-2b8f0f6b5d11", None)).await;
    assert_problem(&missing, 404);
    assert_problem(&api.handle(get("not%20an%20id", None)).await, 404);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    assert_problem(&api.handle(request(&event_for("GET", "/nope"))).await, 404);
    assert_problem(&api.handle(request(&event_for("POST", "/orders/abc/items"))).await, 404);
    let wrong = api.handle(request(&event_for("GET", "/orders"))).await;
    assert_problem(&wrong, 405);
    assert_eq!(header(&wrong, "allow"), Some("POST"));
    let delete = api.handle(request(&event_for("DELETE", "/orders/abc"))).await;
    assert_problem(&delete, 405);
    assert!(header(&delete, "allow").unwrap().contains("GET"));
    assert_eq!(calls.count(), 0);
}

#[tokio::test]
async fn a_request_in_progress_is_409_and_a_dead_claim_runs_once_after_its_deadline() {
    let table = Table::new().await;
    let (api, calls) = table.api();
    let key = "dies-midway";
    let hash = api.idempotency().key_hash("POST", "/orders", key);
    // A first invocation claims the key and dies: no completion, no release.
    let dead = IdempotencyRecord {
        key_hash: hash.clone(),
        status: Status::InProgress,
        expiration_s: now_ms() / 1000 + 3600,
        in_progress_expiration_ms: now_ms() + 600_000,
        fingerprint: fingerprint(BODY.as_bytes()),
        claim: "dead-claim".into(),
        response: None,
    };
    assert_eq!(
        api.idempotency().persistence().claim(&dead, now_ms()).await.unwrap(),
        ClaimOutcome::Claimed
    );
    calls.take();

    let busy = api.handle(post(Some(key), BODY)).await;
    assert_problem(&busy, 409);
    let retry_after: u64 = header(&busy, "retry-after").unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert_eq!(calls.take(), ["PutItem"], "a conflict is one round trip");
    assert!(table.orders().await.is_empty());

    // A different payload with the in-progress key is a mismatch.
    assert_problem(&api.handle(post(Some(key), r#"{"item":"x","quantity":1}"#)).await, 422);

    // The deadline passes: the next retry executes, exactly once.
    table.set_number(&hash, "in_progress_expiration", now_ms() - 1).await;
    let retried = api.handle(post(Some(key), BODY)).await;
    assert_eq!(retried.status(), 201);
    let (cold, _) = table.api();
    let again = cold.handle(post(Some(key), BODY)).await;
    assert_replay(&retried, &again);
    assert_eq!(table.orders().await.len(), 1);
}

#[tokio::test]
async fn an_expired_record_is_absent_and_executes_again() {
    let table = Table::new().await;
    let (api, _) = table.api();
    let first = api.handle(post(Some("old-key"), BODY)).await;
    assert_eq!(first.status(), 201);
    let hash = api.idempotency().key_hash("POST", "/orders", "old-key");
    // Past its expiration but not yet deleted by TTL (TTL deletion lags by hours in DynamoDB).
    table.set_number(&hash, TTL_ATTRIBUTE, now_ms() / 1000 - 1).await;
    assert!(table.item(&hash).await.is_some());

    let (cold, calls) = table.api();
    let second = cold.handle(post(Some("old-key"), BODY)).await;
    assert_eq!(second.status(), 201);
    assert!(header(&second, "idempotent-replayed").is_none());
    assert_ne!(json(&second)["id"], json(&first)["id"]);
    assert_eq!(calls.take(), ["PutItem", "TransactWriteItems"]);
    assert_eq!(table.orders().await.len(), 2);
}

#[tokio::test]
async fn dynamodb_unreachable_is_503_and_a_later_retry_succeeds() {
    let table = Table::new().await;
    let config = table.config();
    let down = orders::OrdersApi::new(client(&testkit::closed_endpoint(), None), &table.name, config);
    let response = down.handle(post(Some("outage"), BODY)).await;
    let problem = assert_problem(&response, 503);
    assert!(problem["title"].as_str().unwrap().contains("retry"));
    assert!(header(&response, "retry-after").is_some());
    assert!(table.items().await.is_empty(), "no order and no record");

    let (api, _) = table.api();
    let retry = api.handle(post(Some("outage"), BODY)).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(table.orders().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_through_eight_instances_create_one_order() {
    let table = Table::new().await;
    let apis: Vec<_> = (0..8).map(|_| std::sync::Arc::new(table.api().0)).collect();
    let (created, conflicts) = race(&apis, "race", BODY, 50).await;
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|b| *b == created[0]),
        "every 201 is the same order (original or replay)"
    );
    eprintln!("50 concurrent requests: {} × 201, {conflicts} × 409", created.len());
    assert_eq!(created.len() + conflicts, 50);
    assert_eq!(table.orders().await.len(), 1, "exactly one order");
    // Once settled, everyone gets the replay.
    let settled = apis[3].handle(post(Some("race"), BODY)).await;
    assert_eq!(body(&settled), created[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_work_holds_the_claim_so_a_concurrent_duplicate_gets_409() {
    let table = Table::new().await;
    let (api, _) = table.api();
    let api = std::sync::Arc::new(api.with_simulated_work_max(std::time::Duration::from_secs(30)));
    let key = "slow-key";
    let slow = {
        let api = api.clone();
        let mut event = post_event(Some(key), BODY);
        event["headers"]["x-simulate-work-ms"] = serde_json::json!("1500");
        tokio::spawn(async move { api.handle(request(&event)).await })
    };
    // Wait until the first request's claim is stored, then send the duplicate.
    let hash = api.idempotency().key_hash("POST", "/orders", key);
    while table.item(&hash).await.is_none() {
        tokio::task::yield_now().await;
    }
    let (other, _) = table.api();
    let duplicate = other.handle(post(Some(key), BODY)).await;
    assert_problem(&duplicate, 409);
    assert!(header(&duplicate, "retry-after").is_some());
    let first = slow.await.unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(table.orders().await.len(), 1);

    // Without a configured maximum the header is ignored: the request completes at once and a
    // duplicate right after it is a replay, never a 409.
    let (plain, _) = table.api();
    let mut event = post_event(Some("other-key"), BODY);
    event["headers"]["x-simulate-work-ms"] = serde_json::json!("600000");
    assert_eq!(plain.handle(request(&event)).await.status(), 201);
}
