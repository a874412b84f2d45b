//! RFC 8785 (JCS) canonicalisation checked against the vectors shared with the TypeScript client
//! (tests/fixtures/jcs-vectors.json): the RFC's own examples, Appendix B numbers, lossy inputs.

use oncely::fingerprint::{checked_fingerprint, fingerprint};
use oncely::jcs::{self, ParseError};
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

/// `number_to_string` equals ECMAScript's `String(x)` (node's, the reference RFC 8785 names) on
/// random doubles of every magnitude, subnormals included, and on doubles with few exact digits,
/// where two shortest forms can be equally close.
#[test]
fn numbers_are_written_as_ecmascript_writes_them() {
    let mut bits: Vec<u64> = Vec::new();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    while bits.len() < 200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if f64::from_bits(x).is_finite() {
            bits.push(x);
        }
    }
    for i in 1..20_000u32 {
        for v in [
            f64::from(i) / 64.0,
            f64::from(i) * 1e15,
            f64::from(i) / 1024.0 * 1e17,
            5e-324 * f64::from(i),
        ] {
            bits.push(v.to_bits());
        }
    }
    let input: String = bits.iter().map(|b| format!("{b:016x}\n")).collect();
    let script = "const lines = require('fs').readFileSync(0, 'utf8').trim().split('\\n');\
        const view = new DataView(new ArrayBuffer(8));\
        process.stdout.write(lines.map((h) => { view.setBigUint64(0, BigInt('0x' + h)); \
        return String(view.getFloat64(0)); }).join('\\n'));";
    let mut node = std::process::Command::new("node")
        .args(["-e", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node (the frontend's runtime) runs: it is the ECMAScript reference here");
    let mut stdin = node.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let out = node.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "node failed");
    let expected = String::from_utf8(out.stdout).unwrap();
    let expected: Vec<&str> = expected.split('\n').collect();
    assert_eq!(expected.len(), bits.len());
    for (b, want) in bits.iter().zip(expected) {
        let v = f64::from_bits(*b);
        let want = if want == "-0" { "0" } else { want };
        assert_eq!(jcs::number_to_string(v), want, "bits {b:016x}");
    }
}
