//! The limits the local gateway enforces as API Gateway does, end to end through the real
//! `deployer up --local`, the real `bootstrap` and DynamoDB Local: the throttle, the head and
//! payload quotas, the integration timeout, and a server that slow or idle clients cannot exhaust.

use crate::local_support;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use local_support::{Extra, LocalStack, StackOptions, closed_within, header, read_response};

const BODY: &str = r#"{"item":"book","quantity":2}"#;
const JSON: (&str, &str) = ("content-type", "application/json");

fn options(app: &'static str, concurrency: u32) -> StackOptions {
    StackOptions {
        app,
        concurrency,
        timeout_s: 10,
        shared_dynamodb: true,
    }
}

/// `burst: 0, rate: 0`: a bucket that never holds a token. Every request is a 429 from the
/// gateway, the function never runs and nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_throttle_refuses_every_request_and_nothing_is_created() {
    let stack = LocalStack::start_with(
        options("lim-closed", 1),
        &Extra {
            api_yaml: "  throttle: { burst: 0, rate: 0 }\n",
            ..Extra::default()
        },
    );
    let key = [JSON, ("idempotency-key", "closed-1")];
    for _ in 0..3 {
        let (status, headers, body) = stack.request("POST", "/orders", &key, BODY).await;
        assert_eq!(status, 429);
        assert_eq!(&body[..], br#"{"message":"Too Many Requests"}"#);
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
    }
    let (status, _, _) = stack.request("GET", "/orders/x", &[], "").await;
    assert_eq!(status, 429);
    assert_eq!(stack.invocations(), 0, "{}", stack.stdout.text());
    assert_eq!(stack.orders("lim-closed-test").await, Vec::<String>::new());
}

/// `burst: 2, rate: 0`: two requests reach the function, then the bucket is empty for good and
/// the third, a POST, is a 429 that creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_burst_passes_then_the_throttle_answers_429() {
    let stack = LocalStack::start_with(
        options("lim-burst", 1),
        &Extra {
            api_yaml: "  throttle: { burst: 2, rate: 0 }\n",
            ..Extra::default()
        },
    );
    for _ in 0..2 {
        let (status, headers, _) = stack
            .request("GET", "/orders/00000000-0000-0000-0000-000000000000", &[], "")
            .await;
        assert_eq!(status, 404, "the function answers");
        assert!(
            header(&headers, "content-type")
                .unwrap()
                .starts_with("application/problem+json")
        );
    }
    let (status, _, body) = stack
        .request("POST", "/orders", &[JSON, ("idempotency-key", "burst-1")], BODY)
        .await;
    assert_eq!(status, 429);
    assert_eq!(&body[..], br#"{"message":"Too Many Requests"}"#);
    assert_eq!(
        stack.invocations_after("POST /orders -> 429"),
        2,
        "{}",
        stack.stdout.text()
    );
    assert_eq!(stack.orders("lim-burst-test").await, Vec::<String>::new());
}

/// The request line plus header values over 10,240 bytes, an event over Lambda's 6 MB payload
/// (text, or binary that base64 makes too large), a body over 10 MB: each gets API Gateway's
/// answer without an invocation. Just under the limits the function answers. CORS answers that
/// depend on the origin say `Vary: Origin`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_payload_limits_get_api_gateways_answers() {
    let stack = LocalStack::start(options("lim-sizes", 1));
    let missing = "/orders/00000000-0000-0000-0000-000000000000";

    // Head: "GET <path> HTTP/1.1" plus the host value plus this value (and whatever small
    // headers the client adds: 100 bytes are left for them under the quota).
    let line_and_host = "GET  HTTP/1.1".len() + missing.len() + format!("127.0.0.1:{}", stack.port).len();
    let fits = "h".repeat(10_240 - line_and_host - 100);
    let (status, _, _) = stack.request("GET", missing, &[("x-big", &fits)], "").await;
    assert_eq!(status, 404, "under 10,240 bytes the request reaches the function");
    let over = "h".repeat(10_241 - line_and_host);
    let (status, headers, body) = stack.request("GET", missing, &[("x-big", &over)], "").await;
    assert_eq!(status, 413);
    assert_eq!(&body[..], br#"{"message":"Request Entity Too Large"}"#);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let invoked = stack.invocations_after(&format!("GET {missing} -> 404"));
    assert_eq!(invoked, 1, "{}", stack.stdout.text());

    // Lambda's payload: a 7 MB JSON body is too large as it is; 5 MB of binary is too large once
    // base64-encoded in the event (6.7 MB); 4 MB of binary (5.3 MB encoded) is invoked.
    let no_key = [JSON];
    let big_json = format!(r#"{{"item":"{}","quantity":1}}"#, "b".repeat(7 << 20));
    let (status, _, body) = stack.request("POST", "/orders", &no_key, &big_json).await;
    assert_eq!(status, 500);
    assert_eq!(&body[..], br#"{"message":"Internal Server Error"}"#);
    let octets = [("content-type", "application/octet-stream")];
    let (status, _, body) = stack
        .request_bytes("POST", "/orders", &octets, Bytes::from(vec![0xFFu8; 5 << 20]))
        .await;
    assert_eq!(status, 500);
    assert_eq!(&body[..], br#"{"message":"Internal Server Error"}"#);
    assert_eq!(stack.invocations(), invoked, "Lambda refused both: no invocation");
    let (status, _, body) = stack
        .request_bytes("POST", "/orders", &octets, Bytes::from(vec![0xFFu8; 4 << 20]))
        .await;
    assert_eq!(
        status,
        400,
        "the function answers (no key): {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(stack.invocations_after("POST /orders -> 400"), invoked + 1);
    let out = stack.stdout.text_with(|l| l.contains("Lambda refused the invocation"));
    assert!(out.contains("Lambda refused the invocation"), "{out}");

    // The HTTP API payload quota.
    let (status, _, body) = stack
        .request_bytes("POST", "/orders", &octets, Bytes::from(vec![0u8; (10 << 20) + 1]))
        .await;
    assert_eq!(
        (status.as_u16(), &body[..]),
        (413, &br#"{"message":"Request Entity Too Large"}"#[..])
    );

    // CORS: the allowed origin is echoed, so the answer varies by origin.
    let (_, headers, _) = stack
        .request("GET", missing, &[("origin", "http://localhost:5173")], "")
        .await;
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(header(&headers, "vary"), Some("Origin"));
    let preflight = [
        ("origin", "http://elsewhere.example"),
        ("access-control-request-method", "POST"),
    ];
    let (status, headers, _) = stack.request("OPTIONS", "/orders", &preflight, "").await;
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    assert_eq!(header(&headers, "vary"), Some("Origin"));
}

/// One environment, busy with a 4 s request: a second request waits in the queue for the
/// integration timeout (1.5 s here, by the test knob) and is answered 503 by the gateway, before
/// the first ends and without ever running; the first runs to its end as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_past_the_integration_timeout_is_a_503_and_never_runs() {
    let stack = LocalStack::start_with(
        options("lim-queue", 1),
        &Extra {
            env: &[("ONCELY_LOCAL_INTEGRATION_TIMEOUT_MS", "1500")],
            ..Extra::default()
        },
    );
    let slow = [JSON, ("idempotency-key", "queue-1"), ("x-simulate-work-ms", "4000")];
    let queued = [JSON, ("idempotency-key", "queue-2")];
    let ((first, first_at), (second, second_at)) = tokio::join!(
        async {
            let r = stack.request("POST", "/orders", &slow, BODY).await;
            (r, Instant::now())
        },
        async {
            // Sent once the first has its environment (its START line), so it is the one queued.
            let deadline = Instant::now() + Duration::from_secs(20);
            while stack.invocations() == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let r = stack.request("POST", "/orders", &queued, BODY).await;
            (r, Instant::now())
        }
    );
    assert_eq!(second.0, 503, "{}", String::from_utf8_lossy(&second.2));
    assert_eq!(&second.2[..], br#"{"message":"Service Unavailable"}"#);
    assert_eq!(header(&second.1, "content-type"), Some("application/json"));
    assert!(
        second_at < first_at,
        "the queued request is not held until the busy one ends"
    );
    assert_eq!(first.0, 201, "{}", String::from_utf8_lossy(&first.2));
    let order = serde_json::from_slice::<serde_json::Value>(&first.2).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The withdrawn request never ran, even after the environment became free.
    let (status, _, _) = stack
        .request("GET", "/orders/00000000-0000-0000-0000-000000000000", &[], "")
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        stack.invocations_after("GET /orders/00000000-0000-0000-0000-000000000000 -> 404"),
        2,
        "{}",
        stack.stdout.text()
    );
    assert_eq!(stack.orders("lim-queue-test").await, vec![format!("order#{order}")]);
    let out = stack
        .stdout
        .text_with(|l| l.contains("within the 1500 ms integration timeout"));
    assert!(out.contains("within the 1500 ms integration timeout"), "{out}");
}

/// Slow headers (slowloris) and idle keep-alive connections are closed by the header timeout, a
/// body that never fully arrives is answered 408 at the body timeout (1 s each here, by the test
/// knobs); the server keeps answering others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_slow_body_and_idle_connections_are_cut_off() {
    let stack = LocalStack::start_with(
        options("lim-slow", 1),
        &Extra {
            env: &[
                ("ONCELY_LOCAL_HEADER_TIMEOUT_MS", "1000"),
                ("ONCELY_LOCAL_BODY_TIMEOUT_MS", "1000"),
            ],
            ..Extra::default()
        },
    );
    // Slowloris: a header line every 200 ms, never the blank line that ends the head.
    let mut slow = stack.connect();
    slow.write_all(b"GET /orders/x HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .unwrap();
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
        if slow.write_all(b"x-slow: still-sending\r\n").is_err() {
            cut = true;
            break;
        }
        if closed_within(&mut slow, Duration::from_millis(10)) {
            cut = true;
            break;
        }
    }
    assert!(cut, "the slow-header connection was still open after 20 s");

    // Idle keep-alive: one request answered, then silence.
    let mut idle = stack.connect();
    idle.write_all(b"GET /orders/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let (status, _, _) = read_response(&mut idle).expect("a response");
    assert_eq!(status, 404);
    assert!(
        closed_within(&mut idle, Duration::from_secs(20)),
        "the idle connection was still open after 20 s"
    );

    // A connection that opens and never sends a byte.
    let mut silent = stack.connect();
    assert!(closed_within(&mut silent, Duration::from_secs(20)));

    // A body announced as 100 bytes, of which 7 come.
    let mut stalled = stack.connect();
    stalled
        .write_all(b"POST /orders HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n{\"item\"")
        .unwrap();
    let (status, _, body) = read_response(&mut stalled).expect("an answer");
    assert_eq!((status, &body[..]), (408, &br#"{"message":"Request Timeout"}"#[..]));
    assert!(closed_within(&mut stalled, Duration::from_secs(20)));
    assert_eq!(stack.invocations(), 1, "only the idle connection's request ran");

    let (status, _, _) = stack.request("GET", "/orders/x", &[], "").await;
    assert_eq!(status, 404, "the server still answers");
}

/// Over the connection cap (3 here, by the test knob) a new connection is closed at once, while
/// the open ones keep being served; a freed slot serves a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_and_the_others_keep_working() {
    let stack = LocalStack::start_with(
        options("lim-cap", 1),
        &Extra {
            env: &[("ONCELY_LOCAL_MAX_CONNECTIONS", "3")],
            ..Extra::default()
        },
    );
    let request = b"GET /orders/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";
    let mut open: Vec<_> = (0..3).map(|_| stack.connect()).collect();
    // Each of them is served (which also proves all three were accepted).
    for c in &mut open {
        c.write_all(request).unwrap();
        assert_eq!(read_response(c).map(|r| r.0), Some(404));
    }
    let mut extra = stack.connect();
    let _ = extra.write_all(request);
    assert!(
        closed_within(&mut extra, Duration::from_secs(10)),
        "the fourth connection was not closed"
    );
    for c in &mut open {
        c.write_all(request).unwrap();
        assert_eq!(
            read_response(c).map(|r| r.0),
            Some(404),
            "an open connection keeps working"
        );
    }
    let out = stack
        .stdout
        .text_with(|l| l.contains("connections are open (the limit)"));
    assert!(out.contains("connections are open (the limit)"), "{out}");

    // Closing one frees its slot (the server notices the close shortly after).
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    let served = loop {
        let mut c = stack.connect();
        let _ = c.write_all(request);
        if let Some((status, _, _)) = read_response(&mut c) {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(served, Some(404));
}
