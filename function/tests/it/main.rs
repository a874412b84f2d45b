//! The function's integration tests, one binary (one link, one DynamoDB Local): each module is a
//! file of tests, `common` their shared helpers. `tests/logs.rs` is a binary of its own.

mod common;

mod bootstrap;
mod callers;
mod faults;
mod jcs;
mod library;
mod orders_api;
mod properties;
mod redis_hostile;
mod redis_orders;
mod redis_tls;
mod stores;
