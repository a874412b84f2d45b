//! Oncely's Lambda function: an idempotency library for any `lambda_http` handler (DynamoDB-backed,
//! Powertools semantics plus atomic completion) and the orders API built on it.
//!
//! # Making a handler idempotent
//!
//! ```no_run
//! use oncely_function::{Completion, DynamoDbPersistence, Idempotency, IdempotencyConfig, KeySource, Problem};
//! use lambda_http::http::StatusCode;
//! use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
//! use lambda_http::{Body, Request, Response, service_fn};
//! use std::sync::Arc;
//!
//! # async fn example() -> Result<(), lambda_http::Error> {
//! let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
//! let client = aws_sdk_dynamodb::Client::new(&sdk);
//! let config = IdempotencyConfig {
//!     // Key on two body fields instead of the `Idempotency-Key` header.
//!     key_source: KeySource::BodyFields(vec!["userId".into(), "productId".into()]),
//!     ..IdempotencyConfig::default()
//! };
//! let idempotency = Arc::new(Idempotency::new(config, DynamoDbPersistence::new(client, "my-table", "expiration")));
//!
//! lambda_http::run(service_fn(move |request: Request| {
//!     let idempotency = idempotency.clone();
//!     async move {
//!         let response = idempotency
//!             .handle(
//!                 &request,
//!                 "/payments",
//!                 // Validation runs before anything is recorded: a 400 here can be fixed and retried.
//!                 |r| serde_json::from_slice::<serde_json::Value>(r.body().as_ref())
//!                     .map_err(|e| {
//!                         Problem::new(StatusCode::BAD_REQUEST, "invalid-json", "Send a JSON body")
//!                             .with_detail(e.to_string())
//!                     }),
//!                 // Runs at most once per key; its write commits with the idempotency record.
//!                 |payment| async move {
//!                     let put = Put::builder()
//!                         .table_name("my-table")
//!                         .item("id", AttributeValue::S(format!("payment#{}", payment["userId"])))
//!                         .build()?;
//!                     let response = Response::builder().status(201).body(Body::from("paid"))?;
//!                     Ok(Completion::new(response).with_write(TransactWriteItem::builder().put(put).build()))
//!                 },
//!             )
//!             .await;
//!         Ok::<_, lambda_http::Error>(response)
//!     }
//! }))
//! .await
//! # }
//! ```

pub mod cache;
pub mod caller;
pub mod config;
pub mod fingerprint;
pub mod idempotency;
pub mod jcs;
pub mod key;
pub mod orders;
pub mod ownership;
pub mod persistence;
pub mod problem;
pub mod record;

pub use caller::{Caller, CallerError};
pub use config::{ConfigError, IdempotencyConfig, KeySource, Settings};
pub use idempotency::{Completion, HandlerError, Idempotency, Outcome};
pub use orders::OrdersApi;
pub use persistence::{ClaimOutcome, DynamoDbPersistence, Persistence, PersistenceError, TimeBounds};
pub use problem::Problem;
pub use record::{IdempotencyRecord, Status, StoredResponse};

/// Sets up structured JSON logs (`RUST_LOG` filter, default `info`), once.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Builds the orders API from the environment (`TABLE_NAME`, `IDEMPOTENCY_*`) and the standard
/// AWS SDK configuration chain (so `AWS_ENDPOINT_URL_DYNAMODB` can point it at DynamoDB Local).
pub async fn orders_api_from_env() -> Result<OrdersApi, ConfigError> {
    let settings = Settings::from_env()?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    Ok(OrdersApi::new(client, settings.table_name, settings.idempotency)
        .with_simulated_work_max(settings.simulated_work_max))
}
