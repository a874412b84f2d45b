//! The JCS parser and writer on any bytes: no panic, and a canonical text is its own canonical form.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oncely::{fingerprint, jcs};

fuzz_target!(|data: &[u8]| {
    if let Ok(canonical) = jcs::canonicalize(data) {
        assert_eq!(jcs::canonicalize(canonical.as_bytes()).as_ref(), Ok(&canonical));
    }
    let _ = jcs::canonicalize_nearest(data);
    let _ = fingerprint::checked_fingerprint(data);
});
