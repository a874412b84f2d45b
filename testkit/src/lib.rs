//! The workspace's test kit, shared by every test (`oncely`, `orders`, `deployer`, `emulators`) and
//! used only under `[dev-dependencies]`: a fresh DynamoDB Local table per test ([`table::Table`]),
//! API Gateway v2 requests from real events ([`api_events`]), a recorder of the SDK operations a client sends ([`Calls`]),
//! one DynamoDB Local and one `redis-server` per test binary ([`dynamodb_local`],
//! [`redis_server`]) and a fresh moto for tests that need an empty account ([`moto`]), SDK
//! clients for an emulator ([`sdk_config`], [`dynamodb_client`], [`recorded_client!`]), a
//! fault-injecting proxy in front of DynamoDB or moto ([`FaultProxy`]) with names for the AWS
//! operations it sees ([`classify_aws`], [`is_mutating`]), a TCP proxy that can be cut for real
//! ([`TcpProxy`], in front of `redis-server`), a TLS-terminating proxy with a CA of its own
//! ([`TlsProxy`], so clients talk TLS to an emulator as to AWS), and temporary directories ([`temp_dir`]).
//!
//! A crate of its own rather than a `testkit` feature of `emulators`: `emulators` is a normal
//! dependency of the deployer binary with a single dependency of its own, while the kit needs the
//! AWS SDK and `tempfile`. As a separate `publish = false` crate that only ever appears under
//! `[dev-dependencies]`, none of it can reach a release build, and no feature has to be switched
//! on in each member's manifest.

pub mod api_events;
mod aws_ops;
mod calls;
mod clients;
mod domain_targets;
mod emulator;
mod fault_proxy;
pub mod table;
mod tcp_proxy;
mod tls_proxy;

pub use aws_ops::{classify_aws, is_mutating, is_read};
pub use calls::Calls;
pub use clients::{REGION, TEST_KEY_ID, closed_endpoint, create_table, dynamodb_client, sdk_config};
pub use domain_targets::{api_gateway_domain_target, api_gateway_domain_targets};
pub use emulator::{Moto, dynamodb_local, moto, redis_server, redis_url};
pub use fault_proxy::{Classify, ErrorReply, Fault, FaultProxy, Observe, Policy, RequestView, Rewrite, Times};
pub use tcp_proxy::TcpProxy;
pub use tempfile::TempDir;
pub use tls_proxy::{Certificates, TlsProxy, self_signed};

/// A fresh directory under the system's temp dir, removed with everything in it when dropped.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("oncely-test-")
        .tempdir()
        .expect("creating a temporary directory")
}
