//! `up --local`'s metrics: the CloudWatch Embedded Metric Format lines the function prints on
//! stdout, read back from the environments' output and counted the way CloudWatch would sum them
//! (per route and in total), served as JSON at `GET /_oncely/metrics` and printed on Ctrl-C.
//!
//! Any EMF metric is counted by name: `Count` metrics are summed, other units (the function's
//! `HandlerLatency` in milliseconds) are kept as count / sum / max. A line that starts like EMF
//! (`{"_aws"`) but does not follow the format is counted as invalid, not guessed at.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

/// The local path of the metrics (answered by the gateway, never routed to the function).
pub const METRICS_PATH: &str = "/_oncely/metrics";

/// Why a line that looked like EMF is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmfError {
    /// Not JSON (the parser's error).
    #[error("it is not JSON: {0}")]
    NotJson(String),
    /// No `_aws.CloudWatchMetrics` array.
    #[error("it has no `_aws.CloudWatchMetrics` array")]
    NoDirectives,
    /// A metric directive without a `Namespace` string.
    #[error("a metric directive has no `Namespace` string")]
    NoNamespace,
    /// A metric definition without a `Name` string.
    #[error("a metric definition has no `Name` string")]
    NoMetricName,
    /// A metric (named) without a numeric top-level value.
    #[error("metric `{0}` has no numeric top-level value")]
    NoValue(String),
    /// A dimension (named) without a string top-level value.
    #[error("dimension `{0}` has no string top-level value")]
    NoDimension(String),
    /// `_aws.Timestamp` that is not a number of epoch milliseconds.
    #[error("`_aws.Timestamp` is not a number of epoch milliseconds")]
    NoTimestamp,
}

/// One metric's values on one EMF line.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfMetric {
    /// The directive's namespace.
    pub namespace: String,
    /// The metric's name.
    pub name: String,
    /// The metric's unit (`Count`, `Milliseconds`, ...).
    pub unit: String,
    /// Its value on this line.
    pub value: f64,
}

/// A parsed EMF line: its metrics and its `Route` dimension (when it has one).
#[derive(Debug, Clone, PartialEq)]
pub struct EmfLine {
    /// The `Route` dimension, when the line has one.
    pub route: Option<String>,
    /// The line's metrics.
    pub metrics: Vec<EmfMetric>,
}

/// Parses one line as EMF (specification: "Embedded metric format specification", CloudWatch
/// user guide): `_aws.Timestamp`, `_aws.CloudWatchMetrics[{Namespace, Dimensions, Metrics}]`,
/// with each dimension and metric a top-level member.
pub fn parse_emf(line: &str) -> Result<EmfLine, EmfError> {
    let v: Value = serde_json::from_str(line).map_err(|e| EmfError::NotJson(e.to_string()))?;
    let aws = &v["_aws"];
    if !aws["Timestamp"].is_u64() {
        return Err(EmfError::NoTimestamp);
    }
    let directives = aws["CloudWatchMetrics"].as_array().ok_or(EmfError::NoDirectives)?;
    let mut metrics = Vec::new();
    for d in directives {
        let namespace = d["Namespace"].as_str().ok_or(EmfError::NoNamespace)?;
        for dim in d["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s.as_array())
            .flatten()
        {
            let name = dim.as_str().unwrap_or_default();
            if !v[name].is_string() {
                return Err(EmfError::NoDimension(name.to_string()));
            }
        }
        for m in d["Metrics"].as_array().ok_or(EmfError::NoDirectives)? {
            let name = m["Name"].as_str().ok_or(EmfError::NoMetricName)?;
            let value = v[name].as_f64().ok_or_else(|| EmfError::NoValue(name.to_string()))?;
            metrics.push(EmfMetric {
                namespace: namespace.to_string(),
                name: name.to_string(),
                unit: m["Unit"].as_str().unwrap_or("None").to_string(),
                value,
            });
        }
    }
    Ok(EmfLine {
        route: v["Route"].as_str().map(str::to_string),
        metrics,
    })
}

/// Whether an output line is meant as EMF.
pub fn looks_like_emf(line: &str) -> bool {
    line.trim_start().starts_with("{\"_aws\"")
}

/// A non-count metric's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Values seen.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The largest.
    pub max: f64,
    /// Their unit.
    pub unit: String,
}

/// Sums of one route (or of all).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// EMF lines counted.
    pub requests: u64,
    /// `Count` metrics, summed.
    pub counts: BTreeMap<String, u64>,
    /// Other metrics (e.g. `HandlerLatency`).
    pub stats: BTreeMap<String, Stats>,
}

impl Counts {
    fn add(&mut self, line: &EmfLine) {
        self.requests += 1;
        for m in &line.metrics {
            if m.unit == "Count" {
                *self.counts.entry(m.name.clone()).or_default() += m.value.max(0.0) as u64;
            } else {
                let s = self.stats.entry(m.name.clone()).or_default();
                s.count += 1;
                s.sum += m.value;
                s.max = s.max.max(m.value);
                s.unit.clone_from(&m.unit);
            }
        }
    }
}

/// Everything counted so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Over every route.
    pub total: Counts,
    /// Per route.
    pub routes: BTreeMap<String, Counts>,
    /// Lines that started like EMF but did not parse as EMF.
    pub invalid_lines: u64,
}

/// The counters of one local stack (shared by the environments and the gateway).
#[derive(Debug, Default)]
pub struct LocalMetrics {
    state: Mutex<Snapshot>,
}

impl LocalMetrics {
    /// Counts `line` if it is EMF; false for any other line.
    pub fn observe(&self, line: &str) -> bool {
        if !looks_like_emf(line) {
            return false;
        }
        let parsed = parse_emf(line);
        let Ok(mut s) = self.state.lock() else { return true };
        match parsed {
            Ok(emf) => {
                s.total.add(&emf);
                let route = emf.route.clone().unwrap_or_else(|| "(none)".into());
                s.routes.entry(route).or_default().add(&emf);
            }
            Err(_) => s.invalid_lines += 1,
        }
        true
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> Snapshot {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The counts as JSON (`GET /_oncely/metrics`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.snapshot()).unwrap_or_else(|_| "{}".into())
    }

    /// The Ctrl-C summary: one line per route and a total.
    pub fn summary(&self) -> String {
        let s = self.snapshot();
        let mut out = format!("Metrics ({} requests with EMF lines", s.total.requests);
        if s.invalid_lines > 0 {
            out.push_str(&format!(", {} invalid EMF lines", s.invalid_lines));
        }
        out.push_str("):");
        for (route, counts) in s.routes.iter().chain([(&"total".to_string(), &s.total)]) {
            out.push_str(&format!("\n  {route}: {}", describe(counts)));
        }
        out
    }
}

fn describe(c: &Counts) -> String {
    let mut parts: Vec<String> = c.counts.iter().map(|(name, n)| format!("{name} {n}")).collect();
    for (name, s) in &c.stats {
        if s.count > 0 {
            parts.push(format!(
                "{name} avg {:.1} max {:.1} {}",
                s.sum / s.count as f64,
                s.max,
                s.unit.to_lowercase()
            ));
        }
    }
    if parts.is_empty() {
        "no metrics".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(route: &str, hit: &str, ms: f64) -> String {
        format!(
            concat!(
                r#"{{"_aws":{{"Timestamp":1,"CloudWatchMetrics":[{{"Namespace":"Oncely","#,
                r#""Dimensions":[["FunctionName","Route"],["FunctionName"]],"Metrics":[{{"Name":"Executed","#,
                r#""Unit":"Count"}},{{"Name":"Replayed","Unit":"Count"}},{{"Name":"HandlerLatency","#,
                r#""Unit":"Milliseconds"}}]}}]}},"FunctionName":"f","Route":"{route}","Executed":{},"Replayed":{},"#,
                r#""HandlerLatency":{ms}}}"#,
            ),
            u8::from(hit == "Executed"),
            u8::from(hit == "Replayed"),
            route = route,
            ms = ms,
        )
    }

    #[test]
    fn counts_per_route_and_in_total() {
        let m = LocalMetrics::default();
        assert!(m.observe(&line("POST /orders", "Executed", 10.0)));
        assert!(m.observe(&line("POST /orders", "Replayed", 30.0)));
        assert!(m.observe(&line("GET /orders/{id}", "", 5.0)));
        assert!(!m.observe("{\"level\":\"INFO\"}"));
        assert!(m.observe("{\"_aws\": nope"));
        let s = m.snapshot();
        assert_eq!(s.total.requests, 3);
        assert_eq!(s.total.counts["Executed"], 1);
        assert_eq!(s.total.counts["Replayed"], 1);
        assert_eq!(s.routes["POST /orders"].counts["Replayed"], 1);
        assert_eq!(s.routes["GET /orders/{id}"].counts["Executed"], 0);
        let latency = &s.total.stats["HandlerLatency"];
        assert_eq!((latency.count, latency.sum, latency.max), (3, 45.0, 30.0));
        assert_eq!(s.invalid_lines, 1);
        let summary = m.summary();
        assert!(
            summary.contains("POST /orders: Executed 1, Replayed 1, HandlerLatency avg 20.0 max 30.0 milliseconds")
        );
        assert!(summary.contains("invalid EMF lines"));
        let json: Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(json["total"]["counts"]["Executed"], 1);
    }

    #[test]
    fn rejects_what_is_not_emf() {
        assert_eq!(parse_emf(r#"{"_aws":{}}"#), Err(EmfError::NoTimestamp));
        assert_eq!(parse_emf(r#"{"_aws":{"Timestamp":1}}"#), Err(EmfError::NoDirectives));
        let no_value = concat!(
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"#,
            r#""Metrics":[{"Name":"X"}]}]}}"#,
        );
        assert_eq!(parse_emf(no_value), Err(EmfError::NoValue("X".into())));
        let no_dim =
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[]}]}}"#;
        assert_eq!(parse_emf(no_dim), Err(EmfError::NoDimension("D".into())));
    }
}
