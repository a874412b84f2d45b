//! `api.throttle` as the local gateway applies it: one token bucket for the whole API, as API
//! Gateway throttles an HTTP API stage ("Throttling requests to your HTTP API", developer guide:
//! "API Gateway throttles requests to your API using the token bucket algorithm, where a token
//! counts for a request"; over the limit, clients "receive 429 Too Many Requests").
//!
//! The bucket holds at most `burst` tokens, starts full, and refills at `rate` tokens per second;
//! a request takes one token or is refused with `429 {"message":"Too Many Requests"}` before it
//! reaches the function. `burst: 0` is a bucket that can never hold a token, so every request is
//! refused (whatever the rate); `rate: 0` never refills, so `burst` requests pass in the life of
//! the stack and then none. AWS documents no special meaning for 0 on HTTP APIs; this is the
//! token bucket it documents, taken literally.

use std::sync::Mutex;
use std::time::Instant;

use super::response::GatewayResponse;
use oncely_config::ThrottleSettings;

/// API Gateway's answer to a throttled request.
pub fn too_many_requests() -> GatewayResponse {
    GatewayResponse::message(429, "Too Many Requests")
}

/// A token bucket for the whole API.
#[derive(Debug)]
pub struct Bucket {
    capacity: f64,
    rate: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket for `settings` (`burst` tokens, refilled at `rate` a second).
    pub fn new(settings: &ThrottleSettings) -> Bucket {
        Bucket::starting_at(settings, Instant::now())
    }

    fn starting_at(settings: &ThrottleSettings, now: Instant) -> Bucket {
        let capacity = f64::from(settings.burst.max(0));
        Bucket {
            capacity,
            rate: settings.rate.max(0.0),
            state: Mutex::new(State {
                tokens: capacity,
                at: now,
            }),
        }
    }

    /// Takes a token for a request arriving now; `false`: throttle it.
    pub fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&self, now: Instant) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.capacity);
        s.at = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn bucket(burst: i32, rate: f64, t0: Instant) -> Bucket {
        Bucket::starting_at(&ThrottleSettings { burst, rate }, t0)
    }

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let b = bucket(3, 2.0, t0);
        assert!((0..3).all(|_| b.try_take_at(t0)));
        assert!(!b.try_take_at(t0), "the burst is spent");
        assert!(!b.try_take_at(t0 + Duration::from_millis(400)), "0.8 of a token");
        assert!(
            b.try_take_at(t0 + Duration::from_millis(500)),
            "one token after 0.5 s at 2/s"
        );
        // Never more than the burst, however long the pause.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| b.try_take_at(later)).count(), 3);
    }

    #[test]
    fn zero_limits() {
        let t0 = Instant::now();
        let closed = bucket(0, 0.0, t0);
        assert!(!closed.try_take_at(t0));
        assert!(!closed.try_take_at(t0 + Duration::from_secs(60)));
        let no_burst = bucket(0, 100.0, t0);
        assert!(
            !no_burst.try_take_at(t0 + Duration::from_secs(1)),
            "burst 0 holds no token"
        );
        let no_rate = bucket(2, 0.0, t0);
        assert!(no_rate.try_take_at(t0) && no_rate.try_take_at(t0));
        assert!(
            !no_rate.try_take_at(t0 + Duration::from_secs(60)),
            "rate 0 never refills"
        );
    }

    #[test]
    fn the_answer_is_api_gateways() {
        let a = too_many_requests();
        assert_eq!(
            (a.status, &a.body[..]),
            (429, &br#"{"message":"Too Many Requests"}"#[..])
        );
        assert_eq!(a.header("content-type"), Some("application/json"));
    }
}
