//! `new NAME`: a workspace with one idempotent function on the `oncely` crate, its commented
//! `config/stack.yaml` (and the schema beside it), a README, and a lock of the versions Oncely is
//! tested with, ready for `up --local` and `up`. Needs no config.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::cli::NewArgs;
use crate::config::Config;
use crate::progress::Progress;

const CARGO_TOML: &str = include_str!("../../templates/new/Cargo.toml.tmpl");
const MAIN_RS: &str = include_str!("../../templates/new/main.rs.tmpl");
const STACK_YAML: &str = include_str!("../../templates/new/stack.yaml.tmpl");
const README: &str = include_str!("../../templates/new/README.md.tmpl");
const GITIGNORE: &str = include_str!("../../templates/new/gitignore.tmpl");
/// The versions Oncely's own workspace builds and tests with: the new workspace starts from them.
const LOCK: &str = include_str!("../../../Cargo.lock");
/// Where this deployer's sources had the crate when it was built.
const BUILT_NEXT_TO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../oncely");

/// Where the new workspace takes the `oncely` crate from (it is not on crates.io yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OncelySource {
    /// A checkout on this machine.
    Path(PathBuf),
    /// A git repository.
    Git(String),
}

/// What `new` made.
#[derive(Debug, Serialize)]
pub struct Created {
    /// The workspace's directory.
    pub path: PathBuf,
    /// The package (and app) name.
    pub name: String,
    /// Where `oncely` comes from.
    pub oncely: OncelySource,
    /// The files written, relative to `path`.
    pub files: Vec<String>,
}

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "created {} ({})", self.path.display(), self.files.join(", "))?;
        writeln!(f, "oncely from {}", self.oncely.describe())?;
        writeln!(f, "next:")?;
        writeln!(f, "  cd {}", self.path.display())?;
        writeln!(f, "  deployer up --local     # POST http://127.0.0.1:3000/payments")?;
        write!(f, "  deployer plan && deployer up")
    }
}

impl OncelySource {
    fn describe(&self) -> String {
        match self {
            OncelySource::Path(path) => format!("the path {} (not on crates.io yet)", path.display()),
            OncelySource::Git(url) => format!("git {url} (not on crates.io yet)"),
        }
    }

    /// The dependency's source in Cargo.toml.
    fn manifest(&self) -> String {
        let quoted = |s: &str| serde_json::to_string(s).expect("a string");
        match self {
            OncelySource::Path(path) => format!("path = {}", quoted(&path.to_string_lossy())),
            OncelySource::Git(url) => format!("git = {}", quoted(url)),
        }
    }
}

/// Writes the workspace; on any failure, removes what it wrote.
pub fn run(args: &NewArgs, progress: &Progress) -> anyhow::Result<Created> {
    let name = args.name.as_str();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("`{name}` cannot name a package and a stack: start it with a letter (a-z)");
    }
    let stack_yaml = fill(STACK_YAML, name, "");
    let config = match Config::parse(&stack_yaml) {
        Ok(config) => config,
        Err(problems) => {
            let first = problems.first().map(|p| p.message.clone()).unwrap_or_default();
            bail!("`{name}` cannot name the stack's app: {first}");
        }
    };
    let target = config.function.architecture.rust_target();
    let oncely = source(args)?;
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from(name));
    if path.exists() && std::fs::read_dir(&path).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!(
            "{} already exists and is not empty: choose another --path",
            path.display()
        );
    }
    let created_dir = !path.exists();
    let result = write(&path, name, &oncely, &stack_yaml, target, progress);
    if result.is_err() {
        // Nothing half-made stays behind: the files, and the folder when we made it.
        if created_dir {
            let _ = std::fs::remove_dir_all(&path);
        } else if let Ok(entries) = std::fs::read_dir(&path) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
            }
        }
    }
    let files = result?;
    Ok(Created {
        path,
        name: name.to_string(),
        oncely,
        files,
    })
}

/// The crate's source: as asked, else the checkout this deployer was built from.
fn source(args: &NewArgs) -> anyhow::Result<OncelySource> {
    if let Some(url) = &args.oncely_git {
        return Ok(OncelySource::Git(url.clone()));
    }
    let path = match &args.oncely_path {
        Some(path) => path.clone(),
        None => PathBuf::from(BUILT_NEXT_TO),
    };
    let manifest = std::fs::read_to_string(path.join("Cargo.toml")).ok();
    if !manifest.is_some_and(|m| m.contains("name = \"oncely\"")) {
        bail!(
            "{} holds no `oncely` crate: pass --oncely-path to a checkout's `oncely/` folder, or --oncely-git \
            with the repository's URL (the crate is not on crates.io yet)",
            path.display()
        );
    }
    let path = path
        .canonicalize()
        .with_context(|| format!("resolving {}", path.display()))?;
    Ok(OncelySource::Path(path))
}

fn fill(template: &str, name: &str, oncely: &str) -> String {
    template.replace("{{name}}", name).replace("{{oncely_source}}", oncely)
}

fn write(
    path: &Path,
    name: &str,
    oncely: &OncelySource,
    stack_yaml: &str,
    target: &str,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    let note = format!("oncely from {}", oncely.describe());
    let schema = serde_json::to_string_pretty(crate::config::json_schema())? + "\n";
    let files = [
        (
            "Cargo.toml",
            fill(CARGO_TOML, name, &oncely.manifest()).replace("{{oncely_note}}", &note),
        ),
        ("Cargo.lock", LOCK.to_string()),
        ("src/main.rs", MAIN_RS.to_string()),
        ("config/stack.yaml", stack_yaml.to_string()),
        ("config/stack.schema.json", schema),
        ("README.md", fill(README, name, "").replace("{{oncely_note}}", &note)),
        (".gitignore", GITIGNORE.to_string()),
    ];
    for (file, text) in &files {
        let target = path.join(file);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    settle_lock(path, target, progress)?;
    Ok(files.iter().map(|(file, _)| file.to_string()).collect())
}

/// Lets cargo fit the lock to the new workspace: the new package added, the packages it does not
/// use dropped, every version kept. Only the packages of `target` (the function's) are read, so
/// nothing is fetched that building the function would not fetch (no wasm-only crate, say).
fn settle_lock(path: &Path, target: &str, progress: &Progress) -> anyhow::Result<()> {
    progress.info("fitting Cargo.lock to the new workspace (cargo metadata)");
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--filter-platform", target])
        .current_dir(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running cargo (is it on PATH?)")?;
    if !out.status.success() {
        bail!(
            "cargo could not resolve the new workspace's dependencies:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(())
}
