//! `up --local --watch`: polls the function package's sources (every file under its directory
//! but `target/`, by modification time and size), rebuilds when they change, and has the pool
//! replace its environments one by one with the new build. DynamoDB Local and the gateway keep
//! running; a failed build is shown and the old environments keep serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use super::pool::Pool;
use crate::package::{self, BuildOptions};
use crate::progress::Progress;

/// How often the sources are looked at.
const POLL: Duration = Duration::from_millis(500);
/// Quiet time after a change before building (an editor saving several files).
const SETTLE: Duration = Duration::from_millis(300);

/// What a source file looked like.
type Snapshot = BTreeMap<PathBuf, (Option<SystemTime>, u64)>;

/// The directory of workspace package `package`: the member whose `Cargo.toml` names it.
pub fn package_dir(workspace: &Path, package: &str) -> anyhow::Result<PathBuf> {
    let wanted = format!("name = \"{package}\"");
    let entries = std::fs::read_dir(workspace).with_context(|| format!("reading {}", workspace.display()))?;
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest)
            && text.lines().any(|l| l.trim() == wanted)
        {
            return Ok(entry.path());
        }
    }
    anyhow::bail!(
        "--watch: no directory of {} has a Cargo.toml for package `{package}` (function.package)",
        workspace.display()
    )
}

fn snapshot(dir: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.file_name() != "target" {
                    stack.push(path);
                }
            } else {
                files.insert(path, (meta.modified().ok(), meta.len()));
            }
        }
    }
    files
}

/// Watches until the task is aborted.
pub async fn run(build: BuildOptions, pool: Arc<Pool>, environments: usize, progress: Progress) {
    let dir = match package_dir(&build.workspace, &build.package) {
        Ok(d) => d,
        Err(e) => {
            println!("[watch] {e:#}; not watching");
            return;
        }
    };
    println!("[watch] watching {} for changes", dir.display());
    let mut last = snapshot(&dir);
    loop {
        tokio::time::sleep(POLL).await;
        let now = snapshot(&dir);
        if now == last {
            continue;
        }
        // Let a burst of saves finish.
        let mut settled = now;
        loop {
            tokio::time::sleep(SETTLE).await;
            let again = snapshot(&dir);
            if again == settled {
                break;
            }
            settled = again;
        }
        last = settled;
        println!("[watch] {} changed: rebuilding", dir.display());
        let started = Instant::now();
        let (opts, p) = (build.clone(), progress.clone());
        let built = tokio::task::spawn_blocking(move || package::compile(&opts, &p)).await;
        let took = started.elapsed().as_secs_f64();
        match built {
            Ok(Ok(_)) => {
                println!(
                    "[watch] rebuilt in {took:.1} s; replacing the {environments} execution environments one by one"
                );
                pool.replace_all();
            }
            Ok(Err(e)) => println!(
                "[watch] the build failed after {took:.1} s; the running environments keep serving the previous build:\n{e}"
            ),
            Err(e) => println!("[watch] the build stopped after {took:.1} s ({e}); the previous build keeps serving"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_package_and_sees_changes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = package_dir(root, "function").unwrap();
        assert!(dir.join("src").is_dir());
        assert!(package_dir(root, "no-such-package").is_err());
        let tmp = testkit::temp_dir();
        std::fs::write(tmp.path().join("a.rs"), "1").unwrap();
        let before = snapshot(tmp.path());
        std::fs::write(tmp.path().join("a.rs"), "22").unwrap();
        assert_ne!(snapshot(tmp.path()), before);
    }
}
