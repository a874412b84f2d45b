//! The stores every contract test runs on (DynamoDB Local, a real `redis-server`, in memory), how a
//! handler writes an effect into each, and [`contract!`], which instantiates a generic test once
//! per store.

use super::{FUNCTION_NAME, TTL_ATTRIBUTE, Table, TableExt, client};
use oncely::redis_client::{Command, Value};
use oncely::{
    DynamoDbPersistence, Idempotency, InMemoryPersistence, Persistence, RedisClient, RedisPersistence, RedisUrl,
    RedisWrite,
};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A store under test: how a handler writes an effect with the completion, and how to read it.
pub trait Effects: Persistence {
    /// A write of `value` at `key`, committed with the completion.
    fn write(&self, key: &str, value: &str) -> Self::Write;
    /// The value a completion wrote at `key`.
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
pub fn fresh_hash() -> String {
    format!(
        "contract-{}-{}",
        std::process::id(),
        KEYS.fetch_add(1, Ordering::SeqCst)
    )
}

/// Idempotency on a fresh DynamoDB Local table.
pub async fn dynamodb() -> Arc<Idempotency<DynamoDbPersistence>> {
    let table = Table::new().await;
    let persistence = DynamoDbPersistence::new(client(&table.endpoint, None), &table.name, TTL_ATTRIBUTE);
    Arc::new(Idempotency::new(table.config(), persistence))
}

/// A Redis store on this binary's `redis-server`, under a key prefix of its own.
pub fn redis_persistence() -> RedisPersistence {
    let url = RedisUrl::parse(&testkit::redis_url()).unwrap();
    RedisPersistence::new(RedisClient::new(url)).with_prefix(format!("{}:", fresh_hash()))
}

/// Idempotency on this binary's `redis-server`, under a prefix of its own.
pub async fn redis() -> Arc<Idempotency<RedisPersistence>> {
    Arc::new(Idempotency::new(test_config(), redis_persistence()))
}

/// Idempotency in memory.
pub async fn memory() -> Arc<Idempotency<InMemoryPersistence>> {
    Arc::new(Idempotency::new(test_config(), InMemoryPersistence::new()))
}

/// The tests' idempotency config.
pub fn test_config() -> oncely::IdempotencyConfig {
    oncely::IdempotencyConfig {
        function_name: FUNCTION_NAME.into(),
        ttl_attribute: TTL_ATTRIBUTE.into(),
        ..Default::default()
    }
}

/// Instantiates each generic test once per store.
#[macro_export]
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod on_dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() { super::$test($crate::common::stores::dynamodb().await).await })*
        }
        mod on_redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() { super::$test($crate::common::stores::redis().await).await })*
        }
        mod in_memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() { super::$test($crate::common::stores::memory().await).await })*
        }
    };
}
