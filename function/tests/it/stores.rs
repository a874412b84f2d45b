//! One contract for every idempotency store, written once and run against DynamoDB Local, a real
//! `redis-server` and the in-memory store: a claim answers the live record in the same call, a
//! retried call recognises its own earlier attempt, dead and expired records are claimed again,
//! completion is fenced by the claim token (and commits the handler's writes with it), release
//! removes only our own claim, 50 concurrent requests run the handler once, and an execution that
//! crashes between its effect and its completion is taken over after its deadline and answers
//! with the first execution's effect.

use crate::common;

use common::*;
use lambda_http::{Body, Response};
use oncely_function::persistence::InMemoryPersistence;
use oncely_function::redis_client::{Command, Value};
use oncely_function::{
    ClaimOutcome, Completion, DynamoDbPersistence, HandlerError, Idempotency, IdempotencyRecord, Outcome, Persistence,
    PersistenceError, RedisClient, RedisPersistence, RedisUrl, RedisWrite, Status, StoredResponse,
};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A store under test: how a handler writes an effect with the completion, and how to read it.
trait Effects: Persistence {
    fn write(&self, key: &str, value: &str) -> Self::Write;
    fn effect(&self, key: &str) -> impl Future<Output = Option<String>> + Send;
}

impl Effects for DynamoDbPersistence {
    fn write(&self, key: &str, value: &str) -> Self::Write {
        use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
        let put = Put::builder()
            .table_name(self.table())
            .item("id", AttributeValue::S(format!("effect#{key}")))
            .item("value", AttributeValue::S(value.into()))
            .build()
            .unwrap();
        TransactWriteItem::builder().put(put).build()
    }
    async fn effect(&self, key: &str) -> Option<String> {
        let item = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(
                "id",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("effect#{key}")),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        item.get("value").and_then(|v| v.as_s().ok()).cloned()
    }
}

impl Effects for RedisPersistence {
    fn write(&self, key: &str, value: &str) -> Self::Write {
        RedisWrite::set(self.key(&format!("effect:{key}")), value)
    }
    async fn effect(&self, key: &str) -> Option<String> {
        let get = Command::new("GET").arg(self.key(&format!("effect:{key}")));
        match self
            .client()
            .pipeline(&[get], Duration::from_secs(5))
            .await
            .unwrap()
            .pop()
        {
            Some(Value::Bulk(v)) => Some(String::from_utf8(v).unwrap()),
            _ => None,
        }
    }
}

impl Effects for InMemoryPersistence {
    fn write(&self, key: &str, value: &str) -> Self::Write {
        (key.to_string(), value.to_string())
    }
    async fn effect(&self, key: &str) -> Option<String> {
        self.value(key)
    }
}

static KEYS: AtomicUsize = AtomicUsize::new(0);

/// A key hash no other test uses.
fn fresh_hash() -> String {
    format!(
        "contract-{}-{}",
        std::process::id(),
        KEYS.fetch_add(1, Ordering::SeqCst)
    )
}

async fn dynamodb() -> Arc<Idempotency<DynamoDbPersistence>> {
    let table = Table::new().await;
    let persistence = DynamoDbPersistence::new(client(&table.endpoint, None), &table.name, TTL_ATTRIBUTE);
    Arc::new(Idempotency::new(table.config(), persistence))
}

/// A Redis store on this binary's `redis-server`, under a key prefix of its own.
pub fn redis_persistence() -> RedisPersistence {
    let url = RedisUrl::parse(&testkit::redis_url()).unwrap();
    RedisPersistence::new(RedisClient::new(url)).with_prefix(format!("{}:", fresh_hash()))
}

async fn redis() -> Arc<Idempotency<RedisPersistence>> {
    Arc::new(Idempotency::new(test_config(), redis_persistence()))
}

async fn memory() -> Arc<Idempotency<InMemoryPersistence>> {
    Arc::new(Idempotency::new(test_config(), InMemoryPersistence::new()))
}

fn test_config() -> oncely_function::IdempotencyConfig {
    oncely_function::IdempotencyConfig {
        function_name: FUNCTION_NAME.into(),
        ttl_attribute: TTL_ATTRIBUTE.into(),
        ..Default::default()
    }
}

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
            let caller = oncely_function::Caller::from_request(&request).expect("a caller");
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

/// Instantiates each generic test once per store.
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod on_dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() { super::$test(super::dynamodb().await).await })*
        }
        mod on_redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() { super::$test(super::redis().await).await })*
        }
        mod in_memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() { super::$test(super::memory().await).await })*
        }
    };
}

contract!(
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
