//! Secrets read as a function reads them during init, from moto's SSM Parameter Store (a
//! SecureString) and Secrets Manager with signed calls: the values arrive, a missing one is named
//! by its reference and the service's code, a silent endpoint costs the bound and no more, and no
//! error or `Debug` shows a value.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use oncely::secrets::{SecretError, SecretsClient};

const URL: &str = "rediss://app:s3cret-pass@cache.internal:6380/0";
const KEY: &str = "sk_test_51abc";

/// The environment Lambda would give, pointing at `endpoint`, with `extra` variables.
fn lambda_env(endpoint: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("AWS_REGION", testkit::REGION),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "session"),
        ("AWS_ENDPOINT_URL", endpoint),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.retain(|_, v| !v.is_empty());
    env
}

async fn moto_with_secrets() -> testkit::Moto {
    let moto = testkit::moto();
    let sdk = testkit::sdk_config(&moto.endpoint(), testkit::TEST_KEY_ID);
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name("/shop/test/redis-url")
        .value(URL)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("shop/stripe")
        .secret_string(KEY)
        .send()
        .await
        .unwrap();
    moto
}

#[tokio::test]
async fn both_kinds_are_read_and_never_shown() {
    let moto = moto_with_secrets().await;
    let env = lambda_env(
        &moto.endpoint(),
        &[(
            "ONCELY_SECRETS",
            "ONCELY_REDIS_URL=ssm:/shop/test/redis-url,STRIPE_KEY=secretsmanager:shop/stripe",
        )],
    );
    let lookup = |k: &str| env.get(k).cloned();
    let secrets = SecretsClient::from_lookup(lookup).read_listed(lookup).await.unwrap();
    assert_eq!(secrets.get("ONCELY_REDIS_URL"), Some(URL));
    assert_eq!(secrets.get("STRIPE_KEY"), Some(KEY));
    let shown = format!("{secrets:?}");
    assert!(!shown.contains("s3cret") && !shown.contains(KEY), "{shown}");

    // None listed: nothing read, no call made (the endpoint is closed).
    let closed = lambda_env("http://127.0.0.1:1", &[]);
    let lookup = |k: &str| closed.get(k).cloned();
    assert!(
        SecretsClient::from_lookup(lookup)
            .read_listed(lookup)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_missing_secret_is_named_by_its_reference_and_code() {
    let moto = moto_with_secrets().await;
    for (listed, code) in [
        ("A=ssm:/shop/test/nothing", "ParameterNotFound"),
        ("A=secretsmanager:shop/nothing", "ResourceNotFoundException"),
    ] {
        let env = lambda_env(
            &moto.endpoint(),
            &[("ONCELY_SECRETS", &format!("{listed},B=ssm:/shop/test/redis-url"))],
        );
        let lookup = |k: &str| env.get(k).cloned();
        let err = SecretsClient::from_lookup(lookup)
            .read_listed(lookup)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SecretError::NotFound { code: c, .. } if c == code),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&listed[2..]) && !text.contains("s3cret"), "{text}");
    }
    // Without credentials: which variable is missing, before any call.
    let env = lambda_env(&moto.endpoint(), &[("ONCELY_SECRETS", "A=ssm:/shop/test/redis-url")]);
    let lookup = |k: &str| (k != "AWS_ACCESS_KEY_ID").then(|| env.get(k).cloned()).flatten();
    let err = SecretsClient::from_lookup(lookup)
        .read_listed(lookup)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
    // A list that does not parse names the variable.
    let env = lambda_env(&moto.endpoint(), &[("ONCELY_SECRETS", "A=vault:x")]);
    let lookup = |k: &str| env.get(k).cloned();
    let err = SecretsClient::from_lookup(lookup)
        .read_listed(lookup)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("ONCELY_SECRETS is invalid"), "{err}");
}

#[tokio::test]
async fn a_silent_endpoint_costs_the_bound() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let env = lambda_env(
        &format!("http://{addr}"),
        &[("ONCELY_SECRETS", "A=ssm:/x"), ("ONCELY_SECRETS_TIMEOUT_MS", "300")],
    );
    let lookup = |k: &str| env.get(k).cloned();
    let started = Instant::now();
    let err = SecretsClient::from_lookup(lookup)
        .read_listed(lookup)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SecretError::Timeout { within } if within == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    held.abort();
}
