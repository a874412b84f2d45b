//! API Gateway's mapping of the function's response payload, on any bytes.
#![no_main]
use oncely_local::response::from_function;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = from_function(data) {
        assert!((100..=599).contains(&response.status));
    }
});
