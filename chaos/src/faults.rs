//! The seeded fault policy of the proxy: each store call gets one fault kind with its own rate,
//! and every choice is counted under its kind.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::{Fault, Policy};

/// The fault kinds, each with its share of the total fault rate.
pub const KINDS: [(&str, f64); 7] = [
    ("latency", 0.30),
    ("reset_before_forward", 0.14),
    ("response_dropped", 0.16),
    ("internal_server_error_500", 0.14),
    ("throttling_400", 0.10),
    ("throughput_exceeded_400", 0.06),
    ("black_hole", 0.10),
];

/// What the policy chose so far, by kind (`pass` for none), plus the kills the runner counts.
#[derive(Debug, Clone, Default)]
pub struct Counts(Arc<Mutex<BTreeMap<&'static str, usize>>>);

impl Counts {
    pub fn add(&self, kind: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(kind)
            .or_default() += 1;
    }

    pub fn get(&self, kind: &str) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(kind)
            .copied()
            .unwrap_or(0)
    }
}

/// A policy faulting `rate` of all store calls, drawn from `seed`, counting into `counts`.
pub fn policy(seed: u64, rate: f64, counts: Counts) -> Policy {
    let rng = Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed_fa17));
    Arc::new(move |_operation: &str| {
        let mut rng = rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut draw = rng.f64();
        if draw >= rate {
            counts.add("pass");
            return Fault::Pass;
        }
        draw /= rate;
        let mut kind = KINDS[KINDS.len() - 1].0;
        for (name, share) in KINDS {
            if draw < share {
                kind = name;
                break;
            }
            draw -= share;
        }
        counts.add(kind);
        match kind {
            "latency" => Fault::Latency(Duration::from_millis(rng.u64(20..400))),
            "reset_before_forward" => Fault::ResetBeforeForward,
            "response_dropped" => Fault::DropResponse,
            "internal_server_error_500" => Fault::internal_server_error(),
            "throttling_400" => Fault::throttling(),
            "throughput_exceeded_400" => Fault::provisioned_throughput_exceeded(),
            _ => Fault::BlackHole,
        }
    })
}
