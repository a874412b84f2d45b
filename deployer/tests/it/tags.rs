//! The config's `tags:` on moto: on every resource of a stack with Cognito auth and a queue, next
//! to Oncely's own; a change (a value changed, a tag removed, one added) retags each resource in
//! place and publishes no version; tags changed or added by hand are put back or removed; no
//! tags leaves Oncely's own alone.

use crate::support;

use support::*;

/// The small stack with Cognito auth, the queue `jobs` and `tags` (lines under `tags:`; empty:
/// no `tags:` section).
pub fn with_tags(w: &World, tags: &str) {
    let throttle = "  throttle: { burst: 100, rate: 50 }\n";
    let yaml = config_yaml(&w.app, &w.env_file()).replace(throttle, &format!("{throttle}{AUTH_COGNITO}"));
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!("tags:\n{tags}")
    };
    w.write_config(&format!("{yaml}queues:\n  - name: jobs\n{tags}"));
}

/// Every tagged resource of the stack: table, log group, role, function, HTTP API, three alarms,
/// the queue and its dead-letter queue, the user pool.
pub const TAGGED: usize = 11;

/// Asserts every tagged resource carries exactly `want`.
pub async fn assert_tagged(w: &World, want: &std::collections::BTreeMap<String, String>, when: &str) {
    let tags = stack_tags(w).await;
    assert_eq!(tags.len(), TAGGED, "{when}: {tags:#?}");
    for (resource, found) in &tags {
        assert_eq!(found, want, "{when}: {resource}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_tags_reach_every_resource_and_a_change_retags_each_in_place() {
    let w = World::new("tagged");
    with_tags(&w, "  team: payments\n  cost-center: 4711\n");
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap();
    let plan = w.json(&["plan", "--zip", zip]);
    let function_row = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "function")
        .unwrap()
        .to_string();
    assert!(
        function_row.contains("cost-center=4711"),
        "plan shows the tags: {function_row}"
    );
    w.json(&["up", "--zip", zip]);
    let first = expected_tags(&w.app, &[("team", "payments"), ("cost-center", "4711")]);
    assert_tagged(&w, &first, "created").await;
    assert_eq!(counts(&w.json(&["up", "--zip", zip])), (0, 0, 0));
    let published = versions(&w).await;

    // One value changed, one tag removed, one added: every resource's tags alone, in place.
    with_tags(&w, "  team: platform\n  owner: ops@example.com\n");
    let plan = w.json(&["plan", "--zip", zip]);
    let rows = planned(&plan);
    assert_eq!(rows.len(), TAGGED, "{plan:#}");
    assert!(
        rows.iter().all(|r| r.starts_with("update ") && r.ends_with(" tags")),
        "{rows:#?}"
    );
    w.json(&["up", "--zip", zip]);
    let second = expected_tags(&w.app, &[("team", "platform"), ("owner", "ops@example.com")]);
    assert_tagged(&w, &second, "changed").await;
    assert_eq!(versions(&w).await, published, "a change of tags publishes no version");
    assert_eq!(counts(&w.json(&["up", "--zip", zip])), (0, 0, 0));

    // Drift: a tag added by hand goes, a value changed by hand and a tag removed by hand come back.
    let ctx = w.ctx();
    let name = w.name();
    let table = ctx.dynamodb.describe_table().table_name(&name).send().await.unwrap();
    let tag = aws_sdk_dynamodb::types::Tag::builder()
        .key("added-by")
        .value("hand")
        .build()
        .unwrap();
    ctx.dynamodb
        .tag_resource()
        .resource_arn(table.table().unwrap().table_arn().unwrap())
        .tags(tag)
        .send()
        .await
        .unwrap();
    let iam_tag = aws_sdk_iam::types::Tag::builder()
        .key("team")
        .value("other")
        .build()
        .unwrap();
    ctx.iam.tag_role().role_name(&name).tags(iam_tag).send().await.unwrap();
    let function = ctx.lambda.get_function().function_name(&name).send().await.unwrap();
    let function_arn = function.configuration().unwrap().function_arn().unwrap();
    ctx.lambda
        .untag_resource()
        .resource(function_arn)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let plan = w.json(&["plan", "--zip", zip]);
    assert_eq!(
        planned(&plan),
        ["update table tags", "update role tags", "update function tags"],
        "{plan:#}"
    );
    w.json(&["up", "--zip", zip]);
    assert_tagged(&w, &second, "drift put back").await;

    // No tags: Oncely's own stay, the user's go.
    with_tags(&w, "");
    w.json(&["up", "--zip", zip]);
    assert_tagged(&w, &expected_tags(&w.app, &[]), "removed").await;
    assert_eq!(counts(&w.json(&["plan", "--zip", zip])), (0, 0, 0));
    w.json(&["down", "--yes", "--delete-data"]);
    let left = stack_tags(&w).await;
    assert!(left.is_empty(), "down left nothing tagged: {left:#?}");
}

#[test]
fn a_reserved_or_malformed_tag_stops_plan_before_any_call() {
    let w = World::new("badtags");
    with_tags(&w, "  managed-by: me\n  team: [a]\n");
    let out = w.run(&["plan"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("tags.managed-by") && err.contains("reserved"), "{err}");
    assert!(
        err.contains("tags.team") && err.contains("text, a number or true/false"),
        "{err}"
    );
    assert!(err.contains("nothing was created"), "{err}");
}
