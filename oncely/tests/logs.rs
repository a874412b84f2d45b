//! Structured logs: JSON lines with request id, X-Ray trace id, key hash and outcome, never the raw key
//! (its own test binary, so the scoped subscriber sees every event).

use lambda_http::{Body, Response};
use oncely::persistence::InMemoryPersistence;
use oncely::{Completion, HandlerError, Idempotency, IdempotencyConfig};
use std::sync::Arc;
use testkit::api_events::*;

const BODY: &str = r#"{"item":"book","quantity":1}"#;

fn created(text: &str) -> Response<Body> {
    Response::builder()
        .status(201)
        .body(Body::from(text.to_string()))
        .unwrap()
}

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_are_json_with_request_and_trace_ids_key_hash_and_outcome_but_never_the_key() {
    // The in-memory store has the same semantics; this binary has one test, so one thread logs.
    let idem = Idempotency::new(IdempotencyConfig::default(), InMemoryPersistence::new());
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let key = "super-secret-client-key";
    let request = post(Some(key), BODY);
    let context = lambda_http::RequestExt::lambda_context(&request);
    let (request_id, trace_id) = (context.request_id, context.xray_trace_id.unwrap());
    idem.handle(
        &request,
        "/orders",
        |_| Ok(()),
        |_| async { Ok::<_, HandlerError>(Completion::new(created("a"))) },
    )
    .await;
    idem.handle(
        &post(Some(key), BODY),
        "/orders",
        |_| Ok(()),
        |_| async { Ok::<_, HandlerError>(Completion::new(created("b"))) },
    )
    .await;
    idem.handle(
        &post(Some(key), r#"{"other":1}"#),
        "/orders",
        |_| Ok(()),
        |_| async { Ok::<_, HandlerError>(Completion::new(created("c"))) },
    )
    .await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(!text.contains(key), "the raw key is never logged:\n{text}");
    let hash = idem.key_hash("POST", "/orders", key);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON log lines"))
        .collect();
    let outcomes: Vec<&str> = lines
        .iter()
        .filter(|l| l["fields"]["key_hash"] == hash.as_str())
        .filter_map(|l| l["fields"]["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["executed", "replayed", "mismatch"], "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["request_id"] == request_id.as_str() && l["fields"]["outcome"] == "executed")
    );
    // The X-Ray trace rides along, so a slow request's log line leads to its trace.
    assert!(trace_id.starts_with("Root=1-"), "{trace_id}");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["trace_id"] == trace_id.as_str() && l["fields"]["outcome"] == "executed"),
        "{text}"
    );
}
