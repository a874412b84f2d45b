//! A value the deployer passes on but never shows (the Redis URL): redacted in `Debug`, shown in
//! plans and reports only as a fingerprint.

use std::fmt;

use sha2::{Digest, Sha256};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value of the environment variable `name`, if set and not empty.
    pub fn from_env(name: &str) -> Option<Secret> {
        std::env::var(name).ok().filter(|v| !v.is_empty()).map(Secret)
    }

    /// The value itself, for the one call that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// How a plan shows a secret value: enough to see that it changed, nothing to recover it from.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("(secret, sha256 {hex}…)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_itself() {
        let s = Secret("rediss://app:hunter2@cache.internal:6380/0".into());
        assert_eq!(format!("{s:?}"), "Secret(redacted)");
        let shown = fingerprint(s.expose());
        assert!(
            !shown.contains("hunter2") && shown.starts_with("(secret, sha256 "),
            "{shown}"
        );
        assert_ne!(shown, fingerprint("rediss://app:hunter3@cache.internal:6380/0"));
    }
}
