//! Query strings of the payload 2.0 event on any text.
#![no_main]
use oncely_local::event::query_parameters;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = query_parameters(&String::from_utf8_lossy(data));
});
