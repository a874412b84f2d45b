//! Property tests of every parser that takes outside bytes in the function: the JCS parser and
//! writer, the RESP reader and the Idempotency-Key header. Each runs on arbitrary bytes (no panic,
//! a bounded result) and on structure-aware inputs: generated JSON and RESP values that must
//! round-trip, deep nesting, huge numbers and long strings. The fuzz targets in `fuzz/` run the
//! same parsers for longer.

use oncely::fingerprint::{checked_fingerprint, fingerprint};
use oncely::jcs::{self, Json, MAX_DEPTH};
use oncely::key::parse_key;
use oncely::redis_client::{ReplyLimits, RespError, Value, read_reply};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// Any double ECMAScript can print (finite; `-0` is `0` in JSON).
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        any::<i64>().prop_map(|n| n as f64),
        (-400i32..400, 1u32..100_000).prop_map(|(e, m)| f64::from(m) * 10f64.powi(e)),
        Just(5e-324),
        Just(f64::MAX),
        Just(1e21),
        Just(1e-7),
    ]
    .prop_filter("finite", |x| x.is_finite())
    .prop_map(|x| if x == 0.0 { 0.0 } else { x })
}

/// JSON values with unique member names, nested a few levels.
fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Number),
        any::<String>().prop_map(Json::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Json::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|members| Json::Object(members.into_iter().collect())),
        ]
    })
}

/// A JSON text of `value` other than the canonical one: members reversed, spaces around tokens,
/// strings with every non-ASCII character escaped.
fn scrambled(value: &Json, out: &mut String) {
    match value {
        Json::Array(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" ,\n");
                }
                scrambled(item, out);
            }
            out.push_str(" ]");
        }
        Json::Object(members) => {
            out.push_str("{\t");
            for (i, (name, item)) in members.iter().rev().enumerate() {
                if i > 0 {
                    out.push_str(" , ");
                }
                escaped(name, out);
                out.push_str(" : ");
                scrambled(item, out);
            }
            out.push_str(" }");
        }
        Json::String(s) => escaped(s, out),
        Json::Number(x) => out.push_str(&exponent_form(&jcs::number_to_string(*x))),
        other => jcs::write(other, out),
    }
}

/// The canonical number text respelled with an exponent and no leading digit but one (`1250` →
/// `1.25e3`, `0.001` → `1e-3`): the same decimal value. (Not Rust's `{:e}`: when two shortest
/// digit strings both read back as the double, Rust may choose the other one, another value.)
fn exponent_form(canonical: &str) -> String {
    let (sign, text) = canonical.strip_prefix('-').map_or(("", canonical), |t| ("-", t));
    let (mantissa, exponent) = text
        .split_once('e')
        .map_or((text, 0), |(m, e)| (m, e.parse::<i32>().unwrap()));
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let leading_zeros = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return "0e0".into();
    }
    let exponent = exponent + int.len() as i32 - 1 - leading_zeros as i32;
    let (first, rest) = significant.split_at(1);
    let dot = if rest.is_empty() { "" } else { "." };
    format!("{sign}{first}{dot}{rest}e{exponent}")
}

#[test]
fn exponent_forms_keep_the_value() {
    for (canonical, respelled) in [
        ("1250", "1.25e3"),
        ("0.001", "1e-3"),
        ("-0.0125", "-1.25e-2"),
        ("875448129355493.2", "8.754481293554932e14"),
        ("1e+21", "1e21"),
        ("1.5e-7", "1.5e-7"),
        ("0", "0e0"),
    ] {
        assert_eq!(exponent_form(canonical), respelled);
    }
}

fn escaped(s: &str, out: &mut String) {
    out.push('"');
    for unit in s.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes: no panic; a canonical text parses again to itself, and the fingerprint agrees.
    #[test]
    fn jcs_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(canonical) = jcs::canonicalize(&bytes) {
            prop_assert_eq!(jcs::canonicalize(canonical.as_bytes()), Ok(canonical.clone()));
            prop_assert!(serde_json::from_str::<serde_json::Value>(&canonical).is_ok());
            prop_assert!(checked_fingerprint(&bytes).unwrap().starts_with("json:"));
        }
        let _ = jcs::canonicalize_nearest(&bytes);
        let print = fingerprint(&bytes);
        let digest = print.strip_prefix("json:").or_else(|| print.strip_prefix("raw:")).unwrap();
        prop_assert_eq!(digest.len(), 43);
    }

    /// Generated JSON: any other spelling of a value has the same canonical text, which reads
    /// back as the same value.
    #[test]
    fn jcs_canonical_text_does_not_depend_on_spelling(value in json()) {
        let canonical = jcs::to_canonical(&value);
        let mut other = String::new();
        scrambled(&value, &mut other);
        prop_assert_eq!(jcs::canonicalize(other.as_bytes()), Ok(canonical.clone()));
        prop_assert_eq!(jcs::canonicalize(canonical.as_bytes()), Ok(canonical.clone()));
        let back = jcs::parse(canonical.as_bytes()).unwrap();
        prop_assert_eq!(jcs::to_canonical(&back), canonical);
    }

    /// Numbers: the canonical text of any double is the shortest that reads back as it.
    #[test]
    fn jcs_numbers_round_trip(x in number()) {
        let text = jcs::number_to_string(x);
        prop_assert_eq!(text.parse::<f64>().unwrap(), x);
        prop_assert_eq!(jcs::canonicalize(text.as_bytes()), Ok(text.clone()));
    }

    /// Strict reading: a literal is accepted exactly when its value is the value of the canonical
    /// text of its double (the parser's shortcut for short literals agrees with the definition).
    #[test]
    fn jcs_exact_literals_are_those_equal_to_their_canonical_form(
        negative in any::<bool>(),
        int in "[0-9]{1,20}",
        frac in prop::option::of("[0-9]{1,20}"),
        exponent in prop::option::of(-340i32..320),
    ) {
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let literal = format!(
            "{}{int}{}{}",
            if negative { "-" } else { "" },
            frac.map(|f| format!(".{f}")).unwrap_or_default(),
            exponent.map(|e| format!("e{e}")).unwrap_or_default()
        );
        let value: f64 = literal.parse().unwrap();
        let exact = value.is_finite() && decimal(&literal) == decimal(&jcs::number_to_string(value));
        prop_assert_eq!(jcs::parse(literal.as_bytes()).is_ok(), exact, "{}", literal);
    }

    /// Deep nesting is refused past the limit (never a stack overflow); huge numbers and long
    /// strings are read or refused by rule.
    #[test]
    fn jcs_hostile_shapes(depth in 1usize..4 * MAX_DEPTH, digits in 1usize..2000, len in 0usize..100_000) {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        prop_assert_eq!(jcs::parse(deep.as_bytes()).is_ok(), depth <= MAX_DEPTH);
        let deep_objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        prop_assert_eq!(jcs::parse(deep_objects.as_bytes()).is_ok(), depth < MAX_DEPTH);
        let huge = "9".repeat(digits);
        prop_assert_eq!(jcs::parse(huge.as_bytes()).is_ok(), digits <= 15);
        let exponent = format!("1e{huge}");
        prop_assert_eq!(jcs::parse(exponent.as_bytes()).is_ok(), digits < 3, "{}", exponent);
        let tiny = format!("1e-{huge}");
        prop_assert_eq!(jcs::parse(tiny.as_bytes()).is_ok(), digits < 3, "{}", tiny);
        let long = format!("\"{}\"", "é".repeat(len));
        prop_assert_eq!(jcs::canonicalize(long.as_bytes()), Ok(long.clone()));
    }

    /// The key header: any bytes give no panic, and an accepted key is 1..=255 printable ASCII.
    #[test]
    fn keys_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Some(key) = parse_key(&bytes) {
            prop_assert!((1..=255).contains(&key.len()));
            prop_assert!(key.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        }
    }

    /// A quoted key reads as the same key bare, when the bare form is a token.
    #[test]
    fn quoted_keys_equal_bare_ones(key in "[!#-+\\--\\[\\]-~]{1,255}") {
        prop_assert_eq!(parse_key(key.as_bytes()), Some(key.clone()));
        prop_assert_eq!(parse_key(format!("\"{key}\"").as_bytes()), Some(key));
    }
}

/// A decimal literal's value as (sign, significant digits, exponent of `0.digits`); zero is one.
fn decimal(literal: &str) -> (bool, String, i64) {
    let (negative, rest) = literal.strip_prefix('-').map_or((false, literal), |r| (true, r));
    let (mantissa, exponent) = rest.split_once(['e', 'E']).unwrap_or((rest, "0"));
    let exponent: i64 = exponent.parse().unwrap();
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_string();
    if digits.is_empty() {
        return (false, digits, 0);
    }
    (negative, digits, int.len() as i64 + exponent - leading as i64)
}

/// RESP values nested a few levels, as a server could send them.
fn resp_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<i64>().prop_map(Value::Int),
        "[ -~]{0,40}".prop_map(Value::Simple),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Value::Bulk),
        ("[A-Z]{1,10}", "[ -~]{0,40}").prop_map(|(code, message)| Value::Error { code, message }),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop::collection::vec(inner, 1..8).prop_map(Value::Array)
    })
}

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Value::Simple(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
        Value::Error { code, message } if message.is_empty() => {
            out.extend_from_slice(format!("-{code}\r\n").as_bytes());
        }
        Value::Error { code, message } => out.extend_from_slice(format!("-{code} {message}\r\n").as_bytes()),
        Value::Bulk(data) => {
            out.extend_from_slice(format!("${}\r\n", data.len()).as_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        Value::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                encode(item, out);
            }
        }
    }
}

fn read(bytes: &[u8], limits: &ReplyLimits) -> Result<Value, RespError> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(read_reply(&mut tokio::io::BufReader::with_capacity(16, bytes), limits))
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes: a reply or an error, never a panic, and never more than the limits allow.
    #[test]
    fn resp_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512), max_reply in 8usize..256) {
        let limits = ReplyLimits { max_depth: 3, max_line: 32, max_reply };
        // A reply that was read took at most `max_reply` bytes: those alone give it again.
        if let Ok(value) = read(&bytes, &limits) {
            prop_assert_eq!(read(&bytes[..bytes.len().min(max_reply)], &limits).unwrap(), value);
        }
    }

    /// Structure-aware: any value a server can send reads back as itself within the default
    /// limits, and is refused with a protocol error when one limit is one byte (or level) short.
    #[test]
    fn resp_values_round_trip(value in resp_value()) {
        let mut bytes = Vec::new();
        encode(&value, &mut bytes);
        prop_assert_eq!(read(&bytes, &ReplyLimits::default()).unwrap(), value);
        let tight = ReplyLimits { max_reply: bytes.len() - 1, ..ReplyLimits::default() };
        prop_assert!(matches!(read(&bytes, &tight), Err(RespError::Protocol(_))));
    }

    /// Announced lengths never decide memory: a bulk string or an array announced far larger
    /// than what follows fails at once.
    #[test]
    fn resp_announced_lengths_reserve_nothing(n in 1i64..i64::MAX, array in any::<bool>()) {
        let bytes = format!("{}{n}\r\n", if array { '*' } else { '$' });
        let err = read(bytes.as_bytes(), &ReplyLimits::default()).unwrap_err();
        prop_assert!(matches!(err, RespError::Protocol(_) | RespError::Io(_)), "{}", err);
    }
}
