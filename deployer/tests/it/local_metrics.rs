//! `up --local` metrics end to end: the real `bootstrap` prints one CloudWatch EMF line per
//! request, the local stack counts them, and `GET /_oncely/metrics` and the Ctrl-C summary agree
//! exactly with a scripted mix of requests (fresh, replays from DynamoDB and from the cache,
//! 409, 422, 400s, a GET).

use crate::local_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use local_support::{LocalStack, StackOptions};

const BODY: &str = r#"{"item":"book","quantity":2}"#;
const OUTCOMES: [&str; 7] = [
    "Executed",
    "Replayed",
    "ReplayedFromCache",
    "Conflict",
    "Mismatch",
    "Failed",
    "Rejected",
];

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The EMF lines the environments printed (without the `[env N] ` prefix).
fn emf_lines(stack: &LocalStack) -> Vec<serde_json::Value> {
    stack
        .stdout
        .all()
        .iter()
        .filter(|l| l.starts_with("[env "))
        .filter_map(|l| l.split_once("] ").map(|(_, rest)| rest))
        .filter(|l| l.starts_with("{\"_aws\""))
        .map(|l| json(l.as_bytes()))
        .collect()
}

/// Checks one line against the EMF specification and the names the function promises.
fn assert_emf(v: &serde_json::Value) {
    let aws = &v["_aws"];
    assert!(aws["Timestamp"].is_u64(), "{v}");
    let directive = &aws["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Oncely", "{v}");
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["FunctionName", "Route"], ["FunctionName"]])
    );
    assert_eq!(v["FunctionName"], "loc-metrics-test", "{v}");
    assert!(v["Route"].is_string(), "{v}");
    let metrics = directive["Metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), OUTCOMES.len() + 1, "{v}");
    for m in metrics {
        let name = m["Name"].as_str().unwrap();
        let unit = if name == "HandlerLatency" {
            "Milliseconds"
        } else {
            "Count"
        };
        assert_eq!(m["Unit"], unit, "{v}");
        assert!(v[name].is_number(), "{name} is a top-level number: {v}");
    }
    let hits: u64 = OUTCOMES.iter().map(|o| v[o].as_u64().unwrap()).sum();
    assert!(hits <= 1, "one outcome per line: {v}");
}

/// The environment number of the `n`th (0-based) `[api] POST /orders` log line.
fn env_of_post(stack: &LocalStack, n: usize) -> usize {
    let mut line = None;
    for _ in 0..100 {
        let posts: Vec<String> = stack
            .stdout
            .all()
            .into_iter()
            .filter(|l| l.starts_with("[api] POST /orders -> "))
            .collect();
        if let Some(l) = posts.get(n) {
            line = Some(l.clone());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = line.unwrap_or_else(|| panic!("no log line for POST {n}:\n{}", stack.stdout.text()));
    let env = line.split(", env ").nth(1).and_then(|r| r.split(',').next());
    env.and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("no env in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emf_lines_parse_and_local_metrics_count_a_scripted_mix_exactly() {
    let mut stack = LocalStack::start(StackOptions {
        app: "loc-metrics",
        concurrency: 2,
        timeout_s: 10,
        shared_dynamodb: true,
    });
    let key = format!("metrics-{}", uuid::Uuid::new_v4());
    let with_key = [("content-type", "application/json"), ("idempotency-key", key.as_str())];
    let mut expected: BTreeMap<&str, u64> = OUTCOMES.iter().map(|o| (*o, 0)).collect();
    let mut posts = 0usize;

    // 400: no key, then a key with an invalid body (validation): both rejected, nothing recorded.
    let (status, _, _) = stack
        .request("POST", "/orders", &[("content-type", "application/json")], BODY)
        .await;
    assert_eq!(status, 400);
    let (status, _, _) = stack
        .request("POST", "/orders", &with_key, r#"{"item":"","quantity":1}"#)
        .await;
    assert_eq!(status, 400);
    *expected.get_mut("Rejected").unwrap() += 2;
    posts += 2;

    // Fresh and slow in one environment; the same key meanwhile in the other: 409.
    let slow = [
        ("content-type", "application/json"),
        ("idempotency-key", key.as_str()),
        ("x-simulate-work-ms", "2500"),
    ];
    let (a, b) = tokio::join!(stack.request("POST", "/orders", &slow, BODY), async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        stack.request("POST", "/orders", &slow, BODY).await
    });
    assert_eq!((a.0.as_u16(), b.0.as_u16()), (201, 409));
    *expected.get_mut("Executed").unwrap() += 1;
    *expected.get_mut("Conflict").unwrap() += 1;
    posts += 2;
    let order = json(&a.2);
    // The log lines come in completion order: the 409 first, then the 201.
    let executed_in = env_of_post(&stack, posts - 1);
    assert_ne!(env_of_post(&stack, posts - 2), executed_in);
    // Which environments hold the completed record in their local cache.
    let mut cached = BTreeSet::from([executed_in]);

    // Replays: from the cache in an environment that has the record, else from DynamoDB (which
    // then caches it). Enough of them that, in practice, both environments serve some.
    for _ in 0..6 {
        let (status, headers, body) = stack.request("POST", "/orders", &with_key, BODY).await;
        assert_eq!(status, 201);
        assert_eq!(local_support::header(&headers, "idempotent-replayed"), Some("true"));
        assert_eq!(json(&body)["id"], order["id"]);
        let env = env_of_post(&stack, posts);
        posts += 1;
        let metric = if cached.insert(env) {
            "Replayed"
        } else {
            "ReplayedFromCache"
        };
        *expected.get_mut(metric).unwrap() += 1;
    }

    // 422: the key with another payload.
    let (status, _, _) = stack
        .request("POST", "/orders", &with_key, r#"{"item":"book","quantity":3}"#)
        .await;
    assert_eq!(status, 422);
    *expected.get_mut("Mismatch").unwrap() += 1;

    // A GET (no idempotency outcome) and an unknown route (answered by the gateway, no line).
    let id = order["id"].as_str().unwrap();
    let (status, _, _) = stack.request("GET", &format!("/orders/{id}"), &[], "").await;
    assert_eq!(status, 200);
    let (status, _, _) = stack.request("GET", "/nope", &[], "").await;
    assert_eq!(status, 404);

    // The lines as printed: valid EMF, one per invocation, summing to the expected counts.
    let invocations = 12;
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = emf_lines(&stack);
        if lines.len() >= invocations {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), invocations, "{}", stack.stdout.text());
    lines.iter().for_each(assert_emf);
    for (metric, want) in &expected {
        let sum: u64 = lines.iter().map(|l| l[*metric].as_u64().unwrap()).sum();
        assert_eq!(sum, *want, "{metric} over the printed lines");
    }

    // The local metrics: exactly the same counts, per route and in total.
    let (status, headers, body) = stack.request("GET", "/_oncely/metrics", &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(
        local_support::header(&headers, "content-type"),
        Some("application/json")
    );
    let metrics = json(&body);
    assert_eq!(metrics["invalid_lines"], 0, "{metrics}");
    assert_eq!(metrics["total"]["requests"], invocations as u64, "{metrics}");
    assert_eq!(metrics["total"]["stats"]["HandlerLatency"]["count"], invocations as u64);
    assert_eq!(metrics["total"]["stats"]["HandlerLatency"]["unit"], "Milliseconds");
    let post = &metrics["routes"]["POST /orders"];
    assert_eq!(post["requests"], (invocations - 1) as u64, "{metrics}");
    for (metric, want) in &expected {
        assert_eq!(metrics["total"]["counts"][*metric], *want, "total {metric}: {metrics}");
        assert_eq!(post["counts"][*metric], *want, "POST /orders {metric}: {metrics}");
    }
    let get = &metrics["routes"]["GET /orders/{id}"];
    assert_eq!(get["requests"], 1, "{metrics}");
    for metric in OUTCOMES {
        assert_eq!(get["counts"][metric], 0, "GET {metric}: {metrics}");
    }
    assert_eq!(metrics["routes"].as_object().unwrap().len(), 2, "{metrics}");

    // Ctrl-C prints the same counts.
    assert!(stack.interrupt().success());
    let summary = stack
        .stdout
        .wait_for(Duration::from_secs(5), |l| l.trim_start().starts_with("POST /orders: "))
        .unwrap_or_else(|| panic!("no summary:\n{}", stack.stdout.text()));
    for (metric, want) in &expected {
        assert!(
            summary.contains(&format!("{metric} {want}")),
            "{metric} {want} in {summary}"
        );
    }
    assert!(
        stack
            .stdout
            .text()
            .contains(&format!("Metrics ({invocations} requests with EMF lines):"))
    );
}
