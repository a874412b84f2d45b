//! `up --local --store redis` end to end: the real deployer binary starts a `redis-server` on a
//! free loopback port, the real `bootstrap`s keep their idempotency records in it (orders stay in
//! the table), and Ctrl-C stops it. A malformed `--redis-url` is refused before anything starts,
//! without printing its password.

use crate::local_support;

use std::io::{Read, Write};
use std::time::Duration;

use local_support::{Extra, LocalStack, StackOptions, header, table_ids, up_local};

const BODY: &str = r#"{"item":"book","quantity":2}"#;

/// Sends one RESP command to the Redis on `port` and returns the raw reply.
fn redis_command(port: u16, args: &[&str]) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut command = format!("*{}\r\n", args.len());
    for arg in args {
        command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(command.as_bytes()).unwrap();
    let mut reply = vec![0; 4096];
    let n = stream.read(&mut reply).unwrap();
    String::from_utf8_lossy(&reply[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_live_in_a_local_redis_server_that_ctrl_c_stops() {
    let mut stack = LocalStack::start_with(
        StackOptions {
            app: "loc-redis",
            concurrency: 2,
            timeout_s: 10,
            shared_dynamodb: true,
        },
        &Extra {
            args: &["--store", "redis"],
            ..Extra::default()
        },
    );
    let up = stack
        .stdout
        .wait_for(Duration::ZERO, |l| l.contains(" is up: "))
        .unwrap();
    let url = up
        .split("idempotency records in Redis: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("the start-up line names the Redis: {up}"));
    let port: u16 = url.trim_start_matches("redis://127.0.0.1:").parse().unwrap();

    let key = [("content-type", "application/json"), ("idempotency-key", "redis-1")];
    let (status, _, first) = stack.request("POST", "/orders", &key, BODY).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&first));
    let (status, headers, replay) = stack.request("POST", "/orders", &key, BODY).await;
    assert_eq!(status, 201);
    assert_eq!(replay, first, "the replay is byte-identical");
    assert_eq!(header(&headers, "idempotent-replayed"), Some("true"));

    // The order is in the table, the record in Redis only.
    let ids = table_ids("loc-redis-test").await;
    assert_eq!(ids.iter().filter(|id| id.starts_with("order#")).count(), 1, "{ids:?}");
    assert!(
        ids.iter().all(|id| id.starts_with("order#")),
        "no record in the table: {ids:?}"
    );
    let keys = redis_command(port, &["KEYS", "oncely:idempotency:*"]);
    assert!(keys.starts_with("*1\r\n"), "one record in Redis: {keys:?}");

    // Ctrl-C stops the redis-server it started: nothing listens on its port any more.
    assert_eq!(redis_command(port, &["PING"]), "+PONG\r\n");
    assert!(stack.interrupt().success());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "redis-server stopped"
    );
}

#[test]
fn a_malformed_redis_url_is_refused_before_anything_starts_without_its_password() {
    let dir = StackOptions {
        app: "loc-redis-bad",
        concurrency: 1,
        timeout_s: 3,
        shared_dynamodb: false,
    }
    .write();
    let port = emulators::free_port().unwrap();
    let output = up_local(port, &dir.config, &["--redis-url", "http://app:hunter2@cache:6379"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--redis-url: the Redis URL's scheme is `http`"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2") && !String::from_utf8_lossy(&output.stdout).contains("hunter2"));
}
