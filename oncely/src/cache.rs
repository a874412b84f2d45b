//! The per-process LRU cache of COMPLETED records (never INPROGRESS), bounded both by a count
//! and by bytes ([`IdempotencyRecord::size_bytes`]): whichever is reached first evicts the least
//! recently used. A count or a budget of 0 turns it off.

use crate::record::{IdempotencyRecord, Status, StoredResponse};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;

/// An LRU of completed records keyed by key hash.
pub struct RecordCache {
    inner: Option<Mutex<Inner>>,
    budget: usize,
}

struct Inner {
    records: LruCache<String, Entry>,
    bytes: usize,
}

/// A cached record, and the exact bytes of a request body whose fingerprint is the record's: a
/// retry that sends those bytes again replays without computing its fingerprint.
struct Entry {
    record: IdempotencyRecord,
    sent: Option<Box<[u8]>>,
}

impl Entry {
    fn size_bytes(&self) -> usize {
        self.record.size_bytes() + self.sent.as_ref().map_or(0, |s| s.len())
    }
}

impl RecordCache {
    /// A cache of at most `capacity` records holding at most `budget` bytes (either 0: off).
    pub fn new(capacity: usize, budget: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).filter(|_| budget > 0);
        RecordCache {
            inner: capacity.map(|c| {
                Mutex::new(Inner {
                    records: LruCache::new(c),
                    bytes: 0,
                })
            }),
            budget,
        }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Inner>> {
        self.inner
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The live record for `hash` at `now_ms`; an expired one is evicted and not returned.
    pub fn get(&self, hash: &str, now_ms: u64) -> Option<IdempotencyRecord> {
        Some(self.lock()?.live(hash, now_ms)?.record.clone())
    }

    /// The stored response of the live record for `hash` when `body` is exactly the body
    /// remembered with it ([`RecordCache::remember_sent`]): the same bytes have the same
    /// fingerprint, so the request is a replay without computing it.
    pub fn replay_if_sent(&self, hash: &str, body: &[u8], now_ms: u64) -> Option<StoredResponse> {
        let mut cache = self.lock()?;
        let entry = cache.live(hash, now_ms)?;
        if entry.sent.as_deref() != Some(body) {
            return None;
        }
        entry.record.response.clone()
    }

    /// Remembers `body` with the cached record for `hash`: a body whose fingerprint is the
    /// record's (it was executed, or replayed). Not kept when it would not fit the budget.
    pub fn remember_sent(&self, hash: &str, body: &[u8]) {
        let Some(mut guard) = self.lock() else { return };
        let cache = &mut *guard;
        let Some(entry) = cache.records.peek_mut(hash) else {
            return;
        };
        if entry.sent.as_deref() == Some(body) {
            return;
        }
        let bytes = cache.bytes - entry.size_bytes() + entry.record.size_bytes() + body.len();
        if bytes <= self.budget {
            entry.sent = Some(body.into());
            cache.bytes = bytes;
        }
    }

    /// Stores a COMPLETED record; anything else is ignored, and so is a record larger than the
    /// whole budget.
    pub fn put(&self, record: IdempotencyRecord) {
        if record.status != Status::Completed || record.response.is_none() {
            return;
        }
        let size = record.size_bytes();
        let Some(mut cache) = self.lock() else { return };
        cache.remove(&record.key_hash);
        if size > self.budget {
            return;
        }
        while cache.bytes + size > self.budget {
            let Some((_, old)) = cache.records.pop_lru() else { break };
            cache.bytes -= old.size_bytes();
        }
        let entry = Entry { record, sent: None };
        if let Some((_, old)) = cache.records.push(entry.record.key_hash.clone(), entry) {
            cache.bytes -= old.size_bytes();
        }
        cache.bytes += size;
    }

    /// Forgets `hash`.
    pub fn remove(&self, hash: &str) {
        if let Some(mut cache) = self.lock() {
            cache.remove(hash);
        }
    }

    /// How many records are cached.
    pub fn len(&self) -> usize {
        self.lock().map_or(0, |c| c.records.len())
    }

    /// How many bytes the cached records hold (as [`IdempotencyRecord::size_bytes`] counts them).
    pub fn bytes(&self) -> usize {
        self.lock().map_or(0, |c| c.bytes)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// The entry for `hash` (now the most recently used) unless it has expired at `now_ms`, in
    /// which case it is evicted.
    fn live(&mut self, hash: &str, now_ms: u64) -> Option<&Entry> {
        if self.records.get(hash)?.record.is_expired(now_ms) {
            self.remove(hash);
            return None;
        }
        self.records.peek(hash)
    }

    fn remove(&mut self, hash: &str) {
        if let Some(old) = self.records.pop(hash) {
            self.bytes -= old.size_bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hash: &str, status: Status, expiration_s: u64) -> IdempotencyRecord {
        sized(hash, status, expiration_s, 0)
    }

    fn sized(hash: &str, status: Status, expiration_s: u64, body: usize) -> IdempotencyRecord {
        IdempotencyRecord {
            key_hash: hash.into(),
            status,
            expiration_s,
            in_progress_expiration_ms: 0,
            fingerprint: "fp".into(),
            claim: "c".into(),
            response: (status == Status::Completed).then(|| StoredResponse {
                status: 201,
                headers: vec![],
                body: vec![b'x'; body],
            }),
        }
    }

    #[test]
    fn caches_completed_only() {
        let cache = RecordCache::new(4, 1 << 20);
        cache.put(record("a", Status::InProgress, 100));
        assert!(cache.get("a", 0).is_none());
        cache.put(record("b", Status::Completed, 100));
        assert_eq!(cache.get("b", 0).unwrap().key_hash, "b");
    }

    #[test]
    fn evicts_least_recently_used() {
        let cache = RecordCache::new(2, 1 << 20);
        cache.put(record("a", Status::Completed, 100));
        cache.put(record("b", Status::Completed, 100));
        assert!(cache.get("a", 0).is_some()); // a is now the most recent
        cache.put(record("c", Status::Completed, 100));
        assert!(cache.get("b", 0).is_none());
        assert!(cache.get("a", 0).is_some());
        assert!(cache.get("c", 0).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn expired_entries_are_dropped() {
        let cache = RecordCache::new(2, 1 << 20);
        cache.put(record("a", Status::Completed, 10));
        assert!(cache.get("a", 9_999).is_some());
        assert!(cache.get("a", 10_000).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn zero_capacity_is_off() {
        let cache = RecordCache::new(0, 1 << 20);
        cache.put(record("a", Status::Completed, 100));
        assert!(cache.get("a", 0).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn bytes_evict_before_the_count_does() {
        let one = sized("a", Status::Completed, 100, 10_000).size_bytes();
        // Room for two records of 10 kB, with a count of a thousand.
        let cache = RecordCache::new(1000, 2 * one + one / 2);
        for hash in ["a", "b", "c"] {
            cache.put(sized(hash, Status::Completed, 100, 10_000));
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.bytes(), 2 * one);
        assert!(cache.get("a", 0).is_none(), "the least recently used went first");
        // Replacing a record counts its bytes once.
        cache.put(sized("c", Status::Completed, 100, 10_000));
        assert_eq!(cache.bytes(), 2 * one);
        // A record larger than the whole budget is not kept, and evicts nothing.
        cache.put(sized("huge", Status::Completed, 100, 100_000));
        assert!(cache.get("huge", 0).is_none());
        assert_eq!(cache.len(), 2);
        cache.remove("b");
        cache.remove("c");
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
    }

    #[test]
    fn the_same_bytes_replay_and_count_in_the_budget() {
        let cache = RecordCache::new(4, 1 << 20);
        cache.put(sized("a", Status::Completed, 100, 10));
        let bytes = cache.bytes();
        assert_eq!(cache.replay_if_sent("a", b"{}", 0), None, "nothing remembered yet");
        cache.remember_sent("a", br#"{"n":1}"#);
        assert_eq!(cache.bytes(), bytes + 7);
        assert_eq!(
            cache.replay_if_sent("a", br#"{"n":1}"#, 0).unwrap().body,
            vec![b'x'; 10]
        );
        assert_eq!(
            cache.replay_if_sent("a", br#"{ "n": 1 }"#, 0),
            None,
            "other bytes: fingerprint them"
        );
        assert_eq!(cache.replay_if_sent("b", br#"{"n":1}"#, 0), None);
        assert_eq!(cache.replay_if_sent("a", br#"{"n":1}"#, 100_000), None, "expired");
        assert!(cache.is_empty());
        // A body that would not fit the budget is not remembered.
        let small = RecordCache::new(4, sized("a", Status::Completed, 100, 10).size_bytes() + 3);
        small.put(sized("a", Status::Completed, 100, 10));
        small.remember_sent("a", b"four");
        assert_eq!(small.replay_if_sent("a", b"four", 0), None);
        small.remember_sent("a", b"two");
        assert!(small.replay_if_sent("a", b"two", 0).is_some());
        small.remove("a");
        assert_eq!(small.bytes(), 0);
    }

    #[test]
    fn a_zero_budget_is_off() {
        let cache = RecordCache::new(10, 0);
        cache.put(record("a", Status::Completed, 100));
        assert!(cache.get("a", 0).is_none());
    }
}
