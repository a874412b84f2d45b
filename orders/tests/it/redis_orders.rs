//! The orders API with its idempotency records in a real `redis-server` (orders in DynamoDB
//! Local): replays, 50 concurrent requests, and a crash between the order write and the
//! completion, injected for real (the Redis connection is cut the moment DynamoDB has answered
//! the order's write), after which the re-execution answers with the same order; and a failover
//! (a pooled connection to a server that became a replica) reconnects to the new primary.

use crate::common;

use common::*;
use oncely::redis_client::{Command, Value};
use oncely::{Persistence, RedisClient, RedisPersistence, RedisUrl};
use orders::OrdersApi;
use orders::orders_store::derived_order_id;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use testkit::{FaultProxy, TcpProxy};

const BODY: &str = r#"{"item":"book","quantity":2,"customer":"ann"}"#;

static PREFIXES: AtomicUsize = AtomicUsize::new(0);

/// A Redis store at `url` under a key prefix no other test uses.
fn redis_at(url: &str) -> RedisPersistence {
    let prefix = format!(
        "orders-{}-{}:",
        std::process::id(),
        PREFIXES.fetch_add(1, Ordering::SeqCst)
    );
    RedisPersistence::new(RedisClient::new(RedisUrl::parse(url).unwrap())).with_prefix(prefix)
}

/// One Lambda environment: orders in `table` through `dynamodb`, records in `redis`.
fn api(table: &Table, dynamodb: &str, redis: RedisPersistence) -> OrdersApi<RedisPersistence> {
    OrdersApi::with_redis(client(dynamodb, None), &table.name, table.config(), redis)
}

/// The record's status in Redis.
async fn record_status(redis: &RedisPersistence, hash: &str) -> Option<String> {
    let record = redis.read(hash).await.unwrap()?;
    Some(record.status.as_str().to_string())
}

#[tokio::test]
async fn orders_on_redis_create_once_replay_and_read_back() {
    let table = Table::new().await;
    let redis = redis_at(&testkit::redis_url());
    let api = api(&table, &table.endpoint, redis.clone());
    let first = api.handle(post(Some("redis-1"), BODY)).await;
    assert_eq!(first.status(), 201, "{}", String::from_utf8_lossy(&body(&first)));
    let id = json(&first)["id"].as_str().unwrap().to_string();
    let hash = api.idempotency().key_hash("POST", "/orders", "redis-1");
    assert_eq!(
        id,
        derived_order_id(&hash, &oncely::fingerprint::fingerprint(BODY.as_bytes()))
    );
    assert_eq!(record_status(&redis, &hash).await.as_deref(), Some("COMPLETED"));
    assert!(
        table.records().await.is_empty(),
        "no record in the table: they live in Redis"
    );
    // The record expires by the store's TTL, at the record's expiration.
    let ttl = Command::new("TTL").arg(redis.key(&hash));
    let reply = redis.client().pipeline(&[ttl], Duration::from_secs(5)).await.unwrap();
    assert!(
        matches!(reply[0], Value::Int(s) if s > 86_000 && s <= 86_400),
        "{reply:?}"
    );

    // Another environment (cold cache): the replay comes from Redis, byte for byte.
    let other = self::api(&table, &table.endpoint, redis_with_prefix_of(&redis));
    assert_replay(&first, &other.handle(post(Some("redis-1"), BODY)).await);
    assert_problem(
        &other
            .handle(post(Some("redis-1"), r#"{"item":"pen","quantity":1}"#))
            .await,
        422,
    );
    let read = other.handle(get(&id, None)).await;
    assert_eq!(read.status(), 200);
    assert_eq!(json(&read)["id"], id.as_str());
    assert_eq!(table.orders().await.len(), 1);
}

/// Another client (its own connections) on the same Redis keys.
fn redis_with_prefix_of(redis: &RedisPersistence) -> RedisPersistence {
    let prefix = redis.key("");
    RedisPersistence::new(RedisClient::new(redis.client().url().clone())).with_prefix(prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_through_eight_instances_create_one_order_on_redis() {
    let table = Table::new().await;
    let redis = redis_at(&testkit::redis_url());
    let apis: Vec<_> = (0..8)
        .map(|_| Arc::new(api(&table, &table.endpoint, redis_with_prefix_of(&redis))))
        .collect();
    let (created, _conflicts) = race(&apis, "race", BODY, 50).await;
    assert!(!created.is_empty());
    assert!(created.iter().all(|b| *b == created[0]), "every 201 is the same order");
    assert_eq!(table.orders().await.len(), 1, "exactly one order");
}

/// The invocation's deadline of the crashing request.
const DEADLINE_MS: u64 = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_order_and_the_completion_answers_with_the_same_order_on_redis() {
    let table = Table::new().await;
    let dynamodb = FaultProxy::start(&table.endpoint).await;
    let redis_proxy = Arc::new(TcpProxy::start(&format!("127.0.0.1:{}", testkit::redis_server().port())).await);
    let redis = redis_at(&format!("redis://{}", redis_proxy.addr()));
    let api = api(&table, &dynamodb.endpoint(), redis);

    // The order's PutItem applies; the moment its answer is back, Redis goes away: the
    // completion and the release cannot reach it (the environment "crashed" for the store).
    let cut = redis_proxy.clone();
    dynamodb.observe(Arc::new(move |operation| {
        if operation == "PutItem" {
            cut.cut();
        }
    }));
    let started = now_ms();
    let request = request_with_deadline(&post_event(Some("crash"), BODY), DEADLINE_MS);
    let crashed = tokio::time::timeout(Duration::from_millis(DEADLINE_MS), api.handle(request))
        .await
        .expect("an answer before the invocation's deadline");
    assert_problem(&crashed, 503);
    assert!(
        redis_proxy.refused() >= 1,
        "the completion was tried on a fresh connection"
    );
    let orders = table.orders().await;
    assert_eq!(orders.len(), 1, "the effect happened before the crash");

    // Redis is back. Until the claim's deadline the key is in progress; after it, the retry
    // runs again, finds the order and answers with it: still one order.
    dynamodb.observe(Arc::new(|_| {}));
    redis_proxy.restore();
    assert_problem(&api.handle(post(Some("crash"), BODY)).await, 409);
    let wait = (started + DEADLINE_MS + 100).saturating_sub(now_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let retry = api.handle(post(Some("crash"), BODY)).await;
    assert_eq!(retry.status(), 201, "{}", String::from_utf8_lossy(&body(&retry)));
    let answered = json(&retry);
    assert_eq!(table.orders().await, orders, "no second order");
    assert_eq!(
        orders[0]["id"].as_s().unwrap(),
        &format!("order#{}", answered["id"].as_str().unwrap())
    );
    assert_eq!(
        orders[0]["created_at"].as_s().unwrap(),
        answered["created_at"].as_str().unwrap(),
        "the answer is the first execution's order"
    );
    // And from now on it is replayed.
    assert_replay(&retry, &api.handle(post(Some("crash"), BODY)).await);
}

/// A failover: the pooled connection reaches a server that is now a replica (`READONLY`); the
/// store drops its connections and the retry reaches the new primary.
#[tokio::test]
async fn after_a_failover_a_readonly_reply_reconnects_to_the_new_primary() {
    let primary = format!("127.0.0.1:{}", testkit::redis_server().port());
    let replica_args: Vec<String> = ["--replicaof", "127.0.0.1", &testkit::redis_server().port().to_string()]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    let replica = emulators::start_redis_server_with(None, &replica_args).expect("a replica starts");
    let proxy = TcpProxy::start(&format!("127.0.0.1:{}", replica.port())).await;
    let redis = redis_at(&format!("redis://{}", proxy.addr()));
    let ping = redis
        .client()
        .pipeline(&[Command::new("PING")], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        ping,
        [Value::Simple("PONG".into())],
        "a pooled connection to the replica"
    );
    proxy.redirect(&primary);

    let table = Table::new().await;
    let api = api(&table, &table.endpoint, redis);
    let response = api.handle(post(Some("failover"), BODY)).await;
    assert_eq!(response.status(), 201, "{}", String::from_utf8_lossy(&body(&response)));
    assert_eq!(
        proxy.accepted(),
        2,
        "one connection to the replica, then one to the primary"
    );
}
