//! A Redis peer that answers with hostile replies (a real TCP server of the test's own that reads
//! the command and writes crafted bytes): each costs one failed call, at once and with bounded
//! memory, and the orders API answers 503 — the process goes on.

use crate::common;

use common::*;
use oncely::redis_client::{Command, ReplyLimits, RespError};
use oncely::{RedisClient, RedisPersistence, RedisUrl};
use orders::OrdersApi;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server on 127.0.0.1 that answers every connection's first read with `reply`, then keeps the
/// connection open (a server that stalls after its lie).
async fn hostile(reply: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(&reply).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    format!("redis://127.0.0.1:{port}")
}

fn client(url: &str) -> RedisClient {
    RedisClient::new(RedisUrl::parse(url).unwrap())
}

/// Each reply fails the call with a protocol error well before the call's 5 s bound: nothing
/// waits for bytes a length announced.
#[tokio::test]
async fn hostile_replies_fail_one_call_at_once() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "nested a million deep",
            [b"*1\r\n".repeat(1_000_000), b":1\r\n".to_vec()].concat(),
            "deeper than 8",
        ),
        (
            "a 64 MB bulk string announced",
            b"$67000000\r\n".to_vec(),
            "bulk string of 67000000",
        ),
        (
            "two billion elements announced",
            b"*2000000000\r\n".to_vec(),
            "array of 2000000000",
        ),
        ("a line with no end", vec![b'+'; 2_000_000], "longer than 65536"),
        (
            "1.2 MB of small values",
            {
                let mut v = b"*300000\r\n".to_vec();
                v.extend(b":1\r\n".repeat(300_000));
                v
            },
            "larger than 1048576",
        ),
    ];
    for (what, reply, expected) in cases {
        let url = hostile(reply).await;
        let started = Instant::now();
        let err = client(&url)
            .pipeline(&[Command::new("PING")], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RespError::Protocol(message) if message.contains(expected)),
            "{what}: {err}"
        );
        assert!(!err.is_transient(), "{what}: a lie is not retried");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{what}: took {:?}",
            started.elapsed()
        );
    }
}

/// The reply size bound is the client's to set.
#[tokio::test]
async fn the_reply_bound_is_configurable() {
    let url = hostile(b"$100\r\n".to_vec()).await;
    let small = ReplyLimits {
        max_reply: 64,
        ..ReplyLimits::default()
    };
    let err = client(&url)
        .with_limits(small)
        .pipeline(&[Command::new("PING")], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RespError::Protocol(m) if m.contains("bulk string of 100")),
        "{err}"
    );
}

/// Through the orders API: a store that lies is a 503 with Retry-After, and the next request is
/// served as normal.
#[tokio::test]
async fn the_orders_api_answers_503_to_a_lying_store() {
    let table = Table::new().await;
    let url = hostile(b"*1\r\n".repeat(100_000)).await;
    let redis = RedisPersistence::new(client(&url));
    let api = OrdersApi::with_redis(
        common::client(&table.endpoint, None),
        &table.name,
        table.config(),
        redis,
    );
    for key in ["hostile-1", "hostile-2"] {
        let response = api.handle(post(Some(key), r#"{"item":"book","quantity":1}"#)).await;
        assert_eq!(response.status(), 503, "{}", String::from_utf8_lossy(&body(&response)));
        assert!(response.headers().contains_key("retry-after"));
    }
}
