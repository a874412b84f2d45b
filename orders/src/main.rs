//! `bootstrap`: the Lambda entry point for the orders API (configuration from the environment), one
//! EMF metrics line per request (`metrics`).
use lambda_http::{Error, Request, run, service_fn};
use std::sync::Arc;

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
    run(service_fn(move |request: Request| {
        let api = api.clone();
        async move {
            let response =
                oncely::http::metrics::measured(request, |r| async move { api.handle_with_outcome(r).await }).await;
            Ok::<_, Error>(response)
        }
    }))
    .await
}
