//! The orders API's integration tests, one binary (one link, one DynamoDB Local): each module is a
//! file of tests, `common` their shared helpers.

mod common;

mod bootstrap;
mod callers;
mod faults;
mod imports;
mod orders_api;
mod redis_hostile;
mod redis_orders;
mod warm_up;
