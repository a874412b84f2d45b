//! Writes the API endpoint where the frontend reads it: `VITE_API_URL=<endpoint>` in the
//! configured env file, keeping every other line of that file; with `api.auth` deployed, also what
//! the frontend signs in with (`VITE_AUTH_MODE`, `VITE_AUTH_ISSUER`, `VITE_AUTH_CLIENT_ID`), and
//! for `up --local` how the frontend gets tokens (`VITE_AUTH_MODE`, `VITE_AUTH_ISSUER`).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::config::Config;
use crate::progress::Progress;
use crate::report::AuthOutputs;

/// The variable Vite exposes to the page.
pub const VARIABLE: &str = "VITE_API_URL";

/// What `sync-endpoint` wrote, and where.
#[derive(Debug, Clone, Serialize)]
pub struct Synced {
    pub endpoint: String,
    pub env_file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthOutputs>,
}

impl fmt::Display for Synced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VARIABLE}={} written to {}", self.endpoint, self.env_file.display())?;
        if let Some(auth) = &self.auth {
            let names: Vec<&str> = auth_vars(auth).iter().map(|(k, _)| *k).collect();
            write!(f, "\n{} written to {}", names.join(", "), self.env_file.display())?;
        }
        Ok(())
    }
}

/// Writes the endpoint into the frontend's env file (the same code for `up`, `up --local` and
/// `sync-endpoint`); `None`, writing nothing, when the config has no `frontend:` section.
pub fn write_to_frontend(config: &Config, endpoint: &str, progress: &Progress) -> anyhow::Result<Option<Synced>> {
    let Some(frontend) = &config.frontend else {
        return Ok(None);
    };
    let path = &frontend.env_file;
    write(path, endpoint).with_context(|| format!("writing {VARIABLE} to {}", path.display()))?;
    progress.info(format!("wrote {VARIABLE}={endpoint} to {}", path.display()));
    Ok(Some(Synced {
        endpoint: endpoint.to_string(),
        env_file: path.clone(),
        auth: None,
    }))
}

/// What the frontend signs in with: the mode (`cognito` or `jwt`), the issuer, and the client id
/// (Cognito's app client; for `jwt:` the first audience).
pub fn auth_vars(auth: &AuthOutputs) -> Vec<(&'static str, String)> {
    let client = auth.client_id.clone().or_else(|| auth.audience.first().cloned());
    vec![
        ("VITE_AUTH_MODE", auth.provider.to_string()),
        ("VITE_AUTH_ISSUER", auth.issuer.clone()),
        ("VITE_AUTH_CLIENT_ID", client.unwrap_or_default()),
    ]
}

/// Writes [`auth_vars`] into the frontend's env file, keeping every other line (nothing without a
/// `frontend:` section).
pub fn write_auth_to_frontend(config: &Config, auth: &AuthOutputs, progress: &Progress) -> anyhow::Result<()> {
    let Some(frontend) = &config.frontend else {
        return Ok(());
    };
    let path = &frontend.env_file;
    let vars = auth_vars(auth);
    write_vars(path, &vars).with_context(|| format!("writing the sign-in settings to {}", path.display()))?;
    let names: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
    progress.info(format!("wrote {} to {}", names.join(", "), path.display()));
    Ok(())
}

/// Replaces (or appends) the `VITE_API_URL=` line of `path`, creating the file and its folder.
pub fn write(path: &Path, endpoint: &str) -> std::io::Result<()> {
    write_vars(path, &[(VARIABLE, endpoint.to_string())])
}

/// Replaces (or appends) the lines of `vars` in `path`, creating the file and its folder.
pub fn write_vars(path: &Path, vars: &[(&str, String)]) -> std::io::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let text = with_vars(&existing, vars);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

/// The new file content: other lines kept in order, ours replaced in place or appended.
pub fn with_endpoint(existing: &str, endpoint: &str) -> String {
    with_variable(existing, VARIABLE, Some(endpoint))
}

/// The new file content with each of `vars` replaced in place (its first line; later duplicates
/// dropped) or appended, other lines kept in order.
pub fn with_vars(existing: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(existing.to_string(), |text, (name, value)| {
        with_variable(&text, name, Some(value))
    })
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

/// Writes `VITE_AUTH_MODE` and `VITE_AUTH_ISSUER` for a local stack into the frontend's env file
/// (nothing without a `frontend:` section).
pub fn write_local_auth(config: &Config, auth: LocalAuth<'_>, progress: &Progress) -> anyhow::Result<()> {
    let Some(frontend) = &config.frontend else {
        return Ok(());
    };
    let path = &frontend.env_file;
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
    fn auth_vars_replace_theirs_and_keep_the_rest() {
        let auth = AuthOutputs {
            provider: "cognito",
            issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc".into(),
            audience: vec!["client1".into()],
            client_id: Some("client1".into()),
            user_pool_id: Some("eu-west-1_abc".into()),
        };
        let before = "VITE_API_URL=http://a\nVITE_AUTH_CLIENT_ID=old\nX=1\n";
        assert_eq!(
            with_vars(before, &auth_vars(&auth)),
            "VITE_API_URL=http://a\nVITE_AUTH_CLIENT_ID=client1\nX=1\nVITE_AUTH_MODE=cognito\n\
            VITE_AUTH_ISSUER=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc\n"
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
