//! An API Gateway HTTP API route key, parsed once when the config is validated: `$default`, or
//! `METHOD /path` where a segment may be `{name}` and the last may be `{name+}`.

use std::fmt;
use std::str::FromStr;

/// The methods a route key may name; `ANY` matches every method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `HEAD`.
    Head,
    /// `OPTIONS`.
    Options,
    /// `ANY`: every method.
    Any,
}

impl Method {
    /// Every method, in the order the error message lists them.
    pub const ALL: [Method; 8] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Head,
        Method::Options,
        Method::Any,
    ];

    /// The method as written in a route key (and as HTTP spells it, but for `ANY`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = RouteKeyError;

    /// Exactly as written: `post` is not a method.
    fn from_str(s: &str) -> Result<Method, RouteKeyError> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| RouteKeyError::UnknownMethod(s.to_string()))
    }
}

/// One segment of a route key's path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// Matches itself only.
    Literal(String),
    /// `{name}`: one non-empty segment.
    Param(String),
    /// `{name+}`, the last segment: the rest of the path, one segment or more.
    Greedy(String),
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Literal(s) => f.write_str(s),
            Segment::Param(name) => write!(f, "{{{name}}}"),
            Segment::Greedy(name) => write!(f, "{{{name}+}}"),
        }
    }
}

/// A valid route key. `Display` gives back exactly the configured text, and `Serialize` writes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKey {
    /// `$default`: the catch-all.
    Default,
    /// `METHOD /path`; no segments for `/`.
    Path {
        /// The method the route answers.
        method: Method,
        /// The path's segments, in order.
        segments: Vec<Segment>,
    },
}

impl RouteKey {
    /// The method; `None` for `$default`.
    pub fn method(&self) -> Option<Method> {
        match self {
            RouteKey::Default => None,
            RouteKey::Path { method, .. } => Some(*method),
        }
    }

    /// The path's segments; `None` for `$default`.
    pub fn segments(&self) -> Option<&[Segment]> {
        match self {
            RouteKey::Default => None,
            RouteKey::Path { segments, .. } => Some(segments),
        }
    }
}

/// Why a route key is not valid; the texts are the config problems' messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteKeyError {
    /// Not `METHOD /path` nor `$default`.
    #[error("use \"METHOD /path\" (e.g. \"POST /orders\") or \"$default\"")]
    NotMethodAndPath,
    /// A method API Gateway does not know.
    #[error("{0:?} is not one of {names}", names = method_names())]
    UnknownMethod(String),
    /// A path that does not start with `/`.
    #[error("the path must start with /")]
    PathNotAbsolute,
    /// `//` or a trailing `/`.
    #[error("the path has an empty segment (//) or a trailing /")]
    EmptySegment,
    /// A `{...}` segment that is not a parameter name.
    #[error("{0:?} is not a valid path parameter such as {{id}}")]
    BadParameter(String),
    /// A greedy `{name+}` before the last segment.
    #[error("a greedy parameter {{name+}} must be the last segment")]
    GreedyNotLast,
    /// A segment with characters a path may not hold.
    #[error("{0:?} is not a valid path segment")]
    BadSegment(String),
}

fn method_names() -> String {
    Method::ALL.map(Method::as_str).join(", ")
}

impl FromStr for RouteKey {
    type Err = RouteKeyError;

    fn from_str(key: &str) -> Result<RouteKey, RouteKeyError> {
        if key == "$default" {
            return Ok(RouteKey::Default);
        }
        let (method, path) = key.split_once(' ').ok_or(RouteKeyError::NotMethodAndPath)?;
        let method: Method = method.parse()?;
        if !path.starts_with('/') {
            return Err(RouteKeyError::PathNotAbsolute);
        }
        if path == "/" {
            return Ok(RouteKey::Path {
                method,
                segments: Vec::new(),
            });
        }
        let parts: Vec<&str> = path[1..].split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, seg) in parts.iter().enumerate() {
            if seg.is_empty() {
                return Err(RouteKeyError::EmptySegment);
            }
            if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (inner, false),
                };
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(RouteKeyError::BadParameter((*seg).to_string()));
                }
                if greedy && i + 1 != parts.len() {
                    return Err(RouteKeyError::GreedyNotLast);
                }
                segments.push(if greedy {
                    Segment::Greedy(name.to_string())
                } else {
                    Segment::Param(name.to_string())
                });
            } else if seg.contains(['{', '}', ' ']) {
                return Err(RouteKeyError::BadSegment((*seg).to_string()));
            } else {
                segments.push(Segment::Literal((*seg).to_string()));
            }
        }
        Ok(RouteKey::Path { method, segments })
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKey::Default => f.write_str("$default"),
            RouteKey::Path { method, segments } if segments.is_empty() => write!(f, "{method} /"),
            RouteKey::Path { method, segments } => {
                write!(f, "{method} ")?;
                segments.iter().try_for_each(|s| write!(f, "/{s}"))
            }
        }
    }
}

impl serde::Serialize for RouteKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_follow_api_gateway_rules() {
        for ok in [
            "$default",
            "GET /",
            "POST /orders",
            "GET /orders/{id}",
            "ANY /{proxy+}",
            "DELETE /a/{b}/c",
        ] {
            let key: RouteKey = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(key.to_string(), ok);
            assert_eq!(serde_json::to_string(&key).unwrap(), format!("{ok:?}"));
        }
        for bad in [
            "POST",
            "post /orders",
            "GET orders",
            "GET /a//b",
            "GET /{proxy+}/x",
            "GET /{}",
            "GET /a/",
            "orders",
        ] {
            assert!(bad.parse::<RouteKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parts_and_messages() {
        let key: RouteKey = "ANY /pets/{id}/{proxy+}".parse().unwrap();
        assert_eq!(key.method(), Some(Method::Any));
        assert_eq!(
            key.segments().unwrap(),
            [
                Segment::Literal("pets".into()),
                Segment::Param("id".into()),
                Segment::Greedy("proxy".into())
            ]
        );
        assert_eq!(RouteKey::Default.method(), None);
        let message = |k: &str| k.parse::<RouteKey>().unwrap_err().to_string();
        assert_eq!(
            message("FETCH /x"),
            "\"FETCH\" is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY"
        );
        assert_eq!(message("GET /{}"), "\"{}\" is not a valid path parameter such as {id}");
        assert_eq!(
            message("GET /{a}/{b+}/c"),
            "a greedy parameter {name+} must be the last segment"
        );
        assert_eq!(message("GET /a b"), "\"a b\" is not a valid path segment");
    }
}
