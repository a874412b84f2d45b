//! One module per cloud resource, each with the same small surface: `read` the live state,
//! `diff` it against the desired state (pure), `apply` only what differs, `destroy` (absent is
//! success, foreign is left alone).

pub mod function;
pub mod http_api;
pub mod log_group;
pub mod role;
pub mod table;
