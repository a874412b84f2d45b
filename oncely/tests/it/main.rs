//! The library's integration tests, one binary (one link, one DynamoDB Local): each module is a
//! file of tests, `common` their shared helpers. `tests/logs.rs` is a binary of its own.

mod common;

mod jcs;
mod library;
mod operations;
mod properties;
mod redis_tls;
mod secrets;
mod sqs;
mod stores;
