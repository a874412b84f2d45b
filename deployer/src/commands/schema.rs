//! `schema`: the JSON Schema (2020-12) of `stack.yaml`. Needs no config.

/// The schema, for printing.
pub fn run() -> &'static serde_json::Value {
    crate::config::json_schema()
}
