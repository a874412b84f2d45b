//! The deployer in any workspace, through `deployer new`: a workspace made in a temporary
//! directory outside this repository, on `oncely` by path, served by `up --local` (201, the
//! replay, 422) and deployed with `up` and `down` on moto; a name that cannot be a package or an
//! app is refused with nothing written. (First in the binary's order: its fat-LTO build is the
//! longest part of any test here, so it starts while the others run.) The workspace is built where
//! the last run built it when `deployer new` wrote the same bytes (see [`built_where_it_was`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::local_support::{LocalStack, StackDir};
use crate::support::{World, counts};

/// This repository's root and its cargo target directory (shared, so the new workspace's build
/// reuses the dependencies the tests already built).
fn repo() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let exe = Path::new(env!("CARGO_BIN_EXE_deployer"));
    let target = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    (root, target)
}

fn deployer() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deployer"));
    // Everything the new workspace needs is in the lock and in cargo's cache: never the network.
    cmd.env("CARGO_NET_OFFLINE", "true").env("CARGO_TARGET_DIR", repo().1);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_workspace_is_served_locally_and_deployed() {
    let tmp = testkit::temp_dir();
    let ws = tmp.path().join("payments");
    let (root, _) = repo();
    assert!(!ws.starts_with(&root), "outside this repository");
    let out = deployer()
        .args(["new", "payments", "--output", "json", "--path"])
        .arg(&ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let oncely = root.join("oncely").canonicalize().unwrap();
    assert_eq!(created["oncely"]["path"], oncely.to_str().unwrap());
    assert_eq!(
        created["files"],
        serde_json::json!([
            "Cargo.toml",
            "Cargo.lock",
            "src/main.rs",
            "config/stack.yaml",
            "config/stack.schema.json",
            "README.md",
            ".gitignore"
        ])
    );
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("path = {:?}", oncely.to_str().unwrap())),
        "{manifest}"
    );
    let lock = std::fs::read_to_string(ws.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"payments\""), "the lock holds the new package");
    assert!(!lock.contains("name = \"deployer\""), "and not this workspace's");
    let (ws, _held) = built_where_it_was(&ws);
    let config = ws.join("config/stack.yaml");
    let parsed = deployer::config::Config::load(&config).unwrap();
    assert_eq!(
        (parsed.app.as_str(), parsed.function.package.as_str()),
        ("payments", "payments")
    );
    assert!(parsed.frontend.is_none());

    // Served on this machine: the handler runs once per key.
    let port = emulators::free_port().unwrap();
    let shared = testkit::dynamodb_local().endpoint();
    let mut up = deployer();
    up.args([
        "up",
        "--local",
        "--port",
        &port.to_string(),
        "--dynamodb-endpoint",
        &shared,
        "--config",
    ])
    .arg(&config)
    .current_dir(&ws)
    .stdin(std::process::Stdio::null());
    let stack = LocalStack::spawn(up, port, StackDir::at(testkit::temp_dir(), config.clone()));
    let pay = |body: &'static str| {
        let stack = &stack;
        async move {
            let headers = [("idempotency-key", "order-1"), ("content-type", "application/json")];
            stack.request("POST", "/payments", &headers, body).await
        }
    };
    let body = r#"{"amount_cents":1250,"currency":"EUR"}"#;
    let (status, headers, first) = pay(body).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&first));
    let paid: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(
        (paid["amount_cents"].as_u64(), paid["status"].as_str()),
        (Some(1250), Some("paid"))
    );
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, headers, again) = pay(r#"{ "currency": "EUR", "amount_cents": 1250 }"#).await;
    assert_eq!((status.as_u16(), &again), (201, &first), "the first answer, replayed");
    assert_eq!(headers["idempotent-replayed"], "true");
    let (status, _, refused) = pay(r#"{"amount_cents":9999,"currency":"EUR"}"#).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&refused));
    assert_eq!(stack.invocations_after("POST /payments -> 422"), 3);
    drop(stack);

    // Deployed on moto, the same build, then deleted.
    let world = World::new("payments");
    let run = |args: &[&str]| {
        let mut cmd = world.command_in(&ws, &config, args);
        cmd.args(["--output", "json"])
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_TARGET_DIR", repo().1);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let report = run(&["up"]);
    assert!(report["create"].as_u64().unwrap() >= 8, "{report:#}");
    let endpoint = report["endpoint"].as_str().unwrap_or_default();
    assert!(endpoint.contains("execute-api"), "{report:#}");
    let again = run(&["up"]);
    assert_eq!(counts(&again), (0, 0, 0), "{again:#}");
    // The table is protected by default: --delete-data removes it too.
    let down = run(&["down", "--yes", "--delete-data"]);
    assert!(down["delete"].as_u64().unwrap() >= 8, "{down:#}");
    // Nothing of the stack is left: a plan would create it all again.
    let plan = run(&["plan"]);
    assert_eq!(plan["create"], report["create"], "{plan:#}");
    assert_eq!(plan["unchanged"].as_u64(), Some(0), "{plan:#}");
}

/// Where the workspace `new` wrote is built: a folder outside this repository that stays from run
/// to run (keyed by the target dir), holding the same files. A file whose bytes are unchanged keeps
/// the time it was written first, so cargo finds the last run's build of an unchanged workspace
/// fresh instead of linking it again (a fat-LTO link, most of this test's time); a changed or new
/// file is written, and anything else there (what a run left) is removed. The returned lock holds
/// the folder for the test (another checkout's run sharing the target dir waits).
fn built_where_it_was(new: &Path) -> (PathBuf, std::fs::File) {
    use std::hash::{Hash, Hasher};
    let mut key = std::hash::DefaultHasher::new();
    repo().1.hash(&mut key);
    let home = std::env::temp_dir().join(format!("oncely-any-workspace-{:016x}", key.finish()));
    std::fs::create_dir_all(&home).unwrap();
    let lock = std::fs::File::create(home.join(".lock")).unwrap();
    lock.lock().unwrap();
    let kept = home.join("payments");
    let files = |root: &Path| -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    found.push(path.strip_prefix(root).unwrap().to_path_buf());
                }
            }
        }
        found
    };
    let wanted = files(new);
    for stale in files(&kept).iter().filter(|f| !wanted.contains(f)) {
        std::fs::remove_file(kept.join(stale)).unwrap();
    }
    for file in &wanted {
        let bytes = std::fs::read(new.join(file)).unwrap();
        let at = kept.join(file);
        if std::fs::read(&at).ok().as_ref() != Some(&bytes) {
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(&at, bytes).unwrap();
        }
    }
    assert!(!kept.starts_with(repo().0), "outside this repository");
    (kept, lock)
}

#[test]
fn a_name_that_cannot_be_a_package_or_an_app_writes_nothing() {
    let tmp = testkit::temp_dir();
    for (name, says) in [
        ("9lives", "start it with a letter"),
        ("Payments", "start it with a letter"),
        ("pay_ments", "cannot name the stack's app"),
        ("payments-for-every-shop-in-the-world", "cannot name the stack's app"),
    ] {
        let ws = tmp.path().join(name);
        let out = deployer().args(["new", name, "--path"]).arg(&ws).output().unwrap();
        assert!(!out.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(!ws.exists(), "{name}: nothing written");
    }
    // A folder in the way is left as it was.
    let taken = tmp.path().join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let out = deployer()
        .args(["new", "taken", "--path"])
        .arg(&taken)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists and is not empty"));
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 1);
}
