//! `queues:` on `up --local`: the stack's queues and dead-letter queues in a local SQS (moto's
//! server started here, or the one given with `--sqs-endpoint`), made by `up`'s own queue code, and
//! pollers that do what Lambda's event source mapping does: receive up to `batch_size` messages,
//! invoke the function with the SQS event, delete what succeeded and leave the rest (the messages
//! of `batchItemFailures`, or all of them when the invocation failed) for SQS to redeliver after the
//! visibility timeout and, after `max_receive_count` receives, to move to the dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use bytes::Bytes;
use oncely_local::pool::{self, Outcome, Pool};

use super::LOCAL_ACCOUNT;
use crate::config::{Config, QueueSettings};
use crate::context::Context;
use crate::progress::Progress;
use crate::resources::queue;
use crate::stack::Stack;

/// How long one receive waits for messages (long polling, as the event source mapping does).
const WAIT_S: i32 = 2;
/// The bound of every other SQS call (and of a receive, beyond its wait).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed SQS call before the next one.
const BACKOFF: Duration = Duration::from_secs(1);
/// Concurrent batches per queue at most (Lambda starts with five pollers).
const MAX_POLLERS: u32 = 5;

/// The stack's queues in the local SQS, and the server when it was started here (stopped on drop).
pub struct LocalQueues {
    _moto: Option<emulators::Emulator>,
    client: aws_sdk_sqs::Client,
    queues: Vec<LocalQueue>,
}

/// One queue of `queues:` as the pollers need it.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    pub settings: QueueSettings,
    pub url: String,
    pub arn: String,
    pub dead_letter_url: String,
    pub region: String,
}

impl LocalQueues {
    /// The queues of `config` in the SQS at `endpoint`, or in a moto server started here.
    pub async fn start(config: &Config, endpoint: Option<String>, progress: &Progress) -> anyhow::Result<LocalQueues> {
        let (moto, endpoint) = match endpoint {
            Some(url) => (None, url),
            None => {
                let step = progress.step("starting a local SQS (moto's server)");
                let moto = tokio::task::spawn_blocking(emulators::start_moto)
                    .await
                    .context("starting moto")?
                    .context("starting a local SQS for `queues:` (or pass --sqs-endpoint URL of a running one)")?;
                let url = moto.endpoint();
                step.done(&url);
                (Some(moto), url)
            }
        };
        let region = super::local_region(config);
        let sdk = super::local_sdk(&region, &endpoint)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CALL_TIMEOUT)
                    .operation_attempt_timeout(CALL_TIMEOUT + Duration::from_secs(WAIT_S as u64))
                    .build(),
            )
            .load()
            .await;
        // The account the server puts in its ARNs (the redrive policies name the dead-letter
        // queues by ARN): moto answers STS; a server that does not is taken to use the local one.
        let account = match aws_sdk_sts::Client::new(&sdk).get_caller_identity().send().await {
            Ok(identity) => identity.account().unwrap_or(LOCAL_ACCOUNT).to_string(),
            Err(_) => LOCAL_ACCOUNT.to_string(),
        };
        let ctx = Context::from_sdk_config(&sdk, region.clone(), account, progress.clone());
        let stack = Stack::new(config, &ctx);
        let unreachable = || format!("SQS at {endpoint} is not reachable (check --sqs-endpoint)");
        let live = queue::read(&ctx, &stack).await.with_context(unreachable)?;
        let changes = queue::diff(&stack, &live);
        queue::apply(&ctx, &stack, &live, &changes)
            .await
            .with_context(|| format!("creating the queues in SQS at {endpoint}"))?;
        let mut queues = Vec::new();
        for settings in &config.queues {
            let url = queue_url(&ctx, &stack.queue_name(&settings.name)).await?;
            let dead_letter_url = queue_url(&ctx, &stack.dead_letter_queue_name(&settings.name)).await?;
            queues.push(LocalQueue {
                settings: settings.clone(),
                arn: stack.queue_arn(&stack.queue_name(&settings.name)),
                url,
                dead_letter_url,
                region: region.clone(),
            });
        }
        Ok(LocalQueues {
            _moto: moto,
            client: ctx.sqs.clone(),
            queues,
        })
    }

    /// The queues, in the config's order.
    pub fn queues(&self) -> &[LocalQueue] {
        &self.queues
    }

    /// Starts the pollers of every queue (`pollers` concurrent batches per queue, at most five),
    /// which invoke `pool` until aborted.
    pub fn poll(&self, pool: &Arc<Pool>, pollers: u32) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for q in &self.queues {
            for _ in 0..pollers.clamp(1, MAX_POLLERS) {
                tasks.push(tokio::spawn(poll(self.client.clone(), q.clone(), pool.clone())));
            }
        }
        tasks
    }
}

async fn queue_url(ctx: &Context, name: &str) -> anyhow::Result<String> {
    let out = ctx
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("GetQueueUrl {name}"))?;
    out.queue_url()
        .map(str::to_string)
        .with_context(|| format!("GetQueueUrl {name} answered no URL"))
}

/// One poller: receive, invoke, delete the successes; forever.
async fn poll(client: aws_sdk_sqs::Client, q: LocalQueue, pool: Arc<Pool>) {
    let name = &q.settings.name;
    loop {
        let received = client
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(q.settings.batch_size as i32)
            .wait_time_seconds(WAIT_S)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(err) => {
                println!(
                    "[queue {name}] ReceiveMessage failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(err)
                );
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let event = sqs_event(&q, &messages);
        let invoked = pool.invoke(Bytes::from(event.to_string()), pool::trace_id()).await;
        let ids: Vec<&str> = messages.iter().filter_map(Message::message_id).collect();
        let verdict = match &invoked.outcome {
            Outcome::Response(body) => verdict(body, &ids),
            Outcome::Error { error_type, .. } => Verdict::AllFailed(format!(
                "the function failed ({})",
                error_type.as_deref().unwrap_or("error")
            )),
            Outcome::TimedOut => Verdict::AllFailed("the function timed out".into()),
            Outcome::Crashed(why) => Verdict::AllFailed(format!("the environment ended ({why})")),
        };
        let done: Vec<&Message> = match &verdict {
            Verdict::Failed(failed) => messages
                .iter()
                .filter(|m| m.message_id().is_some_and(|id| !failed.iter().any(|f| f == id)))
                .collect(),
            Verdict::AllFailed(_) => Vec::new(),
        };
        let deleted = delete(&client, &q.url, &done).await;
        match verdict {
            Verdict::Failed(failed) if failed.is_empty() => {
                println!("[queue {name}] {} messages: all done", messages.len());
            }
            Verdict::Failed(failed) => println!(
                "[queue {name}] {} messages: {} done, {} reported failed (redelivered after the visibility \
                 timeout): {}",
                messages.len(),
                done.len(),
                failed.len(),
                failed.join(", ")
            ),
            Verdict::AllFailed(why) => println!(
                "[queue {name}] {} messages: {why}: all redelivered after the visibility timeout",
                messages.len()
            ),
        }
        if let Err(err) = deleted {
            println!("[queue {name}] DeleteMessageBatch failed (the messages come back): {err}");
        }
    }
}

/// Deletes `done` from the queue at `url`.
async fn delete(client: &aws_sdk_sqs::Client, url: &str, done: &[&Message]) -> Result<(), String> {
    for chunk in done.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_string))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        if let Some(failed) = out.failed().first() {
            return Err(format!("{}: {}", failed.code(), failed.message().unwrap_or_default()));
        }
    }
    Ok(())
}

/// What the function's answer says of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// These messages failed (none: the batch succeeded).
    Failed(Vec<String>),
    /// The whole batch failed, for this reason.
    AllFailed(String),
}

/// Reads a response as Lambda does with `ReportBatchItemFailures`: success when the response or
/// its `batchItemFailures` is empty or null; a failure of the whole batch when the response is not
/// JSON or an item has no `itemIdentifier`, an empty one, or one that is not in the batch.
pub fn verdict(response: &[u8], batch: &[&str]) -> Verdict {
    let all = |why: &str| Verdict::AllFailed(format!("the function's response {why}"));
    if response.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Failed(Vec::new());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(response) else {
        return all("is not JSON");
    };
    let items = match &value {
        serde_json::Value::Null => return Verdict::Failed(Vec::new()),
        serde_json::Value::Object(o) => match o.get("batchItemFailures") {
            None | Some(serde_json::Value::Null) => return Verdict::Failed(Vec::new()),
            Some(serde_json::Value::Array(items)) => items,
            Some(_) => return all("has a batchItemFailures that is not a list"),
        },
        _ => return Verdict::Failed(Vec::new()),
    };
    let mut failed = Vec::new();
    for item in items {
        match item.get("itemIdentifier").and_then(serde_json::Value::as_str) {
            Some(id) if batch.contains(&id) => {
                if !failed.iter().any(|f| f == id) {
                    failed.push(id.to_string());
                }
            }
            Some("") | None => return all("has a failure without an itemIdentifier"),
            Some(id) => return all(&format!("names {id:?}, which is not in the batch")),
        }
    }
    Verdict::Failed(failed)
}

/// The SQS event of `messages`, as Lambda sends it.
pub fn sqs_event(q: &LocalQueue, messages: &[Message]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), serde_json::Value::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: serde_json::Map<String, serde_json::Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                serde_json::json!({
                                    "stringValue": v.string_value(),
                                    "binaryValue": v.binary_value().map(|b| {
                                        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b.as_ref())
                                    }),
                                    "stringListValues": [],
                                    "binaryListValues": [],
                                    "dataType": v.data_type(),
                                }),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            serde_json::json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "md5OfMessageAttributes": m.md5_of_message_attributes(),
                "eventSource": "aws:sqs",
                "eventSourceARN": q.arn,
                "awsRegion": q.region,
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_read_as_lambda_reads_it() {
        let batch = ["m-1", "m-2", "m-3"];
        let ok = Verdict::Failed(Vec::new());
        for empty in [
            "",
            "  ",
            "null",
            "{}",
            r#"{"batchItemFailures":null}"#,
            r#"{"batchItemFailures":[]}"#,
        ] {
            assert_eq!(verdict(empty.as_bytes(), &batch), ok, "{empty:?}");
        }
        assert_eq!(
            verdict(
                br#"{"batchItemFailures":[{"itemIdentifier":"m-2"},{"itemIdentifier":"m-2"}]}"#,
                &batch
            ),
            Verdict::Failed(vec!["m-2".into()])
        );
        for whole in [
            "not json",
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            r#"{"batchItemFailures":[{"id":"m-1"}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":"m-9"}]}"#,
            r#"{"batchItemFailures":"m-1"}"#,
        ] {
            assert!(
                matches!(verdict(whole.as_bytes(), &batch), Verdict::AllFailed(_)),
                "{whole:?}"
            );
        }
    }

    #[test]
    fn the_event_parses_as_lambda_sqs_event() {
        let q = LocalQueue {
            settings: QueueSettings {
                name: "imports".into(),
                batch_size: 10,
                max_receive_count: 3,
                visibility_timeout_s: 30,
            },
            url: "http://127.0.0.1:1/123456789012/shop-dev-imports".into(),
            arn: "arn:aws:sqs:us-east-1:123456789012:shop-dev-imports".into(),
            dead_letter_url: String::new(),
            region: "us-east-1".into(),
        };
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body(r#"{"a":1}"#)
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .build();
        let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(sqs_event(&q, &[message])).unwrap();
        let m = &event.records[0];
        assert_eq!(m.message_id.as_deref(), Some("m-1"));
        assert_eq!(m.body.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(m.event_source_arn.as_deref(), Some(q.arn.as_str()));
        assert_eq!(
            m.attributes.get("ApproximateReceiveCount").map(String::as_str),
            Some("2")
        );
    }
}
