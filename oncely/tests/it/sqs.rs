//! SQS batches (`Operation::sqs_batch`), one contract run against DynamoDB Local, a real
//! `redis-server` and the in-memory store: a batch with a duplicate message, a failing record and
//! a malformed one, then the redelivery SQS makes of what `batchItemFailures` named, gives exactly
//! one effect per key; a FIFO batch stops at its first failure; without key pointers the message
//! id is the key.

use crate::common;

use common::stores::Effects;
use oncely::sqs::{SqsBatchResponse, SqsEvent};
use oncely::{Completion, HandlerError, Idempotency};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payment {
    payment_id: String,
    cents: u64,
}

/// An SQS event as Lambda's event source mapping delivers it, from (message id, body) pairs.
fn event(queue_arn: &str, messages: &[(&str, &str)]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("AQEB{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1765000000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1765000000001"
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}

const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:payments";

fn failures(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// The handler of the tests: records each run per payment, fails the payments named in `failing`,
/// and writes its effect with the completion.
struct Payments<'a, P: Effects> {
    idem: &'a Idempotency<P>,
    prefix: String,
    runs: Mutex<HashMap<String, usize>>,
    failing: Mutex<Vec<String>>,
}

impl<P: Effects> Payments<'_, P> {
    fn body(&self, id: &str, cents: u64) -> String {
        json!({"payment_id": format!("{}{id}", self.prefix), "cents": cents}).to_string()
    }

    async fn batch(&self, event: &SqsEvent) -> Vec<String> {
        let op = self.idem.operation("payments").key_from(["/payment_id"]);
        let response = op
            .sqs_batch_completing(event, |payment: Payment| async move {
                *self.runs.lock().unwrap().entry(payment.payment_id.clone()).or_default() += 1;
                if self.failing.lock().unwrap().contains(&payment.payment_id) {
                    return Err::<_, HandlerError>("the payment provider is down".into());
                }
                let write = self
                    .idem
                    .persistence()
                    .write(&payment.payment_id, &payment.cents.to_string());
                Ok(Completion::new(()).with_write(write))
            })
            .await;
        failures(&response).into_iter().map(String::from).collect()
    }

    fn runs(&self, id: &str) -> usize {
        self.runs
            .lock()
            .unwrap()
            .get(&format!("{}{id}", self.prefix))
            .copied()
            .unwrap_or(0)
    }

    async fn effect(&self, id: &str) -> Option<String> {
        self.idem.persistence().effect(&format!("{}{id}", self.prefix)).await
    }
}

fn payments<P: Effects>(idem: &Idempotency<P>) -> Payments<'_, P> {
    Payments {
        idem,
        prefix: format!("{}-", common::stores::fresh_hash()),
        runs: Mutex::default(),
        failing: Mutex::default(),
    }
}

async fn a_batch_runs_each_key_once_and_names_what_to_redeliver<P: Effects>(idem: Arc<Idempotency<P>>) {
    let p = payments(&idem);
    p.failing.lock().unwrap().push(format!("{}b", p.prefix));
    let (a, b, c) = (p.body("a", 100), p.body("b", 200), p.body("c", 300));
    let first = event(
        QUEUE,
        &[
            ("m1", &a),
            // The producer sent payment a twice: another message id, the same body.
            ("m2", &a),
            ("m3", &b),
            ("m4", "{not json"),
            ("m5", &c),
            // Payment c again with another amount: a key reused with another payload.
            ("m6", &p.body("c", 301)),
        ],
    );
    assert_eq!(p.batch(&first).await, ["m3", "m4", "m6"]);
    assert_eq!((p.runs("a"), p.runs("b"), p.runs("c")), (1, 1, 1));
    assert_eq!(p.effect("a").await.as_deref(), Some("100"));
    assert_eq!(p.effect("b").await, None, "a failed payment leaves no effect");
    assert_eq!(p.effect("c").await.as_deref(), Some("300"));

    // SQS redelivers m3 (the provider is back) and, at the same time, m1 again (its delete was
    // lost): b runs once more and succeeds, a is not paid twice.
    p.failing.lock().unwrap().clear();
    let redelivery = event(QUEUE, &[("m3", &b), ("m1", &a)]);
    assert!(p.batch(&redelivery).await.is_empty());
    assert_eq!((p.runs("a"), p.runs("b")), (1, 2));
    assert_eq!(p.effect("b").await.as_deref(), Some("200"));
    assert_eq!(p.effect("a").await.as_deref(), Some("100"));
}

async fn a_fifo_batch_stops_at_its_first_failure<P: Effects>(idem: Arc<Idempotency<P>>) {
    let p = payments(&idem);
    p.failing.lock().unwrap().push(format!("{}b", p.prefix));
    let fifo = "arn:aws:sqs:us-east-1:123456789012:payments.fifo";
    let batch = event(
        fifo,
        &[
            ("m1", &p.body("a", 1)),
            ("m2", &p.body("b", 2)),
            ("m3", &p.body("c", 3)),
        ],
    );
    assert_eq!(p.batch(&batch).await, ["m2", "m3"]);
    assert_eq!(
        (p.runs("a"), p.runs("b"), p.runs("c")),
        (1, 1, 0),
        "c waits behind b, unprocessed"
    );
    assert_eq!(p.effect("c").await, None);
}

async fn without_key_pointers_the_message_id_is_the_key<P: Effects>(idem: Arc<Idempotency<P>>) {
    let runs = Mutex::new(Vec::new());
    let prefix = common::stores::fresh_hash();
    let (m1, m2) = (format!("{prefix}-m1"), format!("{prefix}-m2"));
    let body = json!({"payment_id": "same", "cents": 5}).to_string();
    let op = idem.operation("by-message-id");
    for delivery in [
        vec![(m1.as_str(), body.as_str()), (m2.as_str(), body.as_str())],
        vec![(m1.as_str(), body.as_str())],
    ] {
        let response = op
            .sqs_batch(&event(QUEUE, &delivery), |payment: Payment| {
                runs.lock().unwrap().push(payment.payment_id);
                async { Ok::<(), HandlerError>(()) }
            })
            .await;
        assert!(failures(&response).is_empty());
    }
    assert_eq!(
        runs.lock().unwrap().len(),
        2,
        "two messages ran once each; the redelivery of m1 did not run"
    );
}

crate::contract!(
    a_batch_runs_each_key_once_and_names_what_to_redeliver,
    a_fifo_batch_stops_at_its_first_failure,
    without_key_pointers_the_message_id_is_the_key,
);
