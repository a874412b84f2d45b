//! The Idempotency-Key header on any bytes: a key of 1..=255 printable ASCII characters or none.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oncely::key::parse_key;

fuzz_target!(|data: &[u8]| {
    if let Some(key) = parse_key(data) {
        assert!((1..=255).contains(&key.len()));
        assert!(key.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }
});
