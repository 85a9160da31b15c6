//! The layer mechanism, [`LayeredStore`], and the layers core ships: [`MeteredStore`] counts
//! every operation and keeps a latency histogram per operation (the P50 / P95 / P99 a team
//! watches).
//!
//! `LayeredStore` lives here rather than at the crate root because its methods have the names of
//! the store's: a module that implements a layer imports it, and calls the store's methods on
//! that layer through [`crate::Store`] (for example on an `Arc<dyn Store>`), where the two would
//! otherwise be ambiguous.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::store::{BoxFuture, LayeredStore};
use crate::{Operation, Result, Store};

/// Histogram buckets per doubling of latency: bucket bounds grow by 2^(1/4) (19%).
const BUCKETS_PER_DOUBLING: f64 = 4.0;
/// Upper bound of the first bucket, in nanoseconds.
const FIRST_BOUND_NS: f64 = 100.0;
/// Buckets from 100 ns to about 110 s; slower calls land in the last one.
const BUCKETS: usize = 121;

/// The upper bound of bucket `i`.
fn bucket_bound(i: usize) -> Duration {
    Duration::from_nanos((FIRST_BOUND_NS * (i as f64 / BUCKETS_PER_DOUBLING).exp2()) as u64)
}

fn bucket_of(latency: Duration) -> usize {
    let ns = latency.as_nanos() as f64;
    if ns <= FIRST_BOUND_NS {
        return 0;
    }
    let i = ((ns / FIRST_BOUND_NS).log2() * BUCKETS_PER_DOUBLING).ceil() as usize;
    i.min(BUCKETS - 1)
}

/// Counters of one operation.
struct OperationCounters {
    calls: AtomicU64,
    errors: AtomicU64,
    total_ns: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Default for OperationCounters {
    fn default() -> Self {
        Self {
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Call counts and latency histograms of every [`Operation`], shared by the clones of a
/// [`MeteredStore`] (and by whoever reads them, such as an HTTP `/metrics` endpoint).
pub struct OperationMetrics {
    counters: Box<[OperationCounters]>,
}

impl std::fmt::Debug for OperationMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationMetrics").finish_non_exhaustive()
    }
}

impl Default for OperationMetrics {
    fn default() -> Self {
        Self {
            counters: Operation::ALL
                .iter()
                .map(|_| OperationCounters::default())
                .collect(),
        }
    }
}

fn index_of(op: Operation) -> usize {
    // `Operation::ALL` lists the variants in declaration order.
    Operation::ALL
        .iter()
        .position(|o| *o == op)
        .expect("every operation is in Operation::ALL")
}

impl OperationMetrics {
    /// Records one call of `op` that took `latency` and succeeded or not.
    pub fn record(&self, op: Operation, latency: Duration, ok: bool) {
        let c = &self.counters[index_of(op)];
        c.calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        c.total_ns
            .fetch_add(latency.as_nanos() as u64, Ordering::Relaxed);
        c.buckets[bucket_of(latency)].fetch_add(1, Ordering::Relaxed);
    }

    /// The figures of every operation called at least once, in [`Operation::ALL`] order.
    pub fn snapshot(&self) -> Vec<OperationSnapshot> {
        Operation::ALL
            .iter()
            .zip(self.counters.iter())
            .filter_map(|(op, c)| {
                let calls = c.calls.load(Ordering::Relaxed);
                (calls > 0).then(|| OperationSnapshot {
                    operation: *op,
                    calls,
                    errors: c.errors.load(Ordering::Relaxed),
                    total: Duration::from_nanos(c.total_ns.load(Ordering::Relaxed)),
                    buckets: c
                        .buckets
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (bucket_bound(i), b.load(Ordering::Relaxed)))
                        .collect(),
                })
            })
            .collect()
    }
}

/// What [`OperationMetrics::snapshot`] reports for one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationSnapshot {
    /// The operation.
    pub operation: Operation,
    /// Calls since the metrics were created.
    pub calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Time spent in all calls.
    pub total: Duration,
    /// The histogram: each bucket's upper bound and how many calls fell in it (not cumulative).
    /// Bounds grow by 2^(1/4) from 100 ns; the last bucket also holds every slower call.
    pub buckets: Vec<(Duration, u64)>,
}

impl OperationSnapshot {
    /// The latency below which a fraction `q` (0 to 1) of the calls fell, as the upper bound of
    /// the histogram bucket where that fraction is reached: at most 19% above the true quantile.
    /// `None` when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.buckets.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bound, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(*bound);
            }
        }
        self.buckets.last().map(|(bound, _)| *bound)
    }

    /// The mean latency.
    pub fn mean(&self) -> Option<Duration> {
        (self.calls > 0).then(|| self.total / self.calls as u32)
    }
}

/// A store that counts every operation and records its latency, per [`Operation`]; everything
/// else is the wrapped store's. Read the figures with [`MeteredStore::metrics`].
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use mlstore_core::layers::MeteredStore;
/// use mlstore_core::{MemoryStore, ModelName, ModelRegistry, Operation};
///
/// let store = MeteredStore::new(MemoryStore::new());
/// store.latest(&ModelName::new("fraud").unwrap()).await.unwrap();
/// let figures = store.metrics().snapshot();
/// assert_eq!(figures[0].operation, Operation::Latest);
/// assert_eq!(figures[0].calls, 1);
/// assert!(figures[0].quantile(0.99).is_some());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MeteredStore<S> {
    inner: S,
    metrics: Arc<OperationMetrics>,
}

impl<S: Store> MeteredStore<S> {
    /// Wraps `inner` with new, empty metrics.
    pub fn new(inner: S) -> Self {
        Self::with_metrics(inner, Arc::default())
    }

    /// Wraps `inner`, recording into `metrics` (shared with other handles or readers).
    pub fn with_metrics(inner: S, metrics: Arc<OperationMetrics>) -> Self {
        Self { inner, metrics }
    }

    /// The figures recorded so far.
    pub fn metrics(&self) -> &Arc<OperationMetrics> {
        &self.metrics
    }
}

impl<S: Store> LayeredStore for MeteredStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BoxFuture<'a, Result<T>>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = call.await;
            self.metrics.record(op, started.elapsed(), result.is_ok());
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_quantiles() {
        assert_eq!(bucket_of(Duration::from_nanos(50)), 0);
        assert_eq!(bucket_of(Duration::from_nanos(200)), 4);
        assert_eq!(bucket_bound(4), Duration::from_nanos(200));
        assert_eq!(bucket_of(Duration::from_secs(10_000)), BUCKETS - 1);
        let metrics = OperationMetrics::default();
        for us in 1..=100u64 {
            metrics.record(Operation::Get, Duration::from_micros(us), us != 7);
        }
        let snap = &metrics.snapshot()[0];
        assert_eq!((snap.calls, snap.errors), (100, 1));
        let p50 = snap.quantile(0.5).unwrap();
        assert!(
            p50 >= Duration::from_micros(50) && p50 <= Duration::from_micros(60),
            "{p50:?}"
        );
        let p99 = snap.quantile(0.99).unwrap();
        assert!(p99 >= Duration::from_micros(99), "{p99:?}");
        assert_eq!(snap.mean(), Some(Duration::from_nanos(50_500)));
    }
}
