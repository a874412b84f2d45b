//! The generic idempotency wrapper against DynamoDB Local: failures are never stored, keys from
//! body fields, route scoping, atomic completion (rejected writes, lost claims) and the logs.

use crate::common;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use common::*;
use lambda_http::{Body, Response};
use oncely::{Completion, DynamoDbPersistence, HandlerError, Idempotency, IdempotencyConfig, KeySource, Outcome};
use std::sync::atomic::{AtomicUsize, Ordering};

type Result = std::result::Result<Completion<Response<Body>, TransactWriteItem>, HandlerError>;

fn wrapper(table: &Table, config: IdempotencyConfig) -> (Idempotency<DynamoDbPersistence>, Calls) {
    let calls = Calls::default();
    let persistence = DynamoDbPersistence::new(client(&table.endpoint, Some(&calls)), &table.name, TTL_ATTRIBUTE);
    (Idempotency::new(config, persistence), calls)
}

fn created(text: &str) -> Response<Body> {
    Response::builder()
        .status(201)
        .header("content-type", "text/plain")
        .body(Body::from(text.to_string()))
        .unwrap()
}

fn put(table: &str, id: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .item("id", AttributeValue::S(id.into()))
                .build()
                .unwrap(),
        )
        .build()
}

const BODY: &str = r#"{"item":"book","quantity":1}"#;

#[tokio::test]
async fn a_handler_error_is_not_stored_and_the_retry_runs_again() {
    let table = Table::new().await;
    let (idem, calls) = wrapper(&table, table.config());
    let runs = AtomicUsize::new(0);
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Err::<Completion<Response<Body>, TransactWriteItem>, HandlerError>("payment provider down".into())
            },
        )
        .await;
    assert_eq!(outcome, Outcome::Failed);
    let problem = assert_problem(&response, 500);
    assert!(
        !problem.to_string().contains("payment provider"),
        "internal errors are not leaked"
    );
    assert_eq!(calls.take(), ["PutItem", "DeleteItem"], "claim, then release");
    assert!(table.items().await.is_empty(), "the in-progress record is removed");

    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(Completion::new(created("done")).with_write(put(&table.name, "effect#1")))
            },
        )
        .await;
    assert_eq!((response.status().as_u16(), outcome), (201, Outcome::Executed));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(table.item("effect#1").await.is_some());
}

#[tokio::test]
async fn a_panic_is_not_stored_and_the_retry_runs_again() {
    let table = Table::new().await;
    let (idem, _) = wrapper(&table, table.config());
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async {
                let fail = true;
                if fail {
                    panic!("handler bug");
                }
                Result::Ok(Completion::new(created("never")))
            },
        )
        .await;
    assert_eq!(outcome, Outcome::Failed);
    assert_problem(&response, 500);
    assert!(table.items().await.is_empty());
    let retry = idem
        .handle(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async { Result::Ok(Completion::new(created("ok"))) },
        )
        .await;
    assert_eq!(retry.status(), 201);
}

#[tokio::test]
async fn a_5xx_response_is_returned_but_not_stored() {
    let table = Table::new().await;
    let (idem, _) = wrapper(&table, table.config());
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async {
                Result::Ok(
                    Completion::new(Response::builder().status(502).body(Body::from("upstream")).unwrap())
                        .with_write(put(&table.name, "effect#x")),
                )
            },
        )
        .await;
    assert_eq!((response.status().as_u16(), outcome), (502, Outcome::Failed));
    assert_eq!(body(&response), b"upstream");
    assert!(
        table.items().await.is_empty(),
        "no record and none of the handler's writes"
    );
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async { Result::Ok(Completion::new(created("ok"))) },
        )
        .await;
    assert_eq!((response.status().as_u16(), outcome), (201, Outcome::Executed));
}

#[tokio::test]
async fn keys_can_come_from_body_fields() {
    let table = Table::new().await;
    let config = with_key_source(
        table.config(),
        KeySource::BodyFields(vec!["userId".into(), "productId".into()]),
    );
    let (idem, _) = wrapper(
        &table,
        IdempotencyConfig {
            local_cache_items: 0,
            ..config
        },
    );
    let runs = AtomicUsize::new(0);
    let pay = |body: &'static str| {
        let runs = &runs;
        let idem = &idem;
        async move {
            idem.handle_with_outcome(
                &post(None, body),
                "/payments",
                |_| Ok(()),
                |_| async move {
                    let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                    Result::Ok(Completion::new(created(&format!("payment {n}"))))
                },
            )
            .await
        }
    };
    let (first, outcome) = pay(r#"{"userId":"u1","productId":"p1","amount":10}"#).await;
    assert_eq!((first.status().as_u16(), outcome), (201, Outcome::Executed));
    // No header needed; the same fields in another order and spacing replay.
    let (again, outcome) = pay(r#"{ "amount": 10, "productId": "p1", "userId": "u1" }"#).await;
    assert_eq!(outcome, Outcome::Replayed { cached: false });
    assert_eq!(body(&again), b"payment 1");
    // Same key fields, another amount: the payload differs → 422.
    let (changed, outcome) = pay(r#"{"userId":"u1","productId":"p1","amount":11}"#).await;
    assert_eq!(outcome, Outcome::Mismatch);
    assert_problem(&changed, 422);
    // Another product is another key.
    let (other, outcome) = pay(r#"{"userId":"u1","productId":"p2","amount":10}"#).await;
    assert_eq!((body(&other), outcome), (b"payment 2".to_vec(), Outcome::Executed));
    // A missing key field is a 400 that names it.
    let (missing, outcome) = pay(r#"{"userId":"u1","amount":10}"#).await;
    assert_eq!(outcome, Outcome::Rejected);
    assert!(
        assert_problem(&missing, 400)["title"]
            .as_str()
            .unwrap()
            .contains("productId")
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn one_client_key_on_two_routes_never_collides() {
    let table = Table::new().await;
    let (idem, _) = wrapper(&table, table.config());
    for route in ["/orders", "/payments"] {
        let (response, outcome) = idem
            .handle_with_outcome(
                &post(Some("shared"), BODY),
                route,
                |_| Ok(()),
                |_| async move { Result::Ok(Completion::new(created(route))) },
            )
            .await;
        assert_eq!(
            (body(&response), outcome),
            (route.as_bytes().to_vec(), Outcome::Executed)
        );
    }
    assert_eq!(table.records().await.len(), 2);
}

#[tokio::test]
async fn a_rejected_handler_write_rolls_back_everything() {
    let table = Table::new().await;
    let (idem, _) = wrapper(&table, table.config());
    let conditional = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(&table.name)
                .item("id", AttributeValue::S("account#1".into()))
                .condition_expression("attribute_exists(id)")
                .build()
                .unwrap(),
        )
        .build();
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async {
                Result::Ok(
                    Completion::new(created("x"))
                        .with_write(put(&table.name, "effect#1"))
                        .with_write(conditional),
                )
            },
        )
        .await;
    assert_eq!(outcome, Outcome::Failed);
    assert_problem(&response, 409);
    assert!(
        table.items().await.is_empty(),
        "neither the record nor any write of the transaction"
    );
}

#[tokio::test]
async fn a_lost_claim_commits_nothing() {
    let table = Table::new().await;
    let (idem, _) = wrapper(&table, table.config());
    let hash = idem.key_hash("POST", "/orders", "slow");
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("slow"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async {
                // While this invocation runs past its deadline, another one takes the key over.
                let mut record = table.item(&hash).await.unwrap();
                record.insert("claim".into(), AttributeValue::S("someone-else".into()));
                table
                    .admin
                    .put_item()
                    .table_name(&table.name)
                    .set_item(Some(record))
                    .send()
                    .await
                    .unwrap();
                Result::Ok(Completion::new(created("late")).with_write(put(&table.name, "effect#late")))
            },
        )
        .await;
    assert_eq!(outcome, Outcome::Conflict);
    assert_problem(&response, 409);
    assert!(
        table.item("effect#late").await.is_none(),
        "the effect commits only with our completion"
    );
    let record = table.item(&hash).await.unwrap();
    assert_eq!(
        (
            record["status"].as_s().unwrap().as_str(),
            record["claim"].as_s().unwrap().as_str()
        ),
        ("INPROGRESS", "someone-else"),
        "the other claim is left alone"
    );
}

#[tokio::test]
async fn a_failed_completion_releases_the_claim_and_the_retry_runs_again() {
    let table = Table::new().await;
    let (idem, calls) = wrapper(&table, table.config());
    // The handler's write targets a table that does not exist: the whole transaction fails.
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async { Result::Ok(Completion::new(created("x")).with_write(put("no-such-table", "effect#1"))) },
        )
        .await;
    assert_eq!(outcome, Outcome::Failed);
    assert_problem(&response, 503);
    assert_eq!(calls.take(), ["PutItem", "TransactWriteItems", "DeleteItem"]);
    assert!(table.items().await.is_empty(), "no record and no effect");
    let (response, outcome) = idem
        .handle_with_outcome(
            &post(Some("k"), BODY),
            "/orders",
            |_| Ok(()),
            |_| async { Result::Ok(Completion::new(created("ok"))) },
        )
        .await;
    assert_eq!((response.status().as_u16(), outcome), (201, Outcome::Executed));
}

#[tokio::test]
async fn the_wrapper_reads_the_caller_from_the_jwt_claims() {
    let table = Table::new().await;
    let (idem, calls) = wrapper(&table, table.config());
    let runs = AtomicUsize::new(0);
    let mut seen = Vec::new();
    for sub in ["alice", "bob", "alice"] {
        let (response, outcome) = idem
            .handle_with_outcome(
                &request(&as_subject(post_event(Some("k"), BODY), sub)),
                "/orders",
                |_| Ok(()),
                |_| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Result::Ok(Completion::new(created(sub)))
                },
            )
            .await;
        assert_eq!(response.body().as_ref(), sub.as_bytes(), "{sub} gets its own response");
        seen.push(outcome);
    }
    assert_eq!(
        seen,
        [Outcome::Executed, Outcome::Executed, Outcome::Replayed { cached: true }]
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one execution per caller");
    let alice = oncely::Caller::Subject("alice".into());
    assert!(
        table
            .item(&idem.caller_key_hash(&alice, "POST", "/orders", "k"))
            .await
            .is_some()
    );
    calls.take();
    // Claims without a subject: 401 before anything is read or recorded.
    let (response, outcome) = idem
        .handle_with_outcome(
            &request(&with_claims(
                post_event(Some("k"), BODY),
                serde_json::json!({"iss": "https://issuer.example"}),
            )),
            "/orders",
            |_| Ok(()),
            |_| async { Result::Ok(Completion::new(created("never"))) },
        )
        .await;
    assert_eq!(outcome, Outcome::Rejected);
    assert_problem(&response, 401);
    assert_eq!(calls.count(), 0);
    assert_eq!(table.records().await.len(), 2);
}

/// A response larger than a record holds (DynamoDB's 400 KB, for every store) is refused with
/// its own problem before anything is written: the handler's writes are not committed, the claim
/// is released, and a retry runs again.
#[tokio::test]
async fn a_response_too_large_to_store_writes_nothing() {
    let table = Table::new().await;
    let (idem, calls) = wrapper(&table, table.config());
    let runs = AtomicUsize::new(0);
    for size in [500 * 1024, 1024] {
        let (response, outcome) = idem
            .handle_with_outcome(
                &post(Some("large"), BODY),
                "/orders",
                |_| Ok(()),
                |_| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok(Completion::new(created(&"x".repeat(size))).with_write(put(&table.name, "effect#large")))
                },
            )
            .await;
        if size > 400 * 1024 {
            assert_eq!(outcome, Outcome::Failed);
            let problem = assert_problem(&response, 500);
            assert!(problem.to_string().contains("response-too-large"), "{problem}");
            assert_eq!(calls.take(), ["PutItem", "DeleteItem"], "claim, then release");
            assert!(table.items().await.is_empty(), "neither the record nor the write");
        } else {
            assert_eq!((response.status().as_u16(), outcome), (201, Outcome::Executed));
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the retry ran again");
}

/// A replay hook changes every replay (from the store and from the cache), never the first answer.
#[tokio::test]
async fn a_replay_hook_marks_replays_only() {
    let table = Table::new().await;
    let hooked = || {
        wrapper(&table, table.config()).0.with_replay_hook(|stored| {
            stored
                .headers
                .push(("x-original-status".into(), stored.status.to_string().into_bytes()));
            stored.status = 200;
        })
    };
    let (idem, fresh) = (hooked(), hooked());
    let (other, _) = wrapper(&table, table.config());
    let mut seen = Vec::new();
    for idem in [&idem, &other, &idem, &fresh] {
        let (response, outcome) = idem
            .handle_with_outcome(
                &post(Some("hooked"), BODY),
                "/orders",
                |_| Ok(()),
                |_| async { Result::Ok(Completion::new(created("once"))) },
            )
            .await;
        seen.push((
            outcome,
            response.status().as_u16(),
            header(&response, "x-original-status").map(String::from),
        ));
    }
    assert_eq!(
        seen,
        [
            (Outcome::Executed, 201, None),
            // Another environment without the hook replays as stored.
            (Outcome::Replayed { cached: false }, 201, None),
            (Outcome::Replayed { cached: true }, 200, Some("201".into())),
            (Outcome::Replayed { cached: false }, 200, Some("201".into())),
        ]
    );
}
