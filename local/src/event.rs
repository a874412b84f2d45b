//! Builds the API Gateway HTTP API payload format 2.0 event for one request, field by field as
//! the developer guide ("Create AWS Lambda proxy integrations for HTTP APIs") describes it.
//!
//! - header names are lower-cased, duplicate headers comma-joined; `cookie` headers move to `cookies`;
//! - `queryStringParameters` are decoded, duplicates comma-joined; absent without a query string;
//! - `pathParameters` come from the matched route; absent when there are none;
//! - the body is passed as text when it is UTF-8 of a textual content type, else base64 with
//!   `isBase64Encoded: true`; absent when empty;
//! - like API Gateway, `x-forwarded-for`, `x-forwarded-port`, `x-forwarded-proto` and
//!   `x-amzn-trace-id` are added.

use std::collections::BTreeMap;

use base64::Engine as _;
use hyper::HeaderMap;
use serde_json::{Map, Value, json};

use super::routes::percent_decode;

/// The parts of an HTTP request the event is made of.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path as received (not decoded).
    pub raw_path: &'a str,
    /// The query string as received, without `?`.
    pub raw_query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The body, as received.
    pub body: &'a [u8],
    /// The client's address (`requestContext.http.sourceIp`).
    pub source_ip: String,
    /// `HTTP/1.1`
    pub protocol: &'a str,
}

/// What API Gateway knows about itself for this request.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The account id of the ARNs and the request context.
    pub account_id: String,
    /// The API's id.
    pub api_id: String,
    /// The `Host` the API is reached at, e.g. `127.0.0.1:3000`.
    pub domain_name: String,
    /// The port the API listens on.
    pub port: u16,
    /// The request id (`apigw-requestid`).
    pub request_id: String,
    /// The X-Ray trace id passed to the function.
    pub trace_id: String,
    /// When the request arrived, in epoch milliseconds.
    pub time_epoch_ms: u64,
}

/// Content types whose bodies API Gateway passes as text (other bodies are base64-encoded).
pub fn is_text_content_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    ct.is_empty()
        || ct.starts_with("text/")
        || [
            "application/json",
            "application/javascript",
            "application/xml",
            "application/x-www-form-urlencoded",
            "application/yaml",
            "application/graphql",
        ]
        .contains(&ct.as_str())
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || ct.ends_with("+yaml")
}

/// The payload format 2.0 event.
pub fn build(
    req: &RequestParts<'_>,
    route_key: &str,
    path_parameters: &BTreeMap<String, String>,
    gw: &Gateway,
) -> Value {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in req.headers {
        let name = name.as_str().to_ascii_lowercase();
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            continue;
        }
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(&value);
            }
            None => headers.push((name, value)),
        }
    }
    let mut set = |name: &str, value: String, append: bool| match headers.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) if append => *v = format!("{v}, {value}"),
        Some(_) => {}
        None => headers.push((name.to_string(), value)),
    };
    set("x-forwarded-for", req.source_ip.clone(), true);
    set("x-forwarded-port", gw.port.to_string(), false);
    set("x-forwarded-proto", "http".to_string(), false);
    set("x-amzn-trace-id", gw.trace_id.clone(), false);
    let user_agent = headers
        .iter()
        .find(|(n, _)| n == "user-agent")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.clone());

    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(route_key));
    event.insert("rawPath".into(), json!(req.raw_path));
    event.insert("rawQueryString".into(), json!(req.raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert(
        "headers".into(),
        Value::Object(headers.into_iter().map(|(k, v)| (k, Value::String(v))).collect()),
    );
    if !req.raw_query.is_empty() {
        event.insert(
            "queryStringParameters".into(),
            Value::Object(
                query_parameters(req.raw_query)
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
        );
    }
    let domain_prefix = gw.domain_name.split(['.', ':']).next().unwrap_or_default().to_string();
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": gw.account_id,
            "apiId": gw.api_id,
            "domainName": gw.domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": req.method,
                "path": req.raw_path,
                "protocol": req.protocol,
                "sourceIp": req.source_ip,
                "userAgent": user_agent,
            },
            "requestId": gw.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": clf_time(gw.time_epoch_ms / 1000),
            "timeEpoch": gw.time_epoch_ms,
        }),
    );
    if !req.body.is_empty() {
        let text = is_text_content_type(content_type.as_deref())
            .then(|| std::str::from_utf8(req.body).ok())
            .flatten();
        match text {
            Some(t) => {
                event.insert("body".into(), json!(t));
                event.insert("isBase64Encoded".into(), json!(false));
            }
            None => {
                event.insert(
                    "body".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(req.body)),
                );
                event.insert("isBase64Encoded".into(), json!(true));
            }
        }
    } else {
        event.insert("isBase64Encoded".into(), json!(false));
    }
    if !path_parameters.is_empty() {
        event.insert("pathParameters".into(), json!(path_parameters));
    }
    Value::Object(event)
}

/// Decoded query parameters, duplicates joined with commas, in first-seen order.
pub fn query_parameters(raw: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            None => out.push((k, v)),
        }
    }
    out
}

/// The civil date (year, month 1..=12, day 1..=31) of a Unix time (Howard Hinnant's algorithm).
pub fn civil_date(epoch_s: u64) -> (i64, usize, i64) {
    let z = (epoch_s / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month as usize, day)
}

/// `10/Mar/2024:16:40:04 +0000`, the format of `requestContext.time`.
pub fn clf_time(epoch_s: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil_date(epoch_s);
    let secs = epoch_s % 86_400;
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[month - 1],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn gateway() -> Gateway {
        Gateway {
            account_id: "000000000000".into(),
            api_id: "local".into(),
            domain_name: "127.0.0.1:3000".into(),
            port: 3000,
            request_id: "req-1".into(),
            trace_id: "Root=1-00000000-000000000000000000000000".into(),
            time_epoch_ms: 1_710_088_804_511,
        }
    }

    #[test]
    fn time_is_in_common_log_format() {
        assert_eq!(clf_time(1_710_088_804), "10/Mar/2024:16:40:04 +0000");
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn a_post_becomes_the_documented_event() {
        let mut headers = HeaderMap::new();
        headers.insert("Content-Type", HeaderValue::from_static("application/json"));
        headers.insert("Idempotency-Key", HeaderValue::from_static("k1"));
        headers.insert("User-Agent", HeaderValue::from_static("curl/8.5.0"));
        headers.append("X-Multi", HeaderValue::from_static("a"));
        headers.append("X-Multi", HeaderValue::from_static("b"));
        headers.append("Cookie", HeaderValue::from_static("a=1; b=2"));
        let req = RequestParts {
            method: "POST",
            raw_path: "/orders",
            raw_query: "x=1&y=a%20b&x=2",
            headers: &headers,
            body: br#"{"item":"book","quantity":2}"#,
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1",
        };
        let e = build(&req, "POST /orders", &BTreeMap::new(), &gateway());
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "POST /orders");
        assert_eq!(e["rawPath"], "/orders");
        assert_eq!(e["rawQueryString"], "x=1&y=a%20b&x=2");
        assert_eq!(e["queryStringParameters"], json!({"x": "1,2", "y": "a b"}));
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["headers"]["content-type"], "application/json");
        assert_eq!(e["headers"]["idempotency-key"], "k1");
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert_eq!(e["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(e["headers"]["x-forwarded-proto"], "http");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["body"], r#"{"item":"book","quantity":2}"#);
        assert_eq!(e["isBase64Encoded"], false);
        assert!(e.get("pathParameters").is_none());
        let rc = &e["requestContext"];
        assert_eq!(
            rc["http"],
            json!({
                "method": "POST",
                "path": "/orders",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl/8.5.0"
            })
        );
        assert_eq!(rc["stage"], "$default");
        assert_eq!(rc["routeKey"], "POST /orders");
        assert_eq!(rc["requestId"], "req-1");
        assert_eq!(rc["timeEpoch"], 1_710_088_804_511u64);
        assert_eq!(rc["time"], "10/Mar/2024:16:40:04 +0000");
        assert_eq!(rc["apiId"], "local");
        assert_eq!(rc["accountId"], "000000000000");
    }

    #[test]
    fn the_event_parses_as_lambda_http_parses_it() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let req = RequestParts {
            method: "GET",
            raw_path: "/orders/abc",
            raw_query: "",
            headers: &headers,
            body: b"",
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1",
        };
        let params = BTreeMap::from([("id".to_string(), "abc".to_string())]);
        let e = build(&req, "GET /orders/{id}", &params, &gateway());
        assert_eq!(e["pathParameters"], json!({"id": "abc"}));
        assert!(e.get("body").is_none() && e.get("queryStringParameters").is_none() && e.get("cookies").is_none());
        // The fields of the real fixture are all there (same key set at the top level).
        let fixture: Value = serde_json::from_str(include_str!("../../testkit/fixtures/get-order.json")).unwrap();
        for key in fixture.as_object().unwrap().keys() {
            assert!(
                e.get(key).is_some() || key == "body" || key == "queryStringParameters",
                "missing {key}"
            );
        }
        for key in fixture["requestContext"].as_object().unwrap().keys() {
            assert!(e["requestContext"].get(key).is_some(), "missing requestContext.{key}");
        }
    }

    #[test]
    fn binary_bodies_are_base64() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/octet-stream"));
        let req = RequestParts {
            method: "POST",
            raw_path: "/up",
            raw_query: "",
            headers: &headers,
            body: &[0, 159, 146, 150],
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1",
        };
        let e = build(&req, "POST /up", &BTreeMap::new(), &gateway());
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "AJ+Slg==");
        // Text content types with invalid UTF-8 are base64 too.
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        let req = RequestParts {
            headers: &headers,
            ..req
        };
        assert_eq!(
            build(&req, "POST /up", &BTreeMap::new(), &gateway())["isBase64Encoded"],
            true
        );
        assert!(is_text_content_type(Some("application/problem+json; charset=utf-8")));
        assert!(!is_text_content_type(Some("image/png")));
    }
}
