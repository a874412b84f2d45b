//! The orders API's test helpers on the shared kit: one API instance per simulated Lambda
//! environment, the orders and records a table holds; the kit's tables and API Gateway events,
//! re-exported.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use oncely::IdempotencyConfig;
use orders::OrdersApi;
use std::collections::HashMap;
pub use testkit::Calls;
pub use testkit::api_events::*;
pub use testkit::table::{TTL_ATTRIBUTE, Table};

/// The function name every test record is scoped by.
pub const FUNCTION_NAME: &str = "oncely-orders-test";

/// A client for `endpoint` with the test credentials, counting into `calls`.
pub fn client(endpoint: &str, calls: Option<&Calls>) -> Client {
    testkit::dynamodb_client(endpoint, testkit::TEST_KEY_ID, calls)
}

/// What a test table is to the orders API.
pub trait TableExt {
    /// The idempotency config for this table (its TTL attribute, the test function's name).
    fn config(&self) -> IdempotencyConfig;
    /// An independent API instance (own client, own cache), like one Lambda environment.
    fn api(&self) -> (OrdersApi, Calls);
    /// The same with `config`.
    fn api_with(&self, config: IdempotencyConfig) -> (OrdersApi, Calls);
    /// The orders (ids `order#…`).
    async fn orders(&self) -> Vec<HashMap<String, AttributeValue>>;
    /// The idempotency records (every other item).
    async fn records(&self) -> Vec<HashMap<String, AttributeValue>>;
}

impl TableExt for Table {
    fn config(&self) -> IdempotencyConfig {
        IdempotencyConfig {
            function_name: FUNCTION_NAME.into(),
            ttl_attribute: TTL_ATTRIBUTE.into(),
            ..IdempotencyConfig::default()
        }
    }

    fn api(&self) -> (OrdersApi, Calls) {
        self.api_with(self.config())
    }

    fn api_with(&self, config: IdempotencyConfig) -> (OrdersApi, Calls) {
        let calls = Calls::default();
        (
            OrdersApi::new(client(&self.endpoint, Some(&calls)), &self.name, config),
            calls,
        )
    }

    async fn orders(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.items().await.into_iter().filter(is_order).collect()
    }

    async fn records(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.items().await.into_iter().filter(|i| !is_order(i)).collect()
    }
}

fn is_order(item: &HashMap<String, AttributeValue>) -> bool {
    item["id"].as_s().unwrap().starts_with("order#")
}

/// Sends `n` identical `POST /orders` with `key` at once, spread over `apis` (one per Lambda
/// environment). Each answer must be a `201` or a `409` problem with `Retry-After`; returns the
/// `201` bodies and the number of `409`s.
pub async fn race<P>(
    apis: &[std::sync::Arc<OrdersApi<P>>],
    key: &'static str,
    body_text: &'static str,
    n: usize,
) -> (Vec<Vec<u8>>, usize)
where
    P: orders::orders_store::OrderStore + Send + Sync + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let api = apis[i % apis.len()].clone();
            tokio::spawn(async move { api.handle(post(Some(key), body_text)).await })
        })
        .collect();
    let mut created = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let response = task.await.unwrap();
        match response.status().as_u16() {
            201 => created.push(body(&response)),
            409 => {
                assert_problem(&response, 409);
                assert!(header(&response, "retry-after").is_some());
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body(&response))),
        }
    }
    (created, conflicts)
}
