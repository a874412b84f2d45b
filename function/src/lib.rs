//! Oncely's Lambda function: an idempotency library for any `lambda_http` handler (DynamoDB-backed,
//! Powertools semantics plus atomic completion; or Redis/Valkey-backed, [`RedisPersistence`]) and
//! the orders API built on it.
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
pub mod metrics;
pub mod orders;
pub mod orders_store;
pub mod ownership;
pub mod persistence;
pub mod problem;
pub mod record;
pub mod redis_client;
pub mod redis_persistence;
pub mod sdk;
pub mod store;

pub use caller::{Caller, CallerError};
pub use config::{ConfigError, IdempotencyConfig, KeySource, Settings};
pub use idempotency::{Completion, HandlerError, Idempotency, Outcome};
pub use orders::OrdersApi;
pub use persistence::{ClaimOutcome, DynamoDbPersistence, Persistence, PersistenceError, TimeBounds};
pub use problem::Problem;
pub use record::{IdempotencyRecord, Status, StoredResponse};
pub use redis_client::{RedisClient, RedisUrl, RedisUrlError};
pub use redis_persistence::{RedisPersistence, RedisWrite};
pub use store::{StoreError, StoreSettings};

/// Sets up structured JSON logs, once. `RUST_LOG` filters by target and level (`info`,
/// `oncely_function=debug,warn`); unset or unreadable, the filter is `info`.
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

/// The orders API on the store the environment selects (see [`store`]).
pub enum OrdersService {
    DynamoDb(OrdersApi),
    Redis(OrdersApi<RedisPersistence>),
}

impl OrdersService {
    /// Routes one request.
    pub async fn handle(&self, request: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
        self.handle_with_outcome(request).await.0
    }

    /// Routes one request and reports the idempotency outcome of a POST (for the metrics line).
    pub async fn handle_with_outcome(
        &self,
        request: lambda_http::Request,
    ) -> (lambda_http::Response<lambda_http::Body>, Option<idempotency::Outcome>) {
        match self {
            OrdersService::DynamoDb(api) => api.handle_with_outcome(request).await,
            OrdersService::Redis(api) => api.handle_with_outcome(request).await,
        }
    }
}

/// Builds the orders API from the environment (`TABLE_NAME`, `IDEMPOTENCY_*`, `ONCELY_STORE` and
/// the Redis URL) and Lambda's AWS variables ([`sdk::dynamodb_client_from_env`];
/// `AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local).
pub async fn orders_api_from_env() -> Result<OrdersService, ConfigError> {
    let settings = Settings::from_env()?;
    let store = StoreSettings::from_lookup(|name| std::env::var(name).ok())?;
    let client = sdk::dynamodb_client_from_env();
    Ok(match store {
        StoreSettings::DynamoDb => OrdersService::DynamoDb(
            OrdersApi::new(client, settings.table_name, settings.idempotency)
                .with_simulated_work_max(settings.simulated_work_max),
        ),
        StoreSettings::Redis { url, limits } => {
            let redis = RedisPersistence::new(RedisClient::new(url).with_limits(limits));
            OrdersService::Redis(
                OrdersApi::with_redis(client, settings.table_name, settings.idempotency, redis)
                    .with_simulated_work_max(settings.simulated_work_max),
            )
        }
    })
}
