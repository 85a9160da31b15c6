//! `--clients`: an operation run by N concurrent tasks on one store handle, and single
//! predictions stored through a [`PredictionBatcher`] by N producers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlstore_core::batcher::PredictionBatcher;
use mlstore_core::Store;

use crate::measure::Summary;
use crate::{Fixture, Input, Op};

/// What the report measures with N clients: an operation called on the store, or `store_1`
/// handed to a batcher.
#[derive(Clone)]
pub enum Via {
    /// Each client calls the store.
    Store,
    /// Each client hands its prediction to this batcher and awaits its result.
    Batcher(Arc<PredictionBatcher>),
}

/// N clients running one operation for a while.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Concurrent clients.
    pub clients: usize,
    /// Calls completed per second, all clients together (calls that ended inside the counted
    /// windows, over their length).
    pub ops_per_s: f64,
    /// Latency of one call, as each client saw it.
    pub latency: Summary,
    /// Calls that failed.
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

/// One call of a measured operation: given a sequence number (unique within a window), the
/// future to await. Whatever the function does before returning the future (preparing the
/// input) is not timed; the future is.
pub type Call =
    Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// One call of `op` on `store`, or of `store_1` handed to a batcher (`via`); preparing the
/// input is not timed.
pub fn op_call(store: Arc<dyn Store>, fixture: Arc<Fixture>, op: Op, via: Via) -> Call {
    Arc::new(move |_| {
        let input = fixture.input(op);
        let (store, fixture, via) = (store.clone(), fixture.clone(), via.clone());
        Box::pin(async move {
            let result = match (&via, &input) {
                (Via::Batcher(batcher), Input::Prediction(p)) => batcher.store((**p).clone()).await,
                _ => fixture.run(store.as_ref(), op, &input).await,
            };
            result.map_err(|e| e.to_string())
        })
    })
}

/// Runs each contender (a call and its number of clients) in turn, `rounds` times: each turn
/// a warm-up of `warmup / rounds` (not counted) and `duration / rounds` counted, so that the
/// figures compared in the report (8 clients against 1, the batcher against direct writes)
/// see the same moments of the machine. One cell per contender, in their order.
pub async fn run_in_turns(
    contenders: &[(Call, usize)],
    rounds: u32,
    warmup: Duration,
    duration: Duration,
) -> Vec<Cell> {
    let rounds = rounds.max(1);
    let mut runs: Vec<Samples> = contenders.iter().map(|_| Samples::default()).collect();
    for _ in 0..rounds {
        for ((call, clients), run) in contenders.iter().zip(&mut runs) {
            run.add(call, *clients, warmup / rounds, duration / rounds)
                .await;
        }
    }
    contenders
        .iter()
        .zip(runs)
        .map(|((_, clients), run)| run.cell(*clients))
        .collect()
}

/// Runs `call` from `clients` tasks for `warmup` (not counted) and then `duration`; each
/// client times its calls one after the other.
pub async fn drive(call: Call, clients: usize, warmup: Duration, duration: Duration) -> Cell {
    let mut run = Samples::default();
    run.add(&call, clients, warmup, duration).await;
    run.cell(clients)
}

/// What the clients of one call measured, over one or more windows.
#[derive(Default)]
struct Samples {
    /// Latency of each call started in a counted window.
    samples: Vec<Duration>,
    /// Calls that completed in a counted window.
    completed: u64,
    /// Length of the counted windows, all together.
    counted: Duration,
    errors: u64,
    first_error: Option<String>,
}

impl Samples {
    /// Runs `call` from `clients` tasks for `warmup` (not counted) and then `duration`.
    async fn add(&mut self, call: &Call, clients: usize, warmup: Duration, duration: Duration) {
        let seq = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let counting_from = started + warmup;
        let deadline = counting_from + duration;
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (call, seq) = (call.clone(), seq.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(1024);
                    let mut completed = 0u64;
                    let mut errors = 0u64;
                    let mut first_error = None;
                    loop {
                        let pending = call(seq.fetch_add(1, Ordering::Relaxed));
                        let start = Instant::now();
                        if start >= deadline {
                            break;
                        }
                        let result = pending.await;
                        let end = Instant::now();
                        if end >= counting_from && end < deadline {
                            completed += 1;
                        }
                        if start < counting_from {
                            continue;
                        }
                        samples.push(end - start);
                        if let Err(e) = result {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                    (samples, completed, errors, first_error)
                })
            })
            .collect();
        for task in tasks {
            match task.await {
                Ok((s, completed, e, first)) => {
                    self.samples.extend(s);
                    self.completed += completed;
                    self.errors += e;
                    if self.first_error.is_none() {
                        self.first_error = first;
                    }
                }
                Err(e) => {
                    self.errors += 1;
                    self.first_error
                        .get_or_insert_with(|| format!("a client task failed: {e}"));
                }
            }
        }
        // Throughput counts the calls that completed inside the window, over its length: the
        // calls in flight when it opens (started in the warm-up) and when it closes are each
        // partly inside, and counting calls by their start, over the time until the last one
        // ends, would count the time of the first without their calls.
        self.counted += duration;
    }

    fn cell(self, clients: usize) -> Cell {
        let ops_per_s = self.completed as f64 / self.counted.as_secs_f64().max(f64::MIN_POSITIVE);
        let latency = if self.samples.is_empty() {
            Summary::of(vec![Duration::ZERO])
        } else {
            Summary::of(self.samples)
        };
        Cell {
            clients,
            ops_per_s,
            latency,
            errors: self.errors,
            first_error: self.first_error,
        }
    }
}
