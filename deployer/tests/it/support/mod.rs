//! The shared harness of the deployer's end-to-end tests: a moto server per test, the deployer
//! binary run against it, SDK clients (with a call recorder) to inspect what it did.

pub mod auth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_config::SdkConfig;
use deployer::context::Context;
use deployer::progress::Progress;
use testkit::TempDir;
pub use testkit::{Calls, REGION, is_read};

pub const ACCOUNT: &str = "123456789012";

/// `api.auth` with a Cognito user pool; `GET /orders/{id}` stays public.
pub const AUTH_COGNITO: &str = "  auth: { cognito: {}, public_routes: [\"GET /orders/{id}\"] }\n";

/// The YAML of every test stack, cloud or local: `app` at stage `test` in [`REGION`], the orders
/// routes with CORS for the dev server, the frontend's env file at `env_file`; `function` and `api`
/// are lines appended under those sections (indented by two spaces) and `rest` more sections.
pub fn stack_yaml(app: &str, function: &str, api: &str, rest: &str, env_file: &Path) -> String {
    format!(
        "app: {app}\nstage: test\nregion: {REGION}\nfunction:\n  package: orders\n{function}\
        api:\n  routes: [\"POST /orders\", \"GET /orders/{{id}}\"]\n  \
        cors: {{ allow_origins: [\"http://localhost:5173\"] }}\n{api}\
        frontend:\n  env_file: {}\n{rest}",
        env_file.display()
    )
}

/// A report's `(create, update, delete)` counts (`(0, 0, 0)`: nothing to do, nothing done).
pub fn counts(report: &serde_json::Value) -> (u64, u64, u64) {
    let count = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("no `{key}` count: {report:#}"))
    };
    (count("create"), count("update"), count("delete"))
}

/// The YAML of the cloud tests' small stack.
pub fn config_yaml(app: &str, env_file: &Path) -> String {
    stack_yaml(
        app,
        "  memory_mb: 256\n  timeout_s: 15\n  environment:\n    GREETING: hello\n",
        "  throttle: { burst: 100, rate: 50 }\n",
        "",
        env_file,
    )
}

/// One test's world: a moto server, a temp dir with the config, and a deployable zip.
pub struct World {
    pub moto: testkit::Moto,
    dir: TempDir,
    pub app: String,
    /// Where the deployer sends its calls when not straight to moto (a proxy in front of it).
    pub deployer_endpoint: Option<String>,
}

impl World {
    pub fn new(app: &str) -> World {
        let world = World {
            moto: testkit::moto(),
            dir: testkit::temp_dir(),
            app: app.to_string(),
            deployer_endpoint: None,
        };
        world.write_config(&config_yaml(app, &world.env_file()));
        world
    }

    /// A world whose stack is up, deployed with the zip `v1` (returned too).
    pub fn deployed(app: &str) -> (World, PathBuf) {
        let world = World::new(app);
        let zip = world.zip("v1");
        world.json(&["up", "--zip", zip.to_str().unwrap()]);
        (world, zip)
    }

    pub fn name(&self) -> String {
        format!("{}-test", self.app)
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("stack.yaml")
    }
    pub fn env_file(&self) -> PathBuf {
        self.dir.path().join("frontend").join(".env.local")
    }
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(self.config_path(), yaml).unwrap();
    }

    /// Writes the small stack's config with `auth` (YAML lines under `api:`, e.g. [`AUTH_COGNITO`];
    /// empty: no `api.auth`).
    pub fn set_auth(&self, auth: &str) {
        let throttle = "  throttle: { burst: 100, rate: 50 }\n";
        let yaml = config_yaml(&self.app, &self.env_file()).replace(throttle, &format!("{throttle}{auth}"));
        self.write_config(&yaml);
    }

    /// A deployable zip whose content is `marker` (moto never runs it; it only stores and hashes it).
    pub fn zip(&self, marker: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{marker}.zip"));
        std::fs::write(
            &path,
            deployer::package::zip_bootstrap(format!("#!/bin/sh\n# {marker}\n").as_bytes()).unwrap(),
        )
        .unwrap();
        path
    }

    /// The deployer's environment: moto's endpoint and fake credentials, nothing from the host.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(self.dir.path(), &self.config_path(), args)
    }

    /// [`World::command`] run in `dir` with the config `config` (another workspace's).
    pub fn command_in(&self, dir: &Path, config: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deployer"));
        cmd.args(args).arg("--config").arg(config).current_dir(dir);
        for var in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL_DYNAMODB",
        ] {
            cmd.env_remove(var);
        }
        let endpoint = self.deployer_endpoint.clone().unwrap_or_else(|| self.moto.endpoint());
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the deployer runs")
    }

    /// Runs and expects success; returns the parsed `--output json` document.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "deployer {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)))
    }

    pub fn sdk_config(&self) -> SdkConfig {
        testkit::sdk_config(&self.moto.endpoint(), testkit::TEST_KEY_ID)
    }

    /// Clients for inspecting moto.
    pub fn ctx(&self) -> Context {
        Context::from_sdk_config(&self.sdk_config(), REGION.into(), ACCOUNT.into(), Progress::silent())
    }

    /// A context whose every client records the operations it sends.
    pub fn recorded_ctx(&self) -> (Context, Calls) {
        let calls = Calls::default();
        let sdk = self.sdk_config();
        let ctx = Context {
            dynamodb: testkit::recorded_client!(aws_sdk_dynamodb, &sdk, &calls),
            lambda: testkit::recorded_client!(aws_sdk_lambda, &sdk, &calls),
            apigw: testkit::recorded_client!(aws_sdk_apigatewayv2, &sdk, &calls),
            iam: testkit::recorded_client!(aws_sdk_iam, &sdk, &calls),
            logs: testkit::recorded_client!(aws_sdk_cloudwatchlogs, &sdk, &calls),
            cloudwatch: testkit::recorded_client!(aws_sdk_cloudwatch, &sdk, &calls),
            sts: testkit::recorded_client!(aws_sdk_sts, &sdk, &calls),
            cognito: testkit::recorded_client!(aws_sdk_cognitoidentityprovider, &sdk, &calls),
            sqs: testkit::recorded_client!(aws_sdk_sqs, &sdk, &calls),
            tagging: testkit::recorded_client!(aws_sdk_resourcegroupstagging, &sdk, &calls),
            ssm: testkit::recorded_client!(aws_sdk_ssm, &sdk, &calls),
            secretsmanager: testkit::recorded_client!(aws_sdk_secretsmanager, &sdk, &calls),
            acm: testkit::recorded_client!(aws_sdk_acm, &sdk, &calls),
            route53: testkit::recorded_client!(aws_sdk_route53, &sdk, &calls),
            progress: Progress::silent(),
            region: REGION.into(),
            account: ACCOUNT.into(),
        };
        (ctx, calls)
    }
}

/// The function's configuration as Lambda reports it.
pub async fn function_configuration(ctx: &Context, name: &str) -> aws_sdk_lambda::types::FunctionConfiguration {
    let function = ctx.lambda.get_function().function_name(name).send().await.unwrap();
    function.configuration.unwrap()
}

/// The resource policy of the function's alias `live` (what the API invokes) as JSON.
pub async fn function_policy(ctx: &Context, name: &str) -> serde_json::Value {
    let policy = ctx
        .lambda
        .get_policy()
        .function_name(name)
        .qualifier("live")
        .send()
        .await
        .unwrap()
        .policy;
    serde_json::from_str(&policy.unwrap()).unwrap()
}

/// Whether tags mark a resource as this app's (stage `test`) for oncely.
pub fn tags_ok(tags: &BTreeMap<String, String>, app: &str) -> bool {
    tags.get("managed-by").map(String::as_str) == Some("oncely")
        && tags.get("oncely:app").map(String::as_str) == Some(app)
        && tags.get("oncely:stage").map(String::as_str) == Some("test")
}

/// The table's TTL status and attribute.
pub async fn table_ttl(ctx: &Context, name: &str) -> (String, Option<String>) {
    let ttl = ctx
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    (
        ttl.time_to_live_status().unwrap().as_str().to_string(),
        ttl.attribute_name().map(str::to_string),
    )
}

/// Whether the table's point-in-time recovery is on.
pub async fn table_recovery(ctx: &Context, name: &str) -> bool {
    let backups = ctx
        .dynamodb
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .unwrap();
    let status = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status());
    status == Some(&aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Enabled)
}

/// The function's reserved concurrency as Lambda reports it.
pub async fn reserved_concurrency(ctx: &Context, name: &str) -> Option<i32> {
    let out = ctx
        .lambda
        .get_function_concurrency()
        .function_name(name)
        .send()
        .await
        .unwrap();
    out.reserved_concurrent_executions()
}

/// The table's tags.
pub async fn table_tags(ctx: &Context, arn: &str) -> BTreeMap<String, String> {
    ctx.dynamodb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().into(), t.value().into()))
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rows of a report with the given action, as `resource name`.
pub fn rows(report: &serde_json::Value, action: &str) -> Vec<String> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == action)
        .map(|c| format!("{} {}", c["resource"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect()
}

/// The rows a report changes: `action resource attribute,attribute`.
pub fn planned(report: &serde_json::Value) -> Vec<String> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .map(|c| {
            let attrs: Vec<String> = c["attributes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|a| a["attribute"].as_str().unwrap().to_string())
                .collect();
            format!(
                "{} {} {}",
                c["action"].as_str().unwrap(),
                c["resource"].as_str().unwrap(),
                attrs.join(",")
            )
        })
        .collect()
}

/// The attribute names of one row.
pub fn attrs(report: &serde_json::Value, resource: &str) -> Vec<String> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["resource"] == resource)
        .flat_map(|c| c["attributes"].as_array().cloned().unwrap_or_default())
        .map(|a| a["attribute"].as_str().unwrap().to_string())
        .collect()
}

/// The role's inline access policy, decoded.
pub async fn role_policy(ctx: &Context, name: &str) -> serde_json::Value {
    let doc = ctx
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name(format!("{name}-access"))
        .send()
        .await
        .unwrap();
    deployer::resources::role::decode_document(doc.policy_document())
}

/// The tags of every tagged resource of the stack that exists, by `kind name`: the table, the log
/// group, the role, the function, the HTTP API, the alarms, the queues and the user pool, each read
/// with its own service's call.
pub async fn stack_tags(w: &World) -> BTreeMap<String, BTreeMap<String, String>> {
    stack_tags_of(w, &w.name()).await
}

/// [`stack_tags`] of the stack named `name` (another stage's).
pub async fn stack_tags_of(w: &World, name: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let ctx = w.ctx();
    let name = name.to_string();
    let pairs = |tags: Option<&std::collections::HashMap<String, String>>| -> BTreeMap<String, String> {
        tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let mut out = BTreeMap::new();
    if let Ok(t) = ctx.dynamodb.describe_table().table_name(&name).send().await {
        let arn = t.table().and_then(|t| t.table_arn()).unwrap().to_string();
        out.insert(format!("table {name}"), table_tags(&ctx, &arn).await);
    }
    let group = format!("/aws/lambda/{name}");
    let group_arn = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}");
    // moto keeps a deleted group's tags: the group must be listed first.
    let groups = ctx
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .unwrap();
    if groups
        .log_groups()
        .iter()
        .any(|g| g.log_group_name() == Some(group.as_str()))
    {
        let t = ctx
            .logs
            .list_tags_for_resource()
            .resource_arn(group_arn)
            .send()
            .await
            .unwrap();
        out.insert(format!("log group {group}"), pairs(t.tags()));
    }
    if let Ok(t) = ctx.iam.list_role_tags().role_name(&name).send().await {
        let tags = t.tags().iter().map(|t| (t.key().to_string(), t.value().to_string()));
        out.insert(format!("role {name}"), tags.collect());
    }
    if let Ok(f) = ctx.lambda.get_function().function_name(&name).send().await {
        out.insert(format!("function {name}"), pairs(f.tags()));
    }
    for api in ctx.apigw.get_apis().send().await.unwrap().items() {
        if api.name() == Some(name.as_str()) {
            out.insert(format!("http api {name}"), pairs(api.tags()));
        }
    }
    let alarms = ctx
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(&name)
        .send()
        .await
        .unwrap();
    for alarm in alarms.metric_alarms() {
        let arn = alarm.alarm_arn().unwrap();
        let t = ctx
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let tags = t.tags().iter().map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        });
        out.insert(format!("alarm {}", alarm.alarm_name().unwrap()), tags.collect());
    }
    let queues = ctx.sqs.list_queues().queue_name_prefix(&name).send().await.unwrap();
    for url in queues.queue_urls() {
        let t = ctx.sqs.list_queue_tags().queue_url(url).send().await.unwrap();
        out.insert(format!("queue {}", url.rsplit('/').next().unwrap()), pairs(t.tags()));
    }
    let pools = ctx.cognito.list_user_pools().max_results(60).send().await.unwrap();
    for pool in pools.user_pools() {
        if pool.name() == Some(name.as_str()) {
            let p = ctx
                .cognito
                .describe_user_pool()
                .user_pool_id(pool.id().unwrap())
                .send()
                .await
                .unwrap();
            out.insert(
                format!("user pool {name}"),
                pairs(p.user_pool().unwrap().user_pool_tags()),
            );
        }
    }
    out
}

/// Oncely's own tags of the app's stage `test`, and `user`'s.
pub fn expected_tags(app: &str, user: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = user.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tags.insert("managed-by".into(), "oncely".into());
    tags.insert("oncely:app".into(), app.into());
    tags.insert("oncely:stage".into(), "test".into());
    tags
}

/// The published versions (oldest first) and the version `live` points to.
pub async fn versions(w: &World) -> (Vec<String>, Option<String>) {
    let ctx = w.ctx();
    let list = ctx
        .lambda
        .list_versions_by_function()
        .function_name(w.name())
        .send()
        .await
        .unwrap();
    let mut published: Vec<String> = list
        .versions()
        .iter()
        .filter_map(|v| v.version())
        .filter(|v| *v != "$LATEST")
        .map(str::to_string)
        .collect();
    published.sort_by_key(|v| v.parse::<u64>().unwrap());
    let alias = ctx
        .lambda
        .get_alias()
        .function_name(w.name())
        .name("live")
        .send()
        .await
        .ok()
        .and_then(|a| a.function_version().map(str::to_string));
    (published, alias)
}
