//! Route matching as API Gateway HTTP APIs do it: `METHOD /path` keys with `{param}` and a final
//! `{proxy+}`, `ANY` for every method, `$default` as the catch-all, most specific route first.
//!
//! Precedence (API Gateway developer guide, "Working with routes for HTTP APIs"): a path of fixed
//! segments beats one with variables, a `{param}` beats a greedy `{proxy+}`, comparing segment by
//! segment from the left; on equal paths an exact method beats `ANY`; `$default` is last.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use oncely_config::{Method, RouteKey, Segment};

/// Higher is more specific.
fn rank(segment: &Segment) -> u8 {
    match segment {
        Segment::Literal(_) => 2,
        Segment::Param(_) => 1,
        Segment::Greedy(_) => 0,
    }
}

/// A successful match: the route and its path parameters (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedRoute<'a> {
    /// The route key as configured; its text goes into the event's `routeKey`.
    pub route: &'a RouteKey,
    /// The path's parameters by name.
    pub path_parameters: BTreeMap<String, String>,
}

/// The path parameters if `route` matches `method` and the raw `path`; `$default` always does.
fn matches(route: &RouteKey, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let RouteKey::Path {
        method: route_method,
        segments,
    } = route
    else {
        return Some(BTreeMap::new());
    };
    if *route_method != Method::Any && route_method.as_str() != method {
        return None;
    }
    let parts: Vec<&str> = if path == "/" || path.is_empty() {
        Vec::new()
    } else {
        path.trim_start_matches('/').split('/').collect()
    };
    let mut params = BTreeMap::new();
    for (i, seg) in segments.iter().enumerate() {
        match seg {
            Segment::Greedy(name) => {
                let rest = parts.get(i..).map(|r| r.join("/")).unwrap_or_default();
                if rest.is_empty() {
                    return None;
                }
                params.insert(name.clone(), percent_decode(&rest));
                return Some(params);
            }
            Segment::Literal(lit) => {
                if parts.get(i) != Some(&lit.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let value = parts.get(i).filter(|v| !v.is_empty())?;
                params.insert(name.clone(), percent_decode(value));
            }
        }
    }
    (parts.len() == segments.len()).then_some(params)
}

/// Orders two routes that both match: `Greater` means `a` is more specific.
fn specificity(a: &RouteKey, b: &RouteKey) -> Ordering {
    match (a.segments(), b.segments()) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Less,
        (Some(_), None) => return Ordering::Greater,
        (Some(x), Some(y)) => {
            for (s, t) in x.iter().zip(y.iter()) {
                match rank(s).cmp(&rank(t)) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
            // Same shape so far: the longer fixed prefix is more specific.
            match x.len().cmp(&y.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
    }
    let exact = |k: &RouteKey| k.method().is_some_and(|m| m != Method::Any);
    exact(a).cmp(&exact(b))
}

/// The configured routes of the API.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<RouteKey>,
}

impl Router {
    /// A router over `routes`: the most specific match wins, as in API Gateway.
    pub fn new(routes: &[RouteKey]) -> Router {
        Router {
            routes: routes.to_vec(),
        }
    }

    /// The most specific route matching `method` and the raw `path`, if any.
    pub fn find(&self, method: &str, path: &str) -> Option<MatchedRoute<'_>> {
        let mut best: Option<MatchedRoute<'_>> = None;
        for route in &self.routes {
            let Some(path_parameters) = matches(route, method, path) else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|b| specificity(route, b.route) == Ordering::Greater)
            {
                best = Some(MatchedRoute { route, path_parameters });
            }
        }
        best
    }
}

/// Decodes `%XX` escapes (invalid escapes and non-UTF-8 results are kept as they are).
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(keys: &[&str]) -> Router {
        Router::new(&keys.iter().map(|k| k.parse().unwrap()).collect::<Vec<RouteKey>>())
    }

    fn found(r: &Router, method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
        r.find(method, path)
            .map(|m| (m.route.to_string(), m.path_parameters.into_iter().collect()))
    }

    #[test]
    fn exact_routes_and_parameters() {
        let r = router(&["POST /orders", "GET /orders/{id}"]);
        assert_eq!(found(&r, "POST", "/orders"), Some(("POST /orders".into(), vec![])));
        assert_eq!(
            found(&r, "GET", "/orders/abc-1"),
            Some(("GET /orders/{id}".into(), vec![("id".into(), "abc-1".into())]))
        );
        assert_eq!(found(&r, "GET", "/orders"), None);
        assert_eq!(found(&r, "DELETE", "/orders/abc"), None);
        assert_eq!(found(&r, "GET", "/orders/abc/extra"), None);
        assert_eq!(found(&r, "GET", "/orders/"), None);
        assert_eq!(found(&r, "GET", "/nope"), None);
        // Paths are case-sensitive.
        assert_eq!(found(&r, "POST", "/Orders"), None);
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router(&[
            "$default",
            "ANY /{proxy+}",
            "ANY /pets/{proxy+}",
            "GET /pets/{id}",
            "GET /pets/dog",
            "ANY /pets/dog",
        ]);
        assert_eq!(found(&r, "GET", "/pets/dog").unwrap().0, "GET /pets/dog");
        assert_eq!(found(&r, "POST", "/pets/dog").unwrap().0, "ANY /pets/dog");
        assert_eq!(found(&r, "GET", "/pets/cat").unwrap().0, "GET /pets/{id}");
        assert_eq!(found(&r, "POST", "/pets/cat").unwrap().0, "ANY /pets/{proxy+}");
        assert_eq!(
            found(&r, "GET", "/pets/cat/toys").unwrap(),
            ("ANY /pets/{proxy+}".into(), vec![("proxy".into(), "cat/toys".into())])
        );
        assert_eq!(found(&r, "GET", "/toys").unwrap().0, "ANY /{proxy+}");
        // A greedy variable needs at least one segment: `/` falls through to $default.
        assert_eq!(found(&r, "GET", "/").unwrap().0, "$default");
    }

    #[test]
    fn root_route_and_decoding() {
        let r = router(&["GET /", "GET /files/{name}"]);
        assert_eq!(found(&r, "GET", "/").unwrap().0, "GET /");
        assert_eq!(
            found(&r, "GET", "/files/a%20b").unwrap().1,
            vec![("name".into(), "a b".into())]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
