//! Versions, the alias `live`, `rollback` and `status` against moto: one stack (keep_versions: 2)
//! taken through a sequence of `up`s and rollbacks, and the CloudWatch alarms created, updated,
//! disabled and removed by `down`.

use crate::support;

use std::collections::BTreeMap;

use support::*;

fn keep_two(w: &World) {
    let yaml = config_yaml(&w.app, &w.env_file()).replace("function:\n", "function:\n  keep_versions: 2\n");
    w.write_config(&yaml);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_published_on_change_pruned_rolled_back_and_restored() {
    let w = World::new("ver");
    keep_two(&w);
    let (v1, v2) = (w.zip("v1"), w.zip("v2"));
    let up = |zip: &std::path::Path| w.json(&["up", "--zip", zip.to_str().unwrap()]);
    let name = w.name();
    let alias_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:live");

    up(&v1);
    assert_eq!(versions(&w).await, (vec!["1".into()], Some("1".into())));
    // The API invokes the alias, and the permission is the alias's.
    let ctx = w.ctx();
    let api = ctx.apigw.get_apis().send().await.unwrap().items()[0].clone();
    let ints = ctx
        .apigw
        .get_integrations()
        .api_id(api.api_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ints.items()[0].integration_uri(), Some(alias_arn.as_str()));
    let policy = ctx
        .lambda
        .get_policy()
        .function_name(&name)
        .qualifier("live")
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(policy["Statement"][0]["Resource"], alias_arn.as_str(), "{policy}");

    // A no-op `up` publishes nothing.
    let noop = up(&v1);
    assert_eq!(noop["applied"], false, "{noop:#}");
    assert_eq!(versions(&w).await, (vec!["1".into()], Some("1".into())));

    // New code: a version, `live` moves to it.
    let report = up(&v2);
    assert_eq!(rows(&report, "create"), ["version ver-test"], "{report:#}");
    assert_eq!(versions(&w).await, (vec!["1".into(), "2".into()], Some("2".into())));

    // New configuration: a version; beyond keep_versions the oldest goes.
    w.write_config(
        &std::fs::read_to_string(w.config_path())
            .unwrap()
            .replace("memory_mb: 256", "memory_mb: 512"),
    );
    let report = up(&v2);
    assert_eq!(rows(&report, "delete"), ["version ver-test:1"], "{report:#}");
    assert_eq!(versions(&w).await, (vec!["2".into(), "3".into()], Some("3".into())));

    // rollback: to the previous; `plan` and `status` show it.
    let back = w.json(&["rollback"]);
    assert_eq!(
        (back["from"].as_str(), back["to"].as_str()),
        (Some("3"), Some("2")),
        "{back:#}"
    );
    assert_eq!(versions(&w).await.1.as_deref(), Some("2"));
    let plan = w.json(&["plan", "--zip", v2.to_str().unwrap()]);
    assert_eq!(rows(&plan, "update"), ["alias live"], "{plan:#}");
    let status = w.json(&["status"]);
    assert_eq!(status["live"]["version"], "2", "{status:#}");
    assert_eq!(status["differs"], true, "{status:#}");

    // A second rollback, with --to, goes forward again; the oldest has nothing before it.
    let to = w.json(&["rollback", "--to", "3"]);
    assert_eq!(to["to"], "3", "{to:#}");
    assert_eq!(versions(&w).await.1.as_deref(), Some("3"));
    w.json(&["rollback", "--to", "2"]);
    let none = w.run(&["rollback"]);
    assert!(!none.status.success());
    assert!(stderr(&none).contains("nothing to roll back to"), "{}", stderr(&none));
    let gone = w.run(&["rollback", "--to", "1"]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("version 1 of function ver-test does not exist; the kept versions are 2, 3"),
        "{}",
        stderr(&gone)
    );

    // `up` restores the config's version without publishing one.
    let restore = up(&v2);
    assert_eq!(rows(&restore, "update"), ["alias live"], "{restore:#}");
    assert!(rows(&restore, "create").is_empty(), "{restore:#}");
    assert_eq!(versions(&w).await, (vec!["2".into(), "3".into()], Some("3".into())));

    // status: text and JSON.
    let status = w.json(&["status"]);
    let sha = deployer::package::sha256_b64(&std::fs::read(&v2).unwrap());
    assert_eq!(status["live"]["version"], "3", "{status:#}");
    assert_eq!(status["live"]["code_sha256"], sha.as_str(), "{status:#}");
    assert!(
        !status["live"]["last_modified"].as_str().unwrap().is_empty(),
        "{status:#}"
    );
    let kept: Vec<&str> = status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["2", "3"]);
    assert_eq!(status["endpoint"], api.api_endpoint().unwrap(), "{status:#}");
    assert_eq!(status["table"]["ttl_status"], "ENABLED", "{status:#}");
    assert_eq!(status["table"]["items"], 0, "{status:#}");
    assert_eq!(status["differs"], false, "{status:#}");
    assert_eq!(status["alarms"].as_array().unwrap().len(), 3, "{status:#}");
    let text = stdout(&w.run(&["status"]));
    for want in [
        format!("live:     version 3 (code sha256 {sha}"),
        "versions: 2, 3".to_string(),
        "TTL ENABLED on expiration".to_string(),
        "config:   in sync".to_string(),
        format!("alarm:    {name}-errors "),
    ] {
        assert!(text.contains(&want), "{want:?} not in:\n{text}");
    }
}

/// The stack's alarms by name: settings that matter, and whether they carry our tags.
async fn alarms(w: &World) -> BTreeMap<String, (f64, Vec<String>, bool)> {
    let ctx = w.ctx();
    let out = ctx.cloudwatch.describe_alarms().send().await.unwrap();
    let mut found = BTreeMap::new();
    for a in out.metric_alarms() {
        let tags = ctx
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(a.alarm_arn().unwrap())
            .send()
            .await
            .unwrap()
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect();
        found.insert(
            a.alarm_name().unwrap().to_string(),
            (
                a.threshold().unwrap(),
                a.alarm_actions().to_vec(),
                tags_ok(&tags, &w.app),
            ),
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_are_created_updated_disabled_and_removed_by_down() {
    let (w, zip) = World::deployed("alm");
    let up = || w.json(&["up", "--zip", zip.to_str().unwrap()]);
    let names = ["alm-test-errors", "alm-test-failed", "alm-test-throttles"];
    let found = alarms(&w).await;
    assert_eq!(found.keys().map(String::as_str).collect::<Vec<_>>(), names);
    assert!(
        found
            .values()
            .all(|(t, actions, ours)| *t == 1.0 && actions.is_empty() && *ours),
        "{found:?}"
    );
    let errors = w
        .ctx()
        .cloudwatch
        .describe_alarms()
        .alarm_names("alm-test-failed")
        .send()
        .await
        .unwrap();
    let failed = &errors.metric_alarms()[0];
    assert_eq!(
        (failed.namespace(), failed.metric_name()),
        (Some("Oncely"), Some("Failed"))
    );
    assert_eq!(failed.dimensions()[0].value(), Some("alm-test"));
    assert_eq!(failed.treat_missing_data(), Some("notBreaching"));

    // Drift is put back.
    w.ctx()
        .cloudwatch
        .put_metric_alarm()
        .alarm_name("alm-test-errors")
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
    let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    assert_eq!(rows(&plan, "update"), ["alarm alm-test-errors"], "{plan:#}");
    up();
    assert_eq!(alarms(&w).await["alm-test-errors"].0, 1.0);

    // A setting changes every alarm.
    let topic = format!("arn:aws:sns:{REGION}:{ACCOUNT}:alerts");
    let base = config_yaml(&w.app, &w.env_file());
    w.write_config(&format!("{base}alarms:\n  actions: [\"{topic}\"]\n"));
    let report = up();
    assert_eq!(rows(&report, "update").len(), 3, "{report:#}");
    assert!(
        alarms(&w)
            .await
            .values()
            .all(|(_, a, _)| a == std::slice::from_ref(&topic))
    );

    // Disabled: deleted; enabled again: back.
    w.write_config(&format!("{base}alarms: {{ enabled: false }}\n"));
    let report = up();
    assert_eq!(rows(&report, "delete").len(), 3, "{report:#}");
    assert!(alarms(&w).await.is_empty());
    assert_eq!(up()["applied"], false);
    w.write_config(&base);
    let report = up();
    assert_eq!(rows(&report, "create").len(), 3, "{report:#}");

    let down = w.json(&["down", "--yes"]);
    assert_eq!(
        rows(&down, "delete").iter().filter(|r| r.starts_with("alarm ")).count(),
        3,
        "{down:#}"
    );
    assert!(alarms(&w).await.is_empty());
}
