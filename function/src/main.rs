//! `bootstrap`: the Lambda entry point for the orders API (configuration from the environment).
use lambda_http::{Error, Request, run, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    oncely_function::init_logging();
    let api = match oncely_function::orders_api_from_env().await {
        Ok(api) => Arc::new(api),
        Err(err) => {
            tracing::error!(error = %err, "invalid configuration");
            eprintln!("bootstrap: invalid configuration: {err}");
            std::process::exit(2);
        }
    };
    run(service_fn(move |request: Request| {
        let api = api.clone();
        async move { Ok::<_, Error>(api.handle(request).await) }
    }))
    .await
}
