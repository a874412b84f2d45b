//! Where a cached replay's time goes: each step of `POST /orders` answered from the local cache,
//! timed alone on the request the bench sends (release build, many iterations, the median of 9
//! batches), next to the whole request through `OrdersApi::handle` with the cache warm.

use std::time::Instant;

use lambda_http::Request;
use oncely::Caller;
use oncely::cache::RecordCache;
use oncely::record::{IdempotencyRecord, Status, StoredResponse};

use crate::workload::{BODY, event};

/// Iterations per batch and batches per step.
const ITERATIONS: u32 = 20_000;
const BATCHES: usize = 9;

/// Which requests take a step: a retry with the very bytes of the cached request, or a body
/// spelled another way.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Both.
    Always,
    /// The same-bytes check: the same bytes replay on it; another spelling misses it, then goes on.
    SameBytesCheck,
    /// Only another spelling (the same bytes replayed before it).
    OtherSpelling,
}

/// One step's median time per call, in nanoseconds, and which requests take it.
pub struct Step {
    pub name: &'static str,
    pub ns: f64,
    pub taken: Taken,
}

/// The median over [`BATCHES`] of the time per call of `f`.
pub fn time(mut f: impl FnMut()) -> f64 {
    let mut batches: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..ITERATIONS {
                f();
            }
            started.elapsed().as_nanos() as f64 / f64::from(ITERATIONS)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[BATCHES / 2]
}

fn request() -> Request {
    lambda_http::request::from_str(&event("replay-0", 0)).expect("the bench's event parses")
}

/// The steps of a cached replay, each alone.
pub fn steps(function_name: &str) -> Vec<Step> {
    let request = request();
    let body = request.body().as_ref().to_vec();
    let key = oncely::key::key_from_headers(request.headers(), "idempotency-key").expect("a key");
    let caller = Caller::from_request(&request).expect("an anonymous caller");
    let hash = oncely::key::caller_key_hash(function_name, "POST", "/orders", &key, &caller);
    let fingerprint = oncely::fingerprint::checked_fingerprint(&body).expect("exact JSON");
    let stored = StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), b"application/json".to_vec()),
            (
                "location".into(),
                b"/orders/0b6b6a4e-5b1d-4a39-9a2e-0d0e4b8f0c11".to_vec(),
            ),
        ],
        body: format!(r#"{{"id":"0b6b6a4e-5b1d-4a39-9a2e-0d0e4b8f0c11",{}"#, &BODY[1..]).into_bytes(),
    };
    let cache = RecordCache::new(oncely::config::DEFAULT_CACHE_ITEMS, 1 << 20);
    cache.put(IdempotencyRecord {
        key_hash: hash.clone(),
        status: Status::Completed,
        expiration_s: u64::MAX / 2000,
        in_progress_expiration_ms: 0,
        fingerprint: fingerprint.clone(),
        claim: "claim".into(),
        response: Some(stored.clone()),
    });
    cache.remember_sent(&hash, &body);
    let now = oncely::now_ms();
    vec![
        Step {
            name: "the caller (JWT claims, none here)",
            taken: Taken::Always,
            ns: time(|| {
                std::hint::black_box(Caller::from_request(std::hint::black_box(&request)).ok());
            }),
        },
        Step {
            name: "the key (Idempotency-Key header)",
            taken: Taken::Always,
            ns: time(|| {
                std::hint::black_box(oncely::key::key_from_headers(request.headers(), "idempotency-key").ok());
            }),
        },
        Step {
            name: "the body's RFC 8785 fingerprint",
            taken: Taken::OtherSpelling,
            ns: time(|| {
                std::hint::black_box(oncely::fingerprint::checked_fingerprint(std::hint::black_box(&body)).ok());
            }),
        },
        Step {
            name: "the orders app's validation of the body",
            taken: Taken::OtherSpelling,
            ns: time(|| {
                std::hint::black_box(orders::orders::parse_new_order(std::hint::black_box(&body)).ok());
            }),
        },
        Step {
            name: "the record id (SHA-256 of function, route, caller, key)",
            taken: Taken::Always,
            ns: time(|| {
                std::hint::black_box(oncely::key::caller_key_hash(
                    function_name,
                    "POST",
                    "/orders",
                    std::hint::black_box(&key),
                    &caller,
                ));
            }),
        },
        Step {
            name: "the same bytes as the remembered body (cache lookup, byte comparison)",
            taken: Taken::SameBytesCheck,
            ns: time(|| {
                std::hint::black_box(cache.replay_if_sent(std::hint::black_box(&hash), &body, now));
            }),
        },
        Step {
            name: "the cache lookup by record id (another spelling)",
            taken: Taken::OtherSpelling,
            ns: time(|| {
                std::hint::black_box(cache.get(std::hint::black_box(&hash), now));
            }),
        },
        Step {
            name: "the replayed response, rebuilt",
            taken: Taken::Always,
            ns: time(|| {
                std::hint::black_box(oncely::http::replay(std::hint::black_box(&stored)));
            }),
        },
    ]
}

/// Prints the steps and, when measured, the whole request with the cache warm.
pub fn print(function_name: &str, whole_ns: Option<f64>) {
    let steps = steps(function_name);
    println!("| step of a cached replay | ns per call | a retry with the same bytes | another spelling |");
    println!("|---|---:|:---:|:---:|");
    for s in &steps {
        let (same, other) = match s.taken {
            Taken::Always => ("yes", "yes"),
            Taken::SameBytesCheck => ("yes", "yes (a miss)"),
            Taken::OtherSpelling => ("—", "yes"),
        };
        println!("| {} | {:.0} | {same} | {other} |", s.name, s.ns);
    }
    let total = |f: &dyn Fn(&Step) -> bool| steps.iter().filter(|s| f(s)).map(|s| s.ns).sum::<f64>();
    println!(
        "| the steps together | | {:.0} | {:.0} |",
        total(&|s| s.taken != Taken::OtherSpelling),
        total(&|_| true)
    );
    if let Some(whole) = whole_ns {
        println!("| the whole request (`OrdersApi::handle`, cache warm, the same bytes) | {whole:.0} | | |");
    }
}
