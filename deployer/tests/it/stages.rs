//! Stages: one config, two stacks side by side (`--stage` and `ONCELY_STAGE`), `stages` listing
//! both by their tags, `down` of one never touching the other; a bad `--stage` is refused with the
//! message the config's own `stage` gets.

use crate::support;

use support::*;

fn stage_names(report: &serde_json::Value) -> Vec<&str> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stages_of_one_config_live_side_by_side_and_go_one_at_a_time() {
    let w = World::new("staged");
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap();
    let first = w.json(&["up", "--zip", zip, "--stage", "pr-1"]);
    let out = w
        .command(&["up", "--zip", zip, "--output", "json"])
        .env("ONCELY_STAGE", "pr-2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let second: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (a, b) = (
        first["endpoint"].as_str().unwrap(),
        second["endpoint"].as_str().unwrap(),
    );
    assert_ne!(a, b, "each stage has its own API");
    // The page's env file follows the stage last deployed.
    let env = std::fs::read_to_string(w.env_file()).unwrap();
    assert!(env.contains(b), "{env}");

    // Every resource of each stage is named and tagged for it; the config's own stage is not deployed.
    let pr1 = stack_tags_of(&w, "staged-pr-1").await;
    let pr2 = stack_tags_of(&w, "staged-pr-2").await;
    assert_eq!(
        pr1.len(),
        8,
        "table, log group, role, function, API, 3 alarms: {pr1:#?}"
    );
    assert_eq!(pr2.len(), 8, "{pr2:#?}");
    assert!(pr1.values().all(|t| t["oncely:stage"] == "pr-1"), "{pr1:#?}");
    assert!(pr2.values().all(|t| t["oncely:stage"] == "pr-2"), "{pr2:#?}");
    assert!(
        stack_tags(&w).await.is_empty(),
        "the config's stage `test` was not deployed"
    );

    let stages = w.json(&["stages"]);
    assert_eq!(stage_names(&stages), ["pr-1", "pr-2"], "{stages:#}");
    for (row, endpoint) in stages["stages"].as_array().unwrap().iter().zip([a, b]) {
        assert_eq!(row["endpoint"], endpoint, "{stages:#}");
        assert_eq!(row["live_version"], "1", "{stages:#}");
        assert!(row["last_update"].is_string(), "{stages:#}");
        assert!(row["resources"].as_u64().unwrap() >= 5, "{stages:#}");
    }
    let text = stdout(&w.run(&["stages"]));
    assert!(
        text.contains("app staged in us-east-1: 2 stages") && text.contains(a),
        "{text}"
    );

    // `down` of one stage leaves the other exactly as it was.
    w.json(&["down", "--yes", "--delete-data", "--stage", "pr-1"]);
    assert!(stack_tags_of(&w, "staged-pr-1").await.is_empty());
    assert_eq!(stack_tags_of(&w, "staged-pr-2").await, pr2);
    let plan = w.json(&["plan", "--zip", zip, "--stage", "pr-2"]);
    assert_eq!(counts(&plan), (0, 0, 0), "{plan:#}");
    assert_eq!(stage_names(&w.json(&["stages"])), ["pr-2"]);
    w.json(&["down", "--yes", "--delete-data", "--stage", "pr-2"]);
    assert!(stage_names(&w.json(&["stages"])).is_empty());
}

#[test]
fn a_bad_stage_is_refused_like_the_configs_own() {
    let w = World::new("badstage");
    let out = w.run(&["plan", "--skip-build", "--stage", "PR_1"]);
    assert!(!out.status.success());
    let flag = stderr(&out);
    let message = "\"PR_1\" is not a valid name: use 1..16 characters of a-z, 0-9 and - (not at either end)";
    assert!(flag.contains(&format!("--stage: {message}")), "{flag}");
    let yaml = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&yaml.replace("stage: test", "stage: PR_1"));
    let own = stderr(&w.run(&["plan", "--skip-build"]));
    assert!(own.contains(message), "{own}");
}
