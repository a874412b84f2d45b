//! A small chaos campaign through the binary (150 requests, 20 % of store calls faulted, a fixed
//! seed): it must find no violation, and its table must show that faults really were injected.
//!
//! It needs the deployer binary next to `chaos` (`target/debug/deployer`): `cargo test --workspace`
//! builds it for the deployer's own integration tests, or run `cargo build -p deployer` first.

use std::path::PathBuf;
use std::process::Command;

/// `target/debug/deployer`, beside this test's own `deps/` folder.
fn deployer() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let debug = exe.parent().and_then(|deps| deps.parent()).expect("target/debug");
    let deployer = debug.join("deployer");
    assert!(
        deployer.exists(),
        "no deployer binary at {}: run `cargo build -p deployer` (or `cargo test --workspace`, which builds it) first",
        deployer.display()
    );
    deployer
}

#[test]
fn a_small_campaign_holds_every_invariant_under_faults() {
    let output = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args([
            "--seed",
            "7",
            "--requests",
            "150",
            "--fault-rate",
            "0.2",
            "--clients",
            "8",
            "--kill-every",
            "25",
        ])
        .arg("--deployer")
        .arg(deployer())
        .output()
        .expect("running chaos");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chaos failed ({}):\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let faulted: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("fault "))
        .filter(|l| {
            l.split_whitespace()
                .last()
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n > 0)
        })
        .collect();
    assert!(faulted.len() >= 4, "too few fault kinds were injected:\n{stdout}");
    assert!(stdout.contains("PASS: 0 violation(s)"), "{stdout}");
}
