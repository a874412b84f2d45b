//! Writes the API endpoint where the frontend reads it: `VITE_API_URL=<endpoint>` in the
//! configured env file, keeping every other line of that file; with `api.auth` deployed, also what
//! the frontend signs in with (`VITE_AUTH_MODE`, `VITE_AUTH_ISSUER`, `VITE_AUTH_CLIENT_ID`).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::config::Config;
use crate::progress::Progress;
use crate::resources::AuthOutputs;

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
/// `sync-endpoint`).
pub fn write_to_frontend(config: &Config, endpoint: &str, progress: &Progress) -> anyhow::Result<Synced> {
    let path = &config.frontend.env_file;
    write(path, endpoint).with_context(|| format!("writing {VARIABLE} to {}", path.display()))?;
    progress.info(format!("wrote {VARIABLE}={endpoint} to {}", path.display()));
    Ok(Synced {
        endpoint: endpoint.to_string(),
        env_file: path.clone(),
        auth: None,
    })
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

/// Writes [`auth_vars`] into the frontend's env file, keeping every other line.
pub fn write_auth_to_frontend(config: &Config, auth: &AuthOutputs, progress: &Progress) -> anyhow::Result<()> {
    let path = &config.frontend.env_file;
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
    with_vars(existing, &[(VARIABLE, endpoint.to_string())])
}

/// The new file content with each of `vars` replaced in place (its first line; later duplicates
/// dropped) or appended, other lines kept in order.
pub fn with_vars(existing: &str, vars: &[(&str, String)]) -> String {
    let mut replaced = vec![false; vars.len()];
    let mut out: Vec<String> = Vec::new();
    for l in existing.lines() {
        let key = l.trim_start().strip_prefix("export ").unwrap_or(l.trim_start());
        let name = key.split('=').next().map(str::trim);
        match vars.iter().position(|(k, _)| Some(*k) == name) {
            Some(i) if !replaced[i] => {
                out.push(format!("{}={}", vars[i].0, vars[i].1));
                replaced[i] = true;
            }
            Some(_) => {}
            None => out.push(l.to_string()),
        }
    }
    for (i, (k, v)) in vars.iter().enumerate() {
        if !replaced[i] {
            out.push(format!("{k}={v}"));
        }
    }
    out.join("\n") + "\n"
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
