//! Validation of the `api` section: its route keys, the throttle, `api.auth` (one provider,
//! public routes among the routes) and CORS (origins, and the defaults the routes and auth imply).

use super::raw::{CORS_MAX_AGE_S, RawApi, RawAuth, RawCors, THROTTLE_BURST, THROTTLE_RATE};
use super::route_key::{Method, RouteKey, RouteKeyError};
use super::validate::Validator;
use super::{ApiSettings, AuthProvider, AuthSettings, CorsSettings, ThrottleSettings};

impl Validator {
    /// `header` is the idempotency key header, allowed by CORS by default.
    pub(super) fn api(&mut self, a: RawApi, header: &str) -> ApiSettings {
        let texts = a
            .routes
            .unwrap_or_else(|| vec!["POST /orders".into(), "GET /orders/{id}".into()]);
        if texts.is_empty() {
            self.problem("api.routes", "needs at least one route such as \"POST /orders\"");
        }
        let mut routes: Vec<RouteKey> = Vec::with_capacity(texts.len());
        // A route's unknown method goes into CORS's default `allow_methods` too, and is reported
        // there as well, as it always has been.
        let mut unknown_methods: Vec<String> = Vec::new();
        for (n, text) in texts.iter().enumerate() {
            match text.parse::<RouteKey>() {
                Ok(key) if routes.contains(&key) => {
                    self.problem(&format!("api.routes[{n}]"), format!("{text:?} is listed twice"));
                }
                Ok(key) => routes.push(key),
                Err(why) => {
                    if let RouteKeyError::UnknownMethod(m) = &why {
                        unknown_methods.push(m.clone());
                    }
                    self.problem(&format!("api.routes[{n}]"), format!("{text:?}: {why}"));
                }
            }
        }
        let has_auth = a.auth.is_some();
        let auth = a.auth.and_then(|raw| self.auth(raw, &routes));
        let cors = a.cors.map(|c| self.cors(c, &routes, unknown_methods, header, has_auth));
        let t = a.throttle.unwrap_or_default();
        let burst = self.int("api.throttle.burst", t.burst, THROTTLE_BURST, " requests");
        let (default_rate, min_rate, max_rate) = THROTTLE_RATE;
        let rate = t.rate.unwrap_or(default_rate);
        if !(min_rate..=max_rate).contains(&rate) || !rate.is_finite() {
            self.problem(
                "api.throttle.rate",
                format!("{rate} is out of range: use {min_rate}..{max_rate} requests per second"),
            );
        }
        ApiSettings {
            routes,
            cors,
            throttle: ThrottleSettings {
                burst: burst as i32,
                rate,
            },
            auth,
            domain: a.domain.map(|d| self.domain(d)),
        }
    }

    /// `api.auth`: exactly one of `cognito` and `jwt`; `public_routes` among `routes`.
    fn auth(&mut self, a: RawAuth, routes: &[RouteKey]) -> Option<AuthSettings> {
        let provider = match (a.cognito, a.jwt) {
            (Some(_), Some(_)) => {
                self.problem("api.auth.jwt", "`cognito` and `jwt` are exclusive: keep one of them");
                None
            }
            (None, None) => {
                self.problem(
                    "api.auth",
                    "needs `cognito: {}` (a user pool made by the deployer) or \
                     `jwt: { issuer: https://..., audience: [...] }`; remove `auth` for an open API",
                );
                None
            }
            (Some(_), None) => Some(AuthProvider::Cognito),
            (None, Some(jwt)) => {
                let issuer = jwt.issuer.unwrap_or_default();
                if !is_issuer(&issuer) {
                    self.problem(
                        "api.auth.jwt.issuer",
                        format!(
                            "{issuer:?} is not an issuer URL: use https://host[/path] \
                             (http:// only on 127.0.0.1 or localhost, for `up --local`)"
                        ),
                    );
                }
                let audience = jwt.audience.unwrap_or_default();
                if audience.is_empty() {
                    self.problem(
                        "api.auth.jwt.audience",
                        "list at least one audience (the app client id tokens carry in `aud` or `client_id`)",
                    );
                }
                for (n, aud) in audience.iter().enumerate() {
                    if aud.trim().is_empty() || aud.len() > 256 {
                        self.problem(
                            &format!("api.auth.jwt.audience[{n}]"),
                            "must be 1..256 characters, not blank",
                        );
                    }
                }
                Some(AuthProvider::Jwt { issuer, audience })
            }
        };
        let mut public_routes: Vec<RouteKey> = Vec::new();
        for (n, text) in a.public_routes.unwrap_or_default().iter().enumerate() {
            let path = format!("api.auth.public_routes[{n}]");
            match text.parse::<RouteKey>() {
                Ok(key) if !routes.contains(&key) => {
                    self.problem(&path, format!("{text:?} is not one of `api.routes`"));
                }
                Ok(key) if public_routes.contains(&key) => self.problem(&path, format!("{text:?} is listed twice")),
                Ok(key) => public_routes.push(key),
                Err(why) => self.problem(&path, format!("{text:?}: {why}")),
            }
        }
        Some(AuthSettings {
            provider: provider?,
            public_routes,
        })
    }

    /// `routes` and `unknown_methods` give the default `allow_methods`, `header` the default
    /// `allow_headers`; with `auth` browsers send `Authorization`, which CORS must then allow.
    fn cors(
        &mut self,
        c: RawCors,
        routes: &[RouteKey],
        unknown_methods: Vec<String>,
        header: &str,
        auth: bool,
    ) -> CorsSettings {
        let allow_origins = c.allow_origins.unwrap_or_default();
        if allow_origins.is_empty() {
            self.problem(
                "api.cors.allow_origins",
                "list at least one origin such as http://localhost:5173, or remove `cors`",
            );
        }
        for o in &allow_origins {
            if !is_origin(o) {
                self.problem(
                    "api.cors.allow_origins",
                    format!("{o:?} is not an origin: use scheme://host[:port] with no path, or \"*\""),
                );
            }
        }
        let allow_credentials = c.allow_credentials.unwrap_or(false);
        if allow_credentials && allow_origins.iter().any(|o| o == "*") {
            self.problem(
                "api.cors.allow_credentials",
                "cannot be true while allow_origins contains \"*\"; list the origins instead",
            );
        }
        let mut methods = c.allow_methods.unwrap_or_else(|| {
            let mut m: Vec<String> = routes
                .iter()
                .filter_map(RouteKey::method)
                .filter(|m| *m != Method::Any)
                .map(|m| m.to_string())
                .chain(unknown_methods)
                .collect();
            m.push("OPTIONS".into());
            m
        });
        methods.sort();
        methods.dedup();
        for m in &methods {
            if m != "*" && m.parse::<Method>().is_err() {
                self.problem("api.cors.allow_methods", format!("{m:?} is not an HTTP method"));
            }
        }
        let listed = c.allow_headers.is_some();
        let mut allow_headers = c.allow_headers.unwrap_or_else(|| {
            let mut h = vec![
                "content-type".into(),
                header.to_ascii_lowercase(),
                "if-none-match".into(),
            ];
            if auth {
                h.push("authorization".into());
            }
            h
        });
        allow_headers.iter_mut().for_each(|h| *h = h.to_ascii_lowercase());
        if auth && listed && !allow_headers.iter().any(|h| h == "authorization" || h == "*") {
            self.problem(
                "api.cors.allow_headers",
                "`api.auth` is set, so browsers send their token in `Authorization`: add `authorization` here",
            );
        }
        let mut expose_headers = c.expose_headers.unwrap_or_else(|| {
            vec![
                "location".into(),
                "etag".into(),
                "idempotent-replayed".into(),
                "retry-after".into(),
            ]
        });
        expose_headers.iter_mut().for_each(|h| *h = h.to_ascii_lowercase());
        let max_age_s = self.int("api.cors.max_age_s", c.max_age_s, CORS_MAX_AGE_S, " seconds");
        CorsSettings {
            allow_origins,
            allow_methods: methods,
            allow_headers,
            expose_headers,
            max_age_s: max_age_s as i32,
            allow_credentials,
        }
    }
}

/// An OIDC issuer as API Gateway takes it: an https URL (or http on loopback, which only
/// `up --local` can reach) with a host, no query or fragment.
fn is_issuer(i: &str) -> bool {
    let rest = match (i.strip_prefix("https://"), i.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) => {
            let host = rest.split(['/', ':']).next().unwrap_or("");
            if !matches!(host, "127.0.0.1" | "localhost") {
                return false;
            }
            rest
        }
        (None, None) => return false,
    };
    let host = rest.split('/').next().unwrap_or("");
    !host.is_empty() && !i.contains([' ', '?', '#'])
}

/// `*`, or `scheme://host[:port]` with no path.
fn is_origin(o: &str) -> bool {
    if o == "*" {
        return true;
    }
    let Some(rest) = o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")) else {
        return false;
    };
    !rest.is_empty() && !rest.contains(['/', ' ', '?', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn auth_is_one_provider_and_public_routes_are_routes() {
        let base = "app: a\nstage: b\napi:\n  routes: [\"POST /orders\", \"GET /orders/{id}\"]\n";
        let c = Config::parse(&format!(
            "{base}  auth: {{ cognito: {{}}, public_routes: [\"GET /orders/{{id}}\"] }}\n"
        ))
        .unwrap();
        let auth = c.api.auth.unwrap();
        assert_eq!(auth.provider, AuthProvider::Cognito);
        assert!(auth.protects(&"POST /orders".parse().unwrap()));
        assert!(!auth.protects(&"GET /orders/{id}".parse().unwrap()));
        let c = Config::parse(&format!(
            "{base}  auth:\n    jwt: {{ issuer: \"https://issuer.example.com/\", audience: [web] }}\n"
        ))
        .unwrap();
        assert_eq!(
            c.api.auth.unwrap().provider,
            AuthProvider::Jwt {
                issuer: "https://issuer.example.com/".into(),
                audience: vec!["web".into()]
            }
        );
        assert_eq!(Config::parse(base).unwrap().api.auth, None);

        let paths = |yaml: &str| -> Vec<(String, Option<usize>)> {
            Config::parse(&format!("{base}{yaml}"))
                .unwrap_err()
                .into_iter()
                .map(|p| (p.path, p.line))
                .collect()
        };
        assert_eq!(
            paths("  auth:\n    cognito: {}\n    jwt: { issuer: https://x.example, audience: [a] }\n"),
            [("api.auth.jwt".to_string(), Some(7))]
        );
        assert_eq!(paths("  auth: {}\n"), [("api.auth".to_string(), Some(5))]);
        assert_eq!(
            paths("  auth:\n    jwt: { issuer: \"http://issuer.example.com\", audience: [] }\n"),
            [
                ("api.auth.jwt.issuer".to_string(), Some(6)),
                ("api.auth.jwt.audience".to_string(), Some(6))
            ]
        );
        assert_eq!(
            paths("  auth:\n    cognito: {}\n    public_routes: [\"DELETE /orders\", \"GET /x{\"]\n").len(),
            2
        );
        assert_eq!(
            paths("  auth:\n    cognito: { pool: x }\n"),
            [("api.auth.cognito.pool".to_string(), Some(6))]
        );
        let local = "  auth: { jwt: { issuer: \"http://127.0.0.1:9000/\", audience: [a] } }\n";
        assert!(Config::parse(&format!("{base}{local}")).is_ok());
        // CORS's default headers allow `Authorization` only with auth.
        let cors = "  cors: { allow_origins: [\"http://localhost:5173\"] }\n";
        let headers = |extra: &str| {
            Config::parse(&format!("{base}{cors}{extra}"))
                .unwrap()
                .api
                .cors
                .unwrap()
                .allow_headers
        };
        assert!(headers("  auth: { cognito: {} }\n").contains(&"authorization".to_string()));
        assert!(!headers("").contains(&"authorization".to_string()));
    }

    #[test]
    fn with_auth_cors_allows_the_authorization_header() {
        let base = "app: a\nstage: b\napi:\n  auth: { cognito: {} }\n";
        let c = Config::parse(&format!(
            "{base}  cors: {{ allow_origins: [\"http://localhost:5173\"] }}\n"
        ))
        .unwrap();
        assert!(c.api.cors.unwrap().allow_headers.contains(&"authorization".to_string()));
        let p = Config::parse(&format!(
            "{base}  cors: {{ allow_origins: [\"http://localhost:5173\"], allow_headers: [content-type] }}\n"
        ))
        .unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].path.as_str(), p[0].line), ("api.cors.allow_headers", Some(5)));
        let open =
            Config::parse("app: a\nstage: b\napi:\n  cors: { allow_origins: [\"http://x.example\"] }\n").unwrap();
        assert!(
            !open
                .api
                .cors
                .unwrap()
                .allow_headers
                .contains(&"authorization".to_string())
        );
    }

    #[test]
    fn cors_origins_are_checked() {
        let p = Config::parse(
            "app: a\nstage: b\napi:\n  cors:\n    allow_origins: [\"localhost:5173\", \
            \"http://ok.example\", \"https://x.example/path\"]\n",
        )
        .unwrap_err();
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn cors_methods_default_to_the_routes_methods() {
        let c = Config::parse(
            "app: a\nstage: b\napi:\n  routes: [\"ANY /{proxy+}\", \"GET /\", \"POST /orders\", \"GET /x\"]\n  \
            cors: {allow_origins: [\"*\"]}\n",
        )
        .unwrap();
        assert_eq!(c.api.cors.unwrap().allow_methods, vec!["GET", "OPTIONS", "POST"]);
        // A route's unknown method is reported for the route and for the methods CORS would allow.
        let p = Config::parse("app: a\nstage: b\napi:\n  routes: [\"FETCH /x\"]\n  cors: {allow_origins: [\"*\"]}\n")
            .unwrap_err();
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, vec!["api.routes[0]", "api.cors.allow_methods"]);
    }
}
