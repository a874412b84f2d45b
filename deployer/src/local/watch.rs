//! `up --local --watch`: polls the function's sources, rebuilds when they change (cargo's `dev`
//! profile, for quick incremental builds), and moves the execution environments to the new binary
//! one by one ([`Pool::replace`]): in-flight invocations finish on the old one, DynamoDB Local and
//! its data stay. A failed build (or a new binary that fails its init) leaves the old binary
//! serving and prints why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use crate::package::{self, BuildOptions};
use crate::progress::Progress;
use oncely_local::pool::{Pool, Spec};

/// How often the sources are looked at, and how long they must stay still before a build.
const POLL: Duration = Duration::from_millis(500);
const SETTLE: Duration = Duration::from_millis(300);

/// Every file under the watched directories: modification time and size.
type Snapshot = BTreeMap<PathBuf, (SystemTime, u64)>;

/// The directories whose files the function's build reads: the package's own, and those of the
/// workspace packages it depends on by path (normal and build dependencies, from `cargo
/// metadata`; not dev-dependencies, which `bootstrap` never links), plus the workspace's
/// `Cargo.lock`.
pub fn watched_paths(workspace: &Path, package: &str) -> anyhow::Result<Vec<PathBuf>> {
    let out = std::process::Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(workspace)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(out.status.success(), "cargo metadata failed ({})", out.status);
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading cargo metadata")?;
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let dir_of = |p: &serde_json::Value| {
        p["manifest_path"]
            .as_str()
            .and_then(|m| Path::new(m).parent().map(Path::to_path_buf))
    };
    let Some(function) = packages.iter().find(|p| p["name"] == package) else {
        anyhow::bail!("package `{package}` is not in the workspace at {}", workspace.display());
    };
    let mut paths: Vec<PathBuf> = dir_of(function).into_iter().collect();
    for dep in function["dependencies"].as_array().into_iter().flatten() {
        if dep["kind"] == "dev" {
            continue;
        }
        if let Some(path) = dep["path"].as_str() {
            paths.push(PathBuf::from(path));
        }
    }
    paths.push(workspace.join("Cargo.lock"));
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Files under `paths` (a path may be a file), skipping build output and hidden directories.
pub fn snapshot(paths: &[PathBuf]) -> Snapshot {
    fn walk(path: &Path, out: &mut Snapshot) {
        let Ok(meta) = std::fs::metadata(path) else { return };
        if meta.is_file() {
            out.insert(
                path.to_path_buf(),
                (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len()),
            );
            return;
        }
        let Ok(entries) = std::fs::read_dir(path) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            walk(&entry.path(), out);
        }
    }
    let mut out = Snapshot::new();
    for p in paths {
        walk(p, &mut out);
    }
    out
}

/// The files that differ between two snapshots (added, removed or changed).
pub fn changed(before: &Snapshot, after: &Snapshot) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(v))
        .map(|(p, _)| p.clone())
        .chain(before.keys().filter(|p| !after.contains_key(*p)).cloned())
        .collect();
    files.sort();
    files
}

/// Copies a build to its own directory (`generation`), so the environments of one generation
/// never see the next build's binary, and returns its path.
pub fn stage_binary(built: &Path, watch_dir: &Path, generation: u64) -> anyhow::Result<PathBuf> {
    let binary = staged_path(watch_dir, generation)?;
    std::fs::copy(built, &binary).with_context(|| format!("copying {} to {}", built.display(), binary.display()))?;
    Ok(binary)
}

/// [`stage_binary`] for a binary given as bytes (the one in the package's zip), mode 0755.
pub fn stage_bytes(binary: &[u8], watch_dir: &Path, generation: u64) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = staged_path(watch_dir, generation)?;
    std::fs::write(&path, binary).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))?;
    Ok(path)
}

/// `<watch_dir>/<generation>/bootstrap`, its directory created.
fn staged_path(watch_dir: &Path, generation: u64) -> anyhow::Result<PathBuf> {
    let dir = watch_dir.join(generation.to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join("bootstrap"))
}

/// `spec` running `binary` (whose directory is the task root).
pub fn spec_for(spec: &Spec, binary: PathBuf) -> Spec {
    let root = binary.parent().map(|d| d.display().to_string()).unwrap_or_default();
    let mut env = spec.env.clone();
    env.insert("LAMBDA_TASK_ROOT".into(), root.clone());
    env.insert("LAMBDA_RUNTIME_DIR".into(), root);
    Spec {
        binary,
        env,
        ..spec.clone()
    }
}

/// Watches until aborted: rebuild on change, then replace the environments.
pub async fn run(pool: Arc<Pool>, build: BuildOptions, first: Spec, watch_dir: PathBuf, progress: Progress) {
    let paths = match watched_paths(&build.workspace, &build.package) {
        Ok(p) => p,
        Err(e) => {
            progress.warn(format!("--watch is off: cannot tell which files to watch ({e:#})"));
            return;
        }
    };
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    println!("Watching {} for changes.", shown.join(", "));
    let mut current = first;
    let mut generation = 0u64;
    let mut last = snapshot(&paths);
    loop {
        tokio::time::sleep(POLL).await;
        let now = snapshot(&paths);
        if now == last {
            continue;
        }
        // Let an editor's save (or a `git checkout`) finish before building.
        let mut settled = now;
        loop {
            tokio::time::sleep(SETTLE).await;
            let again = snapshot(&paths);
            if again == settled {
                break;
            }
            settled = again;
        }
        let files = changed(&last, &settled);
        last = settled;
        let names: Vec<String> = files.iter().take(3).map(|p| p.display().to_string()).collect();
        println!(
            "Changed: {}{}; rebuilding ...",
            names.join(", "),
            if files.len() > 3 {
                format!(" and {} more", files.len() - 3)
            } else {
                String::new()
            }
        );
        let started = Instant::now();
        let (opts, p) = (build.clone(), progress.clone());
        let built = tokio::task::spawn_blocking(move || package::compile(&opts, &p)).await;
        let built = match built {
            Ok(Ok(built)) => built,
            Ok(Err(e)) => {
                println!(
                    "Rebuild failed after {:.1}s; the environments keep serving the previous build:\n{e}",
                    started.elapsed().as_secs_f64()
                );
                continue;
            }
            Err(e) => {
                println!("Rebuild stopped ({e}); the environments keep serving the previous build.");
                continue;
            }
        };
        let build_time = started.elapsed();
        generation += 1;
        // Copied while the build holds the target directory (dropped right after).
        let staged = stage_binary(&built.binary, &watch_dir, generation);
        drop(built);
        let staged = match staged {
            Ok(b) => b,
            Err(e) => {
                println!("Cannot stage the new build ({e:#}); the environments keep serving the previous build.");
                continue;
            }
        };
        let next = spec_for(&current, staged);
        let swap_started = Instant::now();
        match pool.replace(next.clone()).await {
            Ok(()) => {
                println!(
                    "Rebuilt in {:.1}s; every execution environment runs the new build \
                     ({:.1}s to switch, none dropped).",
                    build_time.as_secs_f64(),
                    swap_started.elapsed().as_secs_f64()
                );
                if let Some(old) = current.binary.parent() {
                    let _ = std::fs::remove_dir_all(old);
                }
                current = next;
            }
            Err(e) => println!("The new build was not taken: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_seen_and_build_output_is_not_watched() {
        let dir = testkit::temp_dir();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::write(src.join("lib.rs"), "pub fn a() {}").unwrap();
        let paths = vec![dir.path().to_path_buf()];
        let before = snapshot(&paths);
        assert_eq!(before.len(), 1);
        std::fs::write(dir.path().join("target").join("out"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        assert!(changed(&before, &snapshot(&paths)).is_empty());
        std::fs::write(src.join("lib.rs"), "pub fn a() { let _ = 1; }").unwrap();
        std::fs::write(src.join("new.rs"), "").unwrap();
        let after = snapshot(&paths);
        assert_eq!(changed(&before, &after), [src.join("lib.rs"), src.join("new.rs")]);
        std::fs::remove_file(src.join("new.rs")).unwrap();
        assert_eq!(changed(&after, &snapshot(&paths)), [src.join("new.rs")]);
    }

    #[test]
    fn the_function_and_its_path_dependencies_are_watched() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let paths = watched_paths(&workspace, "orders").unwrap();
        assert!(paths.contains(&workspace.join("orders")), "{paths:?}");
        assert!(
            paths.contains(&workspace.join("oncely")),
            "a path dependency: {paths:?}"
        );
        assert!(paths.contains(&workspace.join("Cargo.lock")), "{paths:?}");
        assert!(!paths.contains(&workspace.join("deployer")), "{paths:?}");
        assert!(
            !paths.contains(&workspace.join("testkit")),
            "a dev-dependency: {paths:?}"
        );
        let err = watched_paths(&workspace, "no-such-package").unwrap_err().to_string();
        assert!(err.contains("`no-such-package` is not in the workspace"), "{err}");
    }
}
