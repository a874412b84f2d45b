//! The fault proxy against DynamoDB Local: each fault does what it says, and is counted.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use testkit::{Fault, FaultProxy, Times};

/// A client through `endpoint` that tries once and gives up after 1 s.
fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&testkit::sdk_config(endpoint, "faultproxy"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(1))
                .build(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Creates `table` through `endpoint` with a patient client: a DynamoDB Local that has just started
/// on a busy machine may take more than the 1 s of [`client`] for its first table.
async fn create_table(endpoint: &str, table: &str) {
    testkit::create_table(&testkit::dynamodb_client(endpoint, "faultproxy", None), table).await;
}

async fn put(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> bool {
    client
        .put_item()
        .table_name(table)
        .item("id", AttributeValue::S(id.into()))
        .send()
        .await
        .is_ok()
}

async fn exists(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> bool {
    client
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
        .is_some()
}

#[tokio::test]
async fn each_fault_does_what_it_says_and_is_counted() {
    let upstream = testkit::dynamodb_local().endpoint();
    let direct = client(&upstream);
    let proxy = FaultProxy::start(&upstream).await;
    let through = client(&proxy.endpoint());
    let table = "fault-proxy";
    create_table(&proxy.endpoint(), table).await;

    // Pass, several requests on kept-alive connections.
    for id in ["a", "b", "c"] {
        assert!(put(&through, table, id).await);
    }
    assert_eq!(proxy.count("pass", "PutItem"), 3);
    assert_eq!(proxy.count("pass", "CreateTable"), 1);

    // DynamoDB's own error bodies, for the next request only.
    proxy.inject("PutItem", Fault::internal_server_error(), Times::Next(1));
    proxy.inject("PutItem", Fault::throttling(), Times::Next(1));
    let codes = [
        through
            .put_item()
            .table_name(table)
            .item("id", AttributeValue::S("e".into()))
            .send()
            .await,
        through
            .put_item()
            .table_name(table)
            .item("id", AttributeValue::S("e".into()))
            .send()
            .await,
    ]
    .map(|r| r.expect_err("an injected error").code().map(str::to_string));
    assert_eq!(
        codes,
        [
            Some("InternalServerError".to_string()),
            Some("ThrottlingException".to_string())
        ]
    );
    assert!(!exists(&direct, table, "e").await, "errors are not forwarded");
    assert!(put(&through, table, "e").await, "the rules are used up");
    assert_eq!(proxy.count("error", "PutItem"), 2);

    // A reset is not forwarded; a dropped response was applied.
    proxy.inject("PutItem", Fault::ResetBeforeForward, Times::Next(1));
    assert!(!put(&through, table, "reset").await);
    assert!(!exists(&direct, table, "reset").await);
    proxy.inject("PutItem", Fault::DropResponse, Times::Next(1));
    assert!(!put(&through, table, "dropped").await, "the client sees no answer");
    assert!(exists(&direct, table, "dropped").await, "but the write applied");

    // A black hole never answers: the client's own timeout ends it.
    proxy.inject("PutItem", Fault::BlackHole, Times::Always);
    let err = through
        .put_item()
        .table_name(table)
        .item("id", AttributeValue::S("hole".into()))
        .send()
        .await
        .expect_err("no answer");
    assert!(
        matches!(err, aws_sdk_dynamodb::error::SdkError::TimeoutError(_)),
        "{err:?}"
    );
    assert!(!exists(&through, table, "hole").await, "other operations still pass");
    proxy.clear();

    // Latency delays, then forwards.
    proxy.inject("*", Fault::Latency(Duration::from_millis(200)), Times::Next(1));
    let started = Instant::now();
    assert!(put(&through, table, "late").await);
    assert!(started.elapsed() >= Duration::from_millis(200));

    for (kind, count) in [("reset", 1), ("drop_response", 1), ("black_hole", 1), ("latency", 1)] {
        assert_eq!(proxy.count(kind, "PutItem"), count, "{kind}");
    }
    drop(proxy);
    assert!(
        !put(&through, table, "after").await,
        "a dropped proxy no longer answers"
    );
}

#[tokio::test]
async fn a_policy_decides_what_no_rule_matches() {
    let upstream = testkit::dynamodb_local().endpoint();
    let proxy = FaultProxy::start(&upstream).await;
    let through = client(&proxy.endpoint());
    let table = "fault-proxy-policy";
    create_table(&proxy.endpoint(), table).await;
    proxy.set_policy(std::sync::Arc::new(|operation: &str| {
        if operation == "PutItem" {
            Fault::throttling()
        } else {
            Fault::Pass
        }
    }));
    assert!(!put(&through, table, "p").await, "the policy throttles PutItem");
    assert_eq!(proxy.count("error", "PutItem"), 1);
    proxy.inject("PutItem", Fault::Pass, Times::Next(1));
    assert!(put(&through, table, "p").await, "a rule comes before the policy");
    proxy.clear_policy();
    assert!(put(&through, table, "q").await, "without the policy everything passes");
}

/// A peer's lengths are not trusted: an upstream that announces a 1 TiB chunk and then closes
/// costs the proxy what arrived, not what was announced (before, it reserved the whole chunk and
/// the allocation aborted the process), and the caller gets an error.
#[tokio::test]
async fn an_announced_length_reserves_nothing_before_the_bytes_arrive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 16 * 1024];
                let _ = stream.read(&mut request).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000\r\nabc")
                    .await;
            });
        }
    });
    let proxy = FaultProxy::start(&upstream).await;
    let through = client(&proxy.endpoint());
    for id in ["a", "b"] {
        assert!(!put(&through, "any", id).await, "a truncated answer is an error");
    }
}
