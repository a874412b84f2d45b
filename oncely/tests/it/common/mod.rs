//! The library's test helpers on the shared kit: a test table's idempotency config and clients
//! that count their round trips; the kit's tables and API Gateway events, re-exported.

pub mod stores;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use oncely::{IdempotencyConfig, KeySource};
use std::collections::HashMap;
pub use testkit::Calls;
pub use testkit::api_events::*;
pub use testkit::table::{TTL_ATTRIBUTE, Table};

/// The function name every test record is scoped by.
pub const FUNCTION_NAME: &str = "oncely-library-test";

/// A client for `endpoint` with the test credentials, counting into `calls`.
pub fn client(endpoint: &str, calls: Option<&Calls>) -> Client {
    testkit::dynamodb_client(endpoint, testkit::TEST_KEY_ID, calls)
}

/// `config` with another key source.
pub fn with_key_source(mut config: IdempotencyConfig, source: KeySource) -> IdempotencyConfig {
    config.key_source = source;
    config
}

/// What a test table is to the library.
pub trait TableExt {
    /// The idempotency config for this table (its TTL attribute, the test function's name).
    fn config(&self) -> IdempotencyConfig;
    /// Its idempotency records (every item not written by a handler, whose ids start `effect#`).
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

    async fn records(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.items()
            .await
            .into_iter()
            .filter(|i| !i["id"].as_s().unwrap().starts_with("effect#"))
            .collect()
    }
}
