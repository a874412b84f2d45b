//! `up --local`: the whole stack on this machine, no AWS account: DynamoDB Local (or the server
//! given with `--dynamodb-endpoint`) with the table made by `up`'s own table code, the function
//! built for this machine exactly as `package` builds it and run unmodified as N `bootstrap`
//! execution environments behind an embedded Lambda Runtime API, and an HTTP API emulator on
//! 127.0.0.1 in front (the emulator is the `oncely-local` crate; this is its wiring); with
//! `queues:`, a local SQS and the pollers that feed the environments its batches (`queues`). Runs
//! until Ctrl-C.
//!
//! Order of start: the API port first (a taken port fails before anything starts), then
//! DynamoDB, the table, the queues, the build, the environments, the pollers, and last the API.
//! Every child process is owned by a value whose drop stops it, so an error at any step stops
//! what already runs.

mod auth_setup;
pub mod queues;
pub mod redis_store;
pub mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use oncely::secret_ref::SECRETS_VAR;
use oncely_local::{gateway, hosts, limits, metrics, pool, routes, throttle};

use crate::config::{Architecture, Billing, Config, TableSettings};
use crate::context::Context;
use crate::package::{self, BuildOptions};
use crate::progress::Progress;
use crate::resources::table;
use crate::stack::Stack;

/// The account id of the local stack (in ARNs and `requestContext.accountId`).
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// The static credentials of the local stack. DynamoDB Local keeps a separate set of tables per
/// access key id and region, so anything that wants to see the stack's table (a test, the AWS
/// CLI) must use this key id and the stack's region. (DynamoDB Local accepts only letters and
/// digits in a key id.)
pub const LOCAL_ACCESS_KEY_ID: &str = "oncelylocal";
pub const LOCAL_SECRET_ACCESS_KEY: &str = "oncelylocal";
/// The region when the config names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Options of `up --local` beyond the config.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Port of the local HTTP API on 127.0.0.1.
    pub port: u16,
    /// Use this DynamoDB instead of starting DynamoDB Local.
    pub dynamodb_endpoint: Option<String>,
    /// With `queues:`: use this SQS instead of starting moto's server.
    pub sqs_endpoint: Option<String>,
    /// Rebuild and replace the environments when the function's sources change.
    pub watch: bool,
    /// Where the idempotency records live.
    pub store: Option<redis_store::LocalStore>,
    /// With the Redis store: this server instead of a local `redis-server`.
    pub redis_url: Option<String>,
    /// The `Host` names the API and the issuer answer besides this machine's (`--allow-host`).
    pub hosts: hosts::AllowedHosts,
}

/// The architecture of this machine (the function is built for it, whatever the config says).
fn host_architecture() -> Architecture {
    if cfg!(target_arch = "aarch64") {
        Architecture::Arm64
    } else {
        Architecture::X86_64
    }
}

/// The process environment of `bootstrap`: what Lambda sets, then what the deployer sets in AWS
/// (`Stack::function_environment`, which includes `function.environment`), then the local
/// DynamoDB's endpoint and credentials. `RUST_LOG` and `RUST_BACKTRACE` pass through.
pub fn function_environment(stack: &Stack, dynamodb_endpoint: &str, task_root: &str) -> BTreeMap<String, String> {
    let c = &stack.config;
    let mut env: BTreeMap<String, String> = [
        ("AWS_LAMBDA_FUNCTION_NAME", stack.function_name().to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.function.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", stack.log_group_name()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
        ("AWS_REGION", stack.region.clone()),
        ("AWS_DEFAULT_REGION", stack.region.clone()),
        ("_HANDLER", "bootstrap".to_string()),
        ("LAMBDA_TASK_ROOT", task_root.to_string()),
        ("LAMBDA_RUNTIME_DIR", task_root.to_string()),
        ("LANG", "en_US.UTF-8".to_string()),
        ("TZ", ":UTC".to_string()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.extend(stack.function_environment());
    env.insert("AWS_ACCESS_KEY_ID".into(), LOCAL_ACCESS_KEY_ID.into());
    env.insert("AWS_SECRET_ACCESS_KEY".into(), LOCAL_SECRET_ACCESS_KEY.into());
    env.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb_endpoint.to_string());
    for name in ["RUST_LOG", "RUST_BACKTRACE"] {
        if let Ok(v) = std::env::var(name) {
            env.insert(name.into(), v);
        }
    }
    env
}

/// `function.secrets` as `up --local` gives them: each from the variable of the same name in this
/// shell (the deployed function reads its reference instead); a missing one is an error that
/// names the variable and the reference, before anything starts.
fn local_secrets(config: &Config) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (var, reference) in &config.function.secrets {
        match std::env::var(var).ok().filter(|v| !v.is_empty()) {
            Some(value) => out.push((var.clone(), value)),
            None => missing.push(format!("{var} (deployed: {reference})")),
        }
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "`up --local` takes each of `function.secrets` from this shell's variable of the same name; not set: {} \
             (export them first; they never go into the config)",
            missing.join(", ")
        );
    }
    Ok(out)
}

/// Runs the local stack in the foreground until Ctrl-C (SIGINT) or SIGTERM.
pub async fn run(config: &Config, opts: LocalOptions, progress: &Progress) -> anyhow::Result<()> {
    let limits = limits::Limits::from_env()?;
    let secrets = local_secrets(config)?;
    let listener = gateway::bind(opts.port)?;
    let port = listener.local_addr()?.port();
    let endpoint = format!("http://127.0.0.1:{port}");
    // `api.auth`: the local issuer, or the configured issuer's keys (an unreachable one fails here).
    let auth = auth_setup::start(config, &endpoint, &opts.hosts, progress).await?;

    // DynamoDB: the given server, or DynamoDB Local (stopped when `_dynamodb` drops).
    let (_dynamodb, dynamodb_endpoint) = start_dynamodb(opts.dynamodb_endpoint, progress).await?;
    let stack = ensure_table(config, &dynamodb_endpoint, progress).await?;

    // The idempotency records in Redis, when asked (a local redis-server stops when `redis` drops).
    let redis = match redis_store::chosen(opts.store, &config.idempotency.store) {
        redis_store::LocalStore::Redis => Some(redis_store::RedisStore::start(opts.redis_url, progress).await?),
        redis_store::LocalStore::Dynamodb => None,
    };

    // The queues and their dead-letter queues (a local SQS stops when `queues` drops).
    let queues = match config.queues.is_empty() {
        true => None,
        false => Some(queues::LocalQueues::start(config, opts.sqs_endpoint, progress).await?),
    };

    let (binary, build, watch_dir) = build_function(config, opts.watch, progress).await?;

    // The execution environments.
    let task_root = binary.parent().map(|d| d.display().to_string()).unwrap_or_default();
    let mut env = function_environment(&stack, &dynamodb_endpoint, &task_root);
    // The store chosen here, whatever the config deploys; the secrets from this shell, not from
    // their references (which name places in an AWS account).
    for name in redis_store::STORE_VARIABLES.into_iter().chain([SECRETS_VAR]) {
        env.remove(name);
    }
    env.extend(redis.iter().flat_map(redis_store::RedisStore::environment));
    env.extend(secrets);
    let metrics = Arc::new(metrics::LocalMetrics::default());
    let spec = pool::Spec {
        metrics: metrics.clone(),
        env,
        binary,
        timeout: Duration::from_secs(config.function.timeout_s.max(1) as u64),
        function_arn: stack.function_arn(),
    };
    let step = progress.step(format!("starting {} execution environments", config.local.concurrency));
    let pool = Arc::new(pool::Pool::start(spec, config.local.concurrency as usize).await?);
    step.done("ready");
    let pollers = queues
        .as_ref()
        .map(|q| q.poll(&pool, config.local.concurrency))
        .unwrap_or_default();

    // The HTTP API.
    let router = routes::Router::new(&config.api.routes);
    let api = Arc::new(gateway::Api {
        router,
        cors: config.api.cors.clone(),
        pool: pool.clone(),
        port,
        account_id: LOCAL_ACCOUNT.into(),
        api_id: "local".into(),
        throttle: throttle::Bucket::new(&config.api.throttle),
        limits,
        auth: auth.as_ref().map(|a| a.authorizer.clone()),
        metrics: metrics.clone(),
        hosts: opts.hosts.clone(),
    });
    let server = tokio::spawn(gateway::serve(listener, api));
    let watcher = opts.watch.then(|| {
        let first = pool.current_spec();
        tokio::spawn(watch::run(
            pool.clone(),
            build,
            first,
            watch_dir.clone(),
            progress.clone(),
        ))
    });
    crate::frontend_env::write_to_frontend(config, &endpoint, progress)?;
    auth_setup::announce(config, auth.as_ref(), progress)?;
    let route_keys: Vec<String> = config.api.routes.iter().map(ToString::to_string).collect();
    let records = redis
        .as_ref()
        .map(|r| format!("; idempotency records in Redis: {}", r.shown()))
        .unwrap_or_default();
    println!(
        "Local stack {} is up: {endpoint} (routes: {}{records}; DynamoDB: {dynamodb_endpoint}, \
         table {}). Ctrl-C stops it.",
        stack.name,
        route_keys.join(", "),
        stack.table_name()
    );
    for q in queues.iter().flat_map(queues::LocalQueues::queues) {
        println!(
            "Queue {}: {} (batches of up to {}; after {} receives, the dead-letter queue {})",
            q.settings.name, q.url, q.settings.batch_size, q.settings.max_receive_count, q.dead_letter_url
        );
    }

    wait_for_stop_signal().await?;
    println!("{}", metrics.summary());
    println!("Stopping the local stack ...");
    if let Some(w) = watcher {
        w.abort();
    }
    server.abort();
    for poller in pollers {
        poller.abort();
    }
    pool.shutdown().await;
    drop(queues);
    drop(redis);
    drop(auth);
    let _ = std::fs::remove_dir_all(&watch_dir);
    println!("Stopped.");
    Ok(())
}

/// The region of the local stack: the config's, else [`DEFAULT_REGION`].
fn local_region(config: &Config) -> String {
    config.region.clone().unwrap_or_else(|| DEFAULT_REGION.to_string())
}

/// The SDK settings of a local emulator at `endpoint`: the stack's region, the local credentials.
fn local_sdk(region: &str, endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::http_client::shared())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            LOCAL_ACCESS_KEY_ID,
            LOCAL_SECRET_ACCESS_KEY,
            None,
            None,
            "oncely-local",
        ))
        .endpoint_url(endpoint)
}

/// The DynamoDB of the stack: the server at `endpoint`, or DynamoDB Local started here (stopped
/// when the returned emulator drops); and its endpoint.
async fn start_dynamodb(
    endpoint: Option<String>,
    progress: &Progress,
) -> anyhow::Result<(Option<emulators::Emulator>, String)> {
    if let Some(url) = endpoint {
        return Ok((None, url));
    }
    let step = progress.step("starting DynamoDB Local (in memory)");
    let p = progress.clone();
    let emulator = tokio::task::spawn_blocking(move || emulators::start_dynamodb_local(None, |m| p.info(m)))
        .await
        .context("starting DynamoDB Local")?
        .context("starting DynamoDB Local")?;
    let url = emulator.endpoint();
    step.done(&url);
    Ok((Some(emulator), url))
}

/// The stack's table in the DynamoDB at `dynamodb_endpoint`, made with the same code as `up`:
/// its key and TTL as deployed; point-in-time recovery, deletion protection, a KMS key and
/// provisioned capacity are AWS's and left out (a local table is thrown away with its emulator,
/// and DynamoDB Local has no continuous backups).
async fn ensure_table(config: &Config, dynamodb_endpoint: &str, progress: &Progress) -> anyhow::Result<Stack> {
    let region = local_region(config);
    let sdk = local_sdk(&region, dynamodb_endpoint).load().await;
    let ctx = Context::from_sdk_config(&sdk, region, LOCAL_ACCOUNT.to_string(), progress.clone());
    let mut config = config.clone();
    config.table = TableSettings {
        point_in_time_recovery: false,
        deletion_protection: false,
        kms_key: None,
        billing: Billing::OnDemand,
        ..config.table
    };
    let stack = Stack::new(&config, &ctx);
    let live = table::read(&ctx, &stack).await.with_context(|| {
        format!(
            "DynamoDB at {dynamodb_endpoint} is not reachable (check the URL, \
            or leave out --dynamodb-endpoint to start DynamoDB Local)"
        )
    })?;
    let change = table::diff(&stack, live.as_ref());
    table::apply(&ctx, &stack, live.as_ref(), &change)
        .await
        .with_context(|| {
            format!(
                "creating table {} in DynamoDB at {dynamodb_endpoint}",
                stack.table_name()
            )
        })?;
    if live.is_some() {
        progress.info(format!(
            "table {} exists in DynamoDB at {dynamodb_endpoint}",
            stack.table_name()
        ));
    }
    Ok(stack)
}

/// The function, built for this machine's architecture the way `package` builds it: with cargo
/// zigbuild (AL2023's glibc) it *is* `package`'s build — the zip, reused without running cargo
/// while nothing the build reads changed (`build_cache`), and the environments run the
/// `bootstrap` in it, the binary that would be shipped; `package` after `up --local` (or the
/// reverse) builds nothing. Natively linked (no cargo-zigbuild; the binary may need a newer glibc
/// than Lambda's, which `package` refuses) and with `watch` (a dev-profile build), cargo runs and
/// its binary is copied, taken before another deployer may build there (see `build_lock`):
/// cargo's output path is shared by every workspace that shares the target directory (a global
/// `CARGO_TARGET_DIR`), so another workspace's build, or a `--watch` rebuild, never changes the
/// function of a running stack. Either way the environments run a copy in this stack's own folder.
/// Returns the binary, the build's options and that folder.
async fn build_function(
    config: &Config,
    watch: bool,
    progress: &Progress,
) -> anyhow::Result<(std::path::PathBuf, BuildOptions, std::path::PathBuf)> {
    let arch = host_architecture();
    if arch != config.function.architecture {
        progress.info(format!(
            "building for this machine ({}) instead of the configured {}",
            arch.lambda_name(),
            config.function.architecture.lambda_name()
        ));
    }
    let mut build = BuildOptions::for_workspace(&config.function.package, arch)?;
    if watch {
        progress
            .info("--watch: building with cargo's dev profile for quick rebuilds (`package` ships the lambda profile)");
        build.profile = "dev";
    }
    let stacks = build.target_dir.join("local-stacks");
    let stack_dir = stacks.join(std::process::id().to_string());
    let building = || format!("building the `{}` crate as bootstrap", config.function.package);
    let (b, p) = (build.clone(), progress.clone());
    let staged = if watch || !package::uses_zig(&build) {
        let built = tokio::task::spawn_blocking(move || package::compile(&b, &p))
            .await
            .context("building the function")?
            .with_context(building)?;
        remove_stale_stack_dirs(&stacks);
        // Copied while the build holds the target directory: no other deployer's build replaces
        // cargo's file in between.
        watch::stage_binary(&built.binary, &stack_dir, 0)?
    } else {
        let artifact = tokio::task::spawn_blocking(move || package::build(&b, &p))
            .await
            .context("building the function")?
            .with_context(building)?;
        let binary = package::unzip_bootstrap(&artifact.bytes)
            .with_context(|| format!("reading bootstrap from {}", artifact.path.display()))?;
        remove_stale_stack_dirs(&stacks);
        watch::stage_bytes(&binary, &stack_dir, 0)?
    };
    Ok((staged, build, stack_dir))
}

/// Removes the folders of local stacks whose process is gone (one killed before it could clean
/// up); only where `/proc` tells which processes live (Linux), else nothing.
fn remove_stale_stack_dirs(stacks: &std::path::Path) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(stacks) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let gone = name
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|pid| !std::path::Path::new("/proc").join(pid.to_string()).exists());
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
