//! Idempotency records and their state machine: what an existing record means for a new request.

/// A record's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Claimed by an execution that has not finished (or died before its deadline passed).
    InProgress,
    /// Finished; the stored response is replayed.
    Completed,
}

impl Status {
    /// The stored form: `INPROGRESS` or `COMPLETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "INPROGRESS",
            Status::Completed => "COMPLETED",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "INPROGRESS" => Some(Status::InProgress),
            "COMPLETED" => Some(Status::Completed),
            _ => None,
        }
    }
}

/// A result as stored: status, headers (in order, repeated names kept) and body bytes. An HTTP
/// response is stored as it is; a plain function's result as a `200` whose body is its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status (`200` for a plain function's result).
    pub status: u16,
    /// The headers, in order, repeated names kept.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body's bytes.
    pub body: Vec<u8>,
}

/// One idempotency record (its `id` is the scoped key hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The record id: the scoped hash of the key (the key itself is never stored).
    pub key_hash: String,
    /// In progress or completed.
    pub status: Status,
    /// Epoch seconds after which the record is treated as absent (the table's TTL attribute).
    pub expiration_s: u64,
    /// Epoch milliseconds: the claiming invocation's deadline.
    pub in_progress_expiration_ms: u64,
    /// The payload fingerprint of the request that created it.
    pub fingerprint: String,
    /// A random token naming the claim: completion and release are conditioned on it.
    pub claim: String,
    /// The response (COMPLETED only).
    pub response: Option<StoredResponse>,
}

/// What an existing record means for a request with `fingerprint` at `now_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Expired, or in progress past its deadline: the request may claim it.
    Absent,
    /// Completed with the same payload: replay the stored response.
    Replay,
    /// Same key, different payload: 422.
    Mismatch,
    /// Still running: 409, retry after this many seconds.
    InProgress {
        /// Seconds until the claim's deadline (at least 1).
        retry_after_s: u64,
    },
}

/// The current time in epoch milliseconds: the clock every record's times are read against.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The largest record a store keeps: DynamoDB's item limit (400 KB), applied to every store so
/// that a response is stored or refused the same way wherever records live.
pub const MAX_RECORD_BYTES: usize = 400 * 1024;

impl IdempotencyRecord {
    /// The record's size as a store counts it: its values and their attribute names (an upper
    /// bound; compared with [`MAX_RECORD_BYTES`] before a completion is written).
    pub fn stored_bytes(&self) -> usize {
        // Attribute names, status, numbers and the headers' encoding, rounded up.
        const FIXED: usize = 256;
        let response = self.response.as_ref().map_or(0, |r| {
            r.body.len() + r.headers.iter().map(|(n, v)| n.len() + v.len() + 8).sum::<usize>()
        });
        FIXED + self.key_hash.len() + self.fingerprint.len() + self.claim.len() + response
    }

    /// The bytes the record holds: its strings, the response's headers and body, and a fixed
    /// allowance per allocation (what a cache counts against its budget).
    pub fn size_bytes(&self) -> usize {
        const OVERHEAD: usize = 64;
        let response = self.response.as_ref().map_or(0, |r| {
            r.body.len()
                + r.headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + OVERHEAD)
                    .sum::<usize>()
                + OVERHEAD
        });
        std::mem::size_of::<Self>()
            + self.key_hash.len()
            + self.fingerprint.len()
            + self.claim.len()
            + 3 * OVERHEAD
            + response
    }

    /// Whether the record is past its expiration at `now_ms` (treated as absent).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expiration_s.saturating_mul(1000) <= now_ms
    }

    /// The state machine: expired → absent; a different payload → mismatch; completed → replay;
    /// in progress before its deadline → in progress; past it → absent (the claimer died).
    pub fn decide(&self, fingerprint: &str, now_ms: u64) -> Decision {
        if self.is_expired(now_ms) {
            return Decision::Absent;
        }
        let live = match self.status {
            Status::Completed => true,
            Status::InProgress => self.in_progress_expiration_ms > now_ms,
        };
        if !live {
            return Decision::Absent;
        }
        if self.fingerprint != fingerprint {
            return Decision::Mismatch;
        }
        match self.status {
            Status::Completed if self.response.is_some() => Decision::Replay,
            // A completed record without a response cannot be replayed: treat it as still settling.
            Status::Completed => Decision::InProgress { retry_after_s: 1 },
            Status::InProgress => Decision::InProgress {
                retry_after_s: (self.in_progress_expiration_ms - now_ms).div_ceil(1000).max(1),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status) -> IdempotencyRecord {
        IdempotencyRecord {
            key_hash: "h".into(),
            status,
            expiration_s: 1_000,
            in_progress_expiration_ms: 500_000,
            fingerprint: "fp".into(),
            claim: "c".into(),
            response: (status == Status::Completed).then(|| StoredResponse {
                status: 201,
                headers: vec![],
                body: b"{}".to_vec(),
            }),
        }
    }

    #[test]
    fn completed_replays_same_payload_and_refuses_another() {
        let r = record(Status::Completed);
        assert_eq!(r.decide("fp", 600_000), Decision::Replay);
        assert_eq!(r.decide("other", 600_000), Decision::Mismatch);
    }

    #[test]
    fn in_progress_before_deadline_conflicts_with_retry_after() {
        let r = record(Status::InProgress);
        assert_eq!(r.decide("fp", 497_500), Decision::InProgress { retry_after_s: 3 });
        assert_eq!(r.decide("fp", 499_999), Decision::InProgress { retry_after_s: 1 });
        assert_eq!(r.decide("other", 499_000), Decision::Mismatch);
    }

    #[test]
    fn in_progress_past_deadline_is_absent() {
        let r = record(Status::InProgress);
        assert_eq!(r.decide("fp", 500_000), Decision::Absent);
        assert_eq!(r.decide("other", 700_000), Decision::Absent);
    }

    #[test]
    fn expired_records_are_absent() {
        let r = record(Status::Completed);
        assert!(!r.is_expired(999_999));
        assert!(r.is_expired(1_000_000));
        assert_eq!(r.decide("fp", 1_000_000), Decision::Absent);
        assert_eq!(r.decide("other", 2_000_000), Decision::Absent);
    }

    #[test]
    fn status_round_trips() {
        for s in [Status::InProgress, Status::Completed] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("DONE"), None);
    }
}
