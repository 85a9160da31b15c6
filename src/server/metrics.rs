//! Request counts and latency histograms per route, and the Prometheus text format
//! (version 0.0.4) of everything `/metrics` reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use mlstore_core::layers::OperationSnapshot;

/// Upper bounds of the latency histograms, in seconds (Prometheus `le`), from 50 µs to 10 s.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    /// Counts per bucket of [`LATENCY_BUCKETS`] (not cumulative), plus one for slower requests.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    seconds: f64,
    count: u64,
}

/// Counters of the HTTP requests a server answered, by method and route (the route's pattern,
/// `/v1/models/{name}/latest`, never the path a client sent).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// Route, then method: looked up by `&str` without allocating.
    routes: Mutex<BTreeMap<String, BTreeMap<String, RouteStats>>>,
}

fn bucket_of(seconds: f64) -> usize {
    LATENCY_BUCKETS
        .iter()
        .position(|&le| seconds <= le)
        .unwrap_or(LATENCY_BUCKETS.len())
}

impl HttpMetrics {
    /// Records one request.
    pub fn record(&self, method: &str, route: &str, status: u16, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let methods = match routes.get_mut(route) {
            Some(methods) => methods,
            None => routes.entry(route.to_owned()).or_default(),
        };
        let stats = match methods.get_mut(method) {
            Some(stats) => stats,
            None => methods.entry(method.to_owned()).or_default(),
        };
        *stats.by_status.entry(status).or_default() += 1;
        stats.buckets[bucket_of(seconds)] += 1;
        stats.seconds += seconds;
        stats.count += 1;
    }

    /// Writes the request counters and histograms.
    pub fn render(&self, out: &mut String) {
        let routes: BTreeMap<(String, String), RouteStats> = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flat_map(|(route, methods)| {
                methods
                    .iter()
                    .map(|(method, stats)| ((method.clone(), route.clone()), stats.clone()))
            })
            .collect();
        header(
            out,
            "mlstore_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route and status.",
        );
        for ((method, route), stats) in &routes {
            for (status, n) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "mlstore_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(method),
                    escape(route)
                );
            }
        }
        header(
            out,
            "mlstore_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its response, by method and route.",
        );
        for ((method, route), stats) in &routes {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            histogram(
                out,
                "mlstore_http_request_duration_seconds",
                &labels,
                &stats.buckets,
                stats.seconds,
                stats.count,
            );
        }
    }
}

/// Writes the per-operation counters and latency histograms of the store.
///
/// The store's own histograms are finer (bounds 19% apart); each of its buckets is counted in
/// the first of [`LATENCY_BUCKETS`] at or above the bucket's upper bound, so a figure read from
/// these may be up to one coarse bucket high.
pub fn render_operations(out: &mut String, snapshot: &[OperationSnapshot]) {
    type Counter = (&'static str, &'static str, fn(&OperationSnapshot) -> u64);
    let counters: [Counter; 2] = [
        (
            "mlstore_operation_calls_total",
            "Store operations called (through the cache, if any), by operation.",
            |o| o.calls,
        ),
        (
            "mlstore_operation_errors_total",
            "Store operations that returned an error (not found included), by operation.",
            |o| o.errors,
        ),
    ];
    for (name, help, value) in counters {
        let samples = snapshot
            .iter()
            .filter(|o| o.calls > 0)
            .map(|o| (format!("operation=\"{}\"", o.operation), value(o)));
        family(out, name, "counter", help, samples);
    }
    header(
        out,
        "mlstore_operation_duration_seconds",
        "histogram",
        "Latency of store operations, by operation.",
    );
    for op in snapshot.iter().filter(|o| o.calls > 0) {
        let mut buckets = [0u64; LATENCY_BUCKETS.len() + 1];
        for (bound, n) in &op.buckets {
            buckets[bucket_of(bound.as_secs_f64())] += n;
        }
        histogram(
            out,
            "mlstore_operation_duration_seconds",
            &format!("operation=\"{}\"", op.operation),
            &buckets,
            op.total.as_secs_f64(),
            op.calls,
        );
    }
}

/// Writes a metric: its `# HELP` and `# TYPE`, then one sample per `(labels, value)`, where
/// `labels` is the text between the braces (empty: no braces).
pub fn family<L: AsRef<str>>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) {
    header(out, name, kind, help);
    for (labels, value) in samples {
        let labels = labels.as_ref();
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Writes `# HELP` and `# TYPE` of a metric.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, buckets: &[u64], sum: f64, count: u64) {
    let mut cumulative = 0;
    for (le, n) in LATENCY_BUCKETS.iter().zip(buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

/// A label value with `\`, `"` and newlines escaped, as the text format wants.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_end_at_the_count() {
        let m = HttpMetrics::default();
        m.record("GET", "/a", 200, Duration::from_micros(40));
        m.record("GET", "/a", 404, Duration::from_millis(3));
        m.record("GET", "/a", 200, Duration::from_secs(30));
        let mut out = String::new();
        m.render(&mut out);
        assert!(out
            .contains("mlstore_http_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 2"));
        assert!(out.contains(
            "mlstore_http_request_duration_seconds_bucket{method=\"GET\",route=\"/a\",le=\"0.00005\"} 1"
        ));
        assert!(out.contains(
            "mlstore_http_request_duration_seconds_bucket{method=\"GET\",route=\"/a\",le=\"0.005\"} 2"
        ));
        assert!(out.contains(
            "mlstore_http_request_duration_seconds_bucket{method=\"GET\",route=\"/a\",le=\"10\"} 2"
        ));
        assert!(out.contains(
            "mlstore_http_request_duration_seconds_bucket{method=\"GET\",route=\"/a\",le=\"+Inf\"} 3"
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
