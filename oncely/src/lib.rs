//! Oncely: idempotency for AWS Lambda in Rust. A payment, an order, a resource creation runs
//! exactly once per key, however often a client retries, double-clicks or races itself, and only
//! for the caller it belongs to; every retry gets the first result back.
//!
//! - **Any event**: [`Idempotency::run`] and [`Operation`] over any serde payload (direct
//!   invocation, EventBridge, Step Functions); SQS batches with partial batch failures
//!   ([`Operation::sqs_batch`], feature `sqs`); HTTP APIs through `lambda_http`
//!   ([`Idempotency::handle`], feature `http`).
//! - **Stores**: DynamoDB ([`DynamoDbPersistence`], feature `dynamodb`), whose completion commits
//!   the handler's own writes in the same transaction as the record; Redis or Valkey
//!   ([`RedisPersistence`], feature `redis`); [`InMemoryPersistence`] for tests.
//! - **Bounded by the deadline**: every store call ends before the invocation's deadline, and an
//!   execution that dies is taken over after it.
//!
//! # A function over any event
//!
//! ```no_run
//! use oncely::{DynamoDbPersistence, HandlerError, Idempotency, IdempotencyConfig};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Refund { refund_id: String, cents: u64 }
//!
//! # async fn example(event: Refund, deadline_ms: u64) -> Result<String, oncely::RunError> {
//! let sdk = aws_config::load_from_env().await;
//! let store = DynamoDbPersistence::new(aws_sdk_dynamodb::Client::new(&sdk), "my-table", "expiration");
//! let idempotency = Idempotency::new(IdempotencyConfig::default(), store);
//!
//! // Once per refund id; a retry gets the same confirmation without refunding again.
//! idempotency
//!     .operation("refund")
//!     .until(deadline_ms)
//!     .key_from(["/refund_id"])
//!     .run_keyed(&event, |refund| async move {
//!         Ok::<_, HandlerError>(format!("refunded {} cents", refund.cents))
//!     })
//!     .await
//! # }
//! ```
//!
//! # An HTTP handler
//!
//! ```no_run
//! use oncely::{Completion, DynamoDbPersistence, Idempotency, IdempotencyConfig, KeySource, Problem};
//! use lambda_http::http::StatusCode;
//! use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
//! use lambda_http::{Body, Request, Response, service_fn};
//! use std::sync::Arc;
//!
//! # async fn example() -> Result<(), lambda_http::Error> {
//! let sdk = aws_config::load_from_env().await;
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
#![warn(missing_docs)]

pub mod cache;
pub mod caller;
pub mod config;
mod engine;
pub mod fingerprint;
mod function;
pub mod jcs;
pub mod key;
pub mod persistence;
pub mod record;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "http")]
pub mod http;
#[cfg(any(feature = "dynamodb", feature = "secrets"))]
mod lambda_env;
#[cfg(feature = "redis")]
pub mod redis_client;
#[cfg(feature = "redis")]
pub mod redis_persistence;
#[cfg(feature = "dynamodb")]
pub mod sdk;
pub mod secret_ref;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(all(feature = "dynamodb", feature = "redis"))]
pub mod store;
#[cfg(feature = "redis")]
mod tls;

pub use caller::{Caller, CallerError};
pub use config::{ConfigError, IdempotencyConfig, KeySource, Settings};
pub use engine::{Completion, HandlerError, Idempotency, Outcome, RunError};
pub use function::{MissingKey, Operation};
pub use persistence::{ClaimOutcome, InMemoryPersistence, Persistence, PersistenceError, TimeBounds};
pub use record::{IdempotencyRecord, Status, StoredResponse, now_ms};

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbPersistence;
#[cfg(feature = "http")]
pub use http::Problem;
#[cfg(feature = "redis")]
pub use redis_client::{RedisClient, RedisUrl, RedisUrlError};
#[cfg(feature = "redis")]
pub use redis_persistence::{RedisPersistence, RedisWrite};
#[cfg(all(feature = "dynamodb", feature = "redis"))]
pub use store::{StoreError, StoreSettings};

/// Sets up structured JSON logs, once. `RUST_LOG` filters by target and level (`info`,
/// `oncely=debug,warn`); unset or unreadable, the filter is `info`.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .finish()
        .with(filter)
        .try_init();
}
