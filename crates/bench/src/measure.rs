//! Timing loops and percentiles.

use std::time::{Duration, Instant};

use mlstore_core::Result;

/// How long to warm up and to measure one operation.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Warm-up time (results discarded).
    pub warmup: Duration,
    /// Measuring time.
    pub measure: Duration,
    /// At least this many measured runs, even past the time.
    pub min_runs: usize,
    /// At most this many measured runs.
    pub max_runs: usize,
}

impl Budget {
    /// The report's default: 0.2 s warm-up, 1 s of runs (at least 200, at most 200,000).
    pub fn standard() -> Self {
        Self {
            warmup: Duration::from_millis(200),
            measure: Duration::from_secs(1),
            min_runs: 200,
            max_runs: 200_000,
        }
    }

    /// A smoke run: a few runs of everything.
    pub fn quick() -> Self {
        Self {
            warmup: Duration::from_millis(5),
            measure: Duration::from_millis(30),
            min_runs: 10,
            max_runs: 2_000,
        }
    }
}

/// Percentiles and throughput of one operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Median, microseconds.
    pub p50_us: f64,
    /// 95th percentile, microseconds.
    pub p95_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// Runs per second of one client running them back to back.
    pub ops_per_s: f64,
    /// Measured runs.
    pub runs: usize,
}

impl Summary {
    /// Summarizes durations (any order).
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |p: f64| {
            let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
            samples[i].as_secs_f64() * 1e6
        };
        let total: f64 = samples.iter().map(Duration::as_secs_f64).sum();
        Self {
            p50_us: at(0.50),
            p95_us: at(0.95),
            p99_us: at(0.99),
            ops_per_s: samples.len() as f64 / total.max(f64::MIN_POSITIVE),
            runs: samples.len(),
        }
    }
}

/// Calls `run` (which returns the time of the part it measures) for the warm-up, then until
/// the budget's time and run counts are met.
///
/// # Errors
/// The first error `run` returns.
pub async fn measure<F>(budget: Budget, mut run: F) -> Result<Summary>
where
    F: AsyncFnMut() -> Result<Duration>,
{
    let start = Instant::now();
    while start.elapsed() < budget.warmup {
        run().await?;
    }
    let mut samples = Vec::with_capacity(1024);
    let start = Instant::now();
    while samples.len() < budget.max_runs
        && (start.elapsed() < budget.measure || samples.len() < budget.min_runs)
    {
        samples.push(run().await?);
    }
    Ok(Summary::of(samples))
}

/// Peak resident memory of this process (`VmHWM`), in bytes, where `/proc` tells.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = Summary::of(samples);
        assert_eq!(
            (s.p50_us.round(), s.p95_us.round(), s.p99_us.round()),
            (51.0, 95.0, 99.0)
        );
        assert_eq!(s.runs, 100);
    }
}
