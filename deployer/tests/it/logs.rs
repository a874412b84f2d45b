//! `deployer logs` against moto: log events seeded through the Logs API (handler-shaped JSON
//! lines, the runtime's plain lines, an EMF line), read back as text and JSON, with `--filter`,
//! `--request-id` and `--since`; a stack without a log group is reported as not deployed.

use crate::support;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use support::World;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

const EXECUTED: &str = concat!(
    r#"{"level":"INFO","fields":{"message":"idempotent request","request_id":"req-aaa","key_hash":"k1","#,
    r#""caller":"anonymous","outcome":"executed","cached":false,"status":201}}"#,
);
const REPLAYED: &str = concat!(
    r#"{"level":"INFO","fields":{"message":"idempotent request","request_id":"req-bbb","key_hash":"k1","#,
    r#""caller":"anonymous","outcome":"replayed","cached":true,"status":201}}"#,
);
const FAILED: &str = concat!(
    r#"{"level":"ERROR","fields":{"message":"claim failed","key_hash":"k2","error":"store down"},"#,
    r#""spans":[{"requestId":"req-ccc","name":"Lambda runtime invoke"}]}"#,
);
const EMF: &str = concat!(
    r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"FunctionName":"f","Route":"POST /orders","#,
    r#""Outcome":"executed","HandlerLatency":4.5}"#,
);

/// Seeds the stack's log group: an hour-old event, then recent ones in two streams.
async fn seed(world: &World) {
    let logs = world.ctx().logs;
    let group = format!("/aws/lambda/{}", world.name());
    logs.create_log_group().log_group_name(&group).send().await.unwrap();
    let t = now_ms();
    let streams: [(&str, Vec<(i64, &str)>); 2] = [
        (
            "2026/01/01/[$LATEST]aaa",
            vec![
                (t - 3_600_000, "START RequestId: req-old Version: $LATEST"),
                (t - 5_000, "START RequestId: req-aaa Version: $LATEST"),
                (t - 4_990, EXECUTED),
                (t - 4_980, EMF),
                (t - 4_970, "END RequestId: req-aaa"),
            ],
        ),
        (
            "2026/01/01/[$LATEST]bbb",
            vec![(t - 4_000, REPLAYED), (t - 3_000, FAILED)],
        ),
    ];
    for (stream, events) in streams {
        logs.create_log_stream()
            .log_group_name(&group)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
        let events = events
            .into_iter()
            .map(|(ts, m)| InputLogEvent::builder().timestamp(ts).message(m).build().unwrap());
        logs.put_log_events()
            .log_group_name(&group)
            .log_stream_name(stream)
            .set_log_events(Some(events.collect()))
            .send()
            .await
            .unwrap();
    }
}

fn stdout_of(world: &World, args: &[&str]) -> String {
    let out = world.run(args);
    assert!(
        out.status.success(),
        "deployer {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_reads_what_the_function_wrote() {
    let world = World::new("logs-read");
    seed(&world).await;

    // Text: the last 10 minutes, oldest first across streams, handler lines rendered.
    let text = stdout_of(&world, &["logs"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        lines[0].ends_with("START RequestId: req-aaa Version: $LATEST"),
        "{text}"
    );
    assert!(
        lines[1].ends_with(
            "INFO  req-aaa key=k1 outcome=executed status=201 idempotent request caller=anonymous cached=false"
        ),
        "{text}"
    );
    assert!(
        lines[2].ends_with("METRIC  POST /orders outcome=executed latency=4.5ms"),
        "{text}"
    );
    assert!(lines[3].ends_with("END RequestId: req-aaa"), "{text}");
    assert!(
        lines[4].contains("INFO  req-bbb key=k1 outcome=replayed status=201"),
        "{text}"
    );
    assert!(
        lines[5].ends_with("ERROR req-ccc key=k2 claim failed error=store down"),
        "{text}"
    );
    assert!(!text.contains("req-old"), "older than --since: {text}");
    // Each line starts with its time (RFC 3339, UTC, milliseconds).
    for l in &lines {
        let time = l.split(' ').next().unwrap();
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{l}"
        );
    }

    // --since 2h reaches the old event, still oldest first.
    let text = stdout_of(&world, &["logs", "--since", "2h"]);
    assert_eq!(text.lines().count(), 7, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("START RequestId: req-old Version: $LATEST")
    );

    // --output json: one object per event, the message untouched.
    let json = stdout_of(&world, &["logs", "--output", "json"]);
    let events: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 6, "{json}");
    assert_eq!(events[1]["message"], EXECUTED);
    assert_eq!(events[5]["message"], FAILED);
    assert_eq!(events[4]["logStreamName"], "2026/01/01/[$LATEST]bbb");
    let stamps: Vec<i64> = events.iter().map(|e| e["timestamp"].as_i64().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");

    // --request-id: that request's lines only (its runtime lines and its handler line).
    let text = stdout_of(&world, &["logs", "--request-id", "req-aaa"]);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().all(|l| l.contains("req-aaa")), "{text}");
    let text = stdout_of(&world, &["logs", "--request-id", "req-ccc"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("claim failed"), "{text}");

    // --filter: exact text; combined with --request-id both must match.
    let text = stdout_of(&world, &["logs", "--filter", "replayed"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("req-bbb"), "{text}");
    let text = stdout_of(&world, &["logs", "--filter", "outcome", "--request-id", "req-bbb"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    let text = stdout_of(&world, &["logs", "--filter", "nothing like this"]);
    assert_eq!(text, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_stack_that_is_not_deployed_say_so() {
    let world = World::new("logs-none");
    let out = world.run(&["logs"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("log group /aws/lambda/logs-none-test does not exist") && stderr.contains("is not deployed"),
        "{stderr}"
    );

    let out = world.run(&["logs", "--since", "ten minutes"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--since \"ten minutes\" is not a duration"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_prints_new_events_once_until_ctrl_c() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    use std::time::Duration;

    let world = World::new("logs-follow");
    seed(&world).await;
    let mut child = world
        .command(&["logs", "--follow", "--since", "1m"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no {what} line"))
    };
    for i in 0..6 {
        next(&format!("seeded #{i}"));
    }

    // A new event in an existing stream shows up once (the poll backs off, at most 10 s apart).
    let logs = world.ctx().logs;
    let group = format!("/aws/lambda/{}", world.name());
    let event = InputLogEvent::builder()
        .timestamp(now_ms())
        .message("END RequestId: req-new")
        .build()
        .unwrap();
    logs.put_log_events()
        .log_group_name(&group)
        .log_stream_name("2026/01/01/[$LATEST]bbb")
        .log_events(event)
        .send()
        .await
        .unwrap();
    let line = next("followed");
    assert!(line.ends_with("END RequestId: req-new"), "{line}");
    assert!(
        rx.recv_timeout(Duration::from_secs(4)).is_err(),
        "printed twice or more"
    );

    // Ctrl-C ends it cleanly.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Control characters a caller put into a logged field (here a member name in a 400's reason) and
/// raw ones in a plain line reach the operator's terminal escaped, never as escape sequences.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_log_lines_are_shown_escaped() {
    let world = World::new("logs-esc");
    let logs = world.ctx().logs;
    let group = format!("/aws/lambda/{}", world.name());
    logs.create_log_group().log_group_name(&group).send().await.unwrap();
    logs.create_log_stream()
        .log_group_name(&group)
        .log_stream_name("s")
        .send()
        .await
        .unwrap();
    let reason = concat!(
        r#"{"level":"WARN","fields":{"message":"invalid order","request_id":"req-esc","#,
        r#""reason":"unknown member \u001b[2J\u001b]0;owned\u0007\u009b31m"}}"#,
    );
    let t = now_ms();
    let events = [(t - 2_000, reason), (t - 1_000, "plain \u{1b}[1A\u{1b}[2K line")]
        .into_iter()
        .map(|(ts, m)| InputLogEvent::builder().timestamp(ts).message(m).build().unwrap());
    logs.put_log_events()
        .log_group_name(&group)
        .log_stream_name("s")
        .set_log_events(Some(events.collect()))
        .send()
        .await
        .unwrap();

    let text = stdout_of(&world, &["logs"]);
    assert!(!text.contains(|c: char| c.is_control() && c != '\n'), "{text:?}");
    assert!(
        text.contains(r"unknown member \u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m"),
        "{text}"
    );
    assert!(text.contains(r"plain \u{1b}[1A\u{1b}[2K line"), "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
}
