//! Route matching as API Gateway HTTP APIs do it: `METHOD /path` keys with `{param}` and a final
//! `{proxy+}`, `ANY` for every method, `$default` as the catch-all, most specific route first.
//!
//! Precedence (API Gateway developer guide, "Working with routes for HTTP APIs"): a path of fixed
//! segments beats one with variables, a `{param}` beats a greedy `{proxy+}`, comparing segment by
//! segment from the left; on equal paths an exact method beats `ANY`; `$default` is last.

use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    /// Higher is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 0,
        }
    }
}

/// One configured route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route key as configured, e.g. `GET /orders/{id}`; it goes into the event's `routeKey`.
    pub key: String,
    /// `None` for `ANY` and `$default`.
    method: Option<String>,
    /// `None` for `$default`.
    segments: Option<Vec<Segment>>,
}

/// A successful match: the route and its path parameters (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    pub path_parameters: BTreeMap<String, String>,
}

impl Route {
    /// Parses a route key (the config has validated it already; a malformed key is an error here too).
    pub fn parse(key: &str) -> Result<Route, String> {
        if key == "$default" {
            return Ok(Route {
                key: key.to_string(),
                method: None,
                segments: None,
            });
        }
        let (method, path) = key
            .split_once(' ')
            .ok_or_else(|| format!("route key {key:?} is not \"METHOD /path\" or \"$default\""))?;
        if !path.starts_with('/') {
            return Err(format!("route key {key:?}: the path must start with /"));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = if path == "/" {
            Vec::new()
        } else {
            path[1..].split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let seg = if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                if i + 1 != parts.len() {
                    return Err(format!(
                        "route key {key:?}: a greedy {{{name}+}} must be the last segment"
                    ));
                }
                Segment::Greedy(name.to_string())
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Segment::Param(name.to_string())
            } else {
                Segment::Literal(part.to_string())
            };
            segments.push(seg);
        }
        let method = (method != "ANY").then(|| method.to_ascii_uppercase());
        Ok(Route {
            key: key.to_string(),
            method,
            segments: Some(segments),
        })
    }

    fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        let segments = self.segments.as_ref()?;
        if self.method.as_deref().is_some_and(|m| m != method) {
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

    /// Orders two routes that both match: `Greater` means `self` is more specific.
    fn specificity(&self, other: &Route) -> Ordering {
        match (&self.segments, &other.segments) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(a), Some(b)) => {
                for (x, y) in a.iter().zip(b.iter()) {
                    match x.rank().cmp(&y.rank()) {
                        Ordering::Equal => {}
                        other => return other,
                    }
                }
                // Same shape so far: the longer fixed prefix is more specific.
                match a.len().cmp(&b.len()) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
        }
        self.method.is_some().cmp(&other.method.is_some())
    }
}

/// The configured routes of the API.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(keys: &[String]) -> Result<Router, String> {
        Ok(Router {
            routes: keys.iter().map(|k| Route::parse(k)).collect::<Result<_, _>>()?,
        })
    }

    /// The most specific route matching `method` and the raw `path`, if any.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let mut best: Option<Matched<'_>> = None;
        for route in &self.routes {
            let params = if route.segments.is_none() {
                Some(BTreeMap::new())
            } else {
                route.matches(method, path)
            };
            let Some(path_parameters) = params else { continue };
            if best
                .as_ref()
                .is_none_or(|b| route.specificity(b.route) == Ordering::Greater)
            {
                best = Some(Matched { route, path_parameters });
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
        Router::new(&keys.iter().map(std::string::ToString::to_string).collect::<Vec<_>>()).unwrap()
    }

    fn found(r: &Router, method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
        r.find(method, path)
            .map(|m| (m.route.key.clone(), m.path_parameters.into_iter().collect()))
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

    #[test]
    fn malformed_keys_are_rejected() {
        assert!(Route::parse("GET orders").is_err());
        assert!(Route::parse("GET /{proxy+}/x").is_err());
        assert!(Route::parse("orders").is_err());
    }
}
