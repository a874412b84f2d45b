//! References to secrets kept outside the function's configuration: an SSM Parameter Store
//! parameter (`ssm:/payments/redis-url`, a SecureString) or a Secrets Manager secret
//! (`secretsmanager:payments/stripe`). A deployer names them in [`SECRETS_VAR`] as
//! `VAR=reference` pairs; the function reads the values during init (see the `secrets` module),
//! so no value ever sits in an environment variable.
//!
//! ```
//! use oncely::secret_ref::{SecretRef, SecretSource, parse_list};
//! let r: SecretRef = "ssm:/shop/prod/redis-url".parse().unwrap();
//! assert_eq!((r.source, r.name.as_str()), (SecretSource::Ssm, "/shop/prod/redis-url"));
//! let list = parse_list("ONCELY_REDIS_URL=ssm:/shop/redis,STRIPE_KEY=secretsmanager:shop/stripe").unwrap();
//! assert_eq!(list[1].0, "STRIPE_KEY");
//! assert!("vault:x".parse::<SecretRef>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// The variable holding the function's secret references: `VAR=reference` pairs joined by `,`.
pub const SECRETS_VAR: &str = "ONCELY_SECRETS";

/// Where a secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretSource {
    /// An SSM Parameter Store parameter (a SecureString), read with decryption.
    Ssm,
    /// A Secrets Manager secret's current string value.
    SecretsManager,
}

impl SecretSource {
    /// The prefix of a reference: `ssm` or `secretsmanager`.
    pub fn prefix(self) -> &'static str {
        match self {
            SecretSource::Ssm => "ssm",
            SecretSource::SecretsManager => "secretsmanager",
        }
    }
}

/// One secret: where it is kept and its name there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretRef {
    /// The service.
    pub source: SecretSource,
    /// The parameter's name (`/a/b` or `a`) or the secret's name.
    pub name: String,
}

/// A reference that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefError {
    /// Neither `ssm:` nor `secretsmanager:`.
    #[error("{0:?} is not a secret reference: use ssm:/path/name (a SecureString parameter) or secretsmanager:name")]
    Source(String),
    /// A parameter name SSM would refuse.
    #[error(
        "{0:?} is not an SSM parameter name: 1..1011 letters, digits and _ . - /, a path starting with /, \
         not starting with aws or ssm"
    )]
    Parameter(String),
    /// A secret name Secrets Manager would refuse.
    #[error("{0:?} is not a Secrets Manager secret name: 1..512 letters, digits and / _ + = . @ -")]
    Secret(String),
    /// A `VAR=reference` pair of the list without its `=` or with a bad variable name.
    #[error("{0:?} is not VAR=reference: VAR is a letter, then letters, digits and _")]
    Pair(String),
}

fn parameter_ok(name: &str) -> bool {
    let lower = name.trim_start_matches('/').to_ascii_lowercase();
    (1..=1011).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
        && (!name.contains('/') || name.starts_with('/'))
        && !name.contains("//")
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

fn secret_ok(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
}

impl FromStr for SecretRef {
    type Err = SecretRefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (source, name) = match text.split_once(':') {
            Some(("ssm", name)) => (SecretSource::Ssm, name),
            Some(("secretsmanager", name)) => (SecretSource::SecretsManager, name),
            _ => return Err(SecretRefError::Source(text.to_string())),
        };
        let ok = match source {
            SecretSource::Ssm => parameter_ok(name),
            SecretSource::SecretsManager => secret_ok(name),
        };
        if !ok {
            let name = name.to_string();
            return Err(match source {
                SecretSource::Ssm => SecretRefError::Parameter(name),
                SecretSource::SecretsManager => SecretRefError::Secret(name),
            });
        }
        Ok(SecretRef {
            source,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source.prefix(), self.name)
    }
}

impl serde::Serialize for SecretRef {
    /// As its text, `ssm:/a/b`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Whether `name` can name an environment variable: a letter, then letters, digits and `_`.
pub fn is_variable_name(name: &str) -> bool {
    name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses [`SECRETS_VAR`]'s value: `VAR=reference` pairs joined by `,` (empty: none).
pub fn parse_list(text: &str) -> Result<Vec<(String, SecretRef)>, SecretRefError> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (var, reference) = pair
                .trim()
                .split_once('=')
                .filter(|(var, _)| is_variable_name(var))
                .ok_or_else(|| SecretRefError::Pair(pair.to_string()))?;
            Ok((var.to_string(), reference.parse()?))
        })
        .collect()
}

/// The value of [`SECRETS_VAR`] for `secrets` (the inverse of [`parse_list`]).
pub fn format_list<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a SecretRef)>) -> String {
    secrets
        .into_iter()
        .map(|(var, reference)| format!("{var}={reference}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_print_and_refuse_what_the_services_would() {
        for good in ["ssm:/a/b-c_d.e", "ssm:plain", "secretsmanager:prod/db+main=1@x"] {
            assert_eq!(good.parse::<SecretRef>().unwrap().to_string(), good);
        }
        let bad = [
            ("vault:x", "not a secret reference"),
            ("ssm:", "not an SSM parameter name"),
            ("ssm:a/b", "not an SSM parameter name"),
            ("ssm:/aws/x", "not an SSM parameter name"),
            ("ssm:/a b", "not an SSM parameter name"),
            ("secretsmanager:a b", "not a Secrets Manager secret name"),
        ];
        for (text, why) in bad {
            let err = text.parse::<SecretRef>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn a_list_round_trips_and_names_a_bad_pair() {
        let list = parse_list("A=ssm:/x, B_2=secretsmanager:y,").unwrap();
        assert_eq!(
            format_list(list.iter().map(|(v, r)| (v.as_str(), r))),
            "A=ssm:/x,B_2=secretsmanager:y"
        );
        assert!(parse_list("").unwrap().is_empty());
        assert_eq!(parse_list("1A=ssm:/x"), Err(SecretRefError::Pair("1A=ssm:/x".into())));
    }
}
