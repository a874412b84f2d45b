//! RFC 8785 (JCS) canonicalisation checked against the vectors shared with the TypeScript client
//! (tests/fixtures/jcs-vectors.json): the RFC's own examples, Appendix B numbers, lossy inputs.

use oncely_function::fingerprint::{checked_fingerprint, fingerprint};
use oncely_function::jcs::{self, ParseError};
use serde_json::Value;

fn vectors() -> Value {
    let path = format!("{}/tests/fixtures/jcs-vectors.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn list<'a>(v: &'a Value, name: &str) -> &'a Vec<Value> {
    v[name].as_array().unwrap_or_else(|| panic!("{name} is a list"))
}

#[test]
fn canonical_vectors() {
    let v = vectors();
    assert!(list(&v, "canonical").len() >= 5);
    for case in list(&v, "canonical") {
        let input = case["input"].as_str().unwrap();
        let output = case["output"].as_str().unwrap();
        assert_eq!(
            jcs::canonicalize_nearest(input.as_bytes()).unwrap(),
            output,
            "{}",
            case["source"]
        );
        match case["inexact"].as_str() {
            None => {
                assert_eq!(
                    jcs::canonicalize(input.as_bytes()).unwrap(),
                    output,
                    "{}",
                    case["source"]
                );
                // The canonical text is its own canonical form.
                assert_eq!(jcs::canonicalize(output.as_bytes()).unwrap(), output);
            }
            Some(pointer) => match jcs::canonicalize(input.as_bytes()) {
                Err(ParseError::Lossy(lossy)) => {
                    assert_eq!(lossy.pointer, pointer);
                    assert_eq!(lossy.loss.as_str(), "inexact-number");
                }
                other => panic!("{}: {other:?}", case["source"]),
            },
        }
    }
}

#[test]
fn appendix_b_numbers() {
    let v = vectors();
    assert_eq!(list(&v, "numbers").len(), 26);
    for case in list(&v, "numbers") {
        let bits = u64::from_str_radix(case["bits"].as_str().unwrap(), 16).unwrap();
        let value = f64::from_bits(bits);
        match case["output"].as_str() {
            Some(output) => {
                assert_eq!(jcs::number_to_string(value), output, "{bits:016x}");
                // Read back from its text, the canonical text is exact.
                assert_eq!(jcs::canonicalize(output.as_bytes()).unwrap(), output);
            }
            None => assert!(!value.is_finite(), "{bits:016x}"),
        }
    }
}

#[test]
fn lossy_vectors_are_refused_with_their_pointer() {
    let v = vectors();
    for case in list(&v, "lossy") {
        let input = case["input"].as_str().unwrap();
        match jcs::canonicalize(input.as_bytes()) {
            Err(ParseError::Lossy(lossy)) => {
                assert_eq!(lossy.pointer, case["pointer"].as_str().unwrap(), "{input}");
                assert_eq!(lossy.loss.as_str(), case["loss"].as_str().unwrap(), "{input}");
            }
            other => panic!("{input}: {other:?}"),
        }
        let refused = checked_fingerprint(input.as_bytes()).unwrap_err();
        assert_eq!(refused.pointer, case["pointer"].as_str().unwrap());
        // Never conflated: the infallible fingerprint falls back to the bytes.
        assert!(fingerprint(input.as_bytes()).starts_with("raw:"), "{input}");
    }
}

#[test]
fn syntax_errors_are_not_json() {
    for text in [
        "",
        "{",
        "[1,]",
        "01",
        "1.",
        "-",
        "{\"a\" 1}",
        "\"\t\"",
        "\"\\x\"",
        "nul",
        "1 2",
        "[1e]",
    ] {
        assert!(
            matches!(jcs::canonicalize(text.as_bytes()), Err(ParseError::Syntax(_))),
            "{text:?}"
        );
        assert!(fingerprint(text.as_bytes()).starts_with("raw:"));
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(matches!(jcs::canonicalize(deep.as_bytes()), Err(ParseError::Syntax(_))));
}

#[test]
fn exact_ties_take_the_even_digit_as_ecmascript_does() {
    // Doubles exactly halfway between two shortest spellings; expected texts from ECMAScript
    // (Node's `String(x)`), which the formatter matched on 300,000 random doubles.
    for (bits, text) in [
        (0x430e1c6d958d7b72_u64, "1059438285926254.2"),
        (0xc31441f233f63165, "-1425502010969177.2"),
        (0x42b7fa57c450e950, "26363981746409.312"),
    ] {
        assert_eq!(jcs::number_to_string(f64::from_bits(bits)), text, "{bits:016x}");
    }
}
