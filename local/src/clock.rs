//! The local stack's one clock: the wall time as API Gateway, Lambda and token checks read it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch (token times).
pub fn now_s() -> u64 {
    now_ms() / 1000
}
