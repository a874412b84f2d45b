//! The YAML config on any text: a config or problems, never a panic.
#![no_main]
use oncely_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(problems) = Config::parse(text)
    {
        assert!(!problems.is_empty());
    }
});
