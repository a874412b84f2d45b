//! `bootstrap`: the Lambda entry point for the orders API (configuration from the environment).
//! It takes HTTP API events (one EMF metrics line per request, `metrics`) and SQS batches of orders
//! to import (`orders::imports`), told apart by the event's shape.
use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Error, Request, Service, service_fn};
use oncely::sqs::{SqsBatchResponse, SqsEvent};
use orders::OrdersService;
use serde::Serialize;
use serde_json::value::RawValue;
use std::sync::Arc;

/// The top level of an event, as far as telling the kinds apart needs: an SQS batch has `Records`.
#[derive(serde::Deserialize)]
struct Shape {
    #[serde(rename = "Records")]
    records: Option<serde::de::IgnoredAny>,
}

/// The answer: the HTTP API's response document, or the batch's failures.
#[derive(Serialize)]
#[serde(untagged)]
enum Reply<H> {
    Http(H),
    Batch(SqsBatchResponse),
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    oncely::init_logging();
    let api = match orders::orders_api_from_env().await {
        Ok(api) => Arc::new(api),
        Err(err) => {
            tracing::error!(error = %err, "invalid configuration");
            eprintln!("bootstrap: invalid configuration: {err}");
            std::process::exit(2);
        }
    };
    // During init, with the init phase's CPU: the first request finds its connections open.
    api.warm_up().await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let api = api.clone();
        async move { dispatch(api, event).await }
    }))
    .await
}

/// Runs one event: an SQS batch through the imports, anything else as an HTTP API request.
async fn dispatch(api: Arc<OrdersService>, event: LambdaEvent<Box<RawValue>>) -> Result<Reply<impl Serialize>, Error> {
    let LambdaEvent { payload, context } = event;
    let shape: Shape = serde_json::from_str(payload.get())?;
    if shape.records.is_some() {
        let batch: SqsEvent = serde_json::from_str(payload.get())?;
        return Ok(Reply::Batch(api.import(&batch, context.deadline).await));
    }
    let request: LambdaRequest = serde_json::from_str(payload.get())?;
    let mut http = Adapter::from(service_fn(move |request: Request| {
        let api = api.clone();
        async move {
            let response =
                oncely::http::metrics::measured(request, |r| async move { api.handle_with_outcome(r).await }).await;
            Ok::<_, Error>(response)
        }
    }));
    Ok(Reply::Http(http.call(LambdaEvent::new(request, context)).await?))
}
