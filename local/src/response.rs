//! Maps what the function returned back to an HTTP response, by the payload format 2.0 rules of
//! API Gateway HTTP APIs, and the gateway's own error answers.
//!
//! - An object with `statusCode`: `statusCode`, `headers`, `multiValueHeaders` (names not already
//!   in `headers`), `cookies` (one `Set-Cookie` each), `body` (base64-decoded when
//!   `isBase64Encoded`).
//! - Any other valid JSON: status 200, `content-type: application/json`, the JSON as the body
//!   (knowledge-center article "api-gateway-status-codes-http-api").
//! - Anything malformed, a function error, a crash or a timeout: `500 {"message":"Internal Server
//!   Error"}` (developer guide, "Troubleshooting issues with HTTP API Lambda integrations").

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value;

/// An HTTP response as API Gateway would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponse {
    /// The HTTP status.
    pub status: u16,
    /// Header names and values, in order (a name may repeat).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Bytes,
}

impl GatewayResponse {
    /// API Gateway's own JSON error body: `{"message":"..."}`.
    pub fn message(status: u16, message: &str) -> GatewayResponse {
        GatewayResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(serde_json::json!({ "message": message }).to_string()),
        }
    }
    /// API Gateway's `404` for a request no route matches.
    pub fn not_found() -> GatewayResponse {
        GatewayResponse::message(404, "Not Found")
    }
    /// API Gateway's `500` when the integration fails.
    pub fn internal_error() -> GatewayResponse {
        GatewayResponse::message(500, "Internal Server Error")
    }
    /// API Gateway's `413` for a body over its limit.
    pub fn too_large() -> GatewayResponse {
        GatewayResponse::message(413, "Request Entity Too Large")
    }
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn header_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn valid_header(name: &str, value: &str) -> bool {
    hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && hyper::header::HeaderValue::from_str(value).is_ok()
}

/// Maps the function's response payload; `Err` says why API Gateway would answer 500 instead.
pub fn from_function(payload: &[u8]) -> Result<GatewayResponse, String> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| format!("the function's response is not JSON: {e}"))?;
    let Some(obj) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Ok(GatewayResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::copy_from_slice(payload),
        });
    };
    let status = obj["statusCode"]
        .as_u64()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| format!("statusCode {} is not an HTTP status", obj["statusCode"]))? as u16;
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(h) = obj.get("headers").filter(|h| !h.is_null()) {
        let h = h.as_object().ok_or("headers is not an object")?;
        for (name, v) in h {
            let v = header_value(v).ok_or_else(|| format!("header {name} is not a string"))?;
            headers.push((name.to_ascii_lowercase(), v));
        }
    }
    if let Some(m) = obj.get("multiValueHeaders").filter(|h| !h.is_null()) {
        let m = m.as_object().ok_or("multiValueHeaders is not an object")?;
        for (name, values) in m {
            let name = name.to_ascii_lowercase();
            if headers.iter().any(|(n, _)| *n == name) {
                continue;
            }
            for v in values
                .as_array()
                .ok_or_else(|| format!("multiValueHeaders.{name} is not a list"))?
            {
                headers.push((
                    name.clone(),
                    header_value(v).ok_or_else(|| format!("a value of multiValueHeaders.{name} is not a string"))?,
                ));
            }
        }
    }
    if let Some(c) = obj.get("cookies").filter(|c| !c.is_null()) {
        for cookie in c.as_array().ok_or("cookies is not a list")? {
            headers.push((
                "set-cookie".into(),
                cookie.as_str().ok_or("a cookie is not a string")?.to_string(),
            ));
        }
    }
    if let Some((n, v)) = headers.iter().find(|(n, v)| !valid_header(n, v)) {
        return Err(format!("header {n}: {v:?} is not a valid HTTP header"));
    }
    let base64 = obj.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("body is not valid base64: {e}"))?,
        ),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(other) => Bytes::from(other.to_string()),
    };
    Ok(GatewayResponse { status, headers, body })
}

/// The HTTP response a server of the local stack sends for `answer` (headers HTTP cannot carry
/// are left out).
pub fn into_response(answer: GatewayResponse) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(answer.body));
    *r.status_mut() = hyper::StatusCode::from_u16(answer.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            h.append(n, v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_responses_keep_status_headers_cookies_and_body() {
        let payload = concat!(
            r#"{"statusCode":201,"headers":{"Content-Type":"application/json","location":"/orders/1"},"#,
            r#""multiValueHeaders":{"x-a":["1","2"],"location":["ignored"]},"cookies":["a=1; Path=/","b=2"],"#,
            r#""body":"{\"id\":\"1\"}","isBase64Encoded":false}"#
        )
        .as_bytes();
        let a = from_function(payload).unwrap();
        assert_eq!(a.status, 201);
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert_eq!(a.header("location"), Some("/orders/1"));
        let multi: Vec<&str> = a
            .headers
            .iter()
            .filter(|(n, _)| n == "x-a")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(multi, ["1", "2"]);
        let cookies: Vec<&str> = a
            .headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(a.headers.iter().filter(|(n, _)| n == "location").count(), 1);
        assert_eq!(&a.body[..], br#"{"id":"1"}"#);
    }

    #[test]
    fn lambda_http_shaped_responses_map() {
        // What lambda_http serializes for a 304 (no body) and for a binary body.
        let a = from_function(
            concat!(
                r#"{"statusCode":304,"headers":{"etag":"\"x\""},"#,
                r#""multiValueHeaders":{},"isBase64Encoded":false,"cookies":[]}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!((a.status, a.body.len()), (304, 0));
        let a =
            from_function(br#"{"statusCode":200,"headers":{},"body":"AJ+Slg==","isBase64Encoded":true,"cookies":[]}"#)
                .unwrap();
        assert_eq!(&a.body[..], &[0, 159, 146, 150]);
    }

    #[test]
    fn other_json_is_a_200_with_that_json() {
        let a = from_function(br#"{"hello":"world"}"#).unwrap();
        assert_eq!((a.status, a.header("content-type")), (200, Some("application/json")));
        assert_eq!(&a.body[..], br#"{"hello":"world"}"#);
        assert_eq!(from_function(b"\"text\"").unwrap().status, 200);
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(from_function(b"not json").is_err());
        assert!(from_function(br#"{"statusCode":"abc"}"#).is_err());
        assert!(from_function(br#"{"statusCode":99}"#).is_err());
        assert!(from_function(br#"{"statusCode":200,"headers":{"x":{"a":1}}}"#).is_err());
        assert!(from_function(br#"{"statusCode":200,"body":"%%%","isBase64Encoded":true}"#).is_err());
        assert!(from_function(br#"{"statusCode":200,"headers":{"bad header":"x"}}"#).is_err());
    }

    #[test]
    fn gateway_errors_are_json_messages() {
        let a = GatewayResponse::internal_error();
        assert_eq!(
            (a.status, &a.body[..]),
            (500, &br#"{"message":"Internal Server Error"}"#[..])
        );
        assert_eq!(&GatewayResponse::not_found().body[..], br#"{"message":"Not Found"}"#);
    }
}
