//! CloudWatch Embedded Metric Format (EMF): one JSON line per request on stdout, which Lambda
//! sends to CloudWatch Logs and CloudWatch turns into metrics (no API call from the function).
//!
//! Namespace `Oncely`, dimension sets `[FunctionName, Route]` and `[FunctionName]`. Each line
//! carries every outcome count (`Executed`, `Replayed`, `ReplayedFromCache`, `Conflict`,
//! `Mismatch`, `Failed`, `Rejected`; Unit Count): 1 for the request's [`Outcome`], 0 for the
//! others, all 0 for a request with no idempotency outcome (a GET, a 404, a 405); and
//! `HandlerLatency` (Unit Milliseconds). How the library's outcomes map:
//!
//! | outcome | answers | metric |
//! |---|---|---|
//! | `Executed` | the handler ran, its result stored (201) | `Executed` |
//! | `Replayed { cached: false }` | a stored response replayed after reading DynamoDB | `Replayed` |
//! | `Replayed { cached: true }` | replayed from the local cache (no DynamoDB call) | `ReplayedFromCache` |
//! | `Conflict` | 409 in progress, 409 claim lost, store busy | `Conflict` |
//! | `Mismatch` | 422 key reused with another payload | `Mismatch` |
//! | `Failed` | 503 store failure, 500 handler error/panic, handler 5xx, 409 write conflict | `Failed` |
//! | `Rejected` | 400 bad/missing key, inexact JSON, invalid body; 401 caller | `Rejected` |
//!
//! A replay counts once: a cached replay is `ReplayedFromCache`, not also `Replayed`.

use crate::engine::Outcome;
use crate::record::now_ms;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Oncely";
/// The outcome metrics, in line order (Unit Count).
pub const OUTCOME_METRICS: [&str; 7] = [
    "Executed",
    "Replayed",
    "ReplayedFromCache",
    "Conflict",
    "Mismatch",
    "Failed",
    "Rejected",
];
/// The handler latency metric (Unit Milliseconds).
pub const LATENCY_METRIC: &str = "HandlerLatency";
/// The `Route` of a request that did not come through an API Gateway route.
pub const NO_ROUTE: &str = "(none)";

/// The fixed head of every line's `_aws` metadata after the timestamp: namespace, dimension sets
/// and metric definitions (a constant, so a line costs one small string).
const DIRECTIVE: &str = concat!(
    r#","CloudWatchMetrics":[{"Namespace":"Oncely","Dimensions":[["FunctionName","Route"],["FunctionName"]],"#,
    r#""Metrics":[{"Name":"Executed","Unit":"Count"},{"Name":"Replayed","Unit":"Count"},"#,
    r#"{"Name":"ReplayedFromCache","Unit":"Count"},{"Name":"Conflict","Unit":"Count"},"#,
    r#"{"Name":"Mismatch","Unit":"Count"},{"Name":"Failed","Unit":"Count"},{"Name":"Rejected","Unit":"Count"},"#,
    r#"{"Name":"HandlerLatency","Unit":"Milliseconds"}]}]}"#
);

/// The metric an outcome counts in (an index into [`OUTCOME_METRICS`]).
pub fn metric_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Executed => 0,
        Outcome::Replayed { cached: false } => 1,
        Outcome::Replayed { cached: true } => 2,
        Outcome::Conflict => 3,
        Outcome::Mismatch => 4,
        Outcome::Failed => 5,
        Outcome::Rejected => 6,
    }
}

/// One request's metrics.
#[derive(Debug, Clone, Copy)]
pub struct RequestMetrics<'a> {
    /// Epoch milliseconds (`_aws.Timestamp`).
    pub timestamp_ms: u64,
    /// The `FunctionName` dimension.
    pub function_name: &'a str,
    /// The `Route` dimension (the route key, or [`NO_ROUTE`]).
    pub route: &'a str,
    /// `None`: no idempotency outcome (every count 0).
    pub outcome: Option<Outcome>,
    /// `HandlerLatency`, in milliseconds.
    pub latency_ms: f64,
}

impl RequestMetrics<'_> {
    /// The EMF line (without the newline). Also carries `Outcome` (the log name, e.g.
    /// `executed`, or absent) as a plain property for CloudWatch Logs Insights.
    pub fn emf_line(&self) -> String {
        let mut line = String::with_capacity(DIRECTIVE.len() + 256);
        let _ = write!(line, r#"{{"_aws":{{"Timestamp":{}"#, self.timestamp_ms);
        line.push_str(DIRECTIVE);
        line.push_str(r#","FunctionName":"#);
        push_json_string(&mut line, self.function_name);
        line.push_str(r#","Route":"#);
        push_json_string(&mut line, self.route);
        let hit = self.outcome.map(metric_index);
        for (i, name) in OUTCOME_METRICS.iter().enumerate() {
            let _ = write!(line, r#","{name}":{}"#, u8::from(hit == Some(i)));
        }
        let latency = if self.latency_ms.is_finite() {
            self.latency_ms.max(0.0)
        } else {
            0.0
        };
        let _ = write!(line, r#","{LATENCY_METRIC}":{latency:.3}"#);
        if let Some(outcome) = self.outcome {
            let _ = write!(line, r#","Outcome":"{}""#, outcome_name(outcome));
        }
        line.push('}');
        line
    }
}

/// The `Outcome` property: the log name, with `replayed_from_cache` for a cached replay.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Replayed { cached: true } => "replayed_from_cache",
        other => other.as_str(),
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The route key API Gateway matched (`POST /orders`), or [`NO_ROUTE`].
pub fn route_key(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.clone().filter(|k| !k.is_empty()),
        _ => None,
    }
    .unwrap_or_else(|| NO_ROUTE.to_string())
}

/// The function's name (`AWS_LAMBDA_FUNCTION_NAME`, read once; `oncely` outside Lambda).
pub fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "oncely".to_string()))
}

/// Runs `handle` on `request`, then writes its EMF line to stdout in one write.
pub async fn measured<F, Fut>(request: Request, handle: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = (Response<Body>, Option<Outcome>)>,
{
    let route = route_key(&request);
    let started = Instant::now();
    let (response, outcome) = handle(request).await;
    let metrics = RequestMetrics {
        timestamp_ms: now_ms(),
        function_name: function_name(),
        route: &route,
        outcome,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    let mut line = metrics.emf_line();
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn line(outcome: Option<Outcome>) -> Value {
        let m = RequestMetrics {
            timestamp_ms: 1_700_000_000_123,
            function_name: "shop-prod",
            route: "POST /orders",
            outcome,
            latency_ms: 12.5,
        };
        let text = m.emf_line();
        assert!(!text.contains('\n'));
        serde_json::from_str(&text).unwrap()
    }

    /// Checks the EMF specification's rules on a parsed line.
    fn assert_valid_emf(v: &Value) {
        let aws = &v["_aws"];
        assert!(aws["Timestamp"].is_u64());
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let d = &directives[0];
        assert_eq!(d["Namespace"], NAMESPACE);
        let sets = d["Dimensions"].as_array().unwrap();
        assert_eq!(
            sets,
            &vec![
                serde_json::json!(["FunctionName", "Route"]),
                serde_json::json!(["FunctionName"])
            ]
        );
        for set in sets {
            for dim in set.as_array().unwrap() {
                assert!(
                    v[dim.as_str().unwrap()].is_string(),
                    "dimension {dim} is a top-level string"
                );
            }
        }
        let metrics = d["Metrics"].as_array().unwrap();
        let names: Vec<&str> = metrics.iter().map(|m| m["Name"].as_str().unwrap()).collect();
        let mut expected: Vec<&str> = OUTCOME_METRICS.to_vec();
        expected.push(LATENCY_METRIC);
        assert_eq!(names, expected);
        for m in metrics {
            let unit = m["Unit"].as_str().unwrap();
            let want = if m["Name"] == LATENCY_METRIC {
                "Milliseconds"
            } else {
                "Count"
            };
            assert_eq!(unit, want);
            assert!(
                v[m["Name"].as_str().unwrap()].is_number(),
                "metric {} is a top-level number",
                m["Name"]
            );
        }
    }

    #[test]
    fn every_outcome_is_one_valid_emf_line_counting_only_itself() {
        let outcomes = [
            (Outcome::Executed, "Executed", "executed"),
            (Outcome::Replayed { cached: false }, "Replayed", "replayed"),
            (
                Outcome::Replayed { cached: true },
                "ReplayedFromCache",
                "replayed_from_cache",
            ),
            (Outcome::Conflict, "Conflict", "conflict"),
            (Outcome::Mismatch, "Mismatch", "mismatch"),
            (Outcome::Failed, "Failed", "failed"),
            (Outcome::Rejected, "Rejected", "rejected"),
        ];
        for (outcome, metric, name) in outcomes {
            let v = line(Some(outcome));
            assert_valid_emf(&v);
            assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_123u64);
            assert_eq!(v["FunctionName"], "shop-prod");
            assert_eq!(v["Route"], "POST /orders");
            assert_eq!(v["HandlerLatency"], 12.5);
            assert_eq!(v["Outcome"], name);
            for m in OUTCOME_METRICS {
                assert_eq!(v[m], u64::from(m == metric), "{metric}: {m}");
            }
        }
    }

    #[test]
    fn no_outcome_counts_nothing_but_latency() {
        let v = line(None);
        assert_valid_emf(&v);
        for m in OUTCOME_METRICS {
            assert_eq!(v[m], 0);
        }
        assert!(v.get("Outcome").is_none());
        assert_eq!(v["HandlerLatency"], 12.5);
    }

    #[test]
    fn strings_are_escaped() {
        let m = RequestMetrics {
            timestamp_ms: 1,
            function_name: "a\"b\\c",
            route: "GET /x\n\u{1}",
            outcome: None,
            latency_ms: f64::NAN,
        };
        let v: Value = serde_json::from_str(&m.emf_line()).unwrap();
        assert_eq!(v["FunctionName"], "a\"b\\c");
        assert_eq!(v["Route"], "GET /x\n\u{1}");
        assert_eq!(v["HandlerLatency"], 0.0);
    }

    #[test]
    fn route_key_comes_from_the_http_api_event() {
        let json = serde_json::json!({
            "version": "2.0", "routeKey": "POST /orders", "rawPath": "/orders", "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "a.example",
                "http": {"method": "POST", "path": "/orders", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4",
                    "userAgent": "t"},
                "requestId": "r", "routeKey": "POST /orders", "stage": "$default",
                "time": "10/Mar/2024:16:40:04 +0000", "timeEpoch": 0
            },
            "isBase64Encoded": false
        });
        let request = lambda_http::request::from_str(&json.to_string()).unwrap();
        assert_eq!(route_key(&request), "POST /orders");
        assert_eq!(route_key(&Request::default()), NO_ROUTE);
    }
}
