//! The DynamoDB client the `bootstrap` builds from Lambda's environment, without aws-config.
//!
//! Lambda hands a function its region and credentials in environment variables, so the full
//! aws-config chain (profiles, SSO, IMDS, web identity through STS) is dead weight in the package
//! and costs start-up time reading profile files. This reads exactly what Lambda and the local
//! stack set: `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, and `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL`) for DynamoDB Local.
//! The HTTPS client is rustls on ring with the platform's root certificates.

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A DynamoDB client configured from the environment (see the module docs). Missing credentials
/// or region are not an error here: like the SDK's own chain, requests then fail and say why.
pub fn dynamodb_client_from_env() -> aws_sdk_dynamodb::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http);
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        config = config.region(Region::new(region));
    }
    if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "Environment");
        config = config.credentials_provider(credentials);
    }
    if let Some(url) = var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL")) {
        config = config.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}
