//! `package`: builds the function crate as `bootstrap` for `provided.al2023`, proves from the
//! binary's symbol versions that it runs on AL2023's glibc (2.34), and zips it deterministically.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::build_cache;
use crate::build_lock::BuildLock;
use crate::config::{Architecture, Config};
use crate::progress::Progress;

/// The glibc of Amazon Linux 2023, the newest a `provided.al2023` binary may need.
pub const MAX_GLIBC: (u32, u32) = (2, 34);

/// The Cargo profile the package is built with (the workspace's `[profile.lambda]`: release plus
/// fat LTO and one codegen unit, so the zip stays small without slowing the function).
pub const PROFILE: &str = "lambda";

/// The `lambda` profile cargo gets when the workspace defines none, as `CARGO_PROFILE_LAMBDA_*`
/// variables (each only when the caller has not set it): release, fat LTO, one codegen unit,
/// symbols stripped, unwinding kept (the handler releases its idempotency claim when it panics).
pub const SUPPLIED_PROFILE: [(&str, &str); 5] = [
    ("CARGO_PROFILE_LAMBDA_INHERITS", "release"),
    ("CARGO_PROFILE_LAMBDA_LTO", "fat"),
    ("CARGO_PROFILE_LAMBDA_CODEGEN_UNITS", "1"),
    ("CARGO_PROFILE_LAMBDA_STRIP", "true"),
    ("CARGO_PROFILE_LAMBDA_PANIC", "unwind"),
];

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("`{command}` failed ({status}); the end of its output:\n{output}")]
    BuildFailed {
        command: String,
        status: String,
        output: String,
    },
    #[error("could not run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the Rust target {target} is not installed: run `rustup target add {target}`{extra}")]
    TargetMissing { target: String, extra: &'static str },
    #[error("the build finished but {0} is missing")]
    BinaryMissing(PathBuf),
    #[error("{path} is not a 64-bit little-endian ELF executable ({why})")]
    NotElf { path: PathBuf, why: &'static str },
    #[error(
        "{path} needs glibc {found} but provided.al2023 has glibc 2.34: \
        install cargo-zigbuild and zig (`pip install cargo-zigbuild ziglang`) so the deployer builds against glibc 2.34"
    )]
    GlibcTooNew { path: PathBuf, found: String },
    #[error("I/O error {doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
    #[error("zipping {0}: {1}")]
    Zip(PathBuf, String),
}

type Result<T> = std::result::Result<T, PackageError>;

fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> PackageError {
    let doing = doing.into();
    move |source| PackageError::Io { doing, source }
}

/// A built deployment package.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Artifact {
    /// The zip file.
    pub path: PathBuf,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Base64 SHA-256 of the zip, as Lambda's CodeSha256.
    pub sha256: String,
    /// The newest glibc symbol version the binary needs (e.g. "2.34"), if it links glibc.
    pub glibc: Option<String>,
    /// How it was built, e.g. "cargo zigbuild --target x86_64-unknown-linux-gnu.2.34".
    pub built_with: String,
}

impl std::fmt::Display for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "package:    {}", self.path.display())?;
        writeln!(f, "size:       {} bytes", self.bytes.len())?;
        writeln!(f, "sha256:     {}", self.sha256)?;
        writeln!(
            f,
            "glibc:      {} (provided.al2023 has 2.34)",
            self.glibc.as_deref().unwrap_or("not linked")
        )?;
        write!(f, "built with: {}", self.built_with)
    }
}

impl Artifact {
    /// Reads an existing zip (e.g. `up --zip`).
    pub fn from_zip(path: &Path) -> Result<Artifact> {
        let bytes = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
        Ok(Artifact {
            path: path.to_path_buf(),
            sha256: sha256_b64(&bytes),
            bytes,
            glibc: None,
            built_with: "a prebuilt zip".into(),
        })
    }
}

pub fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// What to build and where.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub package: String,
    pub architecture: Architecture,
    /// Directory of the workspace's Cargo.toml.
    pub workspace: PathBuf,
    /// Cargo's target dir for the function build (kept apart from the deployer's own).
    pub target_dir: PathBuf,
    /// Where the zip goes.
    pub out_dir: PathBuf,
    /// `Some(true)` forces cargo-zigbuild, `Some(false)` forces a native build; `None` picks
    /// cargo-zigbuild when it is installed.
    pub zigbuild: Option<bool>,
    /// Cargo's profile: [`PROFILE`] (what ships), or `dev` for `up --local --watch`'s quick rebuilds.
    pub profile: &'static str,
    /// Whether the workspace (its manifest or a cargo config file) defines `[profile.lambda]`;
    /// when not, the build gets [`SUPPLIED_PROFILE`].
    pub workspace_profile: bool,
}

impl BuildOptions {
    /// Defaults for the current workspace: `<target>/lambda` for the build and the zip.
    pub fn for_workspace(package: &str, architecture: Architecture) -> Result<BuildOptions> {
        let (workspace, target) = match build_cache::locate_workspace() {
            Some(found) => found,
            None => cargo_metadata()?,
        };
        let workspace_profile = defines_profile(&workspace, PROFILE);
        Ok(BuildOptions {
            package: package.to_string(),
            architecture,
            workspace_profile,
            workspace,
            target_dir: target.join("lambda"),
            out_dir: target.join("lambda").join("package"),
            zigbuild: std::env::var("ONCELY_ZIGBUILD").ok().map(|v| v != "0" && v != "false"),
            profile: PROFILE,
        })
    }
}

/// Whether `[profile.NAME]` is defined where cargo reads profiles: the workspace's manifest, or a
/// cargo config file (`.cargo/config.toml` from the workspace up, then cargo's home).
fn defines_profile(workspace: &Path, name: &str) -> bool {
    let table = format!("[profile.{name}");
    let (header, subtable) = (format!("{table}]"), format!("{table}."));
    let key = format!("profile.{name}.");
    let in_manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).is_ok_and(|text| {
        text.lines()
            .map(str::trim_start)
            .any(|l| l.starts_with(&header) || l.starts_with(&subtable))
    });
    let in_config = build_cache::cargo_config_files(workspace)
        .into_iter()
        .filter_map(|c| std::fs::read_to_string(c).ok())
        .any(|text| text.contains(&table) || text.contains(&key));
    in_manifest || in_config
}

/// The workspace root and cargo's target directory, as `cargo metadata` reports them.
fn cargo_metadata() -> Result<(PathBuf, PathBuf)> {
    {
        let out = Command::new("cargo")
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|source| PackageError::Spawn {
                program: "cargo metadata".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(PackageError::BuildFailed {
                command: "cargo metadata".into(),
                status: out.status.to_string(),
                output: String::new(),
            });
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| PackageError::Io {
            doing: "reading cargo metadata".into(),
            source: e.into(),
        })?;
        let workspace = PathBuf::from(meta["workspace_root"].as_str().unwrap_or("."));
        let target = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
        Ok((workspace, target))
    }
}

fn installed_targets() -> Vec<String> {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
        .unwrap_or_default()
}

fn host_arch() -> &'static str {
    std::env::consts::ARCH
}

/// A finished build: the binary (and its dep-info beside it, `bootstrap.d`) at cargo's output
/// path, how it was built, and the target directory held ([`BuildLock`]) until this is dropped:
/// read what you need from the path, then let it go.
#[derive(Debug)]
pub struct Built {
    /// `bootstrap` at cargo's output path.
    pub binary: PathBuf,
    /// The command, for people (`cargo zigbuild --profile lambda --target ...`).
    pub built_with: String,
    _lock: BuildLock,
}

/// Compiles the function as `bootstrap`, holding the target directory from before cargo starts
/// until the returned [`Built`] is dropped.
pub fn compile(opts: &BuildOptions, progress: &Progress) -> Result<Built> {
    let triple = opts.architecture.rust_target();
    let zig = uses_zig(opts);
    let native_arch = match opts.architecture {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "aarch64",
    };
    let cross = host_arch() != native_arch;
    if cross && !installed_targets().iter().any(|t| t == triple) {
        return Err(PackageError::TargetMissing {
            target: triple.to_string(),
            extra: if zig {
                ""
            } else {
                ", and install cargo-zigbuild and zig (`pip install cargo-zigbuild ziglang`) to link for it"
            },
        });
    }
    let mut cmd = Command::new("cargo");
    let built_with = built_with(triple, zig, opts.profile);
    if zig {
        cmd.args(["zigbuild", "--target", &zig_target(triple)]);
    } else {
        cmd.args(["build", "--target", triple]);
    }
    let target_dir = build_dir(opts, zig);
    let lock = BuildLock::acquire(&target_dir, || {
        progress.info(format!(
            "waiting for another deployer's build in {} to finish",
            target_dir.display()
        ));
    })
    .map_err(io(format!("locking {}", target_dir.display())))?;
    if supplies_profile(opts) {
        for (name, value) in SUPPLIED_PROFILE {
            if std::env::var_os(name).is_none() {
                cmd.env(name, value);
            }
        }
        progress.info(format!(
            "the workspace defines no [profile.{PROFILE}]: building with the deployer's (release, fat LTO, \
            one codegen unit, stripped, unwinding); add [profile.{PROFILE}] to {} to choose",
            opts.workspace.join("Cargo.toml").display()
        ));
    }
    cmd.args([
        "--profile",
        opts.profile,
        "--locked",
        "-p",
        &opts.package,
        "--bin",
        "bootstrap",
    ])
    .arg("--target-dir")
    .arg(&target_dir)
    .current_dir(&opts.workspace);
    // When the deployer itself runs under cargo (`cargo run`, a test), cargo has set variables
    // that describe the deployer's package. Build scripts read some of them (ring's reads
    // CARGO_MANIFEST_DIR), so passing them on would make cargo rebuild the function's
    // dependencies whenever the deployer was started another way.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(describes_calling_package) {
            cmd.env_remove(&name);
        }
    }
    let step = progress.step(format!("building {} as bootstrap ({built_with})", opts.package));
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| PackageError::Spawn {
            program: "cargo".into(),
            source,
        })?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = text.lines().collect();
        return Err(PackageError::BuildFailed {
            command: built_with,
            status: out.status.to_string(),
            output: lines[lines.len().saturating_sub(40)..].join("\n"),
        });
    }
    // The path is shared by every workspace that shares the target directory; cargo links this
    // package's build there again on every run, fresh or not (the test below holds it to that),
    // and no other deployer's build replaces it while the lock is held.
    let binary = binary_path(opts, zig);
    if !binary.is_file() {
        return Err(PackageError::BinaryMissing(binary));
    }
    step.done("built");
    Ok(Built {
        binary,
        built_with,
        _lock: lock,
    })
}

/// Whether the build goes through cargo-zigbuild (forced, or else when it is installed).
pub fn uses_zig(opts: &BuildOptions) -> bool {
    opts.zigbuild
        .unwrap_or_else(|| emulators::which("cargo-zigbuild").is_some())
}

/// Whether `name` is one of the variables cargo sets for the package it runs (a binary, a test,
/// a build script), not an input a user gives a build.
fn describes_calling_package(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    EXACT.contains(&name) || name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_BIN_EXE_")
}

/// cargo-zigbuild's target: the triple with the glibc to link against.
fn zig_target(triple: &str) -> String {
    format!("{triple}.{}.{}", MAX_GLIBC.0, MAX_GLIBC.1)
}

fn built_with(triple: &str, zig: bool, profile: &str) -> String {
    if zig {
        format!("cargo zigbuild --profile {profile} --target {}", zig_target(triple))
    } else {
        format!("cargo build --profile {profile} --target {triple} (native toolchain)")
    }
}

/// Whether the build gets [`SUPPLIED_PROFILE`]: the shipping profile, which the workspace lacks.
fn supplies_profile(opts: &BuildOptions) -> bool {
    opts.profile == PROFILE && !opts.workspace_profile
}

/// Zig-linked and natively linked builds keep apart, so neither invalidates the other.
fn build_dir(opts: &BuildOptions, zig: bool) -> PathBuf {
    opts.target_dir.join(if zig { "zig" } else { "native" })
}

fn binary_path(opts: &BuildOptions, zig: bool) -> PathBuf {
    build_dir(opts, zig)
        .join(opts.architecture.rust_target())
        // Cargo puts the `dev` profile's output in `debug`.
        .join(if opts.profile == "dev" { "debug" } else { opts.profile })
        .join("bootstrap")
}

/// Builds, checks (glibc <= 2.34) and zips the function; reuses the last zip without running
/// cargo when nothing the build reads changed since (see [`crate::build_cache`]).
pub fn build(opts: &BuildOptions, progress: &Progress) -> Result<Artifact> {
    let zig = uses_zig(opts);
    let path = opts
        .out_dir
        .join(format!("{}-{}.zip", opts.package, opts.architecture.lambda_name()));
    let key = format!(
        "{} -p {} --bin bootstrap --target-dir {}{}",
        built_with(opts.architecture.rust_target(), zig, opts.profile),
        opts.package,
        build_dir(opts, zig).display(),
        if supplies_profile(opts) {
            " (the deployer's profile)"
        } else {
            ""
        }
    );
    if let Some(record) = build_cache::matching(&path, &opts.workspace, &key)
        && let Ok(artifact) = Artifact::from_zip(&path)
        && artifact.sha256 == record.zip_sha256
    {
        progress.info(format!(
            "{} unchanged since its last build: reusing its package (cargo not run)",
            opts.package
        ));
        return Ok(Artifact {
            glibc: record.glibc,
            built_with: record.built_with,
            ..artifact
        });
    }
    let started = std::time::SystemTime::now();
    // Held to the end: the dep-info the record reads is cargo's shared file too.
    let Built {
        binary,
        built_with,
        _lock: _held,
    } = compile(opts, progress)?;
    let bin = std::fs::read(&binary).map_err(io(format!("reading {}", binary.display())))?;
    let glibc = max_glibc(&binary, &bin)?;
    if let Some((major, minor)) = glibc
        && (major, minor) > MAX_GLIBC
    {
        return Err(PackageError::GlibcTooNew {
            path: binary,
            found: format!("{major}.{minor}"),
        });
    }
    let zip = zip_bootstrap(&bin).map_err(|e| PackageError::Zip(binary.clone(), e.to_string()))?;
    std::fs::create_dir_all(&opts.out_dir).map_err(io(format!("creating {}", opts.out_dir.display())))?;
    // A zip of the same bytes stays as it is, and so does its record until the new one replaces
    // it (a deployer reading them meanwhile reuses the package). Otherwise the old record goes
    // before the zip changes (a record never describes another zip), and the zip is replaced at
    // once (a reader never sees half of it).
    if std::fs::read(&path).ok().as_deref() != Some(zip.as_slice()) {
        let _ = std::fs::remove_file(build_cache::record_path(&path));
        let tmp = path.with_extension("zip.tmp");
        std::fs::write(&tmp, &zip).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("renaming {} to {}", tmp.display(), path.display())))?;
    }
    let artifact = Artifact {
        path,
        sha256: sha256_b64(&zip),
        bytes: zip,
        glibc: glibc.map(|(a, b)| format!("{a}.{b}")),
        built_with,
    };
    build_cache::record(
        &artifact.path,
        &binary.with_extension("d"),
        &opts.workspace,
        &key,
        started,
        (&artifact.sha256, artifact.glibc.as_deref(), &artifact.built_with),
    );
    Ok(artifact)
}

/// Builds the function package the config names and says where it is (`package`, and `plan`/`up`
/// without `--zip`).
pub fn build_for_config(config: &Config, progress: &Progress) -> anyhow::Result<Artifact> {
    let opts = BuildOptions::for_workspace(&config.function.package, config.function.architecture)?;
    let artifact =
        build(&opts, progress).with_context(|| format!("packaging the `{}` crate", config.function.package))?;
    progress.info(format!(
        "package {} (sha256 {})",
        artifact.path.display(),
        artifact.sha256
    ));
    Ok(artifact)
}

/// A zip with one entry, `bootstrap` (mode 0755), with fixed timestamps: the same binary always
/// gives the same bytes, so an unchanged function is never uploaded again.
pub fn zip_bootstrap(binary: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    writer.start_file("bootstrap", options)?;
    writer.write_all(binary)?;
    Ok(writer.finish()?.into_inner())
}

/// The `bootstrap` a zip made by [`zip_bootstrap`] holds (`up --local` runs the packaged binary).
pub fn unzip_bootstrap(zip: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip))?;
    let mut entry = archive.by_name("bootstrap")?;
    let mut binary = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut binary)?;
    Ok(binary)
}

// ----------------------------------------------------------------------------------------------
// Reading the glibc symbol versions an ELF binary needs (its .gnu.version_r section).

const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

/// Every version name the binary requires from shared libraries, e.g. `GLIBC_2.17`.
pub fn required_versions(path: &Path, elf: &[u8]) -> Result<Vec<String>> {
    let bad = |why| PackageError::NotElf {
        path: path.to_path_buf(),
        why,
    };
    if elf.get(0..4) != Some(b"\x7fELF") {
        return Err(bad("no ELF magic"));
    }
    if elf[4] != 2 || elf[5] != 1 {
        return Err(bad("not ELF64 little-endian"));
    }
    let shoff = u64_at(elf, 0x28).ok_or(bad("truncated header"))? as usize;
    let shentsize = u16_at(elf, 0x3a).ok_or(bad("truncated header"))? as usize;
    let shnum = u16_at(elf, 0x3c).ok_or(bad("truncated header"))? as usize;
    let section = |i: usize| -> Option<(u32, usize, usize, u32, u32)> {
        let at = shoff + i * shentsize;
        Some((
            u32_at(elf, at + 4)?,
            u64_at(elf, at + 24)? as usize,
            u64_at(elf, at + 32)? as usize,
            u32_at(elf, at + 40)?,
            u32_at(elf, at + 44)?,
        ))
    };
    let mut names = Vec::new();
    for i in 0..shnum {
        let Some((kind, offset, _size, link, count)) = section(i) else {
            return Err(bad("truncated section table"));
        };
        if kind != SHT_GNU_VERNEED {
            continue;
        }
        let (_, str_off, str_size, _, _) = section(link as usize).ok_or(bad("bad string table link"))?;
        let strings = elf
            .get(str_off..str_off + str_size)
            .ok_or(bad("string table out of bounds"))?;
        let name_at = |off: u32| -> Option<String> {
            let rest = strings.get(off as usize..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        let mut entry = offset;
        for _ in 0..count {
            let cnt = u16_at(elf, entry + 2).ok_or(bad("truncated verneed"))?;
            let aux = u32_at(elf, entry + 8).ok_or(bad("truncated verneed"))? as usize;
            let next = u32_at(elf, entry + 12).ok_or(bad("truncated verneed"))? as usize;
            let mut a = entry + aux;
            for _ in 0..cnt {
                let name = u32_at(elf, a + 8).ok_or(bad("truncated vernaux"))?;
                if let Some(n) = name_at(name) {
                    names.push(n);
                }
                let anext = u32_at(elf, a + 12).ok_or(bad("truncated vernaux"))? as usize;
                if anext == 0 {
                    break;
                }
                a += anext;
            }
            if next == 0 {
                break;
            }
            entry += next;
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The newest `GLIBC_x.y` the binary needs, or None when it needs no glibc symbol versions.
pub fn max_glibc(path: &Path, elf: &[u8]) -> Result<Option<(u32, u32)>> {
    let versions = required_versions(path, elf)?;
    Ok(versions
        .iter()
        .filter_map(|v| v.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.');
            Some((
                parts.next()?.parse().ok()?,
                parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            ))
        })
        .max())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another workspace's `bootstrap` at cargo's output path (a shared target directory) does not
    /// pass for this package's: cargo links this package's build there again even when it is fresh,
    /// and the build holds the directory until its binary has been read.
    #[test]
    fn a_bootstrap_another_workspace_left_at_cargos_path_is_not_taken_for_ours() {
        let dir = testkit::temp_dir();
        let ws = dir.path().join("tiny");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::write(
            ws.join("Cargo.toml"),
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [[bin]]\nname = \"bootstrap\"\npath = \"src/main.rs\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(ws.join("src/main.rs"), "fn main() { println!(\"tiny\"); }\n").unwrap();
        let lock = Command::new("cargo")
            .args(["generate-lockfile", "--offline"])
            .current_dir(&ws)
            .status()
            .unwrap();
        assert!(lock.success());
        let arch = if host_arch() == "aarch64" {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        };
        let opts = BuildOptions {
            package: "tiny".into(),
            architecture: arch,
            workspace: ws.clone(),
            target_dir: dir.path().join("target"),
            out_dir: dir.path().join("out"),
            zigbuild: Some(false),
            profile: "dev",
            workspace_profile: false,
        };
        let run = |binary: &Path| {
            let out = Command::new(binary).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let built = compile(&opts, &Progress::silent()).unwrap();
        // The build holds its target directory until what it made has been read.
        let dir = build_dir(&opts, false);
        assert!(
            BuildLock::try_acquire(&dir).unwrap().is_none(),
            "held while the build is"
        );
        let binary = built.binary.clone();
        drop(built);
        assert!(BuildLock::try_acquire(&dir).unwrap().is_some(), "let go with the build");
        assert_eq!(run(&binary), "tiny");
        // Another workspace's build, sharing the target directory, puts its own binary there
        // (cargo replaces the file: ours, a hard link to its own build, stays intact).
        for (path, text) in [
            (binary.clone(), "#!/bin/sh\necho other\n"),
            (binary.with_extension("d"), "other: other.rs\n"),
        ] {
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(run(&binary), "other");
        let again = compile(&opts, &Progress::silent()).unwrap().binary;
        assert_eq!(again, binary);
        assert_eq!(run(&again), "tiny", "this package's build, not the other workspace's");
        let dep_info = std::fs::read_to_string(again.with_extension("d")).unwrap();
        assert!(dep_info.contains("main.rs"), "{dep_info}");
    }

    #[test]
    fn the_calling_packages_variables_do_not_reach_the_build() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_BIN_EXE_deployer",
            "CARGO_CRATE_NAME",
            "OUT_DIR",
        ] {
            assert!(describes_calling_package(name), "{name}");
        }
        // What a user sets to steer a build is passed on.
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_PROFILE_LAMBDA_LTO",
            "RUSTFLAGS",
            "CARGO",
        ] {
            assert!(!describes_calling_package(name), "{name}");
        }
    }

    #[test]
    fn the_zip_is_deterministic_and_executable() {
        let a = zip_bootstrap(b"#!/bin/sh\necho hi\n").unwrap();
        let b = zip_bootstrap(b"#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, zip_bootstrap(b"#!/bin/sh\necho bye\n").unwrap());
        let mut archive = zip::ZipArchive::new(Cursor::new(a)).unwrap();
        assert_eq!(archive.len(), 1);
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn reads_glibc_versions_of_a_real_binary() {
        // The test binary itself is a glibc-linked ELF.
        let me = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&me).unwrap();
        let versions = required_versions(&me, &bytes).unwrap();
        assert!(versions.iter().any(|v| v.starts_with("GLIBC_2.")), "{versions:?}");
        let (major, minor) = max_glibc(&me, &bytes).unwrap().unwrap();
        assert_eq!(major, 2);
        assert!(minor >= 2);
        // Cross-check against binutils when it is there.
        if let Ok(out) = Command::new("objdump").arg("-T").arg(&me).output() {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut theirs: Vec<&str> = text
                .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
                .filter(|w| w.starts_with("GLIBC_2."))
                .collect();
            theirs.sort();
            theirs.dedup();
            let ours: Vec<&str> = versions
                .iter()
                .map(String::as_str)
                .filter(|v| v.starts_with("GLIBC_2."))
                .collect();
            if !theirs.is_empty() {
                assert_eq!(ours, theirs);
            }
        }
    }

    #[test]
    fn rejects_what_is_not_elf() {
        assert!(matches!(
            required_versions(Path::new("x"), b"MZ\x90\x00"),
            Err(PackageError::NotElf { .. })
        ));
    }
}
