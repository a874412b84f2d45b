//! Idempotency keys: parsing and validating the client's key, deriving one from body fields,
//! and the scoped hash that is the record's `id` (the raw key is never stored or logged).

use crate::caller::Caller;
use sha2::{Digest, Sha256};

/// The longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// Why a client's key was refused (each becomes a 400 problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the `{header}` header is required on this request: \
        send one unique key (1 to 255 visible ASCII characters) per operation"
    )]
    /// The header is absent.
    Missing {
        /// The header's name.
        header: String,
    },
    #[error("send the `{header}` header exactly once, with one key (a comma-separated list is not one key)")]
    /// The header came more than once, or as a list.
    Repeated {
        /// The header's name.
        header: String,
    },
    #[error(
        "the `{header}` header must be one key: 1 to 255 visible ASCII characters without `,` `\"` `\\`, \
        or one quoted structured-header string"
    )]
    /// The header's value is not one key.
    Invalid {
        /// The header's name.
        header: String,
    },
    #[error("the request body must be a JSON object that contains `{field}`, which is used as the idempotency key")]
    /// The body (or payload) has no value at a key field or pointer.
    MissingField {
        /// The field's name or the JSON Pointer.
        field: String,
    },
    #[error("no key path is set: name where the key is with JSON Pointers (key_from)")]
    /// No key pointers were set for an operation that reads its key from the payload.
    NoKeyPath,
}

/// Parses one header value into the client key.
///
/// Accepted: one key of 1..=255 characters, either bare, a token of visible ASCII (0x21..=0x7E)
/// without `,` `"` `\` (so no whitespace at all), or one RFC 8941 sf-string (`"abc"`, printable
/// ASCII with `\"` and `\\` escapes) with nothing after it, which is the same key as `abc`.
/// A list (`a,b`, `"a", "b"`: a header sent twice and joined by API Gateway) is never a key.
pub fn parse_key(raw: &[u8]) -> Option<String> {
    let key = if raw.first() == Some(&b'"') {
        parse_sf_string(raw)?
    } else {
        if !raw.iter().all(|&b| is_bare_key_byte(b)) {
            return None;
        }
        String::from_utf8(raw.to_vec()).ok()?
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.bytes().any(|b| !(0x20..=0x7e).contains(&b)) {
        return None;
    }
    Some(key)
}

/// A byte of a bare key: visible ASCII except the list separator `,` and the sf-string `"` `\`.
fn is_bare_key_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !matches!(b, b',' | b'"' | b'\\')
}

/// Whether a header value is a list (a comma outside any quoted string), as a header sent twice
/// arrives from API Gateway payload 2.0.
#[cfg(feature = "http")]
fn is_list(raw: &[u8]) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    for &b in raw {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => return true,
            _ => {}
        }
    }
    false
}

/// RFC 8941 sf-string: `"` *( unescaped / `\` ( `"` / `\` ) ) `"`, nothing after it.
fn parse_sf_string(raw: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut i = 1;
    while i < raw.len() {
        match raw[i] {
            b'\\' => {
                let next = *raw.get(i + 1)?;
                if next != b'"' && next != b'\\' {
                    return None;
                }
                out.push(next as char);
                i += 2;
            }
            b'"' => return (i == raw.len() - 1).then_some(out),
            b @ 0x20..=0x7e => {
                out.push(b as char);
                i += 1;
            }
            _ => return None,
        }
    }
    None
}

/// Reads the key from the request headers: missing, repeated or invalid → [`KeyError`].
#[cfg(feature = "http")]
pub fn key_from_headers(headers: &lambda_http::http::HeaderMap, header: &str) -> Result<String, KeyError> {
    let mut values = headers.get_all(header).iter();
    let Some(value) = values.next() else {
        return Err(KeyError::Missing {
            header: header.to_string(),
        });
    };
    if values.next().is_some() {
        return Err(KeyError::Repeated {
            header: header.to_string(),
        });
    }
    match parse_key(value.as_bytes()) {
        Some(key) => Ok(key),
        None if is_list(value.as_bytes()) => Err(KeyError::Repeated {
            header: header.to_string(),
        }),
        None => Err(KeyError::Invalid {
            header: header.to_string(),
        }),
    }
}

/// Derives the key from named fields of a JSON object body: the canonical JSON array of their
/// values, so `{"userId":"u1","productId":"p1"}` keys on `["u1","p1"]`. A missing or null field → error.
pub fn key_from_body_fields(body: &serde_json::Value, fields: &[String]) -> Result<String, KeyError> {
    key_of(fields, |field| body.get(field))
}

/// Derives the key from JSON Pointers (RFC 6901) into a payload: the canonical JSON array of the
/// values there, so `["/order/id"]` on `{"order":{"id":"o-1"}}` keys on `["o-1"]`. A missing or
/// null value → [`KeyError::MissingField`] naming the pointer.
pub fn key_from_pointers(payload: &serde_json::Value, pointers: &[String]) -> Result<String, KeyError> {
    if pointers.is_empty() {
        return Err(KeyError::NoKeyPath);
    }
    key_of(pointers, |pointer| payload.pointer(pointer))
}

/// The canonical JSON array of the values `find` gives for `places`; the first place without a
/// value (or with `null`) is the error.
fn key_of<'a>(places: &[String], find: impl Fn(&str) -> Option<&'a serde_json::Value>) -> Result<String, KeyError> {
    let mut values = Vec::with_capacity(places.len());
    for place in places {
        match find(place) {
            Some(v) if !v.is_null() => values.push(v.clone()),
            _ => return Err(KeyError::MissingField { field: place.clone() }),
        }
    }
    Ok(crate::fingerprint::canonical_json(&serde_json::Value::Array(values)))
}

/// The record id: hex SHA-256 over the length-prefixed function name, method, route and client
/// key, so one client key on two routes (or two functions) never collides. This is the id of an
/// anonymous caller's record; see [`caller_key_hash`].
pub fn key_hash(function_name: &str, method: &str, route: &str, client_key: &str) -> String {
    hash_parts(&[function_name, method, route, client_key])
}

/// The record id of `caller`'s key.
///
/// [`Caller::Anonymous`] hashes exactly as [`key_hash`], so the records of a stack without auth
/// keep their ids. A subject appends two more parts: the tag [`SUBJECT_SCOPE`] and the subject.
/// Every part is length-prefixed, so the hashed bytes decode to exactly one sequence of parts:
/// no choice of key or subject (any bytes, separators included) hashes the same bytes as another
/// caller's, or as an anonymous record (which has fewer parts).
pub fn caller_key_hash(function_name: &str, method: &str, route: &str, client_key: &str, caller: &Caller) -> String {
    match caller {
        Caller::Anonymous => key_hash(function_name, method, route, client_key),
        Caller::Subject(sub) => hash_parts(&[function_name, method, route, client_key, SUBJECT_SCOPE, sub]),
    }
}

/// The part that marks a subject-scoped record id (followed by the subject).
pub const SUBJECT_SCOPE: &str = "jwt-sub";

/// Hex SHA-256 over each part as an 8-byte big-endian length followed by its bytes.
fn hash_parts(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    hex
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;
    use lambda_http::http::{HeaderMap, HeaderValue};

    #[test]
    fn bare_and_quoted_forms_are_the_same_key() {
        assert_eq!(parse_key(b"abc").as_deref(), Some("abc"));
        assert_eq!(parse_key(b"\"abc\"").as_deref(), Some("abc"));
        assert_eq!(parse_key(br#""a\"b\\c""#).as_deref(), Some("a\"b\\c"));
        assert_eq!(
            parse_key(b"8e03978e-40d5-43e8-bc93-6894a57f9324").as_deref(),
            Some("8e03978e-40d5-43e8-bc93-6894a57f9324")
        );
    }

    #[test]
    fn length_limits() {
        assert_eq!(parse_key(b""), None);
        assert_eq!(parse_key(b"\"\""), None);
        let max = "k".repeat(255);
        assert_eq!(parse_key(max.as_bytes()).as_deref(), Some(max.as_str()));
        assert_eq!(parse_key("k".repeat(256).as_bytes()), None);
        assert_eq!(parse_key(format!("\"{}\"", "k".repeat(256)).as_bytes()), None);
    }

    #[test]
    fn rejects_non_printable_and_malformed_quotes() {
        assert_eq!(parse_key(b"ab\tc"), None);
        assert_eq!(parse_key("caf\u{e9}".as_bytes()), None);
        assert_eq!(parse_key(b"a\x7f"), None);
        assert_eq!(parse_key(b"\"abc"), None);
        assert_eq!(parse_key(b"\"abc\"x"), None);
        assert_eq!(parse_key(br#""a\nb""#), None);
    }

    #[test]
    fn a_key_is_one_key_never_a_list() {
        // A header sent twice, joined by API Gateway payload 2.0, in each form.
        for list in [
            &b"a,b"[..],
            b"a, b",
            b"\"a\", \"b\"",
            b"\"a\",\"b\"",
            b"a,\"b\"",
            b"\"a\",b",
            b"a,",
            b",a",
        ] {
            assert_eq!(parse_key(list), None, "{}", String::from_utf8_lossy(list));
            assert!(is_list(list), "{}", String::from_utf8_lossy(list));
        }
        // A comma inside one quoted string is one key.
        assert_eq!(parse_key(b"\"a,b\"").as_deref(), Some("a,b"));
        assert!(!is_list(b"\"a,b\""));
        assert!(!is_list(br#""a\",b""#));
    }

    #[test]
    fn bare_keys_are_strict_tokens() {
        for bad in [&b" a"[..], b"a ", b"a b", b"a\"b", b"a\\b", b"\"a\";p=1", b"\"a\" "] {
            assert_eq!(parse_key(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        for good in [
            "demo-1",
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
            "a;b=1",
            "!#$%&'()*+-./:;<=>?@[]^_`{|}~",
        ] {
            assert_eq!(parse_key(good.as_bytes()).as_deref(), Some(good));
        }
        let hex = "ab".repeat(32);
        assert_eq!(parse_key(hex.as_bytes()).as_deref(), Some(hex.as_str()));
    }

    #[test]
    fn header_missing_repeated_invalid() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            key_from_headers(&headers, "idempotency-key"),
            Err(KeyError::Missing { .. })
        ));
        headers.append("idempotency-key", HeaderValue::from_static("a"));
        assert_eq!(key_from_headers(&headers, "Idempotency-Key").unwrap(), "a");
        headers.append("idempotency-key", HeaderValue::from_static("b"));
        assert!(matches!(
            key_from_headers(&headers, "idempotency-key"),
            Err(KeyError::Repeated { .. })
        ));
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", HeaderValue::from_bytes(b"\"open").unwrap());
        assert!(matches!(
            key_from_headers(&headers, "idempotency-key"),
            Err(KeyError::Invalid { .. })
        ));
        headers.insert("idempotency-key", HeaderValue::from_static("a,b"));
        assert!(matches!(
            key_from_headers(&headers, "idempotency-key"),
            Err(KeyError::Repeated { .. })
        ));
        headers.insert("idempotency-key", HeaderValue::from_static("a b"));
        assert!(matches!(
            key_from_headers(&headers, "idempotency-key"),
            Err(KeyError::Invalid { .. })
        ));
    }

    #[test]
    fn body_fields_key_ignores_order_and_other_fields() {
        let fields = vec!["userId".to_string(), "productId".to_string()];
        let a = serde_json::json!({"userId": "u1", "productId": "p1", "amount": 3});
        let b = serde_json::json!({"amount": 4, "productId": "p1", "userId": "u1"});
        assert_eq!(
            key_from_body_fields(&a, &fields).unwrap(),
            key_from_body_fields(&b, &fields).unwrap()
        );
        let c = serde_json::json!({"userId": "u1", "productId": "p2"});
        assert_ne!(
            key_from_body_fields(&a, &fields).unwrap(),
            key_from_body_fields(&c, &fields).unwrap()
        );
        let missing = serde_json::json!({"userId": "u1", "productId": null});
        assert_eq!(
            key_from_body_fields(&missing, &fields),
            Err(KeyError::MissingField {
                field: "productId".into()
            })
        );
    }

    #[test]
    fn hash_is_scoped_and_hides_the_key() {
        let h = key_hash("fn", "POST", "/orders", "k1");
        assert_eq!(h.len(), 64);
        assert!(!h.contains("k1"));
        assert_eq!(h, key_hash("fn", "POST", "/orders", "k1"));
        assert_ne!(h, key_hash("fn", "POST", "/payments", "k1"));
        assert_ne!(h, key_hash("fn", "PUT", "/orders", "k1"));
        assert_ne!(h, key_hash("other", "POST", "/orders", "k1"));
        // Length prefixes: moving a boundary changes the hash.
        assert_ne!(key_hash("a", "b", "c", "de"), key_hash("a", "b", "cd", "e"));
    }

    #[test]
    fn anonymous_hashes_as_before_and_subjects_are_scoped() {
        // The anonymous id is the pre-auth id: records of a stack without auth are unchanged.
        let anonymous = caller_key_hash("fn", "POST", "/orders", "k1", &Caller::Anonymous);
        assert_eq!(anonymous, key_hash("fn", "POST", "/orders", "k1"));
        // Pinned: the id this key had before callers existed.
        assert_eq!(
            anonymous,
            "6c395fd496719ef652bb66170e2cfda844dcfd9ef390aa4ad9e391d935305dd2"
        );
        let alice = Caller::Subject("alice".into());
        let bob = Caller::Subject("bob".into());
        let a = caller_key_hash("fn", "POST", "/orders", "k1", &alice);
        assert_eq!(a.len(), 64);
        assert!(!a.contains("alice") && !a.contains("k1"));
        assert_eq!(a, caller_key_hash("fn", "POST", "/orders", "k1", &alice));
        assert_ne!(a, anonymous);
        assert_ne!(a, caller_key_hash("fn", "POST", "/orders", "k1", &bob));
        assert_ne!(a, caller_key_hash("fn", "POST", "/orders", "k2", &alice));
    }

    #[test]
    fn no_key_or_subject_forges_another_callers_id() {
        let sub = |s: &str| Caller::Subject(s.into());
        // Moving bytes between the key and the subject.
        assert_ne!(
            caller_key_hash("fn", "POST", "/orders", "k1a", &sub("lice")),
            caller_key_hash("fn", "POST", "/orders", "k1", &sub("alice"))
        );
        // A key that spells out the subject part of another caller's id, as an anonymous key or
        // inside a subject's key: the length prefixes keep the parts apart.
        let mut spelled = String::from("k1");
        for part in [SUBJECT_SCOPE, "alice"] {
            spelled.push_str(&String::from_utf8_lossy(&(part.len() as u64).to_be_bytes()));
            spelled.push_str(part);
        }
        assert_ne!(
            caller_key_hash("fn", "POST", "/orders", &spelled, &Caller::Anonymous),
            caller_key_hash("fn", "POST", "/orders", "k1", &sub("alice"))
        );
        assert_ne!(
            caller_key_hash("fn", "POST", "/orders", "k1", &sub("")),
            caller_key_hash("fn", "POST", "/orders", "k1", &Caller::Anonymous)
        );
        // A subject that looks like the scope tag.
        assert_ne!(
            caller_key_hash("fn", "POST", "/orders", "k1", &sub(SUBJECT_SCOPE)),
            caller_key_hash("fn", "POST", "/orders", "k1", &sub("alice"))
        );
    }
}
