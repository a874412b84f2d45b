//! SDK clients for an emulator (static test credentials, a fixed region, its endpoint), the orders
//! table's layout, and an endpoint nothing listens on.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};

use crate::Calls;

/// The region of every test client.
pub const REGION: &str = "us-east-1";
/// The access key id of the test clients (letters only: DynamoDB Local wants letters and digits).
pub const TEST_KEY_ID: &str = "test";

/// An `SdkConfig` for `endpoint` (an emulator's `http://` URL) with static credentials under
/// `key_id` in [`REGION`]. Its clients share one plain-HTTP client: the SDK's default would build
/// a TLS connector, reading the platform's root certificates, for each client made from it.
pub fn sdk_config(endpoint: &str, key_id: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            key_id, "test", None, None, "testkit",
        )))
        .build()
}

/// A DynamoDB client for `endpoint` as `key_id` (DynamoDB Local keeps tables per key id), which
/// gives up quickly (2 s to connect, 2 attempts) and records into `calls` when given.
pub fn dynamodb_client(endpoint: &str, key_id: &str, calls: Option<&Calls>) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk_config(endpoint, key_id))
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(2)).build())
        .retry_config(RetryConfig::standard().with_max_attempts(2));
    if let Some(calls) = calls {
        builder = builder.interceptor(calls.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// A client of any service built from an `SdkConfig`, recording into a [`Calls`]:
/// `recorded_client!(aws_sdk_lambda, &sdk, &calls)`.
#[macro_export]
macro_rules! recorded_client {
    ($service:ident, $sdk:expr, $calls:expr) => {
        $service::Client::from_conf(
            $service::config::Builder::from($sdk)
                .interceptor(::std::clone::Clone::clone($calls))
                .build(),
        )
    };
}

/// Creates an on-demand table keyed by the string attribute `id` (the layout of the orders table).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating table {name}: {e:?}"));
}

/// A URL on 127.0.0.1 that nothing listens on.
pub fn closed_endpoint() -> String {
    let port = emulators::free_port().expect("a free port");
    format!("http://127.0.0.1:{port}")
}
