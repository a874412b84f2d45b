//! The fingerprint of a 1 MB body, any shape: what a caller who sends a key makes the function
//! compute before its handler runs. Goal: at most 50 ms on this machine, for every shape.

use std::time::{Duration, Instant};

use oncely::fingerprint::checked_fingerprint;

const SIZE: usize = 1 << 20;
const GOAL: Duration = Duration::from_millis(50);

/// A JSON array of `item` repeated to about 1 MB.
fn array_of(item: &str) -> Vec<u8> {
    let mut body = String::with_capacity(SIZE + item.len() + 2);
    body.push('[');
    while body.len() + item.len() + 1 < SIZE {
        body.push_str(item);
        body.push(',');
    }
    body.push_str(item);
    body.push(']');
    body.into_bytes()
}

/// The shapes: numbers that are slow to write and to check (subnormals, fractions, 17 digits),
/// integers, strings with escapes, objects, and one long string.
fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    let long = format!("[\"{}\"]", "x".repeat(SIZE - 4));
    vec![
        ("subnormal numbers (`5e-324`)", array_of("5e-324")),
        ("fractions (`0.1234567890123`)", array_of("0.1234567890123")),
        (
            "17-digit numbers (`0.30000000000000004`)",
            array_of("0.30000000000000004"),
        ),
        ("integers (`1234567`)", array_of("1234567")),
        ("strings with escapes", array_of(r#""a\"b\\c\u00e9\n""#)),
        ("small objects", array_of(r#"{"b":1,"a":[true,null],"c":"x"}"#)),
        ("one long string", long.into_bytes()),
    ]
}

/// Prints the median of `runs` fingerprints of each shape next to the goal.
pub fn print(runs: usize) {
    println!("| 1 MB body | bytes | fingerprint, median of {runs} | goal |");
    println!("|---|---:|---:|---:|");
    for (shape, body) in shapes() {
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(checked_fingerprint(std::hint::black_box(&body)).ok());
                started.elapsed()
            })
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        let mark = if median <= GOAL { "" } else { " (over)" };
        println!(
            "| {shape} | {} | {:.1} ms{mark} | ≤ {} ms |",
            body.len(),
            median.as_secs_f64() * 1e3,
            GOAL.as_millis()
        );
    }
}
