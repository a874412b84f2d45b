//! An API Gateway HTTP API and Lambda, on this machine: the emulator `deployer up --local` runs.
//!
//! The gateway ([`gateway`]) answers HTTP on 127.0.0.1 as API Gateway does — routes, CORS,
//! throttling, its limits and its error answers, a JWT authorizer ([`auth`], [`jwt`]) with a local
//! OIDC issuer ([`issuer`]) — and turns each request into a payload format 2.0 event ([`event`]).
//! The pool ([`pool`]) runs the function's real `bootstrap` processes as execution environments
//! behind an embedded Lambda Runtime API ([`runtime_api`]), with timeouts, crashes and restarts as
//! Lambda has them. It needs nothing of the deployer but the stack's config
//! (`oncely-config`); the deployer wires it up (the store, the build, `--watch`).
//!
//! ```
//! use oncely_config::RouteKey;
//! use oncely_local::routes::Router;
//!
//! let routes: Vec<RouteKey> = vec!["GET /orders/{id}".parse().unwrap()];
//! let router = Router::new(&routes);
//! let matched = router.find("GET", "/orders/42").unwrap();
//! assert_eq!(matched.path_parameters["id"], "42");
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod clock;
pub mod cors;
pub mod event;
pub mod gateway;
pub mod hosts;
pub mod http_client;
pub mod issuer;
pub mod jwt;
pub mod limits;
pub mod metrics;
pub mod pool;
mod process;
pub mod response;
pub mod routes;
pub mod runtime_api;
pub mod session;
mod supervisor;
pub mod throttle;
