//! The deployer's integration tests, one binary (one link, one set of emulators): each module
//! is a file of tests, `support` and `local_support` their shared helpers.

mod local_support;
mod support;

mod any_workspace;
mod auth_deploy;
mod deploy;
mod domain;
mod iam_retry;
mod interrupt;
mod limits;
mod local;
mod local_auth;
mod local_metrics;
mod local_queues;
mod local_redis;
mod logs;
mod noop_up;
mod package;
mod production_settings;
mod properties;
mod queues;
mod stages;
mod tags;
mod versions;
