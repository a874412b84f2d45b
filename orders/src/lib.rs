//! The orders API, an app on the `oncely` crate's public API: `POST /orders` runs once per key and
//! caller (the order written in the same transaction as its idempotency record), `GET /orders/{id}`
//! answers the order's owner only; orders also arrive from an SQS queue (`imports`), once per key.

pub mod imports;
pub mod orders;
pub mod orders_store;
pub mod ownership;

pub use orders::OrdersApi;

use oncely::{RedisClient, RedisPersistence, Settings, StoreSettings};
use std::time::Duration;

/// The demo's own variable: the most a request may ask, with the `X-Simulate-Work-Ms` header, to
/// have `POST /orders` work before it completes (demos of races, retries and timeouts); 0 = off.
pub const SIMULATED_WORK_VAR: &str = "ORDERS_SIMULATED_WORK_MAX_MS";

/// What the `bootstrap` cannot start with: the library's settings, the store, or the demo's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The table or an idempotency option.
    #[error(transparent)]
    Settings(#[from] oncely::ConfigError),
    /// The store selection (`ONCELY_STORE` and the Redis URL).
    #[error(transparent)]
    Store(#[from] oncely::StoreError),
    /// A secret of `ONCELY_SECRETS` could not be read.
    #[error(transparent)]
    Secrets(#[from] oncely::secrets::SecretError),
    /// `ORDERS_SIMULATED_WORK_MAX_MS` is not a number of milliseconds from 0 to 900000.
    #[error("ORDERS_SIMULATED_WORK_MAX_MS={0:?} is invalid: a whole number of milliseconds from 0 (off) to 900000")]
    SimulatedWork(String),
}

/// `ORDERS_SIMULATED_WORK_MAX_MS` through `lookup` (default 0 = off).
pub fn simulated_work_max(lookup: impl Fn(&str) -> Option<String>) -> Result<Duration, StartError> {
    match lookup(SIMULATED_WORK_VAR) {
        None => Ok(Duration::ZERO),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= 900_000)
            .map(Duration::from_millis)
            .ok_or(StartError::SimulatedWork(v)),
    }
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
    ) -> (lambda_http::Response<lambda_http::Body>, Option<oncely::Outcome>) {
        match self {
            OrdersService::DynamoDb(api) => api.handle_with_outcome(request).await,
            OrdersService::Redis(api) => api.handle_with_outcome(request).await,
        }
    }

    /// Opens, during init, the connections the first request needs (see
    /// [`oncely::Idempotency::warm_up`], bounded by `IDEMPOTENCY_WARM_UP_MS`): the table's, which
    /// holds the orders and, by default, their records; with Redis, Redis' too, both at once.
    /// Failures are logged and the first request connects again.
    pub async fn warm_up(&self) {
        match self {
            OrdersService::DynamoDb(api) => {
                let _ = api.idempotency().warm_up().await;
            }
            OrdersService::Redis(api) => {
                let within = api.idempotency().config().warm_up;
                let orders = async {
                    if within.is_zero() {
                        return;
                    }
                    if let Err(err) = oncely::dynamodb::open_connection(api.client(), api.table(), within).await {
                        tracing::warn!(error = %err, "warm-up of the orders table failed: the first request connects");
                    }
                };
                let _ = tokio::join!(api.idempotency().warm_up(), orders);
            }
        }
    }

    /// Creates the orders of an SQS batch before `deadline_ms` (see [`imports`]).
    pub async fn import(&self, event: &oncely::sqs::SqsEvent, deadline_ms: u64) -> oncely::sqs::SqsBatchResponse {
        match self {
            OrdersService::DynamoDb(api) => api.import(event, deadline_ms).await,
            OrdersService::Redis(api) => api.import(event, deadline_ms).await,
        }
    }
}

/// Builds the orders API from the environment (`TABLE_NAME`, `IDEMPOTENCY_*`, `ONCELY_STORE` and
/// the Redis URL, [`SIMULATED_WORK_VAR`]) and Lambda's AWS variables ([`oncely::sdk::dynamodb_client_from_env`];
/// `AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local). The secrets `ONCELY_SECRETS` names
/// (the Redis URL of a deployed stack) are read first, from SSM or Secrets Manager
/// ([`oncely::secrets`]); a variable they name is taken from them, never from the environment.
pub async fn orders_api_from_env() -> Result<OrdersService, StartError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let secrets = oncely::secrets::SecretsClient::from_env().read_listed(env).await?;
    let lookup = |name: &str| secrets.get(name).map(str::to_string).or_else(|| env(name));
    let settings = Settings::from_lookup(lookup)?;
    let store = StoreSettings::from_lookup(lookup)?;
    let simulated_work_max = simulated_work_max(lookup)?;
    let client = oncely::sdk::dynamodb_client_from_env();
    Ok(match store {
        StoreSettings::DynamoDb => OrdersService::DynamoDb(
            OrdersApi::new(client, settings.table_name, settings.idempotency)
                .with_simulated_work_max(simulated_work_max),
        ),
        StoreSettings::Redis { url, limits } => {
            let redis = RedisPersistence::new(RedisClient::new(url).with_limits(limits));
            OrdersService::Redis(
                OrdersApi::with_redis(client, settings.table_name, settings.idempotency, redis)
                    .with_simulated_work_max(simulated_work_max),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulated(value: Option<&str>) -> Result<Duration, StartError> {
        simulated_work_max(|name| {
            (name == SIMULATED_WORK_VAR)
                .then(|| value.map(str::to_string))
                .flatten()
        })
    }

    #[test]
    fn simulated_work_is_off_by_default_and_bounded() {
        assert_eq!(simulated(None).unwrap(), Duration::ZERO);
        assert_eq!(simulated(Some("2500")).unwrap(), Duration::from_millis(2500));
        let err = simulated(Some("soon")).unwrap_err();
        assert!(err.to_string().contains("ORDERS_SIMULATED_WORK_MAX_MS"), "{err}");
        assert!(simulated(Some("900001")).is_err());
    }
}
