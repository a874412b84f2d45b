//! Writes the API endpoint where the frontend reads it: `VITE_API_URL=<endpoint>` in the
//! configured env file, keeping every other line of that file; `up --local` also writes how the
//! frontend gets tokens (`VITE_AUTH_MODE`, `VITE_AUTH_ISSUER`).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::config::Config;
use crate::progress::Progress;

/// The variable Vite exposes to the page.
pub const VARIABLE: &str = "VITE_API_URL";

/// What `sync-endpoint` wrote, and where.
#[derive(Debug, Clone, Serialize)]
pub struct Synced {
    pub endpoint: String,
    pub env_file: PathBuf,
}

impl fmt::Display for Synced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VARIABLE}={} written to {}", self.endpoint, self.env_file.display())
    }
}

/// Writes the endpoint into the frontend's env file (the same code for `up`, `up --local` and
/// `sync-endpoint`).
pub fn write_to_frontend(config: &Config, endpoint: &str, progress: &Progress) -> anyhow::Result<Synced> {
    let path = &config.frontend.env_file;
    write(path, endpoint).with_context(|| format!("writing {VARIABLE} to {}", path.display()))?;
    progress.info(format!("wrote {VARIABLE}={endpoint} to {}", path.display()));
    Ok(Synced {
        endpoint: endpoint.to_string(),
        env_file: path.clone(),
    })
}

/// Replaces (or appends) the `VITE_API_URL=` line of `path`, creating the file and its folder.
pub fn write(path: &Path, endpoint: &str) -> std::io::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let text = with_endpoint(&existing, endpoint);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

/// The new file content: other lines kept in order, ours replaced in place or appended.
pub fn with_endpoint(existing: &str, endpoint: &str) -> String {
    with_variable(existing, VARIABLE, Some(endpoint))
}

/// The new file content with `name=value` replaced in place or appended (`None`: removed),
/// other lines kept in order.
pub fn with_variable(existing: &str, name: &str, value: Option<&str>) -> String {
    let line = value.map(|v| format!("{name}={v}"));
    let mut replaced = false;
    let mut out: Vec<String> = Vec::new();
    for l in existing.lines() {
        let key = l.trim_start().strip_prefix("export ").unwrap_or(l.trim_start());
        if key.split('=').next().map(str::trim) == Some(name) {
            if !replaced && let Some(line) = &line {
                out.push(line.clone());
            }
            replaced = true;
        } else {
            out.push(l.to_string());
        }
    }
    if let (false, Some(line)) = (replaced, line) {
        out.push(line);
    }
    if out.is_empty() {
        String::new()
    } else {
        out.join("\n") + "\n"
    }
}

/// How the frontend of a local stack gets tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalAuth<'a> {
    /// No `api.auth`: `VITE_AUTH_MODE=none`, no issuer.
    None,
    /// `cognito`: the local issuer's `POST /token`.
    Local { issuer: &'a str },
    /// `jwt`: the configured issuer.
    Jwt { issuer: &'a str },
}

/// Writes `VITE_AUTH_MODE` and `VITE_AUTH_ISSUER` for a local stack into the frontend's env file.
pub fn write_local_auth(config: &Config, auth: LocalAuth<'_>, progress: &Progress) -> anyhow::Result<()> {
    let path = &config.frontend.env_file;
    let (mode, issuer) = match auth {
        LocalAuth::None => ("none", None),
        LocalAuth::Local { issuer } => ("local", Some(issuer)),
        LocalAuth::Jwt { issuer } => ("jwt", Some(issuer)),
    };
    let existing = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let text = with_variable(&existing, "VITE_AUTH_MODE", Some(mode));
    let text = with_variable(&text, "VITE_AUTH_ISSUER", issuer);
    std::fs::write(path, text).with_context(|| format!("writing VITE_AUTH_MODE to {}", path.display()))?;
    progress.info(format!("wrote VITE_AUTH_MODE={mode} to {}", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_other_lines_and_replaces_ours() {
        let before = "# local settings\nVITE_FLAG=1\nVITE_API_URL=http://old\nOTHER=x\nVITE_API_URL=http://dup\n";
        assert_eq!(
            with_endpoint(before, "http://new"),
            "# local settings\nVITE_FLAG=1\nVITE_API_URL=http://new\nOTHER=x\n"
        );
        assert_eq!(with_endpoint("", "http://a"), "VITE_API_URL=http://a\n");
        assert_eq!(with_endpoint("A=1", "http://a"), "A=1\nVITE_API_URL=http://a\n");
        let auth = with_variable("VITE_API_URL=x\nVITE_AUTH_ISSUER=old\n", "VITE_AUTH_ISSUER", None);
        assert_eq!(auth, "VITE_API_URL=x\n");
        assert_eq!(
            with_variable("X=1\n", "VITE_AUTH_MODE", Some("local")),
            "X=1\nVITE_AUTH_MODE=local\n"
        );
    }

    #[test]
    fn writes_the_file_and_its_folder() {
        let dir = testkit::temp_dir();
        let path = dir.path().join("nested/.env.local");
        write(&path, "http://127.0.0.1:3000").unwrap();
        write(&path, "http://127.0.0.1:3001").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "VITE_API_URL=http://127.0.0.1:3001\n"
        );
    }
}
