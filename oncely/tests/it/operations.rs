//! Idempotency for any event (`Idempotency::run`, `Operation`), one contract run against DynamoDB
//! Local, a real `redis-server` and the in-memory store: a typed result stored once and replayed,
//! a key reused with another payload, failures never stored, an execution in flight, effects
//! committed with the result under a race, keys and compared fields by JSON Pointer, and key
//! spaces per operation and per caller.

use crate::common;

use common::stores::Effects;
use oncely::{Caller, Completion, HandlerError, Idempotency, MissingKey, RunError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Receipt {
    charge_id: String,
    cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Charge {
    order_id: String,
    cents: u64,
}

fn charge(order_id: &str, cents: u64) -> Charge {
    Charge {
        order_id: order_id.into(),
        cents,
    }
}

/// A key no other test (or store prefix) uses.
fn key(name: &str) -> String {
    format!("{name}-{}", common::stores::fresh_hash())
}

async fn a_function_runs_once_per_key_and_replays_its_typed_result<P: Effects>(idem: Arc<Idempotency<P>>) {
    let runs = AtomicUsize::new(0);
    let k = key("charge");
    let mut receipts = Vec::new();
    for _ in 0..3 {
        let receipt: Receipt = idem
            .run(&k, &charge("o-1", 1250), |c| async {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, HandlerError>(Receipt {
                    charge_id: format!("ch-{}-{n}", c.order_id),
                    cents: c.cents,
                })
            })
            .await
            .unwrap();
        receipts.push(receipt);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one execution");
    assert_eq!(
        receipts[0],
        Receipt {
            charge_id: "ch-o-1-0".into(),
            cents: 1250
        }
    );
    assert!(receipts.iter().all(|r| *r == receipts[0]), "{receipts:?}");
    // Another key is another execution.
    let other: Receipt = idem
        .run(&key("charge"), &charge("o-1", 1250), |c| async move {
            Ok::<_, HandlerError>(Receipt {
                charge_id: "second".into(),
                cents: c.cents,
            })
        })
        .await
        .unwrap();
    assert_eq!(other.charge_id, "second");
}

async fn a_key_reused_with_another_payload_is_refused<P: Effects>(idem: Arc<Idempotency<P>>) {
    let k = key("mismatch");
    let ok = |c: &Charge| Ok::<_, HandlerError>(c.cents);
    assert_eq!(
        idem.run(&k, &charge("o-1", 100), |c| async move { ok(c) })
            .await
            .unwrap(),
        100
    );
    let err = idem
        .run(&k, &charge("o-1", 999), |_| async { Ok::<u64, HandlerError>(0) })
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Mismatch), "{err:?}");
    assert!(err.to_string().contains("different payload"), "{err}");
    // The same payload, its members in another order, is the same payload (RFC 8785).
    let reordered = json!({"cents": 100, "order_id": "o-1"});
    assert_eq!(
        idem.run(&k, &reordered, |_| async { Ok::<u64, HandlerError>(0) })
            .await
            .unwrap(),
        100
    );
}

async fn a_failed_run_is_not_stored_and_the_retry_runs<P: Effects>(idem: Arc<Idempotency<P>>) {
    let k = key("failing");
    let err = idem
        .run(&k, &charge("o-1", 5), |_| async { Err::<u64, _>("card declined") })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Handler(e) if e.to_string() == "card declined"),
        "{err:?}"
    );
    let err = idem
        .run(&k, &charge("o-1", 5), |_| async {
            if k.starts_with("failing") {
                panic!("the handler's bug");
            }
            Ok::<u64, HandlerError>(0)
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Panicked(m) if m == "the handler's bug"),
        "{err:?}"
    );
    let runs = AtomicUsize::new(0);
    for _ in 0..2 {
        let value = idem
            .run(&k, &charge("o-1", 5), |c| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, HandlerError>(c.cents * 2)
            })
            .await
            .unwrap();
        assert_eq!(value, 10);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the retry ran once, then replayed");
}

async fn a_run_in_flight_answers_in_progress<P: Effects>(idem: Arc<Idempotency<P>>) {
    let k = key("in-flight");
    let started = Arc::new(tokio::sync::Notify::new());
    let finish = Arc::new(tokio::sync::Notify::new());
    let first = tokio::spawn({
        let (idem, k, started, finish) = (idem.clone(), k.clone(), started.clone(), finish.clone());
        async move {
            idem.run(&k, &charge("o-1", 7), |c| async move {
                started.notify_one();
                finish.notified().await;
                Ok::<_, HandlerError>(c.cents)
            })
            .await
        }
    });
    started.notified().await;
    let err = idem
        .run(&k, &charge("o-1", 7), |_| async { Ok::<u64, HandlerError>(0) })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::InProgress { retry_after_s } if (1..=30).contains(&retry_after_s)),
        "{err:?}"
    );
    finish.notify_one();
    assert_eq!(first.await.unwrap().unwrap(), 7);
    let replay = idem
        .run(&k, &charge("o-1", 7), |_| async { Ok::<u64, HandlerError>(0) })
        .await;
    assert_eq!(replay.unwrap(), 7);
}

async fn twenty_racing_runs_make_one_effect_and_one_result<P: Effects>(idem: Arc<Idempotency<P>>) {
    let k = key("race");
    let effect_key = key("effect");
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let (idem, k, effect_key, runs) = (idem.clone(), k.clone(), effect_key.clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            let write = idem.persistence().write(&effect_key, &format!("paid by {i}"));
            idem.operation("pay")
                .run_completing(&k, &charge("o-9", 900), |c| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok(Completion::new(format!("{}:{i}", c.cents)).with_write(write))
                })
                .await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one execution");
    let answers: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(!answers.is_empty());
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    for r in &results {
        assert!(matches!(r, Ok(_) | Err(RunError::InProgress { .. })), "{r:?}");
    }
    let winner = answers[0].split(':').nth(1).unwrap();
    assert_eq!(
        idem.persistence().effect(&effect_key).await.as_deref(),
        Some(format!("paid by {winner}").as_str()),
        "the effect of the run whose result is stored"
    );
}

async fn keys_and_compared_fields_come_from_json_pointers<P: Effects>(idem: Arc<Idempotency<P>>) {
    let order = key("order");
    let op = idem
        .operation("ship")
        .key_from(["/order/id"])
        .payload_from(["/order/items"]);
    let runs = AtomicUsize::new(0);
    let event = |trace: &str, items: u64| json!({"order": {"id": order, "items": items}, "trace": trace});
    let run = |event: serde_json::Value| {
        let op = &op;
        let runs = &runs;
        async move {
            op.run_keyed(&event, |e| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, HandlerError>(e["order"]["items"].as_u64().unwrap())
            })
            .await
        }
    };
    assert_eq!(run(event("t-1", 3)).await.unwrap(), 3);
    // Another trace id is not another payload: only the items are compared.
    assert_eq!(run(event("t-2", 3)).await.unwrap(), 3);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(matches!(run(event("t-3", 4)).await, Err(RunError::Mismatch)));
    // No key: refused, nothing runs.
    let err = run(json!({"order": {"items": 1}})).await.unwrap_err();
    assert!(matches!(&err, RunError::NoKey(m) if m.contains("/order/id")), "{err:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Or run unprotected, each time, when the operation says so.
    let open = idem
        .operation("ship")
        .key_from(["/order/id"])
        .missing_key(MissingKey::RunUnprotected);
    for _ in 0..2 {
        let n = open
            .run_keyed(json!({"order": {}}), |_| async {
                Ok::<_, HandlerError>(runs.fetch_add(1, Ordering::SeqCst))
            })
            .await
            .unwrap();
        assert!(n >= 1);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

async fn operations_and_callers_have_key_spaces_of_their_own<P: Effects>(idem: Arc<Idempotency<P>>) {
    let k = key("shared");
    let runs = AtomicUsize::new(0);
    let alice = Caller::Subject("alice".into());
    let bob = Caller::Subject("bob".into());
    let spaces = [
        idem.operation("refund"),
        idem.operation("charge"),
        idem.operation("charge").as_caller(alice.clone()),
        idem.operation("charge").as_caller(bob),
    ];
    for (i, op) in spaces.iter().enumerate() {
        let value = op
            .run(&k, "same payload", |_| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, HandlerError>(i)
            })
            .await
            .unwrap();
        assert_eq!(value, i, "space {i} ran its own execution");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    // Each space replays its own result.
    let again = idem.operation("charge").as_caller(alice);
    assert_eq!(
        again
            .run(&k, "same payload", |_| async { Ok::<usize, HandlerError>(9) })
            .await
            .unwrap(),
        2
    );
}

async fn a_stored_result_of_another_type_is_a_decode_error<P: Effects>(idem: Arc<Idempotency<P>>) {
    let k = key("typed");
    let text: String = idem
        .run(&k, 1, |_| async { Ok::<_, HandlerError>("text".to_string()) })
        .await
        .unwrap();
    assert_eq!(text, "text");
    let err = idem
        .run(&k, 1, |_| async {
            Ok::<_, HandlerError>(Receipt {
                charge_id: String::new(),
                cents: 0,
            })
        })
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Decode(_)), "{err:?}");
}

async fn an_operator_reads_and_forgets_a_key<P: Effects>(idem: Arc<Idempotency<P>>) {
    let k = key("operator");
    let op = idem.operation("refund");
    assert!(op.record(&k).await.unwrap().is_none());
    assert!(!op.forget(&k).await.unwrap(), "nothing to forget yet");
    let runs = AtomicUsize::new(0);
    let payload = charge("o-4", 40);
    let refund = || {
        op.run(&k, &payload, |c| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, HandlerError>(c.cents)
        })
    };
    assert_eq!(refund().await.unwrap(), 40);
    let record = op.record(&k).await.unwrap().expect("the completed record");
    assert_eq!(record.status, oncely::Status::Completed);
    assert_eq!(record.key_hash, op.record_id(&k));
    assert_eq!(record.response.unwrap().body, b"40");
    assert!(op.forget(&k).await.unwrap());
    assert!(op.record(&k).await.unwrap().is_none());
    // Forgotten: the key runs again (the local cache forgot it too).
    assert_eq!(refund().await.unwrap(), 40);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

crate::contract!(
    an_operator_reads_and_forgets_a_key,
    a_function_runs_once_per_key_and_replays_its_typed_result,
    a_key_reused_with_another_payload_is_refused,
    a_failed_run_is_not_stored_and_the_retry_runs,
    a_run_in_flight_answers_in_progress,
    twenty_racing_runs_make_one_effect_and_one_result,
    keys_and_compared_fields_come_from_json_pointers,
    operations_and_callers_have_key_spaces_of_their_own,
    a_stored_result_of_another_type_is_a_decode_error,
);
