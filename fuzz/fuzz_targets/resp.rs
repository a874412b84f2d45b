//! The RESP reader on any bytes (what a misbehaving server or a man in the middle sends): a reply
//! or an error within the limits, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oncely::redis_client::{ReplyLimits, read_reply};

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let limits = ReplyLimits {
        max_depth: 4,
        max_line: 64,
        max_reply: 4096,
    };
    let _ = runtime.block_on(read_reply(&mut tokio::io::BufReader::with_capacity(8, data), &limits));
});
