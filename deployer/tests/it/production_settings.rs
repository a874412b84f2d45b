//! Production settings on moto. The table: point-in-time recovery, deletion protection, a customer
//! managed KMS key with the role's permission on it alone, provisioned capacity; a stack with
//! every setting converges, a second `up` makes no write, changing one setting updates only it,
//! `status` shows the recovery window, `down` keeps a protected table and says how to remove it,
//! and `down --delete-data` turns the protection off and leaves nothing. The function's reserved
//! concurrency: set, changed, drift put back and removed, each alone, publishing no version.

use crate::support;

use support::*;

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/7f3c2a10-5b4e-4d8a-9c61-2f0e8d1b6a47";

/// The small stack with `table` lines (indented by two spaces) under `table:`.
fn with_table(w: &World, table: &str) {
    let yaml = config_yaml(&w.app, &w.env_file());
    w.write_config(&format!("{yaml}table:\n{table}"));
}

/// What DynamoDB reports of the table.
#[derive(Debug, Clone, PartialEq)]
struct State {
    pitr: bool,
    protected: bool,
    key: Option<String>,
    billing: String,
    capacity: (i64, i64),
}

impl State {
    /// The stack's table with every setting: `pitr`, `protected`, our key, provisioned `capacity`.
    fn keyed(pitr: bool, protected: bool, capacity: (i64, i64)) -> State {
        State {
            pitr,
            protected,
            key: Some(KEY.into()),
            billing: "PROVISIONED".into(),
            capacity,
        }
    }
}

async fn table_state(w: &World) -> State {
    let ctx = w.ctx();
    let name = w.name();
    let table = ctx
        .dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    use aws_sdk_dynamodb::types::ProvisionedThroughputDescription as Throughput;
    let throughput = table.provisioned_throughput();
    State {
        pitr: table_recovery(&ctx, &name).await,
        protected: table.deletion_protection_enabled() == Some(true),
        key: table
            .sse_description()
            .and_then(|d| d.kms_master_key_arn())
            .map(str::to_string),
        billing: table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map_or("PROVISIONED".into(), |b| b.as_str().to_string()),
        capacity: (
            throughput.and_then(Throughput::read_capacity_units).unwrap_or(0),
            throughput.and_then(Throughput::write_capacity_units).unwrap_or(0),
        ),
    }
}

#[tokio::test]
async fn every_table_setting_converges_changes_alone_and_a_protected_table_outlives_down() {
    let w = World::new("tables");
    with_table(
        &w,
        &format!("  kms_key: {KEY}\n  billing_mode: provisioned\n  read_capacity: 4\n  write_capacity: 2\n"),
    );
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap();
    let plan = w.json(&["plan", "--zip", zip]);
    let table_row = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "table")
        .unwrap()
        .to_string();
    for shown in ["point_in_time_recovery", "deletion_protection", "read 4, write 2", KEY] {
        assert!(table_row.contains(shown), "plan shows {shown}: {table_row}");
    }
    w.json(&["up", "--zip", zip]);
    assert_eq!(table_state(&w).await, State::keyed(true, true, (4, 2)));
    // The role may use exactly this key.
    let policy = role_policy(&w.ctx(), &w.name()).await;
    let key_statement = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "TableKey")
        .cloned()
        .unwrap_or_else(|| panic!("no TableKey statement: {policy:#}"));
    assert_eq!(key_statement["Resource"], KEY);
    assert!(
        key_statement["Action"]
            .as_array()
            .unwrap()
            .contains(&"kms:Decrypt".into())
    );

    // A second up: nothing to do.
    assert_eq!(counts(&w.json(&["up", "--zip", zip])), (0, 0, 0));
    let status = w.json(&["status"]);
    assert_eq!(status["table"]["point_in_time_recovery"], true, "{status:#}");
    assert!(status["table"]["earliest_restore"].is_string(), "{status:#}");
    assert_eq!(status["table"]["deletion_protection"], true);

    // Each setting changed alone updates only it.
    let steps = [
        (
            "  point_in_time_recovery: false\n  billing_mode: provisioned\n  read_capacity: 4\n  write_capacity: 2\n",
            "point_in_time_recovery",
            State::keyed(false, true, (4, 2)),
        ),
        (
            "  point_in_time_recovery: false\n  billing_mode: provisioned\n  read_capacity: 6\n  write_capacity: 3\n",
            "capacity",
            State::keyed(false, true, (6, 3)),
        ),
        (
            "  point_in_time_recovery: false\n  deletion_protection: false\n  billing_mode: provisioned\n  \
             read_capacity: 6\n  write_capacity: 3\n",
            "deletion_protection",
            State::keyed(false, false, (6, 3)),
        ),
    ];
    for (lines, attribute, state) in steps {
        with_table(&w, &format!("  kms_key: {KEY}\n{lines}"));
        let plan = w.json(&["plan", "--zip", zip]);
        assert_eq!(planned(&plan), [format!("update table {attribute}")], "{plan:#}");
        w.json(&["up", "--zip", zip]);
        assert_eq!(table_state(&w).await, state, "after changing {attribute}");
        assert_eq!(
            counts(&w.json(&["plan", "--zip", zip])),
            (0, 0, 0),
            "{attribute} converged"
        );
    }

    // Drift put back: protection turned off behind the deployer's back is turned on again.
    with_table(
        &w,
        &format!(
            "  kms_key: {KEY}\n  point_in_time_recovery: false\n  billing_mode: provisioned\n  read_capacity: 6\n  write_capacity: 3\n"
        ),
    );
    w.json(&["up", "--zip", zip]);
    w.ctx()
        .dynamodb
        .update_table()
        .table_name(w.name())
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    let plan = w.json(&["plan", "--zip", zip]);
    assert_eq!(planned(&plan), ["update table deletion_protection"], "{plan:#}");
    w.json(&["up", "--zip", zip]);
    assert!(table_state(&w).await.protected, "protection put back");

    // down without --delete-data keeps the protected table (even empty) and says how to remove it.
    let out = w.run(&["down", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("deletion protection is on"), "{text}");
    assert!(text.contains("--delete-data"), "{text}");
    assert!(table_state(&w).await.protected, "the table is still there, protected");
    // With --delete-data: protection off, table deleted, nothing left.
    w.json(&["down", "--yes", "--delete-data"]);
    let tables = w.ctx().dynamodb.list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty(), "{tables:?}");
}

#[tokio::test]
async fn the_defaults_protect_the_table() {
    let (w, zip) = World::deployed("defaults");
    let state = table_state(&w).await;
    assert!(
        state.pitr && state.protected,
        "point-in-time recovery and deletion protection on by default"
    );
    assert_eq!(
        (state.key, state.billing.as_str()),
        (None, "PAY_PER_REQUEST"),
        "AWS owned key, on demand"
    );
    let policy = role_policy(&w.ctx(), &w.name()).await;
    assert!(
        !policy.to_string().contains("kms:"),
        "no KMS permission without a key: {policy:#}"
    );
    assert_eq!(counts(&w.json(&["up", "--zip", zip.to_str().unwrap()])), (0, 0, 0));
}

#[tokio::test]
async fn reserved_concurrency_is_set_changed_put_back_and_removed_alone() {
    let w = World::new("reserved");
    let with_reserved = |n: Option<i32>| {
        let yaml = config_yaml(&w.app, &w.env_file());
        let line = n.map(|n| format!("  reserved_concurrency: {n}\n")).unwrap_or_default();
        w.write_config(&yaml.replace("  package: orders\n", &format!("  package: orders\n{line}")));
    };
    with_reserved(Some(5));
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap();
    let report = w.json(&["up", "--zip", zip]);
    assert!(
        rows(&report, "create").contains(&"function concurrency reserved-test".to_string()),
        "{report:#}"
    );
    assert_eq!(reserved_concurrency(&w.ctx(), &w.name()).await, Some(5));
    assert_eq!(w.json(&["status"])["reserved_concurrency"], 5);
    assert_eq!(counts(&w.json(&["up", "--zip", zip])), (0, 0, 0));

    with_reserved(Some(7));
    let plan = w.json(&["plan", "--zip", zip]);
    assert_eq!(
        planned(&plan),
        ["update function concurrency reserved_concurrency"],
        "alone, no version published: {plan:#}"
    );
    w.json(&["up", "--zip", zip]);
    assert_eq!(reserved_concurrency(&w.ctx(), &w.name()).await, Some(7));

    // Drift put back.
    w.ctx()
        .lambda
        .put_function_concurrency()
        .function_name(w.name())
        .reserved_concurrent_executions(9)
        .send()
        .await
        .unwrap();
    assert_eq!(
        planned(&w.json(&["plan", "--zip", zip])),
        ["update function concurrency reserved_concurrency"]
    );
    w.json(&["up", "--zip", zip]);
    assert_eq!(reserved_concurrency(&w.ctx(), &w.name()).await, Some(7));

    // Removed from the config: the reservation goes, the function stays.
    with_reserved(None);
    let plan = w.json(&["plan", "--zip", zip]);
    assert_eq!(
        planned(&plan),
        ["update function concurrency reserved_concurrency"],
        "{plan:#}"
    );
    w.json(&["up", "--zip", zip]);
    assert_eq!(reserved_concurrency(&w.ctx(), &w.name()).await, None);
    assert_eq!(counts(&w.json(&["plan", "--zip", zip])), (0, 0, 0));
}

/// `function.tracing: active`: the function is created tracing and the role may send traces (only
/// then); a second `up` makes no write. Going back to `pass_through` plans the function's tracing
/// and the role's policy alone (with the version it freezes). moto applies TracingConfig only at
/// CreateFunction, so the update itself cannot be seen to land here.
#[tokio::test]
async fn active_tracing_is_created_with_the_role_permission_and_a_change_plans_only_it() {
    let w = World::new("traced");
    let with_tracing = |line: &str| {
        let yaml = config_yaml(&w.app, &w.env_file());
        w.write_config(&yaml.replace("  package: orders\n", &format!("  package: orders\n{line}")));
    };
    with_tracing("  tracing: active\n");
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap();
    w.json(&["up", "--zip", zip]);
    let ctx = w.ctx();
    let f = function_configuration(&ctx, &w.name()).await;
    assert_eq!(
        f.tracing_config()
            .and_then(|t| t.mode())
            .map(aws_sdk_lambda::types::TracingMode::as_str),
        Some("Active")
    );
    let traces = |policy: &serde_json::Value| {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "Traces")
            .cloned()
    };
    let statement = traces(&role_policy(&ctx, &w.name()).await).expect("the role may send traces");
    assert_eq!(
        statement["Action"],
        serde_json::json!(["xray:PutTraceSegments", "xray:PutTelemetryRecords"])
    );
    assert_eq!(counts(&w.json(&["up", "--zip", zip])), (0, 0, 0));

    with_tracing("");
    let plan = w.json(&["plan", "--zip", zip]);
    let rows = planned(&plan);
    assert!(rows.contains(&"update role policy document".to_string()), "{rows:#?}");
    assert!(rows.contains(&"update function tracing".to_string()), "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| r.contains("tracing") || r.contains("policy") || r.contains("version") || r.contains("alias")),
        "only tracing, the policy and the version it freezes: {rows:#?}"
    );
    let document = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "role policy")
        .unwrap()["attributes"][0]["to"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !document.contains("xray:"),
        "pass_through needs no X-Ray permission: {document}"
    );
}
