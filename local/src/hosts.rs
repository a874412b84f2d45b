//! Which `Host` headers the loopback servers (the local API and the local issuer) answer, against
//! DNS rebinding: a web page on `evil.example` can point that name at 127.0.0.1 and then call the
//! local API and the token endpoint as its own origin. The browser still sends
//! `Host: evil.example`, so only this machine's names are answered — `localhost` and its
//! subdomains (RFC 6761: they never leave the machine), `127.0.0.1` and `[::1]` — plus the names
//! given with `up --local --allow-host NAME` (`.example.com` allows the subdomains too, as Vite's
//! `server.allowedHosts` does). Anything else, and a request without `Host`, gets a 403.

use std::net::IpAddr;

use hyper::HeaderMap;

use super::response::GatewayResponse;

/// The names a loopback server answers besides this machine's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    extra: Vec<String>,
}

impl AllowedHosts {
    /// This machine's names and `extra` (host names, lower-cased; a leading `.` allows the name's
    /// subdomains too). A name that is not a host name is an error that names it.
    pub fn new(extra: &[String]) -> anyhow::Result<AllowedHosts> {
        let extra = extra
            .iter()
            .map(|name| {
                let lower = name.trim().trim_end_matches('.').to_ascii_lowercase();
                let bare = lower.strip_prefix('.').unwrap_or(&lower);
                let valid = !bare.is_empty()
                    && bare.len() <= 253
                    && bare.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                if valid {
                    Ok(lower)
                } else {
                    Err(anyhow::anyhow!(
                        "--allow-host {name:?} is not a host name: give a name such as dev.example.com \
                        (or .example.com for it and its subdomains), without scheme or port"
                    ))
                }
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(AllowedHosts { extra })
    }

    /// Whether a request with these headers is answered.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(name) = headers
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(host_name)
        else {
            return false;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback();
        }
        self.extra.iter().any(|allowed| match allowed.strip_prefix('.') {
            Some(domain) => name == domain || name.ends_with(allowed.as_str()),
            None => name == *allowed,
        })
    }

    /// The 403 for a request this does not allow.
    pub fn refusal(&self, headers: &HeaderMap) -> GatewayResponse {
        let message = match headers
            .get(hyper::header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()))
        {
            None => "Forbidden: the request has no Host header".to_string(),
            Some(host) => format!(
                "Forbidden: Host {:?} is not this machine (localhost, 127.0.0.1, [::1]); \
                start `up --local --allow-host NAME` to answer another name",
                host.chars().take(256).collect::<String>()
            ),
        };
        GatewayResponse::message(403, &message)
    }
}

/// The name part of a `Host` value: `name`, `name:port`, `[v6]` or `[v6]:port`.
fn host_name(host: &str) -> Option<&str> {
    if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        return (after.is_empty() || after.strip_prefix(':').is_some_and(is_port)).then_some(ip);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) => Some(name),
        Some(_) => None,
        None => Some(host),
    }
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(hyper::header::HOST, host.parse().unwrap());
        }
        headers
    }

    #[test]
    fn this_machines_names_are_answered_and_others_refused() {
        let hosts = AllowedHosts::default();
        for ok in [
            "localhost",
            "localhost:3000",
            "LocalHost.:3000",
            "app.localhost:5173",
            "127.0.0.1",
            "127.0.0.1:3000",
            "[::1]:3000",
            "[::1]",
        ] {
            assert!(hosts.allows(&with_host(Some(ok))), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.8:3000",
            "[::2]:3000",
            "[::1]x",
            "localhost:http",
            "",
        ] {
            assert!(!hosts.allows(&with_host(Some(refused))), "{refused}");
        }
        assert!(!hosts.allows(&with_host(None)));
        let refusal = hosts.refusal(&with_host(Some("evil.example")));
        assert_eq!(refusal.status, 403);
        assert!(String::from_utf8_lossy(&refusal.body).contains("--allow-host"));
    }

    #[test]
    fn more_names_can_be_allowed() {
        let hosts = AllowedHosts::new(&["Dev.Example.com".into(), ".preview.test".into()]).unwrap();
        for ok in ["dev.example.com:3000", "preview.test", "pr-1.preview.test:8080"] {
            assert!(hosts.allows(&with_host(Some(ok))), "{ok}");
        }
        for refused in ["example.com", "xpreview.test", "evil.example"] {
            assert!(!hosts.allows(&with_host(Some(refused))), "{refused}");
        }
        for bad in [
            "http://dev.example.com",
            "dev.example.com:3000",
            "",
            "a..b",
            "*.example.com",
        ] {
            let err = AllowedHosts::new(&[bad.into()]).unwrap_err();
            assert!(err.to_string().contains("is not a host name"), "{bad}: {err}");
        }
    }
}
