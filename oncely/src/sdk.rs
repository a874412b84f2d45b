//! The DynamoDB client the `bootstrap` builds from Lambda's environment, without aws-config.
//!
//! Lambda hands a function its region and credentials in environment variables, so the full
//! aws-config chain (profiles, SSO, IMDS, web identity through STS) is dead weight in the package
//! and costs start-up time reading profile files. This reads exactly what Lambda and the local
//! stack set: `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, and `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL`) for DynamoDB Local.
//! The HTTPS client is rustls on ring with the platform's root certificates.

use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::lambda_env::{self, var};

/// A DynamoDB client configured from the environment (see the module docs). Missing credentials
/// or region are not an error here: like the SDK's own chain, requests then fail and say why.
pub fn dynamodb_client_from_env() -> aws_sdk_dynamodb::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http);
    if let Some(region) = lambda_env::region(&var) {
        config = config.region(Region::new(region));
    }
    if let Some(credentials) = lambda_env::credentials(&var) {
        config = config.credentials_provider(credentials);
    }
    if let Some(url) = lambda_env::endpoint(&var, "DYNAMODB") {
        config = config.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}
