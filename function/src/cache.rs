//! The per-process LRU cache of COMPLETED records (never INPROGRESS); capacity 0 turns it off.

use crate::record::{IdempotencyRecord, Status};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;

/// An LRU of completed records keyed by key hash.
pub struct RecordCache {
    inner: Option<Mutex<LruCache<String, IdempotencyRecord>>>,
}

impl RecordCache {
    /// A cache of `capacity` records (0: off).
    pub fn new(capacity: usize) -> Self {
        RecordCache {
            inner: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
        }
    }

    /// The live record for `hash` at `now_ms`; an expired one is evicted and not returned.
    pub fn get(&self, hash: &str, now_ms: u64) -> Option<IdempotencyRecord> {
        let mut cache = self
            .inner
            .as_ref()?
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = cache.get(hash)?;
        if record.is_expired(now_ms) {
            cache.pop(hash);
            return None;
        }
        Some(record.clone())
    }

    /// Stores a COMPLETED record; anything else is ignored.
    pub fn put(&self, record: IdempotencyRecord) {
        if record.status != Status::Completed || record.response.is_none() {
            return;
        }
        if let Some(inner) = &self.inner {
            inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .put(record.key_hash.clone(), record);
        }
    }

    /// Forgets `hash`.
    pub fn remove(&self, hash: &str) {
        if let Some(inner) = &self.inner {
            inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop(hash);
        }
    }

    /// How many records are cached.
    pub fn len(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |c| c.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StoredResponse;

    fn record(hash: &str, status: Status, expiration_s: u64) -> IdempotencyRecord {
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
                body: vec![],
            }),
        }
    }

    #[test]
    fn caches_completed_only() {
        let cache = RecordCache::new(4);
        cache.put(record("a", Status::InProgress, 100));
        assert!(cache.get("a", 0).is_none());
        cache.put(record("b", Status::Completed, 100));
        assert_eq!(cache.get("b", 0).unwrap().key_hash, "b");
    }

    #[test]
    fn evicts_least_recently_used() {
        let cache = RecordCache::new(2);
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
        let cache = RecordCache::new(2);
        cache.put(record("a", Status::Completed, 10));
        assert!(cache.get("a", 9_999).is_some());
        assert!(cache.get("a", 10_000).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn zero_capacity_is_off() {
        let cache = RecordCache::new(0);
        cache.put(record("a", Status::Completed, 100));
        assert!(cache.get("a", 0).is_none());
        assert_eq!(cache.len(), 0);
    }
}
