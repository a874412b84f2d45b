//! End to end: the deployer binary against moto (IAM, Lambda, API Gateway v2, DynamoDB, Logs, STS).

use crate::support;

use deployer::config::Config;
use deployer::engine;
use deployer::stack::Stack;
use serde_json::json;
use support::*;

#[tokio::test]
async fn fresh_up_creates_all_five_resources_with_every_property() {
    let w = World::new("fresh");
    let zip = w.zip("v1");
    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    // The five resources' 11 rows, the first version, the alias `live` and three alarms.
    assert_eq!(report["create"], 16, "{report:#}");
    assert_eq!(
        (report["update"].as_u64(), report["delete"].as_u64()),
        (Some(0), Some(0))
    );
    let ctx = w.ctx();
    let name = w.name();

    // 1. Table: on-demand, key id (S), TTL on `expiration`, tagged.
    let t = ctx.dynamodb.describe_table().table_name(&name).send().await.unwrap();
    let t = t.table().unwrap();
    assert_eq!(
        t.billing_mode_summary().unwrap().billing_mode().unwrap().as_str(),
        "PAY_PER_REQUEST"
    );
    assert_eq!(t.key_schema().len(), 1);
    assert_eq!(
        (
            t.key_schema()[0].attribute_name(),
            t.key_schema()[0].key_type().as_str()
        ),
        ("id", "HASH")
    );
    assert_eq!(t.attribute_definitions()[0].attribute_type().as_str(), "S");
    assert_eq!(
        table_ttl(&ctx, &name).await,
        ("ENABLED".into(), Some("expiration".into()))
    );
    let tags = table_tags(&ctx, t.table_arn().unwrap()).await;
    assert!(tags_ok(&tags, "fresh"), "{tags:?}");

    // 2. Log group with retention and tags.
    let groups = ctx
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 1);
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(14));

    // 3. Role: trusted by Lambda only, one inline least-privilege policy, nothing attached.
    let role = ctx.iam.get_role().role_name(&name).send().await.unwrap().role.unwrap();
    let trust = deployer::resources::role::decode_document(role.assume_role_policy_document().unwrap());
    assert_eq!(
        trust["Statement"][0]["Principal"],
        json!({"Service": "lambda.amazonaws.com"})
    );
    assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
    let inline = ctx.iam.list_role_policies().role_name(&name).send().await.unwrap();
    assert_eq!(inline.policy_names(), [format!("{name}-access")]);
    let doc = ctx
        .iam
        .get_role_policy()
        .role_name(&name)
        .policy_name(format!("{name}-access"))
        .send()
        .await
        .unwrap();
    let doc = deployer::resources::role::decode_document(doc.policy_document());
    let statements = doc["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    assert_eq!(
        statements[0]["Resource"],
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
    );
    let actions: Vec<&str> = statements[0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "dynamodb:ConditionCheckItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem"
        ]
    );
    assert_eq!(
        statements[1]["Action"],
        json!(["logs:CreateLogStream", "logs:PutLogEvents"])
    );
    assert_eq!(
        statements[1]["Resource"],
        format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}:*")
    );
    assert!(
        !doc.to_string().contains("\"*\""),
        "no wildcard action or resource: {doc}"
    );
    assert!(
        ctx.iam
            .list_attached_role_policies()
            .role_name(&name)
            .send()
            .await
            .unwrap()
            .attached_policies()
            .is_empty()
    );

    // 4. Function: provided.al2023, bootstrap, x86_64, memory, timeout, environment, role, code.
    let f = ctx.lambda.get_function().function_name(&name).send().await.unwrap();
    let c = f.configuration().unwrap();
    assert_eq!(c.runtime().unwrap().as_str(), "provided.al2023");
    assert_eq!(c.handler(), Some("bootstrap"));
    assert_eq!(c.architectures()[0].as_str(), "x86_64");
    assert_eq!((c.memory_size(), c.timeout()), (Some(256), Some(15)));
    assert_eq!(c.role(), Some(format!("arn:aws:iam::{ACCOUNT}:role/{name}").as_str()));
    let env = c.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("TABLE_NAME"), Some(&name));
    assert_eq!(
        env.get("IDEMPOTENCY_EXPIRES_AFTER_S").map(String::as_str),
        Some("86400")
    );
    assert_eq!(
        env.get("IDEMPOTENCY_HEADER").map(String::as_str),
        Some("Idempotency-Key")
    );
    assert_eq!(
        env.get("IDEMPOTENCY_LOCAL_CACHE_ITEMS").map(String::as_str),
        Some("256")
    );
    assert_eq!(env.get("GREETING").map(String::as_str), Some("hello"));
    let zip_sha = deployer::package::sha256_b64(&std::fs::read(&zip).unwrap());
    assert_eq!(c.code_sha256(), Some(zip_sha.as_str()));
    assert!(tags_ok(
        &f.tags().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        "fresh"
    ));

    // 5. HTTP API: CORS, one AWS_PROXY 2.0 integration, the routes, $default stage, permission.
    let apis = ctx.apigw.get_apis().send().await.unwrap();
    let api = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(name.as_str()))
        .expect("the API");
    let api_id = api.api_id().unwrap();
    let cors = api.cors_configuration().unwrap();
    assert_eq!(cors.allow_origins(), ["http://localhost:5173"]);
    assert!(cors.expose_headers().iter().any(|h| h == "idempotent-replayed"));
    let ints = ctx.apigw.get_integrations().api_id(api_id).send().await.unwrap();
    assert_eq!(ints.items().len(), 1);
    let i = &ints.items()[0];
    assert_eq!(i.integration_type().unwrap().as_str(), "AWS_PROXY");
    assert_eq!(
        i.integration_uri(),
        Some(format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:live").as_str())
    );
    assert_eq!(i.payload_format_version(), Some("2.0"));
    let routes = ctx.apigw.get_routes().api_id(api_id).send().await.unwrap();
    let mut keys: Vec<&str> = routes.items().iter().map(|r| r.route_key().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["GET /orders/{id}", "POST /orders"]);
    assert!(
        routes
            .items()
            .iter()
            .all(|r| r.target() == Some(format!("integrations/{}", i.integration_id().unwrap()).as_str()))
    );
    let stages = ctx.apigw.get_stages().api_id(api_id).send().await.unwrap();
    let stage = stages
        .items()
        .iter()
        .find(|s| s.stage_name() == Some("$default"))
        .expect("$default stage");
    assert_eq!(stage.auto_deploy(), Some(true));
    let settings = stage.default_route_settings().unwrap();
    assert_eq!(
        (settings.throttling_burst_limit(), settings.throttling_rate_limit()),
        (Some(100), Some(50.0))
    );
    let policy = function_policy(&ctx, &name).await;
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Principal"]["Service"], "apigateway.amazonaws.com");
    assert_eq!(
        statements[0]["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/*")
    );

    // The result names the endpoint, and the frontend's env file has it.
    let endpoint = report["endpoint"].as_str().unwrap();
    assert_eq!(endpoint, api.api_endpoint().unwrap());
    assert_eq!(
        std::fs::read_to_string(w.env_file()).unwrap(),
        format!("VITE_API_URL={endpoint}\n")
    );
}

#[tokio::test]
async fn a_second_up_changes_nothing_and_sends_no_write() {
    let (w, zip) = World::deployed("again");
    let ctx = w.ctx();
    let name = w.name();
    let before = function_configuration(&ctx, &name).await;

    // In-process with a call recorder: only reads.
    let config = Config::load(&w.config_path()).unwrap();
    let (recorded, calls) = w.recorded_ctx();
    let stack = Stack::new(&config, &recorded);
    let code = deployer::package::Artifact::from_zip(&zip).unwrap();
    let report = engine::up(&recorded, &stack, &code, Default::default()).await.unwrap();
    assert!(!report.applied && !report.has_changes(), "{report}");
    let sent = calls.take();
    for read in [
        "DescribeTable",
        "DescribeTimeToLive",
        "GetRole",
        "GetFunction",
        "GetPolicy",
        "GetApis",
        "GetRoutes",
        "GetStages",
    ] {
        assert!(sent.iter().any(|c| c == read), "the recorder saw no {read}: {sent:?}");
    }
    let writes: Vec<&String> = sent.iter().filter(|c| !is_read(c)).collect();
    assert!(writes.is_empty(), "a converged stack got writes: {writes:?}");

    // Through the CLI: says so, and plan agrees.
    let out = w.run(&["up", "--zip", zip.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("No changes: the stack is up to date (16 unchanged)"),
        "{}",
        stdout(&out)
    );
    let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    assert_eq!(
        (
            plan["create"].as_u64(),
            plan["update"].as_u64(),
            plan["delete"].as_u64(),
            plan["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(16))
    );
    let text = w.run(&["plan", "--zip", zip.to_str().unwrap()]);
    assert!(
        stdout(&text).contains("Plan: 0 to create, 0 to update, 0 to delete, 16 unchanged"),
        "{}",
        stdout(&text)
    );

    let after = function_configuration(&ctx, &name).await;
    assert_eq!(before.code_sha256(), after.code_sha256());
    assert_eq!(before.last_modified(), after.last_modified());
    let policy = function_policy(&ctx, &name).await;
    assert_eq!(
        policy["Statement"].as_array().unwrap().len(),
        1,
        "one permission statement"
    );
    let api_id = ctx.apigw.get_apis().send().await.unwrap().items()[0]
        .api_id()
        .unwrap()
        .to_string();
    assert_eq!(
        ctx.apigw
            .get_routes()
            .api_id(&api_id)
            .send()
            .await
            .unwrap()
            .items()
            .len(),
        2,
        "no duplicate route"
    );
    assert_eq!(
        ctx.apigw.get_apis().send().await.unwrap().items().len(),
        1,
        "no second API"
    );
}

#[tokio::test]
async fn a_config_change_updates_exactly_that() {
    let (w, zip) = World::deployed("change");
    let yaml = std::fs::read_to_string(w.config_path())
        .unwrap()
        .replace("memory_mb: 256", "memory_mb: 512")
        .replace("GREETING: hello", "GREETING: hello\n    FEATURE_X: \"on\"")
        .replace(
            "[\"POST /orders\", \"GET /orders/{id}\"]",
            "[\"POST /orders\", \"DELETE /orders/{id}\"]",
        )
        .replace("http://localhost:5173", "https://shop.example");
    w.write_config(&yaml);

    let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    assert_eq!(plan["changes"], report["changes"], "up does what plan said");
    // The new configuration is published as a version, and `live` moves to it.
    assert_eq!(
        rows(&report, "create"),
        [format!("version {}", w.name()), "route DELETE /orders/{id}".into()]
    );
    assert_eq!(rows(&report, "delete"), ["route GET /orders/{id}"]);
    let mut updated = rows(&report, "update");
    updated.sort();
    assert_eq!(
        updated,
        [
            "alias live".to_string(),
            format!("function {}", w.name()),
            format!("http api {}", w.name())
        ]
    );
    assert_eq!(attrs(&report, "function"), ["memory_size", "environment.FEATURE_X"]);
    assert_eq!(attrs(&report, "http api"), ["cors"]);

    let ctx = w.ctx();
    let c = function_configuration(&ctx, &w.name()).await;
    assert_eq!(c.memory_size(), Some(512));
    assert_eq!(
        c.environment()
            .unwrap()
            .variables()
            .unwrap()
            .get("FEATURE_X")
            .map(String::as_str),
        Some("on")
    );
    assert_eq!(
        c.code_sha256().unwrap(),
        deployer::package::sha256_b64(&std::fs::read(&zip).unwrap()),
        "code untouched"
    );
    let api = ctx.apigw.get_apis().send().await.unwrap().items()[0].clone();
    assert_eq!(
        api.cors_configuration().unwrap().allow_origins(),
        ["https://shop.example"]
    );
    let mut keys: Vec<String> = ctx
        .apigw
        .get_routes()
        .api_id(api.api_id().unwrap())
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .map(|r| r.route_key().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, ["DELETE /orders/{id}", "POST /orders"]);

    // New code: only the code is uploaded (and published, `live` moved to it).
    let v2 = w.zip("v2");
    let report = w.json(&["up", "--zip", v2.to_str().unwrap()]);
    assert_eq!(
        rows(&report, "update"),
        [format!("function {}", w.name()), "alias live".into()]
    );
    assert_eq!(attrs(&report, "function"), ["code_sha256"]);
    let c = function_configuration(&ctx, &w.name()).await;
    assert_eq!(
        c.code_sha256().unwrap(),
        deployer::package::sha256_b64(&std::fs::read(&v2).unwrap())
    );
}

#[tokio::test]
async fn down_removes_everything_and_a_second_down_has_nothing_to_do() {
    let (w, _) = World::deployed("down");
    let ctx = w.ctx();
    let name = w.name();

    // Without a terminal, down needs --yes and deletes nothing without it.
    let refused = w.run(&["down"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("pass --yes"), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!("function {name}")),
        "lists what it would delete: {}",
        stderr(&refused)
    );
    assert!(ctx.lambda.get_function().function_name(&name).send().await.is_ok());

    // A table holding an order is kept, and down says how many items it kept.
    ctx.dynamodb
        .put_item()
        .table_name(&name)
        .item("id", aws_sdk_dynamodb::types::AttributeValue::S("order#1".into()))
        .send()
        .await
        .unwrap();
    let report = w.json(&["down", "--yes"]);
    let deleted = rows(&report, "delete");
    assert_eq!(
        deleted,
        [
            format!("alarm {name}-errors"),
            format!("alarm {name}-failed"),
            format!("alarm {name}-throttles"),
            format!("http api {name}"),
            format!("permission {name}-apigateway-invoke"),
            format!("function {name}"),
            format!("log group /aws/lambda/{name}"),
            format!("role policy {name}-access"),
            format!("role {name}"),
        ],
        "dependency order"
    );
    let table_row = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "table")
        .unwrap();
    assert!(
        table_row["note"].as_str().unwrap().contains("1 items (1 orders)"),
        "{table_row}"
    );
    assert!(
        ctx.dynamodb.describe_table().table_name(&name).send().await.is_ok(),
        "the table with an order is kept"
    );
    assert!(ctx.lambda.get_function().function_name(&name).send().await.is_err());
    assert!(ctx.iam.get_role().role_name(&name).send().await.is_err());
    assert!(ctx.apigw.get_apis().send().await.unwrap().items().is_empty());
    assert!(
        ctx.logs
            .describe_log_groups()
            .log_group_name_prefix(format!("/aws/lambda/{name}"))
            .send()
            .await
            .unwrap()
            .log_groups()
            .is_empty()
    );

    let report = w.json(&["down", "--yes", "--delete-data"]);
    assert_eq!(rows(&report, "delete"), [format!("table {name}")]);
    assert!(ctx.dynamodb.describe_table().table_name(&name).send().await.is_err());

    let again = w.run(&["down", "--yes"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("Nothing to delete"), "{}", stdout(&again));
    // Without anything to delete, no confirmation is needed either.
    assert!(w.run(&["down"]).status.success());
}

#[tokio::test]
async fn an_untagged_resource_with_our_name_is_never_adopted_nor_deleted() {
    let w = World::new("foreign");
    let ctx = w.ctx();
    let name = w.name();
    testkit::create_table(&ctx.dynamodb, &name).await;
    let zip = w.zip("v1");
    let out = w.run(&["up", "--zip", zip.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("table {name} exists but is not managed by oncely")) && err.contains("refusing to adopt"),
        "{err}"
    );
    assert!(
        ctx.iam.get_role().role_name(&name).send().await.is_err(),
        "nothing was created"
    );
    assert!(ctx.apigw.get_apis().send().await.unwrap().items().is_empty());

    let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    assert_eq!(rows(&plan, "foreign"), [format!("table {name}")]);

    let down = w.run(&["down", "--yes"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(
        stderr(&down).contains("not tagged as oncely's"),
        "warns: {}",
        stderr(&down)
    );
    assert!(
        ctx.dynamodb.describe_table().table_name(&name).send().await.is_ok(),
        "the foreign table survives"
    );
}

#[tokio::test]
async fn up_converges_a_half_created_stack() {
    let (w, zip) = World::deployed("half");
    // Lose everything but the role and the table (an interrupted first run, or a partial delete).
    let ctx = w.ctx();
    let name = w.name();
    let api_id = ctx.apigw.get_apis().send().await.unwrap().items()[0]
        .api_id()
        .unwrap()
        .to_string();
    ctx.apigw.delete_api().api_id(&api_id).send().await.unwrap();
    ctx.lambda.delete_function().function_name(&name).send().await.unwrap();
    ctx.logs
        .delete_log_group()
        .log_group_name(format!("/aws/lambda/{name}"))
        .send()
        .await
        .unwrap();

    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    let mut unchanged = rows(&report, "unchanged");
    unchanged.sort();
    assert_eq!(
        unchanged,
        [
            format!("alarm {name}-errors"),
            format!("alarm {name}-failed"),
            format!("alarm {name}-throttles"),
            format!("role {name}"),
            format!("role policy {name}-access"),
            format!("table {name}")
        ]
    );
    // The function's rows, with its first version and the alias `live` again.
    assert_eq!(report["create"], 10);
    let again = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    assert_eq!(counts(&again), (0, 0, 0), "{again:#}");
    let policy = function_policy(&ctx, &name).await;
    let new_api = ctx.apigw.get_apis().send().await.unwrap().items()[0]
        .api_id()
        .unwrap()
        .to_string();
    assert_eq!(
        policy["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{new_api}/*/*")
    );
}

#[tokio::test]
async fn an_invalid_config_fails_with_positions_and_creates_nothing() {
    let w = World::new("invalid");
    w.write_config("app: Invalid_App\nstage: test\nfunction:\n  memory_mb: 64\n  timeot_s: 10\n");
    let zip = w.zip("v1");
    let out = w.run(&["up", "--zip", zip.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let file = w.config_path().display().to_string();
    assert!(err.contains("nothing was created"), "{err}");
    assert!(
        err.contains(&format!(
            "{file}:5:3: `function.timeot_s`: unknown key; did you mean `timeout_s`?"
        )),
        "{err}"
    );
    // Unknown keys are reported first; fix them and the value problems all show at once.
    w.write_config("app: Invalid_App\nstage: test\nfunction:\n  memory_mb: 64\n  timeout_s: 99\n");
    let err = stderr(&w.run(&["up", "--zip", zip.to_str().unwrap()]));
    for needle in [
        format!("{file}:1:1: `app`"),
        format!("{file}:4:3: `function.memory_mb`"),
        format!("{file}:5:3: `function.timeout_s`"),
    ] {
        assert!(err.contains(&needle), "missing {needle:?} in:\n{err}");
    }
    let ctx = w.ctx();
    assert!(
        ctx.dynamodb
            .list_tables()
            .send()
            .await
            .unwrap()
            .table_names()
            .is_empty()
    );
    assert!(
        ctx.iam
            .list_roles()
            .send()
            .await
            .unwrap()
            .roles()
            .iter()
            .all(|r| !r.role_name().starts_with("invalid"))
    );
}

#[tokio::test]
async fn sync_endpoint_writes_the_live_endpoint_and_keeps_other_lines() {
    let w = World::new("sync");
    let not_deployed = w.run(&["sync-endpoint"]);
    assert!(!not_deployed.status.success());
    assert!(
        stderr(&not_deployed).contains("is not deployed"),
        "{}",
        stderr(&not_deployed)
    );
    let zip = w.zip("v1");
    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    std::fs::write(w.env_file(), "# mine\nVITE_OTHER=1\nVITE_API_URL=http://stale\n").unwrap();
    let out = w.json(&["sync-endpoint"]);
    assert_eq!(out["endpoint"], report["endpoint"]);
    assert_eq!(
        std::fs::read_to_string(w.env_file()).unwrap(),
        format!(
            "# mine\nVITE_OTHER=1\nVITE_API_URL={}\n",
            report["endpoint"].as_str().unwrap()
        )
    );
}

#[test]
fn missing_credentials_are_one_clear_sentence() {
    let w = World::new("nocreds");
    let out = w
        .command(&["plan", "--skip-build"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no AWS credentials were found") && err.contains("AWS_PROFILE") && err.contains("--local"),
        "{err}"
    );
}

/// `store: redis` in a VPC: the Redis URL lives in an SSM SecureString and the function reads it
/// during init; its environment holds only the reference, the role may read exactly that
/// parameter (and a Secrets Manager secret of `function.secrets`, by its full ARN), and the
/// network interface permissions Lambda needs; a missing or unencrypted secret stops `up` before
/// anything is created; leaving the VPC takes the ENI permissions away.
#[tokio::test]
async fn a_redis_store_in_a_vpc_reads_its_url_from_a_secret_the_role_may_read_alone() {
    let w = World::new("redis");
    let base = std::fs::read_to_string(w.config_path()).unwrap();
    let vpc = "  vpc: { subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210], \
               security_group_ids: [sg-0a1b2c3d4e5f60718] }\n";
    let with_vpc = base.replace("  timeout_s: 15\n", &format!("  timeout_s: 15\n{vpc}"));
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap();
    let ctx = w.ctx();
    let sdk = w.sdk_config();
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let url = "rediss://app:s3cret-pass@cache.internal:6380/0";
    let up_fails = |why: &str| {
        let out = w.run(&["up", "--zip", zip]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(why), "{err}");
        assert!(!err.contains("s3cret-pass"), "{err}");
    };

    // No secret named: one sentence saying how, and nothing created.
    w.write_config(&format!("{with_vpc}idempotency:\n  store: redis\n"));
    up_fails("`idempotency.redis.url_secret` is not set");
    let parameter = "/redis/test/redis-url";
    let redis = format!("idempotency:\n  store: redis\n  redis: {{ url_secret: \"ssm:{parameter}\" }}\n");
    w.write_config(&format!("{with_vpc}{redis}"));
    up_fails("ssm:/redis/test/redis-url (for ONCELY_REDIS_URL) does not exist in us-east-1");
    // Stored unencrypted: refused too.
    let put = |kind: aws_sdk_ssm::types::ParameterType| {
        ssm.put_parameter()
            .name(parameter)
            .value(url)
            .r#type(kind)
            .overwrite(true)
            .send()
    };
    put(aws_sdk_ssm::types::ParameterType::String).await.unwrap();
    up_fails("is a String parameter");
    assert!(ctx.lambda.get_function().function_name(w.name()).send().await.is_err());

    put(aws_sdk_ssm::types::ParameterType::SecureString).await.unwrap();
    let out = w.run(&["up", "--zip", zip, "--output", "json"]);
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{shown}");
    assert!(!shown.contains("s3cret-pass"), "the URL was printed:\n{shown}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["secrets"][0]["reference"], "ssm:/redis/test/redis-url",
        "{report:#}"
    );
    assert_eq!(report["secrets"][0]["kind"], "SecureString", "{report:#}");
    let c = function_configuration(&ctx, &w.name()).await;
    let env = c.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("ONCELY_STORE").map(String::as_str), Some("redis"));
    assert_eq!(
        env.get("ONCELY_REDIS_URL_ENV").map(String::as_str),
        Some("ONCELY_REDIS_URL")
    );
    assert_eq!(
        env.get("ONCELY_SECRETS").map(String::as_str),
        Some("ONCELY_REDIS_URL=ssm:/redis/test/redis-url")
    );
    assert!(
        !env.contains_key("ONCELY_REDIS_URL"),
        "the URL is not in the environment"
    );
    assert!(!format!("{env:?}").contains("s3cret-pass"));
    let v = c.vpc_config().unwrap();
    assert_eq!(v.subnet_ids(), ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]);
    assert_eq!(v.security_group_ids(), ["sg-0a1b2c3d4e5f60718"]);
    let statement = |doc: &serde_json::Value, sid: &str| {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
    };
    let policy = role_policy(&ctx, &w.name()).await;
    let eni = statement(&policy, "FunctionNetworkInterfaces").expect("the ENI statement");
    assert_eq!(eni["Resource"], "*");
    assert_eq!(eni["Action"], json!(deployer::resources::role::ENI_ACTIONS));
    let parameters = statement(&policy, "SecretParameters").expect("the parameter statement");
    assert_eq!(parameters["Action"], json!(["ssm:GetParameter"]));
    assert_eq!(
        parameters["Resource"],
        json!(["arn:aws:ssm:us-east-1:123456789012:parameter/redis/test/redis-url"])
    );
    assert_eq!(counts(&w.json(&["up", "--zip", zip])), (0, 0, 0));
    let text = stdout(&w.run(&["plan", "--zip", zip]));
    assert!(
        text.contains("secret:   ONCELY_REDIS_URL <- ssm:/redis/test/redis-url (SecureString)"),
        "{text}"
    );

    // A secret of the function's own, in Secrets Manager: missing first, then read by its full ARN.
    let with_secret = with_vpc.replace(
        "    GREETING: hello\n",
        "    GREETING: hello\n  secrets:\n    STRIPE_KEY: secretsmanager:redis/stripe\n",
    );
    w.write_config(&format!("{with_secret}{redis}"));
    up_fails("secretsmanager:redis/stripe (for STRIPE_KEY) does not exist in us-east-1");
    let created = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("redis/stripe")
        .secret_string("sk_live_abc")
        .send()
        .await
        .unwrap();
    let report = w.json(&["up", "--zip", zip]);
    assert!(!report.to_string().contains("sk_live_abc"));
    let c = function_configuration(&ctx, &w.name()).await;
    assert_eq!(
        c.environment()
            .unwrap()
            .variables()
            .unwrap()
            .get("ONCELY_SECRETS")
            .map(String::as_str),
        Some("ONCELY_REDIS_URL=ssm:/redis/test/redis-url,STRIPE_KEY=secretsmanager:redis/stripe")
    );
    let values = statement(&role_policy(&ctx, &w.name()).await, "SecretValues").expect("the secret statement");
    assert_eq!(values["Action"], json!(["secretsmanager:GetSecretValue"]));
    assert_eq!(values["Resource"], json!([created.arn().unwrap()]));
    let status = w.json(&["status"]);
    assert_eq!(status["secrets"].as_array().unwrap().len(), 2, "{status:#}");
    assert_eq!(status["secrets"][1]["arn"], created.arn().unwrap(), "{status:#}");

    // Out of the VPC: empty VPC config, and the ENI permissions go.
    w.write_config(&format!("{}{redis}", with_secret.replace(vpc, "")));
    let report = w.json(&["up", "--zip", zip]);
    assert_eq!(attrs(&report, "function"), ["vpc"]);
    let c = function_configuration(&ctx, &w.name()).await;
    assert!(
        c.vpc_config().is_none_or(|v| v.subnet_ids().is_empty()),
        "{:?}",
        c.vpc_config()
    );
    assert!(statement(&role_policy(&ctx, &w.name()).await, "FunctionNetworkInterfaces").is_none());
}

/// `up --local` takes `function.secrets` from its own shell: a missing one is named with its
/// deployed reference before anything starts.
#[test]
fn up_local_names_a_secret_missing_from_its_shell() {
    let w = World::new("localsecret");
    let base = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&base.replace(
        "    GREETING: hello\n",
        "    GREETING: hello\n  secrets:\n    STRIPE_KEY: secretsmanager:shop/stripe\n",
    ));
    let out = w.command(&["up", "--local"]).env_remove("STRIPE_KEY").output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("not set: STRIPE_KEY (deployed: secretsmanager:shop/stripe)"),
        "{err}"
    );
}
