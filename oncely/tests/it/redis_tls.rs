//! The Redis client over TLS with an ACL user and a database from the URL, against a real
//! `redis-server` with a TLS port (certificates made by `openssl` for the test): the store works,
//! and a wrong password is a typed, clear error that never shows the password.

use oncely::persistence::TimeBounds;
use oncely::redis_client::{Command, Value};
use oncely::{
    ClaimOutcome, IdempotencyRecord, Persistence, PersistenceError, RedisClient, RedisPersistence, RedisUrl, Status,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::process::Command as Process;
use std::time::Duration;

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Process::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=oncely test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
}

#[tokio::test]
async fn tls_acl_user_and_database_from_the_url() {
    let dir = testkit::temp_dir();
    certificates(dir.path());
    let tls_port = emulators::free_port().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let extra: Vec<String> = [
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &path("server.crt"),
        "--tls-key-file",
        &path("server.key"),
        "--tls-ca-cert-file",
        &path("ca.crt"),
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
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.path().join("ca.crt")).unwrap())
        .unwrap();

    let url = RedisUrl::parse(&format!("rediss://app:s3cret-pass@127.0.0.1:{tls_port}/3")).unwrap();
    let store = RedisPersistence::new(RedisClient::with_roots(url.clone(), roots.clone()));
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
    let err = store.claim(&record, now).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PersistenceError::Unavailable(_)), "{err:?}");
    assert!(text.contains("WRONGPASS"), "{text}");
    assert!(!text.contains("not-the-pass"), "{text}");
}
