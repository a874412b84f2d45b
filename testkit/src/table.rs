//! A fresh DynamoDB Local table per test (hash key `id`, on demand, TTL on [`TTL_ATTRIBUTE`]) and
//! the reads a test makes to look at what a handler left behind.

use crate::clients::{TEST_KEY_ID, create_table, dynamodb_client};
use crate::emulator::dynamodb_local;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveSpecification};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The TTL attribute of every test table.
pub const TTL_ATTRIBUTE: &str = "expires_at";

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A fresh table (hash key `id` S, on demand, TTL on [`TTL_ATTRIBUTE`]) in this binary's DynamoDB Local.
pub struct Table {
    /// Its name (unique in the process).
    pub name: String,
    /// DynamoDB Local's endpoint.
    pub endpoint: String,
    /// A client with the test credentials, for the test's own reads and writes.
    pub admin: Client,
}

impl Table {
    /// Creates it.
    pub async fn new() -> Table {
        let endpoint = dynamodb_local().endpoint();
        let admin = dynamodb_client(&endpoint, TEST_KEY_ID, None);
        let name = format!(
            "oncely-{}-{}",
            std::process::id(),
            TABLES.fetch_add(1, Ordering::SeqCst)
        );
        create_table(&admin, &name).await;
        admin
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("enable TTL");
        Table { name, endpoint, admin }
    }

    /// Every item (the test may Scan; the function never does).
    pub async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let out = self
            .admin
            .scan()
            .table_name(&self.name)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        out.items.unwrap_or_default()
    }

    /// The item with this id (consistent read).
    pub async fn item(&self, id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.admin
            .get_item()
            .table_name(&self.name)
            .key("id", AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get")
            .item
    }

    /// Sets a numeric attribute of an item (to age a record).
    pub async fn set_number(&self, id: &str, attribute: &str, value: u64) {
        self.admin
            .update_item()
            .table_name(&self.name)
            .key("id", AttributeValue::S(id.into()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", AttributeValue::N(value.to_string()))
            .send()
            .await
            .expect("update");
    }
}
