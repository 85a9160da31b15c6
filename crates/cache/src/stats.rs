//! Hit, miss and error counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a [`crate::CachedStore`], since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads answered by the in-process cache.
    pub moka_hits: u64,
    /// Reads the in-process cache did not have.
    pub moka_misses: u64,
    /// Reads answered by Redis.
    pub redis_hits: u64,
    /// Reads Redis did not have.
    pub redis_misses: u64,
    /// Redis calls that failed or timed out (the call was then served by the backend).
    pub redis_errors: u64,
    /// Reads that went to the backend.
    pub backend_reads: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) moka_hits: AtomicU64,
    pub(crate) moka_misses: AtomicU64,
    pub(crate) redis_hits: AtomicU64,
    pub(crate) redis_misses: AtomicU64,
    pub(crate) redis_errors: AtomicU64,
    pub(crate) backend_reads: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CacheStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            moka_hits: get(&self.moka_hits),
            moka_misses: get(&self.moka_misses),
            redis_hits: get(&self.redis_hits),
            redis_misses: get(&self.redis_misses),
            redis_errors: get(&self.redis_errors),
            backend_reads: get(&self.backend_reads),
        }
    }
}
