//! Time as the in-process cache sees it, replaceable by a mock clock in tests.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock: the time since an arbitrary origin.
pub trait Clock: Debug + Send + Sync {
    /// Time elapsed since the clock's origin.
    fn now(&self) -> Duration;
}

/// The real clock.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A clock that moves only when told to: TTL tests without sleeping.
///
/// ```
/// use mlstore_cache::{Clock, MockClock};
/// use std::time::Duration;
/// let clock = MockClock::default();
/// clock.advance(Duration::from_secs(301));
/// assert_eq!(clock.now(), Duration::from_secs(301));
/// ```
#[derive(Debug, Default)]
pub struct MockClock(AtomicU64);

impl MockClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for MockClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}
