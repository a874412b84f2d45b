//! Payload fingerprints: SHA-256 of canonical JSON, so key order and whitespace do not matter but values do.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes `value` as canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace,
/// strings escaped the way `serde_json` escapes them, numbers as `serde_json` prints them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("a string always serializes"));
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).expect("a scalar always serializes")),
    }
}

/// The fingerprint of a request body: `json:` + SHA-256 of its canonical JSON when the body is
/// JSON, else `raw:` + SHA-256 of its bytes (base64url, no padding).
pub fn fingerprint(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => format!("json:{}", digest(canonical_json(&value).as_bytes())),
        Err(_) => format!("raw:{}", digest(body)),
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
}
