//! `deployer token --sub alice [--ttl 1h]`: a token the running `up --local` stack accepts, from
//! its local issuer (found through the stack's state file), printed alone on stdout.

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::cli::TokenArgs;
use crate::config::{AuthProvider, Config};
use oncely_local::{http_client, issuer, session};

/// Parses a lifetime like `30s`, `10m`, `1h`, `1h30m` or `1d` into seconds.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let total = parse_duration("--ttl", text)?;
    issuer::check_ttl(total).map_err(|why| format!("--ttl {text}: {why}"))?;
    Ok(total)
}

/// Parses a duration like `30s`, `10m`, `1h`, `1h30m` or `1d` into seconds (`flag` names it in errors).
pub fn parse_duration(flag: &str, text: &str) -> Result<u64, String> {
    let bad = || format!("{flag} {text:?} is not a duration: use a number and a unit, e.g. 30s, 10m, 1h, 1h30m");
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || text.trim().is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// Runs `token`.
pub async fn run(config: &Config, args: &TokenArgs) -> anyhow::Result<()> {
    issuer::check_sub(&args.sub).map_err(|why| anyhow::anyhow!("--sub: {why}"))?;
    let ttl_s = parse_ttl(&args.ttl).map_err(anyhow::Error::msg)?;
    let name = config.name();
    match config.api.auth.as_ref().map(|a| &a.provider) {
        None => bail!(
            "stack {name} has no `api.auth` in its config: every route is open, no token is needed \
            (add `api.auth: {{ cognito: {{}} }}` for tokens from a local issuer)"
        ),
        Some(AuthProvider::Jwt { issuer, .. }) => bail!(
            "stack {name} takes tokens from the issuer {issuer} (`api.auth.jwt`): get one from it; \
            `token` only serves `api.auth: cognito`, whose issuer `up --local` runs"
        ),
        Some(AuthProvider::Cognito) => {}
    }
    let Some(s) = session::read(&name) else {
        bail!(
            "no local stack with auth runs for {name} (no running `up --local` left {}): \
            start it with `cargo run -- up --local` and ask again",
            session::path(&name).display()
        );
    };
    let url = format!("{}/token", s.issuer);
    let answer = http_client::json(&url, Some(&json!({"sub": args.sub, "ttl_s": ttl_s})))
        .await
        .with_context(|| format!("asking the local issuer of {name} for a token"))?;
    let token = answer["access_token"]
        .as_str()
        .with_context(|| format!("{url} answered without an access_token"))?;
    println!("{token}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_units_and_bounds() {
        assert_eq!(parse_ttl("30s"), Ok(30));
        assert_eq!(parse_ttl("10m"), Ok(600));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("1h30m"), Ok(5400));
        assert_eq!(parse_ttl("1d"), Ok(86_400));
        for bad in ["", "10", "h", "1x", "1.5h", "-1h", "99999999999999999999s"] {
            assert!(parse_ttl(bad).unwrap_err().contains("is not a duration"), "{bad}");
        }
        assert!(parse_ttl("0s").unwrap_err().contains("between 1 s and 86400 s"));
        assert!(parse_ttl("2d").unwrap_err().contains("between"));
    }
}
