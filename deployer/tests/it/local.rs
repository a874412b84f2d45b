//! `up --local` end to end, as a user runs it: the real deployer binary as a subprocess, the real
//! `bootstrap`, DynamoDB Local, driven over HTTP.

use crate::local_support;

use std::collections::BTreeSet;
use std::time::Duration;

use local_support::{LocalStack, StackOptions, header, pids_with_cmdline, process_alive, up_local};

const BODY: &str = r#"{"item":"book","quantity":2}"#;

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The whole contract of the handler through the gateway, CORS, unknown routes, the env file,
/// the logs, and Ctrl-C leaving no process behind (this stack starts its own DynamoDB Local).
/// The function it runs is the package `package` made, reused without running cargo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orders_contract_through_the_local_stack_and_ctrl_c_stops_everything() {
    let package = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["package", "--output", "json", "--config", "config/stack.yaml"])
        .current_dir(local_support::workspace_root())
        .output()
        .unwrap();
    assert!(package.status.success(), "{}", String::from_utf8_lossy(&package.stderr));
    let mut stack = LocalStack::start(StackOptions {
        app: "loc-contract",
        concurrency: 2,
        timeout_s: 10,
        shared_dynamodb: false,
    });
    let progress = stack.stderr.text();
    assert!(
        progress.contains("orders unchanged since its last build: reusing its package (cargo not run)"),
        "up --local built again after package:\n{progress}"
    );
    let packaged: serde_json::Value = serde_json::from_slice(&package.stdout).unwrap();
    let zip = std::fs::read(packaged["path"].as_str().unwrap()).unwrap();
    let shipped = deployer::package::unzip_bootstrap(&zip).unwrap();
    let running = std::fs::read(stack.bootstrap_binaries()[0].as_path()).unwrap();
    assert!(running == shipped, "the environments run the packaged bootstrap");
    let post = [("content-type", "application/json")];

    // The endpoint went into the frontend's env file.
    let env_file = std::fs::read_to_string(&stack.dir.env_file).unwrap();
    assert!(
        env_file.contains(&format!("VITE_API_URL={}", stack.endpoint)),
        "{env_file}"
    );
    // Without `api.auth` the frontend is told there is no auth.
    assert!(env_file.contains("VITE_AUTH_MODE=none\n"), "{env_file}");

    // 400: no key.
    let (status, headers, body) = stack.request("POST", "/orders", &post, BODY).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/problem+json")
    );

    // 201, then a byte-identical replay.
    let key = [("content-type", "application/json"), ("idempotency-key", "contract-1")];
    let (status, first_headers, first) = stack.request("POST", "/orders", &key, BODY).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&first));
    let order = json(&first);
    let id = order["id"].as_str().unwrap().to_string();
    assert_eq!(
        header(&first_headers, "location"),
        Some(format!("/orders/{id}").as_str())
    );
    assert_eq!(header(&first_headers, "idempotent-replayed"), None);
    let (status, replay_headers, replay) = stack
        .request("POST", "/orders", &key, r#"{ "quantity": 2, "item": "book" }"#)
        .await;
    assert_eq!(status, 201);
    assert_eq!(replay, first, "the replay must be byte-identical");
    assert_eq!(header(&replay_headers, "idempotent-replayed"), Some("true"));
    assert_eq!(header(&replay_headers, "location"), header(&first_headers, "location"));

    // 422: same key, other payload.
    let (status, _, body) = stack
        .request("POST", "/orders", &key, r#"{"item":"book","quantity":3}"#)
        .await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));

    // 409: the same key while the first request still runs (the handler's simulated work).
    let slow = [
        ("content-type", "application/json"),
        ("idempotency-key", "contract-2"),
        ("x-simulate-work-ms", "3000"),
    ];
    let (a, b) = tokio::join!(stack.request("POST", "/orders", &slow, BODY), async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        stack.request("POST", "/orders", &slow, BODY).await
    });
    let statuses: BTreeSet<u16> = [a.0.as_u16(), b.0.as_u16()].into();
    assert_eq!(
        statuses,
        BTreeSet::from([201, 409]),
        "{} / {}",
        String::from_utf8_lossy(&a.2),
        String::from_utf8_lossy(&b.2)
    );
    let conflict = if a.0 == 409 { &a } else { &b };
    assert!(header(&conflict.1, "retry-after").is_some());

    // GET, 304, 404.
    let (status, headers, body) = stack.request("GET", &format!("/orders/{id}"), &[], "").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["id"], id.as_str());
    let etag = header(&headers, "etag").expect("an ETag").to_string();
    let (status, _, body) = stack
        .request("GET", &format!("/orders/{id}"), &[("if-none-match", &etag)], "")
        .await;
    assert_eq!((status.as_u16(), body.len()), (304, 0));
    let (status, headers, _) = stack
        .request("GET", "/orders/00000000-0000-0000-0000-000000000000", &[], "")
        .await;
    assert_eq!(status, 404);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/problem+json")
    );

    // Unknown routes: the gateway's own 404.
    for (method, path) in [("GET", "/nope"), ("DELETE", "/orders"), ("GET", "/orders")] {
        let (status, headers, body) = stack.request(method, path, &[], "").await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(&body[..], br#"{"message":"Not Found"}"#);
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
    }

    // CORS: a preflight is answered by the gateway; responses carry the allowed origin.
    let preflight = [
        ("origin", "http://localhost:5173"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "content-type,idempotency-key"),
    ];
    let (status, headers, _) = stack.request("OPTIONS", "/orders", &preflight, "").await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(
        header(&headers, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        header(&headers, "access-control-allow-headers")
            .unwrap()
            .contains("idempotency-key")
    );
    let (status, headers, _) = stack
        .request(
            "GET",
            &format!("/orders/{id}"),
            &[("origin", "http://localhost:5173")],
            "",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(
        header(&headers, "access-control-expose-headers")
            .unwrap()
            .contains("idempotent-replayed")
    );
    let (_, headers, _) = stack
        .request(
            "OPTIONS",
            "/orders",
            &[
                ("origin", "http://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            "",
        )
        .await;
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    // The logs: one line per request (route, replayed or not) and the function's lines by environment.
    // Read once the line of the last request asserted on is in (the lines trail the answers).
    let out = stack.stdout.text_with(|l| l.starts_with("[api] GET /nope -> 404"));
    assert!(
        out.lines()
            .any(|l| l.starts_with("[api] POST /orders -> 201") && l.contains("replayed: yes")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("[api] POST /orders -> 201")
            && l.contains("replayed: no")
            && l.contains("route \"POST /orders\"")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("[api] GET /nope -> 404") && l.contains("no route")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("[env ") && l.contains("START RequestId:")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("[env ") && l.contains("\"outcome\"")),
        "the function's own JSON logs are shown: {out}"
    );

    // Ctrl-C: it exits, and no bootstrap nor DynamoDB Local (java) is left.
    let bootstraps = stack.bootstrap_pids();
    assert_eq!(bootstraps.len(), 2, "{out}");
    let ddb_port = out
        .lines()
        .find_map(|l| l.split("DynamoDB: http://127.0.0.1:").nth(1))
        .and_then(|r| r.split(',').next())
        .expect("the DynamoDB endpoint is printed")
        .to_string();
    let java = pids_with_cmdline(&["-port", &ddb_port]);
    assert!(!java.is_empty(), "DynamoDB Local runs on port {ddb_port}");
    // The environments run the stack's own copy of the build, not cargo's output path, which
    // every workspace sharing the target directory writes (another's build must not swap the
    // function of a running stack); the copy goes with the stack.
    let own = format!("local-stacks/{}/0/bootstrap", stack.child.id());
    let exe = std::fs::read_link(format!("/proc/{}/exe", bootstraps[0])).unwrap();
    assert!(
        exe.ends_with(&own),
        "{} is not the stack's own copy ({own})",
        exe.display()
    );
    let status = stack.interrupt();
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        stack.stderr.text()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let left = || {
        bootstraps
            .iter()
            .chain(java.iter())
            .copied()
            .filter(|p| process_alive(*p))
            .collect::<Vec<_>>()
    };
    while !left().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(left(), Vec::<i32>::new(), "processes left running after Ctrl-C");
    let copy = exe.parent().unwrap().parent().unwrap();
    assert!(!copy.exists(), "{} was left behind", copy.display());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", ddb_port.parse::<u16>().unwrap())).is_err(),
        "DynamoDB Local still listens"
    );
}

/// 100 concurrent identical POSTs over 4 environments: exactly one order, only 201 and 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_identical_posts_create_one_order() {
    let stack = LocalStack::start(StackOptions {
        app: "loc-race",
        concurrency: 4,
        timeout_s: 20,
        shared_dynamodb: true,
    });
    let key = [("content-type", "application/json"), ("idempotency-key", "race-1")];
    let requests = (0..100).map(|_| stack.request("POST", "/orders", &key, BODY));
    let answers = futures_join_all(requests).await;
    let statuses: BTreeSet<u16> = answers.iter().map(|a| a.0.as_u16()).collect();
    assert!(statuses.is_subset(&BTreeSet::from([201, 409])), "statuses {statuses:?}");
    assert!(statuses.contains(&201));
    let created: BTreeSet<String> = answers
        .iter()
        .filter(|a| a.0 == 201)
        .map(|a| json(&a.2)["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), 1, "every 201 is the same order");

    let orders = stack.orders("loc-race-test").await;
    assert_eq!(orders, vec![format!("order#{}", created.first().unwrap())]);

    // The requests were spread over the environments.
    let envs: BTreeSet<String> = stack
        .stdout
        .all()
        .iter()
        .filter(|l| l.starts_with("[api] POST /orders"))
        .filter_map(|l| l.split("env ").nth(1)?.split(',').next().map(str::to_string))
        .collect();
    assert!(envs.len() >= 2, "only environments {envs:?} served");
}

/// An invocation past the timeout: 500 as an HTTP API answers a timed-out Lambda, the process is
/// killed, and a new one serves the next request (one environment only, so it must come back).
/// The timeout is 2 s, not 1: the new environment's store calls get a share of it (a third of a
/// second each with 1 s), and the shared DynamoDB Local, busy with the other tests, has answered
/// slower than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_invocation_is_a_500_and_the_environment_comes_back() {
    let stack = LocalStack::start(StackOptions {
        app: "loc-timeout",
        concurrency: 1,
        timeout_s: 2,
        shared_dynamodb: true,
    });
    let slow = [
        ("content-type", "application/json"),
        ("idempotency-key", "timeout-1"),
        ("x-simulate-work-ms", "5000"),
    ];
    let (status, headers, body) = stack.request("POST", "/orders", &slow, BODY).await;
    assert_eq!(status, 500);
    assert_eq!(&body[..], br#"{"message":"Internal Server Error"}"#);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let (status, _, body) = stack
        .request(
            "POST",
            "/orders",
            &[("content-type", "application/json"), ("idempotency-key", "timeout-2")],
            BODY,
        )
        .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    // Once the second request's line is in: the new environment's start line comes before it.
    let out = stack.stdout.text_with(|l| l.starts_with("[api] POST /orders -> 201"));
    assert!(out.contains("Task timed out after 2.00 seconds"), "{out}");
    let pids = stack.bootstrap_pids();
    assert_eq!(pids.len(), 2, "a second bootstrap was started: {out}");
    assert!(!process_alive(pids[0]), "the timed-out bootstrap was killed");
}

/// A taken port is a clear error before anything starts.
#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let stack_dir = StackOptions {
        app: "loc-port",
        concurrency: 1,
        timeout_s: 3,
        shared_dynamodb: false,
    }
    .write();
    let out = up_local(port, &stack_dir.config, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{stderr}"
    );
}

/// An unreachable `--dynamodb-endpoint` is a clear error.
#[test]
fn an_unreachable_dynamodb_is_a_clear_error() {
    let stack_dir = StackOptions {
        app: "loc-ddb",
        concurrency: 1,
        timeout_s: 3,
        shared_dynamodb: false,
    }
    .write();
    let dead = testkit::closed_endpoint();
    let port = emulators::free_port().unwrap();
    let out = up_local(port, &stack_dir.config, &["--dynamodb-endpoint", &dead])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("DynamoDB at {dead} is not reachable")),
        "{stderr}"
    );
}

/// Awaits every future concurrently (no extra dependency for `join_all`).
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("completed")).collect()
}
