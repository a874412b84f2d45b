//! Why the gateway answered `500` to an attempt: read from `up --local`'s own log, which names each
//! failed invocation by the `apigw-requestid` the client got back.

use std::collections::HashMap;

/// What became of an invocation the gateway answered with its `500`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Its `bootstrap` died of a SIGKILL (the campaign's kills).
    Killed,
    /// It ran past the function's timeout and was stopped.
    TimedOut,
    /// Anything else: a function error, an invalid response, another exit.
    Other(String),
}

/// The cause of every failed invocation in `lines`, by `apigw-requestid`.
pub fn parse(lines: &[String]) -> HashMap<String, Cause> {
    lines
        .iter()
        .filter_map(|line| {
            let rest = line.strip_prefix("[api] ")?;
            let (_, rest) = rest.split_once("(apigw-requestid ")?;
            let (id, rest) = rest.split_once("): Lambda request ")?;
            let (_, why) = rest.split_once(" failed: ")?;
            let cause = if why == "the function timed out" {
                Cause::TimedOut
            } else if why.starts_with("Runtime exited") && why.contains("SIGKILL") {
                Cause::Killed
            } else {
                Cause::Other(why.to_string())
            };
            Some((id.to_string(), cause))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_log_lines_give_each_failure_its_cause() {
        let lines = [
            "[api] POST /orders (apigw-requestid a1): Lambda request r1 failed: Runtime exited (signal: 9 (SIGKILL))",
            "[api] POST /orders (apigw-requestid a2): Lambda request r2 failed: the function timed out",
            "[api] POST /orders (apigw-requestid a3): Lambda request r3 failed: function error unhandled: boom",
            "[api] POST /orders -> 201 (route \"POST /orders\", env 1, replayed: no, 12 ms)",
        ]
        .map(String::from);
        let causes = parse(&lines);
        assert_eq!(causes.len(), 3);
        assert_eq!(causes["a1"], Cause::Killed);
        assert_eq!(causes["a2"], Cause::TimedOut);
        assert_eq!(causes["a3"], Cause::Other("function error unhandled: boom".into()));
    }
}
