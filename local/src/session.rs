//! The small state file `up --local` keeps while its local issuer runs, so that `deployer token`
//! finds the issuer of the stack named in the config: `oncely-local-<uid>/<app>-<stage>.json` in
//! `$XDG_RUNTIME_DIR` (else the temporary directory), removed when the stack stops.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What `token` needs to know about a running local stack with auth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The `up --local` process.
    pub pid: u32,
    /// The issuer's base URL (`POST {issuer}/token`).
    pub issuer: String,
    /// The local issuer's app client id.
    pub client_id: String,
    /// The local HTTP API's endpoint.
    pub api: String,
}

/// The state file of stack `name` (`{app}-{stage}`).
pub fn path(name: &str) -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // SAFETY: getuid(2) cannot fail and has no side effects.
    let uid = unsafe { libc::getuid() };
    base.join(format!("oncely-local-{uid}")).join(format!("{name}.json"))
}

/// The written state file; dropping it removes the file.
pub struct SessionFile(PathBuf);

impl Drop for SessionFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the state file of stack `name`.
pub fn write(name: &str, session: &Session) -> std::io::Result<SessionFile> {
    let path = path(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(session).map_err(std::io::Error::other)?,
    )?;
    Ok(SessionFile(path))
}

/// The state of stack `name` when its `up --local` still runs (`None`: none, or a stale file).
pub fn read(name: &str) -> Option<Session> {
    let text = std::fs::read(path(name)).ok()?;
    let session: Session = serde_json::from_slice(&text).ok()?;
    super::process::exists(session.pid as i32).then_some(session)
}
