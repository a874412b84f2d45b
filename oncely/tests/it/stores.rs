//! One contract for every idempotency store, written once and run against DynamoDB Local, a real
//! `redis-server` and the in-memory store: a claim answers the live record in the same call, a
//! retried call recognises its own earlier attempt, dead and expired records are claimed again,
//! completion is fenced by the claim token (and commits the handler's writes with it), release
//! removes only our own claim, 50 concurrent requests run the handler once, and an execution that
//! crashes between its effect and its completion is taken over after its deadline and answers
//! with the first execution's effect.

use crate::common;

use common::stores::{Effects, fresh_hash, redis_persistence};
use common::*;
use lambda_http::{Body, Response};
use oncely::redis_client::{Command, Value};
use oncely::{
    ClaimOutcome, Completion, HandlerError, Idempotency, IdempotencyRecord, Outcome, Persistence, PersistenceError,
    Status, StoredResponse,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// An in-progress record claimed `now` with a deadline 30 s away and an hour to live; its claim
/// token is `claim` made unique to the key (DynamoDB keeps completion tokens account-wide).
fn record(hash: &str, claim: &str, now: u64) -> IdempotencyRecord {
    IdempotencyRecord {
        key_hash: hash.into(),
        status: Status::InProgress,
        expiration_s: now / 1000 + 3600,
        in_progress_expiration_ms: now + 30_000,
        fingerprint: "json:fp".into(),
        claim: format!("{hash}/{claim}"),
        response: None,
    }
}

fn completed(mut record: IdempotencyRecord) -> IdempotencyRecord {
    record.status = Status::Completed;
    record.response = Some(StoredResponse {
        status: 201,
        headers: vec![
            ("location".into(), b"/x/1".to_vec()),
            ("set-cookie".into(), b"a=1".to_vec()),
            ("set-cookie".into(), b"b=2".to_vec()),
        ],
        body: vec![0, 159, 146, 150, b'{'],
    });
    record
}

async fn claim_answers_the_live_record_in_the_same_call<P: Effects>(idem: Arc<Idempotency<P>>) {
    let store = idem.persistence();
    let now = now_ms();
    let hash = fresh_hash();
    let ours = record(&hash, "a", now);
    assert_eq!(store.claim(&ours, now).await.unwrap(), ClaimOutcome::Claimed);
    let theirs = record(&hash, "b", now);
    assert_eq!(
        store.claim(&theirs, now).await.unwrap(),
        ClaimOutcome::Existing(ours.clone())
    );
    let done = completed(ours);
    store.complete(&done, vec![]).await.unwrap();
    assert_eq!(
        store.claim(&theirs, now + 1).await.unwrap(),
        ClaimOutcome::Existing(done)
    );
}

async fn a_retried_call_recognises_its_own_earlier_attempt<P: Effects>(idem: Arc<Idempotency<P>>) {
    let store = idem.persistence();
    let now = now_ms();
    let hash = fresh_hash();
    let ours = record(&hash, "a", now);
    assert_eq!(store.claim(&ours, now).await.unwrap(), ClaimOutcome::Claimed);
    assert_eq!(
        store.claim(&ours, now).await.unwrap(),
        ClaimOutcome::Claimed,
        "a retried claim"
    );
    let done = completed(ours.clone());
    store.complete(&done, vec![store.write(&hash, "v1")]).await.unwrap();
    store
        .complete(&done, vec![store.write(&hash, "v1")])
        .await
        .expect("a retried completion is done, not a lost claim");
    assert_eq!(store.effect(&hash).await.as_deref(), Some("v1"));
    store.release(&ours).await.unwrap();
    assert_eq!(
        store.claim(&record(&hash, "b", now), now).await.unwrap(),
        ClaimOutcome::Existing(done),
        "a release after the completion leaves the completed record"
    );
}

async fn dead_and_expired_records_are_claimed_again<P: Effects>(idem: Arc<Idempotency<P>>) {
    let store = idem.persistence();
    let now = now_ms();
    let hash = fresh_hash();
    let first = record(&hash, "a", now);
    store.claim(&first, now).await.unwrap();
    // Past the first claim's deadline: its claimer died.
    let later = now + 30_000;
    let second = record(&hash, "b", later);
    assert_eq!(store.claim(&second, later).await.unwrap(), ClaimOutcome::Claimed);
    assert!(matches!(
        store
            .complete(&completed(first.clone()), vec![store.write(&hash, "late")])
            .await,
        Err(PersistenceError::ClaimLost)
    ));
    assert_eq!(store.effect(&hash).await, None, "a lost claim writes nothing");
    let done = completed(second);
    store.complete(&done, vec![]).await.unwrap();
    // A completed record lives until its expiration, then is absent.
    let third = record(&hash, "c", now);
    assert_eq!(
        store.claim(&third, later + 1).await.unwrap(),
        ClaimOutcome::Existing(done.clone())
    );
    let expired = done.expiration_s * 1000;
    assert_eq!(store.claim(&third, expired).await.unwrap(), ClaimOutcome::Claimed);
}

async fn completion_is_fenced_by_the_claim_token<P: Effects>(idem: Arc<Idempotency<P>>) {
    let store = idem.persistence();
    let now = now_ms();
    let hash = fresh_hash();
    let ours = record(&hash, "a", now);
    store.claim(&ours, now).await.unwrap();
    let impostor = completed(record(&hash, "b", now));
    assert!(matches!(
        store.complete(&impostor, vec![store.write(&hash, "b")]).await,
        Err(PersistenceError::ClaimLost)
    ));
    assert_eq!(store.effect(&hash).await, None);
    let done = completed(ours);
    store.complete(&done, vec![store.write(&hash, "a")]).await.unwrap();
    assert_eq!(store.effect(&hash).await.as_deref(), Some("a"));
    // Nobody completes a record that is not in progress, or absent.
    let absent = completed(record(&fresh_hash(), "z", now));
    assert!(matches!(
        store.complete(&absent, vec![]).await,
        Err(PersistenceError::ClaimLost)
    ));
}

async fn release_removes_only_our_own_claim<P: Effects>(idem: Arc<Idempotency<P>>) {
    let store = idem.persistence();
    let now = now_ms();
    let hash = fresh_hash();
    let ours = record(&hash, "a", now);
    store.claim(&ours, now).await.unwrap();
    store.release(&record(&hash, "b", now)).await.unwrap();
    assert_eq!(
        store.claim(&record(&hash, "c", now), now).await.unwrap(),
        ClaimOutcome::Existing(ours.clone()),
        "another request's release left our claim"
    );
    store.release(&ours).await.unwrap();
    store.release(&ours).await.expect("releasing twice is fine");
    assert_eq!(
        store.claim(&record(&hash, "c", now), now).await.unwrap(),
        ClaimOutcome::Claimed
    );
}

const BODY: &str = r#"{"item":"book","quantity":1}"#;

async fn fifty_concurrent_requests_run_the_handler_once<P: Effects>(idem: Arc<Idempotency<P>>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let effect_key = fresh_hash();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (idem, runs, effect_key) = (idem.clone(), runs.clone(), effect_key.clone());
        tasks.push(tokio::spawn(async move {
            let write = idem.persistence().write(&effect_key, "paid");
            idem.handle_with_outcome(
                &post(Some("race"), BODY),
                "/orders",
                |_| Ok(()),
                move |()| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    // Hold the claim a moment, so the others meet it in progress.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let response = Response::builder().status(201).body(Body::from("paid")).unwrap();
                    Ok::<_, HandlerError>(Completion::new(response).with_write(write))
                },
            )
            .await
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        let (response, outcome) = task.await.unwrap();
        match outcome {
            Outcome::Executed | Outcome::Replayed { .. } => assert_eq!(response.body().as_ref(), b"paid"),
            Outcome::Conflict => assert_eq!(response.status(), 409),
            other => panic!("unexpected outcome {other:?}"),
        }
        outcomes.push(outcome);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Executed).count(), 1);
    assert_eq!(idem.persistence().effect(&effect_key).await.as_deref(), Some("paid"));
}

/// The execution crashes after its effect and before its completion (its future is dropped, as
/// when the process dies: no completion, no release). The key is in progress until the claim's
/// deadline; after it, the retry runs again and its effect, keyed by the record id like the
/// orders on Redis, finds the first execution's result and answers with it: one effect.
async fn a_crash_between_the_effect_and_the_completion_answers_with_the_effect<P: Effects>(idem: Arc<Idempotency<P>>) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    const DEADLINE_MS: u64 = 3000;
    // An external system (a payment provider) with writes idempotent by id.
    let payments: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let key = fresh_hash();
    // With `crash`, the handler signals its effect and then never finishes.
    let attempt = |crash: Option<Arc<tokio::sync::Notify>>| {
        let (idem, payments, runs) = (idem.clone(), payments.clone(), runs.clone());
        let request = request_with_deadline(&post_event(Some(&key), BODY), DEADLINE_MS);
        async move {
            let caller = oncely::Caller::from_request(&request).expect("a caller");
            let id = idem.record_id(&caller, &request, "/orders").expect("a record id");
            idem.handle_with_outcome(
                &request,
                "/orders",
                |_| Ok(()),
                move |()| async move {
                    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                    let paid = payments
                        .lock()
                        .unwrap()
                        .entry(id)
                        .or_insert_with(|| format!("payment {run}"))
                        .clone();
                    if let Some(effect_done) = crash {
                        effect_done.notify_one();
                        std::future::pending::<()>().await;
                    }
                    let response = Response::builder().status(201).body(Body::from(paid)).unwrap();
                    Ok::<_, HandlerError>(Completion::new(response))
                },
            )
            .await
        }
    };
    let started = now_ms();
    let effect_done = Arc::new(tokio::sync::Notify::new());
    let first = tokio::spawn(attempt(Some(effect_done.clone())));
    tokio::time::timeout(Duration::from_millis(DEADLINE_MS), effect_done.notified())
        .await
        .expect("the first execution made its effect");
    first.abort();
    assert!(
        first.await.unwrap_err().is_cancelled(),
        "the first execution never finished"
    );
    assert_eq!(payments.lock().unwrap().len(), 1, "its effect happened");

    let (response, outcome) = attempt(None).await;
    assert_eq!(
        (response.status().as_u16(), outcome),
        (409, Outcome::Conflict),
        "in progress until the deadline"
    );
    tokio::time::sleep(Duration::from_millis(
        (started + DEADLINE_MS + 100).saturating_sub(now_ms()),
    ))
    .await;
    let (response, outcome) = attempt(None).await;
    assert_eq!(outcome, Outcome::Executed, "the dead claim is taken over");
    assert_eq!(
        response.body().as_ref(),
        b"payment 1",
        "the answer is the first execution's effect"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(payments.lock().unwrap().len(), 1, "one effect");
    let (response, outcome) = attempt(None).await;
    assert!(matches!(outcome, Outcome::Replayed { .. }));
    assert_eq!(response.body().as_ref(), b"payment 1");
}

/// A warm-up succeeds, writes nothing, and the store then works as before.
async fn a_warm_up_opens_the_store_and_writes_nothing<P: Effects>(idem: Arc<Idempotency<P>>) {
    idem.warm_up().await.expect("the warm-up");
    let now = now_ms();
    let hash = fresh_hash();
    assert_eq!(idem.persistence().read(&hash).await.unwrap(), None, "nothing written");
    let ours = record(&hash, "a", now);
    assert_eq!(
        idem.persistence().claim(&ours, now).await.unwrap(),
        ClaimOutcome::Claimed
    );
    idem.persistence()
        .complete(&completed(ours.clone()), vec![])
        .await
        .unwrap();
}

crate::contract!(
    a_warm_up_opens_the_store_and_writes_nothing,
    claim_answers_the_live_record_in_the_same_call,
    a_retried_call_recognises_its_own_earlier_attempt,
    dead_and_expired_records_are_claimed_again,
    completion_is_fenced_by_the_claim_token,
    release_removes_only_our_own_claim,
    fifty_concurrent_requests_run_the_handler_once,
    a_crash_between_the_effect_and_the_completion_answers_with_the_effect,
);

/// Redis only: after the server forgets its scripts (a restart, a failover, `SCRIPT FLUSH`), the
/// next call gets `NOSCRIPT` and sends its script again with `EVAL`; every step still works.
#[tokio::test]
async fn redis_scripts_are_sent_again_after_the_server_forgets_them() {
    let store = redis_persistence();
    let now = now_ms();
    let hash = fresh_hash();
    let ours = record(&hash, "a", now);
    assert_eq!(store.claim(&ours, now).await.unwrap(), ClaimOutcome::Claimed);
    let flush = || async {
        let reply = store
            .client()
            .pipeline(&[Command::new("SCRIPT").arg("FLUSH")], Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply, [Value::Simple("OK".into())]);
    };
    flush().await;
    let theirs = record(&hash, "b", now);
    assert_eq!(
        store.claim(&theirs, now).await.unwrap(),
        ClaimOutcome::Existing(ours.clone())
    );
    flush().await;
    store.complete(&completed(ours.clone()), vec![]).await.unwrap();
    flush().await;
    store.release(&ours).await.unwrap();
    assert!(matches!(
        store.claim(&theirs, now).await.unwrap(),
        ClaimOutcome::Existing(r) if r.status == Status::Completed
    ));
}

/// DynamoDB only: a warm-up on a table that does not exist says so, by the service's own code.
#[tokio::test]
async fn a_warm_up_on_a_missing_table_names_the_error() {
    let endpoint = testkit::dynamodb_local().endpoint();
    let store = oncely::DynamoDbPersistence::new(client(&endpoint, None), "no-such-table", TTL_ATTRIBUTE);
    let err = store.warm_up(Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(err, PersistenceError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("ResourceNotFoundException"), "{err}");
}
