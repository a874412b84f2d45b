//! JWTs, `Authorization` values and key sets on any bytes.
#![no_main]
use oncely_local::jwt::{self, Jwk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = jwt::parse(&text);
    let _ = jwt::bearer_token(&text);
    if let Ok(value) = serde_json::from_slice(data) {
        let _ = Jwk::set_from_json(&value);
    }
});
