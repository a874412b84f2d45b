//! The Redis client over TLS with an ACL user and a database from the URL, against a real
//! `redis-server` with a TLS port (certificates made by the test kit for the test): the store works,
//! a warm-up opens the connection the first claim uses, and a wrong password is a typed, clear
//! error that never shows the password; idle connections are closed after the idle timeout.

use oncely::persistence::TimeBounds;
use oncely::redis_client::{Command, Value};
use oncely::{
    ClaimOutcome, IdempotencyRecord, Persistence, PersistenceError, RedisClient, RedisPersistence, RedisUrl, Status,
};
use std::time::Duration;
use testkit::TcpProxy;

#[tokio::test]
async fn tls_acl_user_and_database_from_the_url() {
    let dir = testkit::temp_dir();
    let certs = testkit::Certificates::new();
    certs.write_to(dir.path());
    let tls_port = emulators::free_port().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let extra: Vec<String> = [
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &path("server.pem"),
        "--tls-key-file",
        &path("server.key"),
        "--tls-ca-cert-file",
        &path("ca.pem"),
        "--tls-auth-clients",
        "no",
        "--user",
        "app",
        "on",
        ">s3cret-pass",
        "~*",
        "&*",
        "+@all",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let _server = emulators::start_redis_server_with(None, &extra).expect("redis-server with TLS");
    let roots = certs.roots();

    let url = RedisUrl::parse(&format!("rediss://app:s3cret-pass@127.0.0.1:{tls_port}/3")).unwrap();
    // Through a counting proxy: the warm-up opens the one connection the claim then uses.
    let proxy = TcpProxy::start(&format!("127.0.0.1:{tls_port}")).await;
    let proxied = RedisUrl::parse(&format!("rediss://app:s3cret-pass@{}/3", proxy.addr())).unwrap();
    let store = RedisPersistence::new(RedisClient::with_roots(proxied, roots.clone()));
    store.warm_up(Duration::from_secs(5)).await.unwrap();
    assert_eq!(proxy.accepted(), 1, "the warm-up connected");
    let now = oncely::now_ms();
    let record = IdempotencyRecord {
        key_hash: "tls".into(),
        status: Status::InProgress,
        expiration_s: now / 1000 + 60,
        in_progress_expiration_ms: now + 30_000,
        fingerprint: "json:fp".into(),
        claim: "c1".into(),
        response: None,
    };
    assert_eq!(store.claim(&record, now).await.unwrap(), ClaimOutcome::Claimed);
    assert_eq!(proxy.accepted(), 1, "the claim reused the warm-up's connection");
    // The record is in database 3.
    let probe = RedisClient::with_roots(url, roots.clone());
    let replies = probe
        .pipeline(&[Command::new("EXISTS").arg(store.key("tls"))], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(replies, [Value::Int(1)]);

    // A wrong password: a clear error, without the password.
    let wrong = RedisUrl::parse(&format!("rediss://app:not-the-pass@127.0.0.1:{tls_port}")).unwrap();
    let store = RedisPersistence::new(RedisClient::with_roots(wrong, roots)).with_time_bounds(TimeBounds::default());
    let refused = store.warm_up(Duration::from_secs(5)).await.unwrap_err();
    assert!(refused.to_string().contains("WRONGPASS"), "{refused}");
    let err = store.claim(&record, now).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PersistenceError::Unavailable(_)), "{err:?}");
    assert!(text.contains("WRONGPASS"), "{text}");
    assert!(!text.contains("not-the-pass"), "{text}");
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let proxy = TcpProxy::start(&format!("127.0.0.1:{}", testkit::redis_server().port())).await;
    let url = RedisUrl::parse(&format!("redis://{}", proxy.addr())).unwrap();
    let ping = [Command::new("PING")];
    let kept = RedisClient::new(url.clone());
    let short = RedisClient::new(url).with_idle_timeout(Duration::from_millis(50));
    for client in [&kept, &short] {
        client.pipeline(&ping, Duration::from_secs(5)).await.unwrap();
    }
    assert_eq!(proxy.accepted(), 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    kept.pipeline(&ping, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        proxy.accepted(),
        2,
        "within the default idle timeout the connection is reused"
    );
    short.pipeline(&ping, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        proxy.accepted(),
        3,
        "past its idle timeout the connection was closed, a new one opened"
    );
}
