//! The `bootstrap` binary refuses to start with a clear message when its environment is wrong.

use std::process::Command;

fn run(vars: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    for name in [
        "TABLE_NAME",
        "IDEMPOTENCY_EXPIRES_AFTER_S",
        "IDEMPOTENCY_HEADER",
        "IDEMPOTENCY_LOCAL_CACHE_ITEMS",
        "IDEMPOTENCY_TTL_ATTRIBUTE",
        "AWS_LAMBDA_RUNTIME_API",
        "ONCELY_STORE",
        "ONCELY_REDIS_URL_ENV",
        "ONCELY_REDIS_URL",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(vars.iter().copied());
    let output = cmd.output().expect("run bootstrap");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn missing_table_name_is_a_clear_startup_error() {
    let (code, stderr) = run(&[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("TABLE_NAME is not set"), "{stderr}");
}

#[test]
fn invalid_values_are_named_at_startup() {
    let (code, stderr) = run(&[("TABLE_NAME", "orders"), ("IDEMPOTENCY_LOCAL_CACHE_ITEMS", "lots")]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("IDEMPOTENCY_LOCAL_CACHE_ITEMS=\"lots\" is invalid"),
        "{stderr}"
    );
}

#[test]
fn a_redis_store_without_a_usable_url_is_a_clear_startup_error_without_the_password() {
    let (code, stderr) = run(&[("TABLE_NAME", "orders"), ("ONCELY_STORE", "redis")]);
    assert_ne!(code, 0);
    assert!(stderr.contains("needs the Redis URL in ONCELY_REDIS_URL"), "{stderr}");
    let (code, stderr) = run(&[
        ("TABLE_NAME", "orders"),
        ("ONCELY_STORE", "redis"),
        ("ONCELY_REDIS_URL_ENV", "CACHE_URL"),
        ("CACHE_URL", "redis://app:hunter2@cache.internal:6379/db7"),
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("CACHE_URL does not hold a usable Redis URL"),
        "{stderr}"
    );
    assert!(stderr.contains("not a database number"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password is never printed: {stderr}");
}
