//! The shared harness of the deployer's end-to-end tests: a moto server per test, the deployer
//! binary run against it, SDK clients (with a call recorder) to inspect what it did.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;
use deployer::context::Context;
use deployer::progress::Progress;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// The YAML of a small stack; `extra` is appended (more keys, or overrides of nested ones).
pub fn config_yaml(app: &str, env_file: &Path) -> String {
    format!(
        "app: {app}\nstage: test\nregion: {REGION}\n\
        function:\n  memory_mb: 256\n  timeout_s: 15\n  environment:\n    GREETING: hello\n\
        api:\n  routes: [\"POST /orders\", \"GET /orders/{{id}}\"]\n  \
        cors: {{ allow_origins: [\"http://localhost:5173\"] }}\n  throttle: {{ burst: 100, rate: 50 }}\n\
        frontend:\n  env_file: {}\n",
        env_file.display()
    )
}

/// One test's world: a moto server, a temp dir with the config, and a deployable zip.
pub struct World {
    pub moto: emulators::Emulator,
    pub dir: PathBuf,
    pub app: String,
}

impl World {
    pub fn new(app: &str) -> World {
        let moto = emulators::start_moto().expect("moto starts (scripts/test installs it into .venv)");
        let dir = std::env::temp_dir().join(format!("oncely-deploy-{app}-{}-{}", std::process::id(), moto.port()));
        std::fs::create_dir_all(&dir).unwrap();
        let world = World {
            moto,
            dir,
            app: app.to_string(),
        };
        world.write_config(&config_yaml(app, &world.env_file()));
        world
    }

    pub fn name(&self) -> String {
        format!("{}-test", self.app)
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("stack.yaml")
    }
    pub fn env_file(&self) -> PathBuf {
        self.dir.join("frontend").join(".env.local")
    }
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(self.config_path(), yaml).unwrap();
    }

    /// A deployable zip whose content is `marker` (moto never runs it; it only stores and hashes it).
    pub fn zip(&self, marker: &str) -> PathBuf {
        let path = self.dir.join(format!("{marker}.zip"));
        std::fs::write(
            &path,
            deployer::package::zip_bootstrap(format!("#!/bin/sh\n# {marker}\n").as_bytes()).unwrap(),
        )
        .unwrap();
        path
    }

    /// The deployer's environment: moto's endpoint and fake credentials, nothing from the host.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deployer"));
        cmd.args(args)
            .arg("--config")
            .arg(self.config_path())
            .current_dir(&self.dir);
        for var in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL_DYNAMODB",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_CONFIG_FILE", self.dir.join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("no-aws-credentials"))
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
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.moto.endpoint())
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                Credentials::for_tests(),
            ))
            .build()
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
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .interceptor(calls.clone())
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&sdk)
                    .interceptor(calls.clone())
                    .build(),
            ),
            apigw: aws_sdk_apigatewayv2::Client::from_conf(
                aws_sdk_apigatewayv2::config::Builder::from(&sdk)
                    .interceptor(calls.clone())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&sdk)
                    .interceptor(calls.clone())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(&sdk)
                    .interceptor(calls.clone())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&sdk)
                    .interceptor(calls.clone())
                    .build(),
            ),
            progress: Progress::silent(),
            region: REGION.into(),
            account: ACCOUNT.into(),
        };
        (ctx, calls)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Records the operation name of every call a client makes.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The input's type names the operation: `DescribeTableInput { .. }` is DescribeTable.
        let debug = format!("{:?}", context.input());
        let name = debug
            .split(|c: char| !c.is_alphanumeric())
            .find(|w| w.ends_with("Input") && w.len() > 5)
            .unwrap_or("Unknown");
        self.0.lock().unwrap().push(name.trim_end_matches("Input").to_string());
        Ok(())
    }
}

/// Whether an operation name reads (Describe/Get/List) rather than writes.
pub fn is_read(call: &str) -> bool {
    ["Describe", "Get", "List"].iter().any(|p| call.starts_with(p))
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
