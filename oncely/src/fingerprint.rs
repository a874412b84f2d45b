//! Payload fingerprints: SHA-256 of the RFC 8785 (JCS) canonical JSON, so key order and whitespace
//! do not matter but values do; JSON that JCS cannot canonicalise without loss is refused.

use crate::jcs::{self, Json, LossyJson, ParseError};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes `value` as RFC 8785 canonical JSON: object keys sorted by UTF-16 code units, no
/// whitespace, strings as ECMAScript's `JSON.stringify`, numbers as ECMAScript's `Number.toString`
/// of their double (an integer beyond 2^53 is written as the double nearest it).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    jcs::write(&to_json(value), &mut out);
    out
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Json::String(s.clone()),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// The fingerprint of a request body: `json:` + SHA-256 of its JCS canonical form when the body is
/// JSON that has one, else (not JSON, or lossy JSON) `raw:` + SHA-256 of its bytes (base64url, no
/// padding). Two different payloads never share a fingerprint; [`checked_fingerprint`] refuses
/// lossy JSON instead.
pub fn fingerprint(body: &[u8]) -> String {
    match jcs::canonicalize(body) {
        Ok(canonical) => format!("json:{}", digest(canonical.as_bytes())),
        Err(_) => format!("raw:{}", digest(body)),
    }
}

/// Like [`fingerprint`], but JSON without a lossless canonical form (duplicate names, numbers a
/// double does not hold, invalid Unicode) is an error naming the place (what the handler answers
/// with a 400).
pub fn checked_fingerprint(body: &[u8]) -> Result<String, LossyJson> {
    match jcs::canonicalize(body) {
        Ok(canonical) => Ok(format!("json:{}", digest(canonical.as_bytes()))),
        Err(ParseError::Lossy(lossy)) => Err(lossy),
        Err(ParseError::Syntax(_)) => Ok(format!("raw:{}", digest(body))),
    }
}

fn digest(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a = br#"{"item":"book","quantity":2,"nested":{"b":1,"a":[1,2,{"y":true,"x":null}]}}"#;
        let b = b"{ \"quantity\" : 2,\n  \"nested\": {\"a\": [1, 2, {\"x\": null, \"y\": true}], \
            \"b\": 1},\n \"item\": \"book\" }";
        assert_eq!(fingerprint(a), fingerprint(b));
        assert!(fingerprint(a).starts_with("json:"));
    }

    #[test]
    fn values_matter() {
        assert_ne!(fingerprint(br#"{"quantity":2}"#), fingerprint(br#"{"quantity":3}"#));
        assert_ne!(fingerprint(br#"{"quantity":2}"#), fingerprint(br#"{"quantity":"2"}"#));
        assert_ne!(fingerprint(br#"[1,2]"#), fingerprint(br#"[2,1]"#));
    }

    #[test]
    fn canonical_form_is_sorted_and_compact() {
        let v: Value = serde_json::from_str(r#"{ "b": "x\"y", "a": [ 1 , 2.5 ], "é": {} }"#).unwrap();
        assert_eq!(canonical_json(&v), r#"{"a":[1,2.5],"b":"x\"y","é":{}}"#);
    }

    #[test]
    fn non_json_bodies_hash_their_bytes() {
        assert!(fingerprint(b"not json").starts_with("raw:"));
        assert_ne!(fingerprint(b"a=1"), fingerprint(b"a=2"));
        assert_eq!(fingerprint(b""), fingerprint(b""));
    }

    #[test]
    fn lossy_json_is_refused_and_never_shares_a_fingerprint() {
        let a = br#"{"id":12345678901234567890}"#;
        let b = br#"{"id":12345678901234567891}"#;
        assert_ne!(fingerprint(a), fingerprint(b));
        let err = checked_fingerprint(a).unwrap_err();
        assert_eq!(err.pointer, "/id");
        assert!(checked_fingerprint(br#"{"a":1,"a":2}"#).is_err());
        assert!(checked_fingerprint(br#"{"s":"\ud800"}"#).is_err());
        assert_eq!(checked_fingerprint(b"not json").unwrap(), fingerprint(b"not json"));
        assert_eq!(
            checked_fingerprint(br#"{"q":1.0,"r":1e2}"#).unwrap(),
            fingerprint(br#"{"r":100,"q":1}"#)
        );
    }
}
