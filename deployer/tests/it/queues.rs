//! `queues:` on moto: each queue with its dead-letter queue and redrive policy, the role's SQS
//! permissions on exactly those queues, an event source mapping to the alias `live` with
//! `ReportBatchItemFailures`; a no-op `up`, drift put back, a queue dropped from the config
//! deleted with its mapping, and `down` deleting exactly ours.

use crate::support::{World, config_yaml, counts};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::HashMap;

const QUEUES: &str = "queues:\n  - name: payments\n  - { name: refunds, batch_size: 5, max_receive_count: 2 }\n";

async fn attributes(w: &World, name: &str) -> HashMap<QueueAttributeName, String> {
    let sqs = &w.ctx().sqs;
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
}

async fn queue_names(w: &World) -> Vec<String> {
    let out = w.ctx().sqs.list_queues().send().await.unwrap();
    let mut names: Vec<String> = out
        .queue_urls()
        .iter()
        .map(|u| u.rsplit('/').next().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn rows(report: &serde_json::Value, action: &str) -> Vec<String> {
    let mut rows: Vec<String> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == action && (c["resource"] == "queue" || c["resource"] == "event source mapping"))
        .map(|c| format!("{} {}", c["resource"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn queues_are_deployed_with_dead_letter_queues_and_partial_batch_failures() {
    let w = World::new("queues");
    let base = config_yaml(&w.app, &w.env_file());
    w.write_config(&format!("{base}{QUEUES}"));
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap();
    let report = w.json(&["up", "--zip", zip]);
    assert_eq!(
        rows(&report, "create"),
        [
            "event source mapping queues-test-payments -> live",
            "event source mapping queues-test-refunds -> live",
            "queue queues-test-payments",
            "queue queues-test-payments-dlq",
            "queue queues-test-refunds",
            "queue queues-test-refunds-dlq",
        ]
    );

    // Each queue sends to its dead-letter queue; visibility six times the function's 15 s.
    let payments = attributes(&w, "queues-test-payments").await;
    assert_eq!(payments[&QueueAttributeName::VisibilityTimeout], "90");
    let redrive: serde_json::Value = serde_json::from_str(&payments[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        "arn:aws:sqs:us-east-1:123456789012:queues-test-payments-dlq"
    );
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "3");
    let dlq = attributes(&w, "queues-test-payments-dlq").await;
    assert_eq!(dlq[&QueueAttributeName::MessageRetentionPeriod], "1209600");
    let ctx = w.ctx();
    let url = |name: &str| {
        let sqs = ctx.sqs.clone();
        let name = name.to_string();
        async move {
            sqs.get_queue_url()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let tags = ctx
        .sqs
        .list_queue_tags()
        .queue_url(url("queues-test-refunds").await)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert_eq!(tags.get("managed-by").map(String::as_str), Some("oncely"), "{tags:?}");

    // One mapping per queue, to our function, reporting batch item failures.
    let mappings = ctx
        .lambda
        .list_event_source_mappings()
        .event_source_arn("arn:aws:sqs:us-east-1:123456789012:queues-test-refunds")
        .send()
        .await
        .unwrap();
    let [mapping] = mappings.event_source_mappings() else {
        panic!("one mapping: {mappings:?}");
    };
    assert_eq!(mapping.batch_size(), Some(5));
    assert_eq!(
        mapping.function_response_types(),
        [aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures]
    );
    assert!(
        mapping.function_arn().unwrap().contains(":function:queues-test"),
        "{mapping:?}"
    );

    // The role reads and deletes on exactly these queues.
    let policy = ctx
        .iam
        .get_role_policy()
        .role_name("queues-test")
        .policy_name("queues-test-access")
        .send()
        .await
        .unwrap();
    let doc = deployer::resources::role::decode_document(policy.policy_document());
    let statement = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "Queues")
        .expect("a Queues statement")
        .clone();
    assert_eq!(
        statement["Resource"],
        serde_json::json!([
            "arn:aws:sqs:us-east-1:123456789012:queues-test-payments",
            "arn:aws:sqs:us-east-1:123456789012:queues-test-refunds"
        ])
    );

    // Nothing changed: no write.
    let again = w.json(&["up", "--zip", zip]);
    assert_eq!(counts(&again), (0, 0, 0), "{again:#}");

    // Drift on a queue is put back.
    ctx.sqs
        .set_queue_attributes()
        .queue_url(url("queues-test-payments").await)
        .attributes(QueueAttributeName::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap();
    let fixed = w.json(&["up", "--zip", zip]);
    assert_eq!(rows(&fixed, "update"), ["queue queues-test-payments"], "{fixed:#}");
    assert_eq!(
        attributes(&w, "queues-test-payments").await[&QueueAttributeName::VisibilityTimeout],
        "90"
    );

    // A queue dropped from the config goes, with its dead-letter queue and its mapping.
    w.write_config(&format!("{base}queues:\n  - name: payments\n"));
    let dropped = w.json(&["up", "--zip", zip]);
    assert_eq!(
        rows(&dropped, "delete"),
        [
            "event source mapping queues-test-refunds -> live",
            "queue queues-test-refunds",
            "queue queues-test-refunds-dlq",
        ],
        "{dropped:#}"
    );
    assert_eq!(
        queue_names(&w).await,
        ["queues-test-payments", "queues-test-payments-dlq"]
    );

    // `down` deletes ours and leaves a queue with our prefix but not our tags.
    ctx.sqs
        .create_queue()
        .queue_name("queues-test-theirs")
        .send()
        .await
        .unwrap();
    let down = w.json(&["down", "--yes"]);
    assert!(
        rows(&down, "delete").contains(&"event source mapping queues-test-payments -> live".to_string()),
        "{down:#}"
    );
    assert_eq!(queue_names(&w).await, ["queues-test-theirs"]);
    let mappings = ctx.lambda.list_event_source_mappings().send().await.unwrap();
    assert!(mappings.event_source_mappings().is_empty(), "{mappings:?}");
}
