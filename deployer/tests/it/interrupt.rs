//! The deployer under interruption: `up` SIGKILLed right after each of its mutating calls (seen by
//! a recording proxy in front of moto), or failed by a persistent AWS error at each of them, and
//! re-run converges to exactly a clean `up`'s stack, with no duplicate or orphaned resource, and
//! `down` then leaves nothing of it; `down` SIGKILLed after each of its deletes, re-run, leaves
//! nothing either. Resources are listed by name and, apart, by tag. Each k gets a moto of its own,
//! so every stack is named alike (`intr-test`).

use crate::support;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use support::*;
use testkit::{ErrorReply, Fault, FaultProxy, Times, is_mutating};

/// A persistent AWS error for `operation`, in its service's own protocol: a `500` (`throttle`
/// false) or a throttle (`true`), as awsJson 1.0 (DynamoDB) or 1.1 (CloudWatch Logs) with
/// `__type`, an awsQuery XML `ErrorResponse` (IAM), or restJson with `x-amzn-ErrorType` (Lambda,
/// API Gateway), so the deployer must classify each by the code its SDK parses.
fn aws_error(operation: &str, throttle: bool) -> Fault {
    // The deployer's IAM calls all name a role; its Logs calls a log group or a retention policy.
    let rest = operation.contains(' ');
    let iam = !rest && operation.contains("Role");
    // CloudWatch's alarm calls speak awsQuery, like IAM.
    let cloudwatch = !rest && operation.contains("Alarm");
    let logs = !rest && (operation.contains("Log") || operation.contains("Retention"));
    let reply = if iam {
        let xmlns = "https://iam.amazonaws.com/doc/2010-05-08/";
        if throttle {
            ErrorReply::aws_query(400, xmlns, "Throttling", "Rate exceeded")
        } else {
            ErrorReply::aws_query(
                500,
                xmlns,
                "ServiceFailure",
                "The request processing has failed because of an unknown error.",
            )
        }
    } else if cloudwatch {
        let xmlns = "http://monitoring.amazonaws.com/doc/2010-08-01/";
        if throttle {
            ErrorReply::aws_query(400, xmlns, "Throttling", "Rate exceeded")
        } else {
            ErrorReply::aws_query(
                500,
                xmlns,
                "InternalServiceError",
                "Request processing has failed due to some unknown error.",
            )
        }
    } else if logs {
        if throttle {
            ErrorReply::aws_json(400, "1.1", "ThrottlingException", "Rate exceeded")
        } else {
            ErrorReply::aws_json(500, "1.1", "ServiceUnavailableException", "Service unavailable")
        }
    } else if !rest {
        // DynamoDB's own bodies.
        return if throttle {
            Fault::throttling()
        } else {
            Fault::internal_server_error()
        };
    } else if operation.contains("/2015-03-31/") {
        if throttle {
            ErrorReply::rest_json(
                429,
                "TooManyRequestsException",
                r#"{"Type":"User","message":"Rate exceeded","Reason":"CallerRateLimitExceeded"}"#,
            )
        } else {
            ErrorReply::rest_json(
                500,
                "ServiceException",
                r#"{"Type":"Service","message":"Internal error"}"#,
            )
        }
    } else if throttle {
        ErrorReply::rest_json(429, "TooManyRequestsException", r#"{"message":"Too Many Requests"}"#)
    } else {
        ErrorReply::rest_json(500, "InternalServerError", r#"{"message":"Internal server error"}"#)
    };
    Fault::Error(reply)
}

/// What the proxy's observer keeps: the mutating calls seen, and whom to kill after which.
#[derive(Default)]
struct Recorder {
    mutating: Vec<String>,
    kill_after: Option<usize>,
    pid: Option<u32>,
}

/// A proxy in front of `w`'s moto that records `w`'s deployer's mutating calls and can SIGKILL it.
async fn recording_proxy(w: &mut World) -> (FaultProxy, Arc<Mutex<Recorder>>) {
    let proxy = FaultProxy::start_with(&w.moto.endpoint(), Arc::new(testkit::classify_aws)).await;
    // moto names no target for a custom domain name; AWS does (`api.domain`).
    proxy.rewrite(testkit::api_gateway_domain_targets(REGION));
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let seen = recorder.clone();
    proxy.observe(Arc::new(move |operation: &str| {
        if !is_mutating(operation) {
            return;
        }
        let mut r = seen.lock().unwrap();
        r.mutating.push(operation.to_string());
        if r.kill_after == Some(r.mutating.len()) {
            let pid = r.pid.expect("the deployer's pid is registered before its first write");
            // SAFETY: kill(2) on a child of this process that has not been waited for yet.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }));
    w.deployer_endpoint = Some(proxy.endpoint());
    (proxy, recorder)
}

/// Runs `args` with the kill armed after the `k`-th mutating call; returns once the deployer died.
async fn run_killed(w: &World, recorder: &Arc<Mutex<Recorder>>, args: &[&str], k: usize) {
    let (killed, status, writes) = run_armed(w, recorder, args, k).await;
    assert!(
        killed,
        "{args:?} was to be killed after mutating call {k}, it ended {status} after {writes:?}"
    );
}

/// The mutating calls of a clean `up` of a fresh stack whose config `configure` writes.
async fn clean_writes(configure: impl Fn(&World)) -> Vec<String> {
    let mut w = World::new(APP);
    configure(&w);
    let zip = w.zip("v1");
    let (_proxy, recorder) = recording_proxy(&mut w).await;
    w.json(&["up", "--zip", zip.to_str().unwrap()]);
    std::mem::take(&mut recorder.lock().unwrap().mutating)
}

/// The 1-based positions in `writes` of the calls `pick` chooses.
fn points(writes: &[String], pick: impl Fn(&str) -> bool) -> Vec<usize> {
    writes
        .iter()
        .enumerate()
        .filter(|(_, op)| pick(op))
        .map(|(i, _)| i + 1)
        .collect()
}

/// A fresh stack whose config `configure` writes: `up` SIGKILLed right after its `k`-th mutating
/// call, then run again to the end. Returns the world, its zip and the recording proxy the
/// world's deployer goes through (keep it alive while the world is used).
async fn killed_then_run_again(configure: impl Fn(&World), k: usize) -> (World, PathBuf, FaultProxy) {
    let mut w = World::new(APP);
    configure(&w);
    let zip = w.zip("v1");
    let (proxy, recorder) = recording_proxy(&mut w).await;
    let up = ["up", "--zip", zip.to_str().unwrap()];
    run_killed(&w, &recorder, &up, k).await;
    w.json(&up);
    (w, zip, proxy)
}

/// Runs `args` with the kill armed after the `k`-th mutating call; returns whether it was killed
/// (a run with fewer writes ends on its own), how it ended and the writes it made.
async fn run_armed(
    w: &World,
    recorder: &Arc<Mutex<Recorder>>,
    args: &[&str],
    k: usize,
) -> (bool, std::process::ExitStatus, Vec<String>) {
    let mut child = w
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the deployer starts");
    {
        let mut r = recorder.lock().unwrap();
        r.mutating.clear();
        r.kill_after = Some(k);
        r.pid = Some(child.id());
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let mut r = recorder.lock().unwrap();
    r.kill_after = None;
    r.pid = None;
    (
        status.signal() == Some(libc::SIGKILL),
        status,
        std::mem::take(&mut r.mutating),
    )
}

/// The stack is a clean `up`'s: every resource once, with its tags and properties, nothing more.
async fn assert_converged(w: &World, zip: &Path, k: usize) {
    let ctx = w.ctx();
    let (name, app) = (w.name(), w.app.as_str());

    // Table: exactly one, on-demand, TTL on `expiration`, tagged.
    let tables = ctx.dynamodb.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), std::slice::from_ref(&name), "k={k}");
    let t = ctx.dynamodb.describe_table().table_name(&name).send().await.unwrap();
    let t = t.table().unwrap();
    assert_eq!(
        t.billing_mode_summary().unwrap().billing_mode().unwrap().as_str(),
        "PAY_PER_REQUEST"
    );
    assert_eq!(
        table_ttl(&ctx, &name).await,
        ("ENABLED".into(), Some("expiration".into())),
        "k={k}"
    );
    let tags = table_tags(&ctx, t.table_arn().unwrap()).await;
    assert!(tags_ok(&tags, app), "k={k}: table tags {tags:?}");
    // Protected by default: deletion protection and point-in-time recovery on.
    assert_eq!(
        t.deletion_protection_enabled(),
        Some(true),
        "k={k}: deletion protection"
    );
    assert!(table_recovery(&ctx, &name).await, "k={k}: point-in-time recovery");

    // Log group: exactly one, retention, tags.
    let groups = ctx.logs.describe_log_groups().send().await.unwrap();
    let names: Vec<&str> = groups.log_groups().iter().filter_map(|g| g.log_group_name()).collect();
    assert_eq!(names, [format!("/aws/lambda/{name}")], "k={k}");
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(14), "k={k}");
    let tags = ctx
        .logs
        .list_tags_for_resource()
        .resource_arn(format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}"))
        .send()
        .await
        .unwrap()
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    assert!(tags_ok(&tags, app), "k={k}: log group tags {tags:?}");

    // Role: exactly one, tagged, one inline policy, nothing attached.
    let roles = ctx.iam.list_roles().send().await.unwrap();
    let names: Vec<&str> = roles.roles().iter().map(aws_sdk_iam::types::Role::role_name).collect();
    assert_eq!(names, [name.as_str()], "k={k}");
    let tags = ctx
        .iam
        .list_role_tags()
        .role_name(&name)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert!(tags_ok(&tags, app), "k={k}: role tags {tags:?}");
    let inline = ctx.iam.list_role_policies().role_name(&name).send().await.unwrap();
    assert_eq!(inline.policy_names(), [format!("{name}-access")], "k={k}");
    let attached = ctx
        .iam
        .list_attached_role_policies()
        .role_name(&name)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty(), "k={k}");

    // Function: exactly one, its configuration, environment, code and tags.
    let functions = ctx.lambda.list_functions().send().await.unwrap();
    let names: Vec<&str> = functions.functions().iter().filter_map(|f| f.function_name()).collect();
    assert_eq!(names, [name.as_str()], "k={k}");
    let f = ctx.lambda.get_function().function_name(&name).send().await.unwrap();
    let c = f.configuration().unwrap();
    assert_eq!(c.runtime().unwrap().as_str(), "provided.al2023");
    assert_eq!((c.memory_size(), c.timeout()), (Some(256), Some(15)), "k={k}");
    assert_eq!(c.role(), Some(format!("arn:aws:iam::{ACCOUNT}:role/{name}").as_str()));
    let env = c.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("TABLE_NAME"), Some(&name), "k={k}");
    assert_eq!(env.get("GREETING").map(String::as_str), Some("hello"), "k={k}");
    assert_eq!(
        env.get("IDEMPOTENCY_HEADER").map(String::as_str),
        Some("Idempotency-Key")
    );
    let zip_sha = deployer::package::sha256_b64(&std::fs::read(zip).unwrap());
    assert_eq!(c.code_sha256(), Some(zip_sha.as_str()), "k={k}");
    let tags = f.tags().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(tags_ok(&tags, app), "k={k}: function tags {tags:?}");

    // Exactly one published version, of this code, and the alias `live` on it.
    let versions = ctx
        .lambda
        .list_versions_by_function()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    let published: Vec<(&str, &str)> = versions
        .versions()
        .iter()
        .filter(|v| v.version() != Some("$LATEST"))
        .map(|v| (v.version().unwrap(), v.code_sha256().unwrap()))
        .collect();
    assert_eq!(published, [("1", zip_sha.as_str())], "k={k}: versions");
    let aliases = ctx.lambda.list_aliases().function_name(&name).send().await.unwrap();
    let aliases: Vec<(&str, &str)> = aliases
        .aliases()
        .iter()
        .map(|a| (a.name().unwrap(), a.function_version().unwrap()))
        .collect();
    assert_eq!(aliases, [("live", "1")], "k={k}: aliases");

    // HTTP API: exactly one, tagged, one integration to the function, the two routes to it, the
    // $default stage, and one permission for this API.
    let apis = ctx.apigw.get_apis().send().await.unwrap();
    let names: Vec<&str> = apis.items().iter().filter_map(|a| a.name()).collect();
    assert_eq!(names, [name.as_str()], "k={k}: APIs");
    let api = &apis.items()[0];
    let api_id = api.api_id().unwrap();
    let tags = api
        .tags()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(tags_ok(&tags, app), "k={k}: API tags {tags:?}");
    let cors = api.cors_configuration().unwrap();
    assert_eq!(cors.allow_origins(), ["http://localhost:5173"], "k={k}");
    let ints = ctx.apigw.get_integrations().api_id(api_id).send().await.unwrap();
    assert_eq!(ints.items().len(), 1, "k={k}: integrations");
    let i = &ints.items()[0];
    assert_eq!(
        i.integration_uri(),
        Some(format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:live").as_str()),
        "k={k}"
    );
    let routes = ctx.apigw.get_routes().api_id(api_id).send().await.unwrap();
    let mut keys: Vec<&str> = routes.items().iter().map(|r| r.route_key().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["GET /orders/{id}", "POST /orders"], "k={k}: routes");
    let target = format!("integrations/{}", i.integration_id().unwrap());
    assert!(
        routes.items().iter().all(|r| r.target() == Some(target.as_str())),
        "k={k}: route targets"
    );
    let stages = ctx.apigw.get_stages().api_id(api_id).send().await.unwrap();
    let stage_names: Vec<&str> = stages.items().iter().filter_map(|s| s.stage_name()).collect();
    assert_eq!(stage_names, ["$default"], "k={k}: stages");
    let stage = &stages.items()[0];
    assert_eq!(stage.auto_deploy(), Some(true), "k={k}");
    let settings = stage.default_route_settings().unwrap();
    assert_eq!(
        (settings.throttling_burst_limit(), settings.throttling_rate_limit()),
        (Some(100), Some(50.0)),
        "k={k}"
    );
    let policy = function_policy(&ctx, &name).await;
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "k={k}: permissions {policy}");
    assert_eq!(
        statements[0]["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/*"),
        "k={k}"
    );
    assert_one_of_each_by_tag(w, k).await;
}

/// The stack's resources found by their tags alone, names playing no part, by kind: the Resource
/// Groups Tagging API for what it covers (the table, the function, the log group, the alarms: ARNs),
/// and every role's and every API's own tags for the rest (names).
async fn by_tag(w: &World) -> BTreeMap<&'static str, Vec<String>> {
    let ctx = w.ctx();
    let mut found: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&w.sdk_config());
    let filter = |key: &str, value: &str| TagFilter::builder().key(key).values(value).build();
    let resources = tagging
        .get_resources()
        .tag_filters(filter("managed-by", "oncely"))
        .tag_filters(filter("oncely:app", &w.app))
        .tag_filters(filter("oncely:stage", "test"))
        .send()
        .await
        .unwrap();
    for r in resources.resource_tag_mapping_list() {
        let arn = r.resource_arn().unwrap().to_string();
        let kind = match arn.split(':').nth(2) {
            Some("dynamodb") => "table",
            Some("lambda") => "function",
            Some("logs") => "log group",
            Some("cloudwatch") => "alarm",
            _ => "other",
        };
        found.entry(kind).or_default().push(arn);
    }
    for role in ctx.iam.list_roles().send().await.unwrap().roles() {
        let tags = ctx
            .iam
            .list_role_tags()
            .role_name(role.role_name())
            .send()
            .await
            .unwrap();
        let tags = tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if tags_ok(&tags, &w.app) {
            found.entry("role").or_default().push(role.role_name().to_string());
        }
    }
    for api in ctx.apigw.get_apis().send().await.unwrap().items() {
        let tags = api.tags().cloned().unwrap_or_default().into_iter().collect();
        if tags_ok(&tags, &w.app) {
            found
                .entry("API")
                .or_default()
                .push(api.name().unwrap_or_default().to_string());
        }
    }
    found
}

/// By tag, the stack is exactly one table, function, log group, role and API, each the named one.
async fn assert_one_of_each_by_tag(w: &World, k: usize) {
    let name = w.name();
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}");
    let found = by_tag(w).await;
    let log_group = found
        .get("log group")
        .and_then(|g| g.first())
        .cloned()
        .unwrap_or_default();
    let expected = BTreeMap::from([
        ("API", vec![name.clone()]),
        (
            "alarm",
            ["errors", "failed", "throttles"]
                .iter()
                .map(|s| arn("cloudwatch", &format!("alarm:{name}-{s}")))
                .collect(),
        ),
        ("function", vec![arn("lambda", &format!("function:{name}"))]),
        // moto and AWS differ on a trailing `:*`; the group is the same.
        ("log group", vec![log_group.clone()]),
        ("role", vec![name.clone()]),
        ("table", vec![arn("dynamodb", &format!("table/{name}"))]),
    ]);
    assert_eq!(found, expected, "k={k}: the stack's resources by tag");
    assert!(
        log_group.trim_end_matches(":*") == arn("logs", &format!("log-group:/aws/lambda/{name}")),
        "k={k}: log group {log_group}"
    );
}

/// Nothing of the stack is left: every list comes back empty, and nothing carries its tags.
async fn assert_empty(w: &World, k: usize) {
    let ctx = w.ctx();
    let found = by_tag(w).await;
    assert!(found.is_empty(), "k={k}: left behind, by tag: {found:?}");
    let tables = ctx.dynamodb.list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty(), "k={k}: tables {tables:?}");
    let groups = ctx.logs.describe_log_groups().send().await.unwrap();
    assert!(groups.log_groups().is_empty(), "k={k}: log groups {groups:?}");
    let roles = ctx.iam.list_roles().send().await.unwrap();
    assert!(roles.roles().is_empty(), "k={k}: roles {roles:?}");
    let functions = ctx.lambda.list_functions().send().await.unwrap();
    assert!(functions.functions().is_empty(), "k={k}: functions {functions:?}");
    let apis = ctx.apigw.get_apis().send().await.unwrap();
    assert!(apis.items().is_empty(), "k={k}: APIs {apis:?}");
    let alarms = ctx.cloudwatch.describe_alarms().send().await.unwrap();
    assert!(alarms.metric_alarms().is_empty(), "k={k}: alarms {alarms:?}");
}

const APP: &str = "intr";

/// The mutating calls of a clean `up` on a fresh stack (the stack checked too).
async fn clean_up_writes() -> Vec<String> {
    let mut w = World::new(APP);
    let zip = w.zip("v1");
    let (_proxy, recorder) = recording_proxy(&mut w).await;
    w.json(&["up", "--zip", zip.to_str().unwrap()]);
    assert_converged(&w, &zip, 0).await;
    let writes = std::mem::take(&mut recorder.lock().unwrap().mutating);
    assert!(writes.len() >= 11, "{writes:?}");
    writes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_killed_after_any_write_converges_when_run_again_and_down_leaves_nothing() {
    let writes = clean_up_writes().await;
    let n = writes.len();
    println!("a clean up sends {n} mutating calls: {writes:?}");
    for k in 1..=n {
        let (w, zip, _proxy) = killed_then_run_again(|_| {}, k).await;
        assert_converged(&w, &zip, k).await;
        w.json(&["down", "--yes", "--delete-data"]);
        assert_empty(&w, k).await;
        println!(
            "k={k:>2}: killed after {}, up again converged, down left nothing",
            writes[k - 1]
        );
    }
    println!("{n} interruption points of up tried, all converged");
}

/// Puts `n` orders (and their idempotency records) into the stack's table, as the function would.
async fn put_orders(w: &World, n: usize) {
    let ctx = w.ctx();
    for i in 0..n {
        for id in [format!("order#{i}"), format!("key#{i}")] {
            ctx.dynamodb
                .put_item()
                .table_name(w.name())
                .item("id", AttributeValue::S(id))
                .item("item", AttributeValue::S("book".into()))
                .send()
                .await
                .unwrap();
        }
    }
}

/// How many items the stack's table holds.
async fn item_count(w: &World) -> usize {
    let scan = w.ctx().dynamodb.scan().table_name(w.name()).send().await.unwrap();
    scan.items().len()
}

/// For each write k of a clean `down` (of a stack whose table holds orders when `orders`):
/// `down` SIGKILLed right after it, then run again. Without orders, `down --delete-data` turns
/// the table's deletion protection off, deletes it and leaves nothing. With orders, `down` keeps
/// the (protected) table with every item whatever the interruption (no data lost), removes the
/// rest, and `down --delete-data` then leaves nothing.
async fn down_killed_after_each_delete(orders: usize) {
    let down: &[&str] = if orders > 0 {
        &["down", "--yes"]
    } else {
        &["down", "--yes", "--delete-data"]
    };
    let deletes = {
        let (mut w, _) = World::deployed(APP);
        assert_one_of_each_by_tag(&w, 0).await;
        put_orders(&w, orders).await;
        let (_proxy, recorder) = recording_proxy(&mut w).await;
        w.json(down);
        if orders == 0 {
            assert_empty(&w, 0).await;
        }
        std::mem::take(&mut recorder.lock().unwrap().mutating)
    };
    let n = deletes.len();
    println!("a clean down sends {n} mutating calls: {deletes:?}");
    assert!(n >= 5, "{deletes:?}");
    assert_eq!(
        deletes.iter().any(|d| d == "UpdateTable" || d == "DeleteTable"),
        orders == 0,
        "the table is unprotected and deleted only without orders: {deletes:?}"
    );
    let mut tried = 0;
    for k in 1..=n {
        tried += 1;
        let (mut w, _) = World::deployed(APP);
        put_orders(&w, orders).await;
        let (_proxy, recorder) = recording_proxy(&mut w).await;
        run_killed(&w, &recorder, down, k).await;
        let report = w.json(down);
        if orders > 0 {
            assert_eq!(item_count(&w).await, 2 * orders, "k={k}: items lost");
            let kept = report["warnings"].as_array().unwrap();
            assert!(
                kept.iter().any(|w| w.as_str().unwrap().contains("pass --delete-data")),
                "k={k}: {report}"
            );
            let left = by_tag(&w).await;
            assert_eq!(
                left.keys().copied().collect::<Vec<_>>(),
                ["table"],
                "k={k}: left {left:?}"
            );
            w.json(&["down", "--yes", "--delete-data"]);
        }
        assert_empty(&w, k).await;
        println!("k={k:>2}: killed after {}, down again left nothing", deletes[k - 1]);
    }
    println!("{tried} interruption points of down tried (table with {orders} orders), all converged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn down_killed_after_any_delete_leaves_nothing_when_run_again() {
    down_killed_after_each_delete(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn down_killed_with_orders_in_the_table_keeps_them_and_delete_data_leaves_nothing() {
    down_killed_after_each_delete(3).await;
}

/// For each write k of a clean `up`: a fresh stack whose k-th write gets `fault` on every attempt
/// (one attempt per call); `up` fails, then with the fault gone `up` converges and `down` leaves
/// nothing.
async fn up_failed_at_each_write_converges(kind: &str, throttle: bool) {
    let writes = clean_up_writes().await;
    let n = writes.len();
    for k in 1..=n {
        let mut w = World::new(APP);
        let zip = w.zip("v1");
        let (proxy, _recorder) = recording_proxy(&mut w).await;
        // The k-th write is the j-th of its operation: the j-1 before it pass, it and every retry fail.
        let operation = &writes[k - 1];
        let j = writes[..k].iter().filter(|w| *w == operation).count();
        if j > 1 {
            proxy.inject(operation, Fault::Pass, Times::Next(j - 1));
        }
        proxy.inject(operation, aws_error(operation, throttle), Times::Always);
        let up = ["up", "--zip", zip.to_str().unwrap()];
        // One attempt per call (the SDK's own `AWS_MAX_ATTEMPTS`): the error is persistent, so the
        // SDK's retries would only add their backoff (about 1.5 s a point); the seeded campaign
        // below keeps the default retries.
        let failed = w.command(&up).env("AWS_MAX_ATTEMPTS", "1").output().unwrap();
        assert!(
            !failed.status.success(),
            "k={k}: up succeeded through a {kind} on {operation}"
        );
        let sent = proxy.count("error", operation);
        assert!(sent >= 1, "k={k}: no {kind} was sent");
        proxy.clear();
        w.json(&up);
        assert_converged(&w, &zip, k).await;
        w.json(&["down", "--yes", "--delete-data"]);
        assert_empty(&w, k).await;
        println!("k={k:>2}: {operation} answered {kind} (x{sent}), up failed, up again converged");
    }
    println!("{n} {kind} points of up tried, all converged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_failed_by_a_500_at_any_write_converges_when_run_again() {
    up_failed_at_each_write_converges("500", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_failed_by_a_throttle_at_any_write_converges_when_run_again() {
    up_failed_at_each_write_converges("throttle", true).await;
}

/// One interruption the campaign draws.
#[derive(Debug, Clone)]
enum Interruption {
    /// SIGKILL right after the k-th mutating call.
    Kill(usize),
    /// Every attempt of this operation fails with a 500 (`false`) or a throttle (`true`).
    Error(String, bool),
}

/// Runs `args` once under `interruption`; returns what happened, for the campaign's log.
async fn interrupted(
    w: &World,
    proxy: &FaultProxy,
    recorder: &Arc<Mutex<Recorder>>,
    args: &[&str],
    interruption: &Interruption,
) -> String {
    match interruption {
        Interruption::Kill(k) => {
            let (killed, status, writes) = run_armed(w, recorder, args, *k).await;
            if killed {
                format!("killed after {}", writes[k - 1])
            } else {
                assert!(status.success(), "{args:?} failed without a fault: {status}");
                format!("finished before write {k}")
            }
        }
        Interruption::Error(operation, throttle) => {
            // Counts last as long as the proxy: this run's are those added now.
            let before = proxy.count("error", operation);
            proxy.inject(operation, aws_error(operation, *throttle), Times::Always);
            let out = w.run(args);
            let sent = proxy.count("error", operation) - before;
            proxy.clear();
            match (sent, out.status.success()) {
                (0, true) => format!("did not call {operation}"),
                (0, false) => panic!("{args:?} failed without a fault: {}", stderr(&out)),
                (_, ok) => {
                    assert!(!ok, "{args:?} succeeded through a persistent error on {operation}");
                    format!(
                        "failed by a {} on {operation}",
                        if *throttle { "throttle" } else { "500" }
                    )
                }
            }
        }
    }
}

/// `runs` runs of `args` in a row, each interrupted by a random kill after one of its writes or a
/// persistent error on one of the writes still to come (`pending`, the clean run's, shortened by
/// each kill); returns what happened to each.
async fn interrupted_runs(
    w: &World,
    (proxy, recorder): (&FaultProxy, &Arc<Mutex<Recorder>>),
    args: &[&str],
    mut pending: Vec<String>,
    runs: usize,
    rng: &mut fastrand::Rng,
) -> Vec<String> {
    let mut story = Vec::new();
    for _ in 0..runs {
        let interruption = if rng.bool() {
            Interruption::Kill(rng.usize(1..=pending.len()))
        } else {
            Interruption::Error(pending[rng.usize(..pending.len())].clone(), rng.bool())
        };
        let what = interrupted(w, proxy, recorder, args, &interruption).await;
        story.push(format!("{} {what}", args[0]));
        if let Interruption::Kill(k) = interruption {
            pending.drain(..k.min(pending.len() - 1));
        }
    }
    story
}

/// A seeded campaign of repeated interruptions: each round, on a fresh moto, `up` is interrupted
/// one to three times in a row (a SIGKILL after a random write, or a persistent `500` or throttle
/// on a random write), then converges to a clean `up`'s stack; then `down` is interrupted once or
/// twice and, run again, leaves nothing. `ONCELY_INTERRUPT_ROUNDS` (default 3) and
/// `ONCELY_INTERRUPT_SEED` (default 7) set its size and seed: the large campaign is
/// `ONCELY_INTERRUPT_ROUNDS=100 cargo test -p deployer --test it interrupt::a_seeded_campaign -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seeded_campaign_of_repeated_interruptions_converges() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (rounds, seed) = (env("ONCELY_INTERRUPT_ROUNDS", 3), env("ONCELY_INTERRUPT_SEED", 7));
    let writes = clean_up_writes().await;
    let name = format!("{APP}-test");
    let deletes: Vec<String> = [
        "DeleteAlarms".to_string(),
        "DELETE /v2/apis/{api}".to_string(),
        format!("DELETE /2015-03-31/functions/{name}/policy/{name}-apigateway-invoke"),
        format!("DELETE /2015-03-31/functions/{name}"),
        "DeleteLogGroup".into(),
        "DeleteRolePolicy".into(),
        "DeleteRole".into(),
        "UpdateTable".into(),
        "DeleteTable".into(),
    ]
    .into();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut points = 0;
    for round in 1..=rounds {
        let mut w = World::new(APP);
        let zip = w.zip("v1");
        let (proxy, recorder) = recording_proxy(&mut w).await;
        let up = ["up", "--zip", zip.to_str().unwrap()];
        let mut story = Vec::new();
        let runs = rng.usize(1..=3);
        story.extend(interrupted_runs(&w, (&proxy, &recorder), &up, writes.clone(), runs, &mut rng).await);
        w.json(&up);
        assert_converged(&w, &zip, round as usize).await;
        let down = ["down", "--yes", "--delete-data"];
        let runs = rng.usize(1..=2);
        story.extend(interrupted_runs(&w, (&proxy, &recorder), &down, deletes.clone(), runs, &mut rng).await);
        points += story.len();
        w.json(&down);
        assert_empty(&w, round as usize).await;
        println!("round {round:>3} (seed {seed}): {}; converged", story.join(", "));
    }
    println!("campaign (seed {seed}): {rounds} rounds, {points} interruptions, every round converged");
}

/// With `api.auth` (Cognito): `up` SIGKILLed after each of its mutating calls, re-run, converges to
/// a clean `up`'s stack with one user pool, one app client and the authorizer on the protected
/// route, and `down --delete-data` then leaves nothing. (Killed right after CreateAuthorizer, the
/// re-run creates and attaches a second one: moto cannot list authorizers, so the first, attached
/// to no route, cannot be seen here; it goes with the API; see docs/auth.md, "Auth, deployed".)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_with_cognito_auth_killed_after_any_write_converges_when_run_again() {
    let writes = {
        let mut w = World::new(APP);
        w.set_auth(AUTH_COGNITO);
        let zip = w.zip("v1");
        let (_proxy, recorder) = recording_proxy(&mut w).await;
        w.json(&["up", "--zip", zip.to_str().unwrap()]);
        assert_converged(&w, &zip, 0).await;
        support::auth::assert_cognito_converged(&w, 0).await;
        std::mem::take(&mut recorder.lock().unwrap().mutating)
    };
    let n = writes.len();
    println!("a clean up with Cognito auth sends {n} mutating calls: {writes:?}");
    for k in 1..=n {
        let (w, zip, _proxy) = killed_then_run_again(|w| w.set_auth(AUTH_COGNITO), k).await;
        assert_converged(&w, &zip, k).await;
        support::auth::assert_cognito_converged(&w, k).await;
        let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
        assert_eq!(counts(&plan), (0, 0, 0), "k={k}: {plan:#}");
        w.json(&["down", "--yes", "--delete-data"]);
        assert_empty(&w, k).await;
        assert!(
            support::auth::pools(&w.ctx(), &w.name()).await.is_empty(),
            "k={k}: pools"
        );
        println!(
            "k={k:>2}: killed after {}, up again converged, down left nothing",
            writes[k - 1]
        );
    }
}

/// `up` with `queues:` killed right after each write to a queue, a mapping or the role's policy
/// (the writes the queues add) converges when run again: exactly the four queues, one mapping per
/// queue (a create whose run was killed is found again, not made twice), a plan with nothing to
/// do; and `down --delete-data` then leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_with_queues_killed_after_each_queue_write_converges_when_run_again() {
    let with_queues = |w: &World| {
        let yaml = config_yaml(&w.app, &w.env_file());
        w.write_config(&format!(
            "{yaml}queues:\n  - name: jobs\n  - {{ name: mail, batch_size: 2 }}\n"
        ));
    };
    let writes = clean_writes(with_queues).await;
    let points = points(&writes, |op| {
        op.contains("Queue") || op.contains("event-source-mappings") || op == "PutRolePolicy"
    });
    assert!(points.len() >= 7, "the queues' writes: {writes:?}");
    for k in points {
        let (w, zip, _proxy) = killed_then_run_again(with_queues, k).await;
        let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
        assert_eq!(counts(&plan), (0, 0, 0), "k={k} ({}): {plan:#}", writes[k - 1]);
        let ctx = w.ctx();
        let mut queues: Vec<String> = ctx
            .sqs
            .list_queues()
            .send()
            .await
            .unwrap()
            .queue_urls()
            .iter()
            .map(|u| u.rsplit('/').next().unwrap().to_string())
            .collect();
        queues.sort();
        let name = w.name();
        let expected: Vec<String> = ["jobs", "jobs-dlq", "mail", "mail-dlq"]
            .iter()
            .map(|q| format!("{name}-{q}"))
            .collect();
        assert_eq!(queues, expected, "k={k}");
        let mappings = ctx.lambda.list_event_source_mappings().send().await.unwrap();
        assert_eq!(mappings.event_source_mappings().len(), 2, "k={k}: {mappings:?}");
        w.json(&["down", "--yes", "--delete-data"]);
        let left = ctx.sqs.list_queues().send().await.unwrap();
        assert!(left.queue_urls().is_empty(), "k={k}: queues {left:?}");
        let mappings = ctx.lambda.list_event_source_mappings().send().await.unwrap();
        assert!(mappings.event_source_mappings().is_empty(), "k={k}: {mappings:?}");
        assert_empty(&w, k).await;
    }
}

/// `up` with every production setting (a KMS key, provisioned capacity, recovery and protection
/// on, reserved concurrency, active tracing) killed right after each write to the table, the role's
/// policy or the function's concurrency converges when run again: one table with every setting,
/// the key and X-Ray in the role's policy, the reservation, the tracing, a plan with nothing to
/// do; and `down --delete-data` (protection off, then the table) leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_with_production_settings_killed_after_each_of_their_writes_converges_when_run_again() {
    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1d2c3b4a-0000-4000-8000-00000000abcd";
    let with_settings = |w: &World| {
        let yaml = config_yaml(&w.app, &w.env_file()).replace(
            "  package: orders\n",
            "  package: orders\n  reserved_concurrency: 5\n  tracing: active\n",
        );
        w.write_config(&format!(
            "{yaml}table:\n  kms_key: {KEY}\n  billing_mode: provisioned\n  read_capacity: 3\n  write_capacity: 2\n"
        ));
    };
    let writes = clean_writes(with_settings).await;
    let points = points(&writes, |op| {
        [
            "CreateTable",
            "UpdateTimeToLive",
            "UpdateContinuousBackups",
            "PutRolePolicy",
        ]
        .contains(&op)
            || op.ends_with("/concurrency")
    });
    assert_eq!(
        points.len(),
        5,
        "the table's, the policy's and the concurrency's writes: {writes:?}"
    );
    for k in points {
        let (w, zip, _proxy) = killed_then_run_again(with_settings, k).await;
        let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
        assert_eq!(counts(&plan), (0, 0, 0), "k={k} ({}): {plan:#}", writes[k - 1]);
        let ctx = w.ctx();
        let t = ctx.dynamodb.describe_table().table_name(w.name()).send().await.unwrap();
        let t = t.table().unwrap();
        assert_eq!(t.deletion_protection_enabled(), Some(true), "k={k}");
        assert_eq!(
            t.sse_description().and_then(|d| d.kms_master_key_arn()),
            Some(KEY),
            "k={k}"
        );
        let capacity = t.provisioned_throughput().unwrap();
        assert_eq!(
            (capacity.read_capacity_units(), capacity.write_capacity_units()),
            (Some(3), Some(2)),
            "k={k}"
        );
        let policy = role_policy(&ctx, &w.name()).await;
        assert!(policy.to_string().contains(KEY), "k={k}: {policy:#}");
        assert_eq!(reserved_concurrency(&ctx, &w.name()).await, Some(5), "k={k}");
        let f = function_configuration(&ctx, &w.name()).await;
        let tracing = f
            .tracing_config()
            .and_then(|t| t.mode())
            .map(|m| m.as_str().to_string());
        assert_eq!(tracing.as_deref(), Some("Active"), "k={k}");
        assert!(
            policy.to_string().contains("xray:PutTraceSegments"),
            "k={k}: {policy:#}"
        );
        w.json(&["down", "--yes", "--delete-data"]);
        assert_empty(&w, k).await;
        println!(
            "k={k:>2}: killed after {}, up again converged, down left nothing",
            writes[k - 1]
        );
    }
}

/// A deployed stack (Cognito auth, a queue) retagged, with `up` SIGKILLed right after each write a
/// retag makes (an untag and a tag per resource, the user pool's update), then run again: every
/// resource carries exactly the new tags and a plan has nothing to do. The stack goes back and
/// forth between two tag sets, each change removing one tag and setting two, so every retag makes
/// the same writes in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retagging_killed_after_each_tag_write_converges_when_run_again() {
    use crate::tags::{TAGGED, assert_tagged, with_tags};
    let sets = [
        (
            "  team: payments\n  cost-center: 4711\n",
            [("team", "payments"), ("cost-center", "4711")],
        ),
        (
            "  team: platform\n  owner: ops\n",
            [("team", "platform"), ("owner", "ops")],
        ),
    ];
    let mut w = World::new(APP);
    with_tags(&w, sets[0].0);
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap().to_string();
    let up = ["up", "--zip", zip.as_str()];
    w.json(&up);
    let (_proxy, recorder) = recording_proxy(&mut w).await;
    with_tags(&w, sets[1].0);
    w.json(&up);
    let writes = std::mem::take(&mut recorder.lock().unwrap().mutating);
    // An untag and a tag per resource; the user pool's tags go with its one update.
    assert_eq!(writes.len(), 2 * (TAGGED - 1) + 1, "{writes:#?}");
    let mut current = 1;
    for k in 1..=writes.len() {
        let next = 1 - current;
        with_tags(&w, sets[next].0);
        run_killed(&w, &recorder, &up, k).await;
        w.json(&up);
        let want = expected_tags(&w.app, &sets[next].1);
        assert_tagged(&w, &want, &format!("k={k} ({})", writes[k - 1])).await;
        let plan = w.json(&["plan", "--zip", zip.as_str()]);
        assert_eq!(counts(&plan), (0, 0, 0), "k={k}: {plan:#}");
        println!("k={k:>2}: killed after {}, up again converged", writes[k - 1]);
        current = next;
    }
}

/// A stack with `api.domain`: `up` SIGKILLed right after each write of the domain (the domain
/// name, its mapping, the alias records), then run again, converges to the domain of a clean `up`
/// with a plan that has nothing to do; `down` SIGKILLed after each of the domain's deletes, then
/// run again, leaves nothing (the zone and the certificate stay).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_domain_killed_after_each_of_its_writes_converges_and_goes_when_run_again() {
    use crate::domain::{
        Outside, assert_domain_converged, assert_no_domain, create_zone, import_certificate, with_domain,
    };
    /// A world whose stack has a domain, with the zone and the certificate made, behind a recorder.
    async fn world() -> (World, Outside, FaultProxy, Arc<Mutex<Recorder>>, PathBuf) {
        let mut w = World::new(APP);
        let outside = Outside {
            zone: create_zone(&w, "example.com").await,
            certificate: import_certificate(&w, &["*.api.example.com"]).await,
        };
        with_domain(&w, &outside.zone);
        let zip = w.zip("v1");
        let (proxy, recorder) = recording_proxy(&mut w).await;
        (w, outside, proxy, recorder, zip)
    }
    let is_domain_write = |op: &str| op.contains("/domainnames") || op.contains("/rrset");
    let (w, _outside, _proxy, recorder, zip) = world().await;
    let up = ["up", "--zip", zip.to_str().unwrap()];
    let (_, _, up_writes) = run_armed(&w, &recorder, &up, usize::MAX).await;
    let (_, _, down_writes) = run_armed(&w, &recorder, &["down", "--yes", "--delete-data"], usize::MAX).await;
    let up_points = points(&up_writes, is_domain_write);
    let down_points = points(&down_writes, is_domain_write);
    assert_eq!(
        up_points.len(),
        3,
        "the domain name, its mapping, the records: {up_writes:?}"
    );
    assert_eq!(
        down_points.len(),
        3,
        "the records, the mapping, the domain name: {down_writes:?}"
    );
    for (k, j) in up_points.into_iter().zip(down_points) {
        let (w, outside, _proxy, recorder, zip) = world().await;
        let up = ["up", "--zip", zip.to_str().unwrap()];
        run_killed(&w, &recorder, &up, k).await;
        w.json(&up);
        let at = format!("up killed after {}", up_writes[k - 1]);
        assert_domain_converged(&w, &outside, &at).await;
        let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
        assert_eq!(counts(&plan), (0, 0, 0), "{at}: {plan:#}");
        let down = ["down", "--yes", "--delete-data"];
        run_killed(&w, &recorder, &down, j).await;
        w.json(&down);
        let at = format!("down killed after {}", down_writes[j - 1]);
        assert_no_domain(&w, &outside, &at).await;
        assert_empty(&w, j).await;
        println!(
            "k={k:>2}, j={j:>2}: killed after {} and {}, converged, then nothing left",
            up_writes[k - 1],
            down_writes[j - 1]
        );
    }
}
