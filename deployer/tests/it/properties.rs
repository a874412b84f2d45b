//! Property tests of every parser in the deployer that takes outside bytes: the function's
//! response payload (API Gateway's mapping), the payload 2.0 event and its query strings, JWTs, key
//! sets and `Authorization` values, and the YAML config. Arbitrary bytes give no panic and a
//! bounded answer; structure-aware inputs (deep nesting, huge numbers, long strings, YAML alias
//! bombs) are read or refused by rule. The fuzz targets in `fuzz/` run the same parsers longer.

use base64::Engine as _;
use deployer::config::Config;
use oncely_local::event::{Gateway, RequestParts, build, query_parameters};
use oncely_local::jwt::{self, Jwk};
use oncely_local::response::from_function;
use proptest::prelude::*;
use serde_json::{Value, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// JSON values a peer could send: nested a few levels, any strings, numbers of every size.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Response payloads shaped like the function's, with any field of any type.
fn response_payload() -> impl Strategy<Value = Value> {
    (
        prop_oneof![any::<i64>().prop_map(Value::from), json_value()],
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::option::of(any::<bool>()),
        prop::option::of(json_value()),
    )
        .prop_map(|(status, headers, multi, cookies, base64, body)| {
            let mut payload = json!({ "statusCode": status });
            let fields = [
                ("headers", headers),
                ("multiValueHeaders", multi),
                ("cookies", cookies),
                ("isBase64Encoded", base64.map(Value::Bool)),
                ("body", body),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    payload[name] = value;
                }
            }
            payload
        })
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes from the function: a response or the reason for API Gateway's 500, never a
    /// panic; a response has a real status and only headers HTTP can carry.
    #[test]
    fn responses_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(response) = from_function(&bytes) {
            prop_assert!((100..=599).contains(&response.status));
        }
    }

    /// Structure-aware payloads: the same rules, and a body no larger than what was sent.
    #[test]
    fn responses_from_any_payload(payload in response_payload()) {
        let bytes = serde_json::to_vec(&payload).unwrap();
        if let Ok(response) = from_function(&bytes) {
            prop_assert!((100..=599).contains(&response.status));
            prop_assert!(response.body.len() <= bytes.len());
            for (name, value) in &response.headers {
                prop_assert!(hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok(), "{}", name);
                prop_assert!(hyper::header::HeaderValue::from_str(value).is_ok(), "{:?}", value);
            }
        }
    }

    /// Query strings: any text, no panic; a parameter's decoded name appears once.
    #[test]
    fn query_strings_from_any_text(raw in "[a-z%0-9=&+;\\x00-\\x7f\u{80}-\u{10ffff}]{0,300}") {
        let parameters = query_parameters(&raw);
        let mut names: Vec<&String> = parameters.iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        prop_assert_eq!(names.len(), parameters.len());
    }

    /// The payload 2.0 event of any request the gateway accepts: any header names and values
    /// (repeated, cookies among them), any query string and body. The event is JSON whose
    /// headers are lower-case and joined, whose cookies are the `Cookie` header's parts, and
    /// whose body gives back the bytes sent (base64 unless the content type is text).
    #[test]
    fn events_of_any_request(
        headers in prop::collection::vec(("[a-zA-Z][a-zA-Z0-9-]{0,20}", "[ -~]{0,60}"), 0..12),
        cookies in prop::collection::vec("[a-z]{1,8}=[a-zA-Z0-9]{0,12}", 0..4),
        query in "[a-z%0-9=&+;\x21-\x7e]{0,120}",
        body in prop::collection::vec(any::<u8>(), 0..300),
        text in any::<bool>(),
    ) {
        let mut map = hyper::HeaderMap::new();
        for (name, value) in &headers {
            let name = hyper::header::HeaderName::from_bytes(name.as_bytes());
            let value = hyper::header::HeaderValue::from_str(value);
            let (Ok(name), Ok(value)) = (name, value) else { continue };
            map.append(name, value);
        }
        map.remove("cookie");
        map.remove("content-type");
        if !cookies.is_empty() {
            map.insert("cookie", cookies.join("; ").parse().unwrap());
        }
        map.insert("content-type", if text { "application/json" } else { "application/octet-stream" }.parse().unwrap());
        let parts = RequestParts {
            method: "POST",
            raw_path: "/orders",
            raw_query: &query,
            headers: &map,
            body: &body,
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1",
        };
        let gateway = Gateway {
            account_id: "000000000000".into(),
            api_id: "local".into(),
            domain_name: "127.0.0.1:3000".into(),
            port: 3000,
            request_id: "r".into(),
            trace_id: "t".into(),
            time_epoch_ms: 0,
        };
        let event = build(&parts, "POST /orders", &Default::default(), &gateway);
        prop_assert!(serde_json::to_string(&event).is_ok());
        if let Some(h) = event["headers"].as_object() {
            prop_assert!(h.keys().all(|k| *k == k.to_ascii_lowercase() && k != "cookie"), "{:?}", h);
        }
        let sent: Vec<String> = cookies.clone();
        let as_text = |v: &Value| v.as_str().unwrap().to_string();
        let got: Vec<String> = event["cookies"].as_array().map(|c| c.iter().map(as_text).collect()).unwrap_or_default();
        prop_assert_eq!(got, sent);
        let body_back = match (event["body"].as_str(), event["isBase64Encoded"].as_bool()) {
            (Some(b), Some(true)) => base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
            (Some(b), _) => b.as_bytes().to_vec(),
            (None, _) => Vec::new(),
        };
        prop_assert_eq!(body_back, body);
    }

    /// Tokens: any text is refused or parsed, never a panic; so are `Authorization` values.
    #[test]
    fn tokens_from_any_text(text in "[A-Za-z0-9_\\-.= \\x00-\\x7f\u{80}-\u{10ffff}]{0,300}") {
        let _ = jwt::parse(&text);
        if let Some(token) = jwt::bearer_token(&text) {
            prop_assert!(!token.is_empty());
        }
    }

    /// Structure-aware tokens: three base64url parts of any JSON header and claims and any
    /// signature bytes; a parsed one names an RS algorithm and no `crit`.
    #[test]
    fn tokens_of_any_json(
        header in json_value(),
        claims in json_value(),
        signature in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let token = format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            b64(&signature)
        );
        if jwt::parse(&token).is_ok() {
            prop_assert!(header["alg"].as_str().is_some_and(|a| ["RS256", "RS384", "RS512"].contains(&a)));
            prop_assert!(header.get("crit").is_none());
        }
    }

    /// Key sets: any JSON gives RSA keys only, each with a kid, never a panic.
    #[test]
    fn key_sets_of_any_json(
        keys in prop::collection::vec(json_value(), 0..6),
        kid in "[a-z0-9-]{1,40}",
        n in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut keys = keys;
        keys.push(json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": "AQAB"}));
        let set = Jwk::set_from_json(&json!({ "keys": keys }));
        prop_assert!(set.iter().any(|k| k.kid == kid));
    }

    /// The config: any text is a config or a list of problems with their places, never a panic.
    #[test]
    fn configs_from_any_text(text in "[a-z_:{}\\[\\],\\-\"' \n0-9.&*!|>#]{0,400}") {
        if let Err(problems) = Config::parse(&text) {
            prop_assert!(!problems.is_empty());
            prop_assert!(problems.iter().all(|p| !p.message.is_empty()));
        }
    }
}

/// Hostile YAML shapes: deep nesting and an alias bomb (a billion laughs) are refused quickly
/// with a problem, long values are read or refused by the schema.
#[test]
fn hostile_yaml_is_refused_with_a_problem() {
    // Deep flow nesting costs the YAML scanner time quadratic in the depth (40 kB took 0.9 s in
    // release, 100,000 levels a minute in debug): refused by a linear pass first, with its place.
    let deep = format!("app: {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let problems = Config::parse(&deep).unwrap_err();
    assert_eq!(
        (problems[0].line, problems[0].column),
        (Some(1), Some(70)),
        "{problems:?}"
    );
    assert!(problems[0].message.contains("nest deeper than 64"), "{problems:?}");
    // Brackets in quoted scalars and comments are text, not nesting.
    let quoted = format!(
        "app: \"{0}\" # {0}\nfunction: {{ environment: {{ A: '{0}''{0}' }} }}\n",
        "[".repeat(100)
    );
    let problems = Config::parse(&quoted).unwrap_err();
    assert!(
        problems.iter().all(|p| !p.message.contains("nest deeper")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.path == "app"), "{problems:?}");
    let huge = "#".repeat(2 * 1024 * 1024);
    let problems = Config::parse(&huge).unwrap_err();
    assert!(problems[0].message.contains("more than 1048576"), "{problems:?}");
    let mut bomb = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    let problems = Config::parse(&bomb).unwrap_err();
    assert!(!problems.is_empty());
    let long = format!("app: {}\n", "a".repeat(1_000_000));
    let problems = Config::parse(&long).unwrap_err();
    assert!(problems.iter().any(|p| p.path == "app"), "{problems:?}");
}

/// Found by fuzzing: a key with dots in a flow mapping (`{ ...burst: 1 }`) hung `Config::parse`
/// (the problem's place was searched for an empty key forever). It is an unknown key with its line.
#[test]
fn a_key_with_dots_is_an_unknown_key_not_a_hang() {
    let problems = Config::parse("api:\n  throttle: { ...burst: 1kkk00, rate: 50 }\n").unwrap_err();
    let problem = problems.iter().find(|p| p.path == "api.throttle....burst").unwrap();
    assert_eq!(problem.line, Some(2), "{problem:?}");
    assert!(problem.message.starts_with("unknown key"), "{problem:?}");
}

/// Deep JSON from the function (serde_json's recursion limit) is API Gateway's 500, not a crash.
#[test]
fn deep_responses_are_refused() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(from_function(deep.as_bytes()).is_err());
    let deep_body = format!(
        "{{\"statusCode\":200,\"body\":{}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(from_function(deep_body.as_bytes()).is_err());
}
