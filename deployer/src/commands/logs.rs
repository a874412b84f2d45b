//! `logs [--since 10m] [--follow] [--filter TEXT] [--request-id ID]`: the function's CloudWatch
//! Logs (`/aws/lambda/{app}-{stage}`) through `FilterLogEvents`, oldest first (newest last).
//!
//! Text output renders the handler's JSON lines (`init_logging`'s tracing JSON) as one readable
//! line: time, level, request id, key hash, outcome, status, message, other fields; EMF metric
//! lines as their route, outcome and latency; anything else (START/END/REPORT) as it is.
//! `--output json` prints each event as one JSON object per line with the message untouched.
//! `--follow` polls with a back-off (1 s doubling to 10 s while nothing new comes) until Ctrl-C.
//!
//! Filters: `--filter` and `--request-id` are exact substrings. The more selective one goes to
//! CloudWatch as a quoted-phrase filter pattern (less to transfer); both are also checked here,
//! so the result is exact whatever the pattern matched.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use serde_json::Value;

use crate::cli::{LogsArgs, Output};
use crate::config::Config;
use crate::context::Context;
use crate::error::is_not_found;
use crate::progress::Progress;
use crate::stack::Stack;

/// The time bound of one `FilterLogEvents` call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Pages read per poll at most (10 000 events each): a bound on one window.
const MAX_PAGES: usize = 50;
/// `--follow`'s polling interval while events come, and its ceiling while none do.
const POLL_MIN: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(10);

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp_ms: i64,
    pub stream: String,
    pub id: String,
    pub message: String,
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub log_group: String,
    pub start_ms: i64,
    pub filter: Option<String>,
    pub request_id: Option<String>,
}

impl Query {
    /// The CloudWatch filter pattern: the request id (the more selective), else the text, as a
    /// quoted phrase; none when the term has a `"` (it is then only matched here).
    pub fn pattern(&self) -> Option<String> {
        let term = self.request_id.as_deref().or(self.filter.as_deref())?;
        (!term.contains('"') && !term.is_empty()).then(|| format!("\"{term}\""))
    }

    /// Whether an event passes both filters.
    pub fn keeps(&self, message: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| message.contains(f))
            && self.request_id.as_deref().is_none_or(|id| message.contains(id))
    }
}

/// Runs `logs`.
pub async fn run(config: &Config, args: &LogsArgs, output: Output, progress: &Progress) -> anyhow::Result<()> {
    let since_s = super::token::parse_duration("--since", &args.since).map_err(anyhow::Error::msg)?;
    let ctx = Context::connect(config.region.as_deref(), progress.clone())
        .await
        .context("connecting to AWS")?;
    let stack = Stack::new(config, &ctx);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut query = Query {
        log_group: stack.log_group_name(),
        start_ms: now - since_s as i64 * 1000,
        filter: args.filter.clone(),
        request_id: args.request_id.clone(),
    };
    let not_deployed = format!(
        "log group {} does not exist in {}: stack {} is not deployed (run `cargo run -- up`)",
        query.log_group, stack.region, stack.name
    );
    let events = read(&ctx, &query)
        .await?
        .ok_or_else(|| anyhow::anyhow!(not_deployed.clone()))?;
    print_events(&events, output)?;
    if !args.follow {
        if events.is_empty() && output == Output::Text {
            progress.info(format!(
                "no log events in {} in the last {}",
                query.log_group, args.since
            ));
        }
        return Ok(());
    }
    // One listener for the whole loop: a Ctrl-C during a poll is not lost.
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).context("listening for Ctrl-C")?;
    progress.info(format!("following {} (Ctrl-C stops)", query.log_group));
    let mut seen = Seen::default();
    seen.advance(&events, &mut query);
    let mut wait = POLL_MIN;
    loop {
        let polled = tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            polled = async {
                tokio::time::sleep(wait).await;
                read(&ctx, &query).await
            } => polled?,
        };
        let Some(events) = polled else {
            bail!(not_deployed);
        };
        let fresh = seen.fresh(events);
        print_events(&fresh, output)?;
        wait = if fresh.is_empty() {
            (wait * 2).min(POLL_MAX)
        } else {
            POLL_MIN
        };
        seen.advance(&fresh, &mut query);
    }
}

/// The events already printed at the newest timestamp (the next poll starts there, inclusive).
#[derive(Debug, Default)]
struct Seen {
    at_ms: i64,
    ids: HashSet<String>,
}

impl Seen {
    fn fresh(&self, events: Vec<Event>) -> Vec<Event> {
        events
            .into_iter()
            .filter(|e| e.timestamp_ms > self.at_ms || !self.ids.contains(&e.id))
            .collect()
    }

    fn advance(&mut self, printed: &[Event], query: &mut Query) {
        for e in printed {
            if e.timestamp_ms > self.at_ms {
                self.at_ms = e.timestamp_ms;
                self.ids.clear();
            }
            if e.timestamp_ms == self.at_ms {
                self.ids.insert(e.id.clone());
            }
        }
        query.start_ms = query.start_ms.max(self.at_ms);
    }
}

/// All events of `query`, oldest first; `None` when the log group does not exist.
pub async fn read(ctx: &Context, query: &Query) -> anyhow::Result<Option<Vec<Event>>> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let call = ctx
            .logs
            .filter_log_events()
            .log_group_name(&query.log_group)
            .start_time(query.start_ms)
            .set_filter_pattern(query.pattern())
            .set_next_token(token.take())
            .send();
        let page = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Err(_) => bail!(
                "FilterLogEvents on {} did not answer within {} s: check the network and retry",
                query.log_group,
                CALL_TIMEOUT.as_secs()
            ),
            Ok(Err(err)) if is_not_found(&err) => {
                return Ok(None);
            }
            Ok(Err(err)) => return Err(crate::error::aws("FilterLogEvents", query.log_group.clone(), err).into()),
            Ok(Ok(page)) => page,
        };
        events.extend(
            page.events()
                .iter()
                .filter_map(event)
                .filter(|e| query.keeps(&e.message)),
        );
        match page.next_token() {
            Some(next) if !page.events().is_empty() => token = Some(next.to_string()),
            _ => break,
        }
    }
    events.sort_by(|a, b| (a.timestamp_ms, &a.stream, &a.id).cmp(&(b.timestamp_ms, &b.stream, &b.id)));
    Ok(Some(events))
}

fn event(e: &FilteredLogEvent) -> Option<Event> {
    Some(Event {
        timestamp_ms: e.timestamp()?,
        stream: e.log_stream_name().unwrap_or_default().to_string(),
        id: e.event_id().unwrap_or_default().to_string(),
        message: e.message().unwrap_or_default().trim_end().to_string(),
    })
}

fn print_events(events: &[Event], output: Output) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for e in events {
        let line = match output {
            Output::Json => serde_json::json!({
                "timestamp": e.timestamp_ms,
                "time": time(e.timestamp_ms),
                "logStreamName": e.stream,
                "eventId": e.id,
                "message": e.message,
            })
            .to_string(),
            // A log line holds what callers sent (a member name in a 400's reason, say).
            Output::Text => crate::terminal::printable(&render(e)).into_owned(),
        };
        writeln!(out, "{line}").context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")
}

/// RFC 3339 UTC with milliseconds, always three digits (`…T11:03:10.720Z`, `…T11:03:10.000Z`):
/// the SDK's own format drops trailing zeros of the fraction, so lines would not line up.
fn time(ms: i64) -> String {
    let seconds = aws_smithy_types::DateTime::from_secs(ms.div_euclid(1000))
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| ms.to_string());
    match seconds.strip_suffix('Z') {
        Some(whole) => format!("{whole}.{:03}Z", ms.rem_euclid(1000)),
        None => seconds,
    }
}

/// One event as a readable line: `time LEVEL request-id key=… outcome=… status=… message k=v…`.
pub fn render(e: &Event) -> String {
    let at = time(e.timestamp_ms);
    let parsed: Option<Value> = e
        .message
        .starts_with('{')
        .then(|| serde_json::from_str(&e.message).ok())
        .flatten();
    let Some(Value::Object(v)) = parsed else {
        return format!("{at} {}", e.message);
    };
    if v.contains_key("_aws") {
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        let latency = v.get("HandlerLatency").and_then(Value::as_f64).unwrap_or(0.0);
        return format!(
            "{at} METRIC  {} outcome={} latency={latency:.1}ms",
            text("Route"),
            v.get("Outcome").and_then(Value::as_str).unwrap_or("none")
        );
    }
    let fields = v.get("fields").and_then(Value::as_object);
    let field = |k: &str| fields.and_then(|f| f.get(k)).or_else(|| v.get(k));
    let level = v.get("level").and_then(Value::as_str).unwrap_or("-");
    let request_id = field("request_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| span_request_id(&v))
        .unwrap_or("-");
    let mut line = format!("{at} {level:<5} {request_id}");
    for (label, key) in [("key", "key_hash"), ("outcome", "outcome"), ("status", "status")] {
        if let Some(value) = field(key) {
            line.push_str(&format!(" {label}={}", plain(value)));
        }
    }
    if let Some(message) = field("message") {
        line.push(' ');
        line.push_str(&plain(message));
    }
    let shown = ["message", "request_id", "key_hash", "outcome", "status"];
    for (k, value) in fields
        .into_iter()
        .flatten()
        .filter(|(k, _)| !shown.contains(&k.as_str()))
    {
        line.push_str(&format!(" {k}={}", plain(value)));
    }
    line
}

/// The Lambda runtime's span carries the request id as `requestId`.
fn span_request_id(v: &serde_json::Map<String, Value>) -> Option<&str> {
    let spans = v.get("spans").and_then(Value::as_array).into_iter().flatten();
    spans
        .chain(v.get("span"))
        .find_map(|s| s.get("requestId").and_then(Value::as_str))
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(message: &str) -> Event {
        Event {
            timestamp_ms: 1_700_000_000_123,
            stream: "s".into(),
            id: "1".into(),
            message: message.into(),
        }
    }

    #[test]
    fn times_always_have_three_digits_of_milliseconds() {
        assert_eq!(time(1_796_554_990_720), "2026-12-06T11:03:10.720Z");
        assert_eq!(time(1_796_554_990_000), "2026-12-06T11:03:10.000Z");
        assert_eq!(time(1_796_554_990_007), "2026-12-06T11:03:10.007Z");
    }

    #[test]
    fn renders_handler_lines_readably() {
        let line = render(&ev(concat!(
            r#"{"level":"INFO","fields":{"message":"idempotent request","request_id":"r-1","key_hash":"abc","#,
            r#""caller":"anonymous","outcome":"executed","cached":false,"status":201}}"#,
        )));
        assert_eq!(
            line,
            "2023-11-14T22:13:20.123Z INFO  r-1 key=abc outcome=executed status=201 idempotent request \
            caller=anonymous cached=false"
        );
        let span = render(&ev(concat!(
            r#"{"level":"ERROR","fields":{"message":"claim failed","error":"boom"},"spans":[{"requestId":"r-2","#,
            r#""name":"Lambda runtime invoke"}]}"#,
        )));
        assert_eq!(span, "2023-11-14T22:13:20.123Z ERROR r-2 claim failed error=boom");
        assert_eq!(
            render(&ev("START RequestId: r-3 Version: $LATEST")),
            "2023-11-14T22:13:20.123Z START RequestId: r-3 Version: $LATEST"
        );
        let emf = render(&ev(
            r#"{"_aws":{"Timestamp":1},"Route":"POST /orders","Outcome":"replayed","HandlerLatency":3.25}"#,
        ));
        assert_eq!(
            emf,
            "2023-11-14T22:13:20.123Z METRIC  POST /orders outcome=replayed latency=3.2ms"
        );
    }

    #[test]
    fn filters_are_exact_and_the_pattern_is_the_request_id_first() {
        let q = |filter: Option<&str>, id: Option<&str>| Query {
            log_group: "g".into(),
            start_ms: 0,
            filter: filter.map(str::to_string),
            request_id: id.map(str::to_string),
        };
        assert_eq!(q(None, None).pattern(), None);
        assert_eq!(q(Some("boom"), None).pattern().as_deref(), Some("\"boom\""));
        assert_eq!(q(Some("boom"), Some("r-1")).pattern().as_deref(), Some("\"r-1\""));
        assert_eq!(q(Some("a\"b"), None).pattern(), None);
        assert!(q(Some("boom"), Some("r-1")).keeps("r-1 went boom"));
        assert!(!q(Some("boom"), Some("r-1")).keeps("r-2 went boom"));
    }

    #[test]
    fn follow_prints_each_event_once() {
        let mut seen = Seen::default();
        let mut query = Query {
            log_group: "g".into(),
            start_ms: 5,
            filter: None,
            request_id: None,
        };
        let e = |ts: i64, id: &str| Event {
            timestamp_ms: ts,
            stream: "s".into(),
            id: id.into(),
            message: String::new(),
        };
        seen.advance(&[e(10, "a"), e(20, "b")], &mut query);
        assert_eq!(query.start_ms, 20);
        let fresh = seen.fresh(vec![e(20, "b"), e(20, "c"), e(30, "d")]);
        assert_eq!(fresh, vec![e(20, "c"), e(30, "d")]);
    }
}
