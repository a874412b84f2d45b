//! The Oncely rows: the function crate's `OrdersApi` called in-process with requests parsed from
//! API Gateway v2 events before the clock starts (one API with the local cache off, one with it
//! on), with its records in the table or in Redis.

use std::sync::Arc;

use anyhow::{Context as _, ensure};
use oncely::{DynamoDbPersistence, IdempotencyConfig, RedisClient, RedisPersistence, RedisUrl};
use orders::OrdersApi;
use orders::orders_store::OrderStore;

use crate::workload::{self, Mode, Run, event, run_concurrent};

/// The function name every key is scoped to (both APIs share records).
pub const FUNCTION_NAME: &str = "bench-orders";

pub struct Oncely<P: OrderStore = DynamoDbPersistence> {
    plain: Arc<OrdersApi<P>>,
    cached: Arc<OrdersApi<P>>,
}

/// The configuration of both APIs: local cache off or on.
fn config(local_cache_items: usize) -> IdempotencyConfig {
    IdempotencyConfig {
        function_name: FUNCTION_NAME.into(),
        local_cache_items,
        ..IdempotencyConfig::default()
    }
}

impl Oncely {
    /// The two APIs over `table` through `client`.
    pub fn new(client: &aws_sdk_dynamodb::Client, table: &str) -> Oncely {
        let api = |items| Arc::new(OrdersApi::new(client.clone(), table, config(items)));
        Oncely {
            plain: api(0),
            cached: api(oncely::config::DEFAULT_CACHE_ITEMS),
        }
    }
}

impl Oncely<RedisPersistence> {
    /// The two APIs with their records in the Redis at `url` and the orders in `table`.
    pub fn on_redis(client: &aws_sdk_dynamodb::Client, table: &str, url: &str) -> anyhow::Result<Self> {
        let url = RedisUrl::parse(url).context("the bench's Redis URL")?;
        let api = |items| {
            let redis = RedisPersistence::new(RedisClient::new(url.clone()));
            Arc::new(OrdersApi::with_redis(client.clone(), table, config(items), redis))
        };
        Ok(Oncely {
            plain: api(0),
            cached: api(oncely::config::DEFAULT_CACHE_ITEMS),
        })
    }
}

impl<P: OrderStore> Oncely<P> {
    /// One run of `keys` in `mode` (the cached API for [`Mode::Cached`]); every answer must be 201.
    pub async fn run(&self, mode: Mode, keys: &[String]) -> anyhow::Result<Run> {
        let api = if mode == Mode::Cached {
            &self.cached
        } else {
            &self.plain
        }
        .clone();
        let requests = keys
            .iter()
            .enumerate()
            .map(|(i, key)| lambda_http::request::from_str(&event(key, i)).context("parsing the bench's event"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        run_concurrent(requests, move |request| {
            let api = api.clone();
            async move {
                let response = api.handle(request).await;
                ensure!(
                    response.status() == 201,
                    "Oncely answered {}: {}",
                    response.status(),
                    String::from_utf8_lossy(response.body())
                );
                Ok(())
            }
        })
        .await
    }

    /// The median time of one request answered from the warm cache, awaited one after another
    /// (the 16 replay keys, requests parsed before the clock starts), in nanoseconds.
    pub async fn cached_request_ns(&self) -> anyhow::Result<f64> {
        let mut batches = Vec::new();
        for _ in 0..9 {
            let requests = (0..4096)
                .map(|i| {
                    let key = format!("replay-{}", i % workload::REPLAY_KEYS);
                    lambda_http::request::from_str(&event(&key, i)).context("parsing the bench's event")
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let n = requests.len() as f64;
            let started = std::time::Instant::now();
            for request in requests {
                let response = self.cached.handle(request).await;
                ensure!(
                    response.status() == 201,
                    "the cached replay answered {}",
                    response.status()
                );
            }
            batches.push(started.elapsed().as_nanos() as f64 / n);
        }
        batches.sort_by(f64::total_cmp);
        Ok(batches[batches.len() / 2])
    }
}
