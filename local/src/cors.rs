//! CORS as API Gateway HTTP APIs apply `api.cors` (developer guide, "Configuring CORS for an HTTP
//! API"): preflight `OPTIONS` requests are answered by the gateway itself (no route needed), and
//! every other response gets the CORS headers, replacing any the function set.
//!
//! Whenever the answer depends on the request's `Origin` (a list of origins, or `*` with
//! credentials, which echoes the origin), the response says `Vary: Origin`, so that a cache never
//! serves one origin's answer to another (Fetch standard, "CORS protocol and HTTP caches"). With
//! `*` and no credentials every origin gets the same `*`: no `Vary`.

use hyper::HeaderMap;

use super::response::GatewayResponse;
use oncely_config::CorsSettings;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `Access-Control-Allow-Origin` value for this request's `Origin`, if it is allowed.
fn allowed_origin(cors: &CorsSettings, origin: Option<&str>) -> Option<String> {
    let origin = origin?;
    if cors.allow_origins.iter().any(|o| o == "*") {
        return Some(if cors.allow_credentials {
            origin.to_string()
        } else {
            "*".to_string()
        });
    }
    cors.allow_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

/// Whether the CORS headers depend on the request's `Origin`.
fn varies_by_origin(cors: &CorsSettings) -> bool {
    cors.allow_credentials || !cors.allow_origins.iter().any(|o| o == "*")
}

/// Adds `Origin` to the response's `Vary` header (keeping what is there).
fn vary_origin(cors: &CorsSettings, headers: &mut Vec<(String, String)>) {
    if !varies_by_origin(cors) {
        return;
    }
    match headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case("vary")) {
        Some((_, v))
            if v.split(',')
                .any(|p| p.trim() == "*" || p.trim().eq_ignore_ascii_case("origin")) => {}
        Some((_, v)) => v.push_str(", Origin"),
        None => headers.push(("vary".into(), "Origin".into())),
    }
}

/// Whether this is a CORS preflight request.
pub fn is_preflight(method: &str, headers: &HeaderMap) -> bool {
    method == "OPTIONS" && headers.contains_key("origin") && headers.contains_key("access-control-request-method")
}

/// The gateway's answer to a preflight request.
pub fn preflight(cors: &CorsSettings, headers: &HeaderMap) -> GatewayResponse {
    let mut out = Vec::new();
    if let Some(origin) = allowed_origin(cors, header(headers, "origin")) {
        out.push(("access-control-allow-origin".to_string(), origin));
        let methods = if cors.allow_methods.iter().any(|m| m == "*") {
            header(headers, "access-control-request-method")
                .unwrap_or("*")
                .to_string()
        } else {
            cors.allow_methods.join(",")
        };
        out.push(("access-control-allow-methods".to_string(), methods));
        let allow_headers = if cors.allow_headers.iter().any(|h| h == "*") {
            header(headers, "access-control-request-headers").map(str::to_string)
        } else {
            Some(cors.allow_headers.join(","))
        };
        if let Some(h) = allow_headers.filter(|h| !h.is_empty()) {
            out.push(("access-control-allow-headers".to_string(), h));
        }
        out.push(("access-control-max-age".to_string(), cors.max_age_s.to_string()));
        if cors.allow_credentials {
            out.push(("access-control-allow-credentials".to_string(), "true".to_string()));
        }
    }
    vary_origin(cors, &mut out);
    GatewayResponse {
        status: 204,
        headers: out,
        body: Default::default(),
    }
}

/// Adds the CORS headers to a non-preflight response (dropping the function's own).
pub fn decorate(cors: &CorsSettings, request_headers: &HeaderMap, answer: &mut GatewayResponse) {
    answer.headers.retain(|(n, _)| !n.starts_with("access-control-"));
    if let Some(origin) = allowed_origin(cors, header(request_headers, "origin")) {
        answer.headers.push(("access-control-allow-origin".into(), origin));
        if !cors.expose_headers.is_empty() {
            answer
                .headers
                .push(("access-control-expose-headers".into(), cors.expose_headers.join(",")));
        }
        if cors.allow_credentials {
            answer
                .headers
                .push(("access-control-allow-credentials".into(), "true".into()));
        }
    }
    vary_origin(cors, &mut answer.headers);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn cors() -> CorsSettings {
        CorsSettings {
            allow_origins: vec!["http://localhost:5173".into()],
            allow_methods: vec!["GET".into(), "OPTIONS".into(), "POST".into()],
            allow_headers: vec!["content-type".into(), "idempotency-key".into()],
            expose_headers: vec!["location".into(), "idempotent-replayed".into()],
            max_age_s: 600,
            allow_credentials: false,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn preflight_from_an_allowed_origin() {
        let h = headers(&[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "POST"),
        ]);
        assert!(is_preflight("OPTIONS", &h));
        let a = preflight(&cors(), &h);
        assert_eq!(a.status, 204);
        assert_eq!(a.header("access-control-allow-origin"), Some("http://localhost:5173"));
        assert_eq!(a.header("access-control-allow-methods"), Some("GET,OPTIONS,POST"));
        assert_eq!(
            a.header("access-control-allow-headers"),
            Some("content-type,idempotency-key")
        );
        assert_eq!(a.header("access-control-max-age"), Some("600"));
    }

    #[test]
    fn other_origins_get_no_cors_headers() {
        let h = headers(&[
            ("origin", "http://evil.example"),
            ("access-control-request-method", "POST"),
        ]);
        let a = preflight(&cors(), &h);
        assert_eq!(a.status, 204);
        assert_eq!(
            a.headers,
            vec![("vary".to_string(), "Origin".to_string())],
            "no CORS headers"
        );
        assert!(!is_preflight(
            "OPTIONS",
            &headers(&[("origin", "http://localhost:5173")])
        ));
    }

    #[test]
    fn responses_get_the_configured_headers_only() {
        let mut a = GatewayResponse {
            status: 201,
            headers: vec![("access-control-allow-origin".into(), "*".into())],
            body: Default::default(),
        };
        decorate(&cors(), &headers(&[("origin", "http://localhost:5173")]), &mut a);
        assert_eq!(a.header("access-control-allow-origin"), Some("http://localhost:5173"));
        assert_eq!(
            a.header("access-control-expose-headers"),
            Some("location,idempotent-replayed")
        );
        let mut b = GatewayResponse::not_found();
        decorate(&cors(), &HeaderMap::new(), &mut b);
        assert!(b.header("access-control-allow-origin").is_none());
        let mut c = GatewayResponse::not_found();
        decorate(
            &CorsSettings {
                allow_origins: vec!["*".into()],
                ..cors()
            },
            &headers(&[("origin", "http://x.example")]),
            &mut c,
        );
        assert_eq!(c.header("access-control-allow-origin"), Some("*"));
        assert_eq!(c.header("vary"), None, "`*` is the same for every origin");
    }

    #[test]
    fn origin_dependent_answers_vary_by_origin() {
        let h = headers(&[("origin", "http://localhost:5173")]);
        let mut a = GatewayResponse::not_found();
        decorate(&cors(), &h, &mut a);
        assert_eq!(a.header("vary"), Some("Origin"));
        // Also when the origin is not allowed: that answer too is for this origin only.
        let mut b = GatewayResponse::not_found();
        decorate(&cors(), &headers(&[("origin", "http://evil.example")]), &mut b);
        assert_eq!(b.header("vary"), Some("Origin"));
        // The function's own Vary is kept.
        let mut c = GatewayResponse {
            status: 200,
            headers: vec![("Vary".into(), "Accept-Encoding".into())],
            body: Default::default(),
        };
        decorate(&cors(), &h, &mut c);
        assert_eq!(c.header("vary"), Some("Accept-Encoding, Origin"));
        decorate(&cors(), &h, &mut c);
        assert_eq!(c.header("vary"), Some("Accept-Encoding, Origin"), "added once");
        let p = preflight(
            &cors(),
            &headers(&[("origin", "x"), ("access-control-request-method", "GET")]),
        );
        assert_eq!(p.header("vary"), Some("Origin"));
        let echoing = CorsSettings {
            allow_origins: vec!["*".into()],
            allow_credentials: true,
            ..cors()
        };
        let mut d = GatewayResponse::not_found();
        decorate(&echoing, &h, &mut d);
        assert_eq!(d.header("vary"), Some("Origin"));
    }
}
