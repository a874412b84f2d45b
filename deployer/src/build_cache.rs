//! The function build's fingerprint, so an unchanged function is not handed to cargo again: a hash
//! over everything the `cargo (zig)build` of the function reads — the local source files cargo's
//! dep-info lists (by content), the Rust sources beside them (an added `build.rs` or module), every
//! manifest, `Cargo.lock`, cargo's config and rustup's toolchain files, the toolchains and build tools
//! installed, and the build-related environment — recorded next to the zip after a build. While it
//! matches and the zip is intact, `up`/`plan`/`package` reuse the zip without running cargo; anything
//! missing, unreadable or changed means a build, as before.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Bumped whenever what the fingerprint covers changes, so an older record never matches.
const FORMAT: &str = "oncely-build-fingerprint-1";

/// An input younger than this at the build's start may have changed while cargo read it: such a
/// build is not recorded (the next run builds again and records then).
const SETTLE: Duration = Duration::from_secs(1);

/// Environment variables that change what cargo, rustc, build scripts or the linker produce: exact
/// names, then prefixes.
const ENV_NAMES: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_BOOTSTRAP",
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_HOME",
    "CARGO",
    "CARGO_HOME",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_INCREMENTAL",
    "CC",
    "CXX",
    "AR",
    "LD",
    "CFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "SOURCE_DATE_EPOCH",
    "ZIG",
    "ONCELY_ZIGBUILD",
];
const ENV_PREFIXES: &[&str] = &[
    "CARGO_BUILD_",
    "CARGO_PROFILE_",
    "CARGO_TARGET_",
    "CARGO_UNSTABLE_",
    "CARGO_ZIGBUILD_",
    "CC_",
    "CXX_",
    "AR_",
    "CFLAGS_",
    "CXXFLAGS_",
    "TARGET_CC",
    "TARGET_CFLAGS",
    "ZIG_",
];
/// The programs whose identity (path, size, modification time) is part of the fingerprint.
const TOOLS: &[&str] = &["cargo", "rustc", "rustup", "cargo-zigbuild", "zig", "python-zig"];

/// What a build produced and what it read, stored as `<zip>.fingerprint.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Record {
    format: String,
    /// Hex SHA-256 over every input (see [`digest`]).
    inputs: String,
    /// The local source files the build read (cargo's dep-info of the binary).
    files: Vec<PathBuf>,
    /// Base64 SHA-256 of the zip the build made.
    pub zip_sha256: String,
    pub glibc: Option<String>,
    pub built_with: String,
}

/// Where the record of the zip `zip` lives.
pub fn record_path(zip: &Path) -> PathBuf {
    let mut name = zip.as_os_str().to_owned();
    name.push(".fingerprint.json");
    PathBuf::from(name)
}

/// The record of `zip` when every input is as it was at its build; `None` whenever anything differs
/// or cannot be read (the caller then builds). `key` names the build (command, package, target dir).
pub fn matching(zip: &Path, workspace: &Path, key: &str) -> Option<Record> {
    let text = std::fs::read(record_path(zip)).ok()?;
    let record: Record = serde_json::from_slice(&text).ok()?;
    if record.format != FORMAT {
        return None;
    }
    let (now, _) = digest(workspace, key, &record.files)?;
    (now == record.inputs).then_some(record)
}

/// Records the build of `zip` (base64 SHA-256 `zip_sha256`), started at `started`, whose binary's
/// cargo dep-info is `dep_info`. Records nothing when an input may have changed during the build
/// or the dep-info cannot be read: a missing record only costs a build.
pub fn record(
    zip: &Path,
    dep_info: &Path,
    workspace: &Path,
    key: &str,
    started: SystemTime,
    built: (&str, Option<&str>, &str),
) {
    let path = record_path(zip);
    // The new record replaces the old one at once (a reader sees one or the other, never none:
    // another deployer reading meanwhile does not build again); without one, the old goes, as a
    // stale record must never outlive the zip it described.
    let tmp = path.with_extension("json.tmp");
    let replaced = record_json(dep_info, workspace, key, started, built)
        .is_some_and(|json| std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, &path).is_ok());
    if !replaced {
        let _ = std::fs::remove_file(&path);
    }
}

/// The record [`record`] writes, or `None` when there is none to write.
fn record_json(
    dep_info: &Path,
    workspace: &Path,
    key: &str,
    started: SystemTime,
    (zip_sha256, glibc, built_with): (&str, Option<&str>, &str),
) -> Option<Vec<u8>> {
    let files = parse_dep_info(&std::fs::read_to_string(dep_info).ok()?)?;
    let (inputs, newest) = digest(workspace, key, &files)?;
    if started.checked_sub(SETTLE).is_none_or(|limit| newest >= limit) {
        return None;
    }
    serde_json::to_vec_pretty(&Record {
        format: FORMAT.into(),
        inputs,
        files,
        zip_sha256: zip_sha256.into(),
        glibc: glibc.map(str::to_string),
        built_with: built_with.into(),
    })
    .ok()
}

/// The workspace root and cargo's target directory found without running cargo (`cargo metadata`
/// costs about 50 ms), when that is certain: run from the root of a `[workspace]` (no package
/// manifest closer), the target dir from `CARGO_TARGET_DIR`/`CARGO_BUILD_TARGET_DIR` or, when no
/// cargo config names a `target-dir`, `<root>/target`. `None` means: ask cargo.
pub fn locate_workspace() -> Option<(PathBuf, PathBuf)> {
    let cwd = std::env::current_dir().ok()?;
    let nearest = cwd.ancestors().find(|d| d.join("Cargo.toml").is_file())?;
    let manifest = std::fs::read_to_string(nearest.join("Cargo.toml")).ok()?;
    if !manifest.lines().any(|l| l.trim() == "[workspace]") {
        return None;
    }
    let root = nearest.to_path_buf();
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Some((root, cwd.join(dir)));
        }
    }
    // Without a known cargo home, a config there could name a target dir: ask cargo.
    cargo_home()?;
    for config in cargo_config_files(&cwd) {
        match std::fs::read_to_string(&config) {
            Ok(text) if text.contains("target-dir") => return None,
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return None,
            _ => {}
        }
    }
    Some((root.clone(), root.join("target")))
}

/// Cargo's home: `CARGO_HOME`, else `~/.cargo`; `None` when neither is known.
pub fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// The cargo config files cargo reads when run in `dir`, nearest first: `.cargo/config` and
/// `.cargo/config.toml` from `dir` up, then cargo's home's (when known). Present or not.
pub fn cargo_config_files(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(".cargo"))
        .chain(cargo_home())
        .flat_map(|d| [d.join("config"), d.join("config.toml")])
        .collect()
}

/// The local files of a cargo dep-info file (`target: dep dep ...`, spaces escaped as `\ `);
/// `None` when a path is relative (a `dep-info-basedir` this code does not resolve) or none is listed.
pub fn parse_dep_info(text: &str) -> Option<Vec<PathBuf>> {
    let mut files = BTreeSet::new();
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.extend(chars.next()),
                ' ' => {
                    if !current.is_empty() {
                        files.insert(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                _ => current.push(c),
            }
        }
        if !current.is_empty() {
            files.insert(PathBuf::from(current));
        }
    }
    if files.is_empty() || files.iter().any(|f| f.is_relative()) {
        return None;
    }
    Some(files.into_iter().collect())
}

/// Feeds labelled values into a SHA-256 and keeps the newest modification time of what it read.
struct Hasher {
    sha: Sha256,
    newest: SystemTime,
}

impl Hasher {
    fn item(&mut self, label: &str, value: &[u8]) {
        for part in [label.as_bytes(), &(value.len() as u64).to_le_bytes(), value] {
            self.sha.update(part);
        }
    }

    /// A file's content, or that it is absent; its time counts toward `newest`.
    fn file(&mut self, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) => {
                self.item(&format!("file {}", path.display()), &bytes);
                self.seen(path);
            }
            Err(_) => self.item(&format!("absent {}", path.display()), b""),
        }
    }

    /// The entries of a directory that can change a build without changing a file the build read:
    /// its Rust sources and manifests by name (an added `build.rs`, `src/lib.rs` or module), each
    /// counted toward `newest`. Anything else created there (`target/`, an env file, an editor's
    /// backup) leaves the digest alone. `None` when the directory is unreadable.
    fn dir(&mut self, path: &Path) -> Option<()> {
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(path)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .filter(|name| {
                let name = Path::new(name);
                name.extension().is_some_and(|e| e == "rs") || name == "Cargo.toml"
            })
            .collect();
        names.sort();
        let mut listing = Vec::new();
        for name in &names {
            listing.extend_from_slice(name.as_encoded_bytes());
            listing.push(0);
            self.seen(&path.join(name));
        }
        self.item(&format!("dir {}", path.display()), &listing);
        Some(())
    }

    /// A program's or file's identity: where it is, its size and modification time.
    fn identity(&mut self, label: &str, path: Option<&Path>) {
        let meta = path.and_then(|p| Some((p.canonicalize().ok()?, std::fs::metadata(p).ok()?)));
        match meta {
            Some((real, m)) => {
                let modified = m.modified().map(nanos).unwrap_or_default();
                let value = format!("{} {} {modified:?}", real.display(), m.len());
                self.item(label, value.as_bytes());
            }
            None => self.item(label, b"absent"),
        }
    }

    fn seen(&mut self, path: &Path) {
        if let Ok(modified) = std::fs::metadata(path).and_then(|m| m.modified()) {
            self.newest = self.newest.max(modified);
        }
    }
}

fn nanos(t: SystemTime) -> Vec<u8> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    d.as_nanos().to_le_bytes().to_vec()
}

/// The hex SHA-256 over every input of the build named `key` whose local sources are `files`, and
/// the newest modification time among them; `None` when a source file cannot be read.
pub fn digest(workspace: &Path, key: &str, files: &[PathBuf]) -> Option<(String, SystemTime)> {
    let mut h = Hasher {
        sha: Sha256::new(),
        newest: SystemTime::UNIX_EPOCH,
    };
    h.item("format", FORMAT.as_bytes());
    h.item("key", key.as_bytes());
    let mut dirs = BTreeSet::new();
    let mut manifests = BTreeSet::from([workspace.join("Cargo.toml"), workspace.join("Cargo.lock")]);
    for file in files {
        let bytes = std::fs::read(file).ok()?;
        h.item(&format!("source {}", file.display()), &bytes);
        h.seen(file);
        let parent = file.parent()?;
        dirs.insert(parent.to_path_buf());
        // The package's manifest and root directory (where a new build.rs would appear).
        if let Some(root) = parent.ancestors().find(|d| d.join("Cargo.toml").is_file()) {
            manifests.insert(root.join("Cargo.toml"));
            dirs.insert(root.to_path_buf());
        }
    }
    for dir in &dirs {
        h.dir(dir)?;
    }
    for manifest in &manifests {
        h.file(manifest);
    }
    // Cargo's config and rustup's toolchain pins, from the workspace up (cargo runs there).
    for dir in workspace.ancestors() {
        for name in [
            ".cargo/config",
            ".cargo/config.toml",
            "rust-toolchain",
            "rust-toolchain.toml",
        ] {
            h.file(&dir.join(name));
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(cargo_home) = cargo_home() {
        h.file(&cargo_home.join("config"));
        h.file(&cargo_home.join("config.toml"));
    }
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| ENV_NAMES.contains(&k.as_str()) || ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect();
    vars.sort();
    for (k, v) in &vars {
        h.item(&format!("env {k}"), v.as_bytes());
    }
    for tool in TOOLS {
        h.identity(&format!("tool {tool}"), emulators::which(tool).as_deref());
    }
    toolchains(&mut h, home.as_deref())?;
    Some((hex(&h.sha.finalize()), h.newest))
}

/// The installed toolchains: rustup's settings (default, overrides) and every toolchain's compiler,
/// cargo and installed targets; without rustup, the compiler's own `rustc -vV`.
fn toolchains(h: &mut Hasher, home: Option<&Path>) -> Option<()> {
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".rustup")))
        .filter(|d| d.is_dir());
    let Some(rustup_home) = rustup_home else {
        let out = std::process::Command::new("rustc").arg("-vV").output().ok()?;
        if !out.status.success() {
            return None;
        }
        h.item("rustc -vV", &out.stdout);
        return Some(());
    };
    h.file(&rustup_home.join("settings.toml"));
    let mut names: Vec<PathBuf> = std::fs::read_dir(rustup_home.join("toolchains"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for toolchain in &names {
        for part in ["bin/rustc", "bin/cargo", "lib/rustlib"] {
            let path = toolchain.join(part);
            h.identity(&format!("toolchain {}", path.display()), Some(&path));
        }
        let mut targets: Vec<PathBuf> = std::fs::read_dir(toolchain.join("lib/rustlib"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        targets.sort();
        for target in &targets {
            h.identity(&format!("target {}", target.display()), Some(target));
        }
    }
    Some(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_lists_absolute_files_with_escaped_spaces() {
        let text = "/t/release/bootstrap: /w/fn/src/main.rs /w/my\\ dir/lib.rs\n\n/w/fn/src/main.rs:\n";
        assert_eq!(
            parse_dep_info(text).unwrap(),
            [PathBuf::from("/w/fn/src/main.rs"), PathBuf::from("/w/my dir/lib.rs")]
        );
        assert_eq!(parse_dep_info("bootstrap: src/main.rs\n"), None, "relative paths");
        assert_eq!(parse_dep_info("bootstrap:\n"), None, "nothing listed");
    }

    #[test]
    fn the_digest_follows_content_and_new_entries() {
        let dir = std::env::temp_dir().join(format!("oncely-fingerprint-{}", std::process::id()));
        let src = dir.join("fn/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::write(dir.join("fn/Cargo.toml"), "[package]\n").unwrap();
        let main = src.join("main.rs");
        std::fs::write(&main, "fn main() {}\n").unwrap();
        let files = vec![main.clone()];
        let first = digest(&dir, "k", &files).unwrap().0;
        assert_eq!(digest(&dir, "k", &files).unwrap().0, first, "stable");
        assert_ne!(digest(&dir, "other", &files).unwrap().0, first, "the key counts");
        std::fs::write(dir.join("Cargo.lock"), "version = 4\n").unwrap();
        let locked = digest(&dir, "k", &files).unwrap().0;
        assert_ne!(locked, first, "Cargo.lock counts");
        std::fs::write(&main, "fn main() { println!(); }\n").unwrap();
        assert_ne!(
            digest(&dir, "k", &files).unwrap().0,
            locked,
            "the source's content counts"
        );
        let changed = digest(&dir, "k", &files).unwrap().0;
        std::fs::write(dir.join("fn/build.rs"), "fn main() {}\n").unwrap();
        let with_build_script = digest(&dir, "k", &files).unwrap().0;
        assert_ne!(with_build_script, changed, "an added build script counts");
        // A file of the workspace root among the sources (clippy-driver lists the root manifest):
        // what a build or a deploy creates there (the target dir, an env file) does not count.
        let files = vec![dir.join("Cargo.toml"), main.clone()];
        let rooted = digest(&dir, "k", &files).unwrap().0;
        std::fs::create_dir_all(dir.join("target/lambda")).unwrap();
        std::fs::write(dir.join(".env.local"), "VITE_API_URL=x\n").unwrap();
        assert_eq!(
            digest(&dir, "k", &files).unwrap().0,
            rooted,
            "created beside the sources"
        );
        std::fs::remove_file(&main).unwrap();
        assert_eq!(digest(&dir, "k", &files), None, "a source gone: no digest");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
