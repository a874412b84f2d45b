//! `up --local --watch` end to end, while two streams of requests (some of them slow, so
//! invocations are in flight during the swap) keep getting their answers: a build error (a
//! `build.rs` that does not compile, added to the function's package) is shown and the old
//! processes keep serving; once it is removed, the rebuild replaces every `bootstrap` process,
//! one environment at a time, and the table's data stays.
//!
//! Nothing the function compiles is edited, so cargo's rebuild is quick and the binary is the
//! same: what is tested is the watch loop and the replacement, which are the same for a code
//! change (that only adds the function's release build time).

mod local_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use local_support::{Extra, LocalStack, StackOptions, process_alive};

const BODY: &str = r#"{"item":"book","quantity":2}"#;

/// Removes the probe file even when the test fails.
struct Probe(std::path::PathBuf);

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Sends requests with fresh keys (every third one slow) until `stop`; the statuses it got.
async fn stream(stack: Arc<LocalStack>, name: &'static str, stop: Arc<AtomicBool>) -> BTreeMap<u16, usize> {
    let mut statuses = BTreeMap::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("watch-{name}-{n}-{}", uuid::Uuid::new_v4());
        let work = if n % 3 == 0 { "400" } else { "0" };
        let headers = [
            ("content-type", "application/json"),
            ("idempotency-key", key.as_str()),
            ("x-simulate-work-ms", work),
        ];
        let (status, _, _) = stack.request("POST", "/orders", &headers, BODY).await;
        *statuses.entry(status.as_u16()).or_default() += 1;
        n += 1;
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_replaces_every_environment_while_requests_keep_being_answered() {
    let stack = Arc::new(LocalStack::start_with(
        StackOptions {
            app: "loc-watch",
            concurrency: 2,
            timeout_s: 10,
            shared_dynamodb: true,
        },
        &Extra {
            args: &["--watch"],
            ..Extra::default()
        },
    ));
    let watching = stack
        .stdout
        .wait_for(Duration::from_secs(30), |l| l.starts_with("[watch] watching "));
    let watching = watching.unwrap_or_else(|| panic!("not watching:\n{}", stack.stdout.text()));
    let function_dir = watching
        .trim_start_matches("[watch] watching ")
        .trim_end_matches(" for changes")
        .to_string();
    assert!(function_dir.ends_with("function"), "{watching}");
    let old_pids = stack.bootstrap_pids();
    assert_eq!(old_pids.len(), 2, "{}", stack.stdout.text());

    // An order made before the swap.
    let before_key = format!("watch-before-{}", uuid::Uuid::new_v4());
    let before = [
        ("content-type", "application/json"),
        ("idempotency-key", before_key.as_str()),
    ];
    let (status, _, body) = stack.request("POST", "/orders", &before, BODY).await;
    assert_eq!(status, 201);
    let order: serde_json::Value = serde_json::from_slice(&body).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let streams = [
        tokio::spawn(stream(stack.clone(), "a", stop.clone())),
        tokio::spawn(stream(stack.clone(), "b", stop.clone())),
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A build error: shown, and nothing is replaced.
    let broken = Probe(std::path::Path::new(&function_dir).join("build.rs"));
    assert!(
        !broken.0.exists(),
        "{}: this test adds and removes it",
        broken.0.display()
    );
    std::fs::write(&broken.0, "fn main() { this is not Rust }\n").unwrap();
    let failed = stack
        .stdout
        .wait_for(Duration::from_secs(600), |l| {
            l.starts_with("[watch] rebuilt in ") || l.starts_with("[watch] the build failed")
        })
        .unwrap_or_else(|| panic!("no rebuild:\n{}", stack.stdout.text()));
    assert!(
        failed.contains("the running environments keep serving the previous build"),
        "{failed}"
    );
    let shown = stack
        .stdout
        .wait_for(Duration::from_secs(30), |l| l.contains("build.rs:1:"));
    assert!(shown.is_some(), "cargo's error is shown:\n{}", stack.stdout.text());
    let (status, _, _) = stack.request("POST", "/orders", &before, BODY).await;
    assert_eq!(status, 201);
    assert_eq!(stack.bootstrap_pids(), old_pids);

    // Fixed (the file removed): rebuilt, and every environment replaced.
    drop(broken);
    let rebuilt = stack
        .stdout
        .wait_for(Duration::from_secs(600), |l| l.starts_with("[watch] rebuilt in "))
        .unwrap_or_else(|| panic!("no rebuild:\n{}", stack.stdout.text()));
    assert!(
        rebuilt.contains("replacing the 2 execution environments one by one"),
        "{rebuilt}"
    );
    // Both environments get a new process, while the streams run.
    let mut replaced = Vec::new();
    for _ in 0..600 {
        replaced = stack.bootstrap_pids();
        if replaced.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(replaced.len(), 4, "{}", stack.stdout.text());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for s in streams {
        for (status, n) in s.await.unwrap() {
            *statuses.entry(status).or_default() += n;
        }
    }

    // Every request was answered 201: none dropped, none refused during the swap.
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![201], "{statuses:?}");
    assert!(statuses[&201] >= 4, "{statuses:?}");
    let text = stack.stdout.text();
    assert_eq!(
        text.matches("replacing bootstrap with the new build").count(),
        2,
        "{text}"
    );
    // One at a time: the second environment goes only after the first one's new process started.
    let lines = stack.stdout.all();
    let replacing: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].ends_with("replacing bootstrap with the new build"))
        .collect();
    let first_env = lines[replacing[0]].split(']').next().unwrap().to_string();
    let restarted =
        (replacing[0]..replacing[1]).any(|i| lines[i].starts_with(&first_env) && lines[i].contains("] started "));
    assert!(restarted, "{text}");
    for pid in &old_pids {
        assert!(!process_alive(*pid), "old bootstrap {pid} still runs");
    }
    let new_pids = &replaced[2..];
    assert!(
        new_pids.iter().all(|p| !old_pids.contains(p) && process_alive(*p)),
        "{replaced:?}"
    );

    // The data stayed, and the new processes serve it.
    let id = order["id"].as_str().unwrap();
    let (status, _, body) = stack.request("GET", &format!("/orders/{id}"), &[], "").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, headers, _) = stack.request("POST", "/orders", &before, BODY).await;
    assert_eq!(status, 201);
    assert_eq!(local_support::header(&headers, "idempotent-replayed"), Some("true"));
}
