//! Many producers, one database: [`PredictionBatcher`] coalesces single predictions and labels
//! into batch writes (group commit), with a result per item.
//!
//! A serving fleet logs one prediction per request from many tasks at once. Written one by one,
//! each prediction costs a transaction (a commit, and an fsync on a durable server); handed to a
//! batcher, the predictions that arrive while a write runs are written together by the next
//! one, in one statement and one commit.
//!
//! It is a library type beside the store, not a store layer: a store layer keeps the contract
//! of one call, one write; the batcher changes when a write happens.
//!
//! # How it batches
//! One worker task takes what is queued, up to [`BatcherConfig::max_batch`] items, waits up to
//! [`BatcherConfig::max_delay`] for more when the batch is not full (no wait by default: the
//! items that arrive while a write runs form the next batch, which is what group commit needs),
//! starts its write (up to [`BatcherConfig::max_in_flight`] writes run at once, so a batch
//! formed during a commit does not wait for it) and writes the predictions with [`PredictionStore::store_predictions_with`] and the labels with
//! [`PredictionStore::record_actuals_with`], skipping and reporting what cannot be stored so that
//! one bad item fails alone. Predictions of a batch are written before its labels, and an item
//! whose id is in a write still running waits for that write (with every item queued after
//! it), so a label queued after its prediction finds it, and an id queued twice is written
//! twice, in the order it was queued.
//!
//! # Results and guarantees
//! - [`store`](PredictionBatcher::store) and [`record`](PredictionBatcher::record) return when
//!   the item's batch was committed, with the item's own result: `Ok` when stored,
//!   [`Error::AlreadyExists`] for an id already stored, [`Error::NotFound`] for an unregistered
//!   model version (a prediction) or an unknown prediction (a label), and the batch's error for
//!   every item of a batch that failed as a whole (the database unavailable). An acknowledged
//!   item (`Ok`) is committed: a crash after that loses nothing.
//! - Backpressure: the queue holds at most [`BatcherConfig::queue`] items. `store` and `record`
//!   wait for room; [`try_store`](PredictionBatcher::try_store) and
//!   [`try_record`](PredictionBatcher::try_record) fail at once with [`Error::Unavailable`] when
//!   the queue is full.
//! - Fire and forget: [`submit`](PredictionBatcher::submit) queues a prediction without waiting
//!   for its result. That is at-most-once: an item queued but not yet written when the process
//!   dies is lost, and an item that fails is only counted
//!   ([`BatcherStats::failed_unawaited`]).
//! - [`close`](PredictionBatcher::close) refuses new items, writes everything accepted and
//!   returns the final statistics. Dropping the batcher without closing it leaves the worker
//!   writing what was queued as long as the runtime runs, and logs how many items were still
//!   queued (they are lost if the runtime stops first).
//!
//! ```
//! use std::sync::Arc;
//! use mlstore_core::batcher::{BatcherConfig, PredictionBatcher};
//! use mlstore_core::{MemoryStore, ModelMetadata, ModelName, ModelRegistry, Prediction, Version};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> mlstore_core::Result<()> {
//! let store = Arc::new(MemoryStore::new());
//! let (name, v) = (ModelName::new("fraud")?, Version::new("1.0.0")?);
//! store.register(&ModelMetadata::builder(name.clone(), v.clone(), "xgboost").build()?).await?;
//!
//! let batcher = Arc::new(PredictionBatcher::new(store.clone(), BatcherConfig::default())?);
//! let mut producers = Vec::new();
//! for i in 0..64 {
//!     let (batcher, name, v) = (batcher.clone(), name.clone(), v.clone());
//!     producers.push(tokio::spawn(async move {
//!         let p = Prediction::builder(name, v, json!("ok"), 0.5 + i as f64 / 200.0).build()?;
//!         batcher.store(p).await // returns once its batch is committed
//!     }));
//! }
//! for producer in producers {
//!     producer.await.expect("producer task")?;
//! }
//! let stats = batcher.close().await;
//! assert_eq!((stats.stored, stats.failed), (64, 0));
//! assert!(stats.batches <= 64);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::limits::MAX_BATCH_LEN;
use crate::{
    BatchOptions, Error, Label, OnProblem, Prediction, PredictionStore, Result, SkipReason,
};

/// The name errors of the batcher carry as their backend.
const NAME: &str = "batcher";

/// How a [`PredictionBatcher`] batches.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `max_batch` | 1,000 | items per write, at most [`MAX_BATCH_LEN`] |
/// | `max_delay` | 0 | how long a batch that is not full waits for more items |
/// | `queue` | 10,000 | items accepted and not yet written, at most |
/// | `max_in_flight` | 2 | writes running at once |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatcherConfig {
    max_batch: usize,
    max_delay: Duration,
    queue: usize,
    max_in_flight: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_batch: 1_000,
            max_delay: Duration::ZERO,
            queue: 10_000,
            max_in_flight: 2,
        }
    }
}

impl BatcherConfig {
    /// Items per write (default 1,000).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `max_batch`) for 0 or more than [`MAX_BATCH_LEN`].
    pub fn with_max_batch(mut self, max_batch: usize) -> Result<Self> {
        if max_batch == 0 || max_batch > MAX_BATCH_LEN {
            return Err(Error::invalid(
                "max_batch",
                format!("must be between 1 and {MAX_BATCH_LEN}, not {max_batch}"),
            ));
        }
        self.max_batch = max_batch;
        Ok(self)
    }

    /// How long a batch that is not full waits for more items before it is written (default 0:
    /// written as soon as the previous write finished). A delay makes batches larger when
    /// producers are few, at the price of that much latency per item.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `max_delay`) for more than one second.
    pub fn with_max_delay(mut self, max_delay: Duration) -> Result<Self> {
        if max_delay > Duration::from_secs(1) {
            return Err(Error::invalid(
                "max_delay",
                format!("must be at most 1 s, not {max_delay:?}"),
            ));
        }
        self.max_delay = max_delay;
        Ok(self)
    }

    /// Items accepted and not yet written, at most (default 10,000): beyond, producers wait
    /// (or fail fast with the `try_` methods).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `queue`) for 0.
    pub fn with_queue(mut self, queue: usize) -> Result<Self> {
        if queue == 0 {
            return Err(Error::invalid("queue", "must be at least 1"));
        }
        self.queue = queue;
        Ok(self)
    }

    /// Writes running at once (default 2). While one batch commits, the items that arrived
    /// meanwhile form the next and start writing at once, so producers woken by a commit do
    /// not wait for the following one. Writes that share an id never run together: an id's
    /// writes commit in the order they were queued, and a label after its prediction.
    ///
    /// More is not faster when the writes meet on one lock: every write of one model version
    /// in one hour updates that hour's sums (one row on PostgreSQL), and SQLite has one
    /// writer. Each extra write in flight then only waits, and splits the queue into smaller
    /// batches. Measured with `mlstore-bench --clients 64` (64 producers, one model version):
    /// on PostgreSQL with fsync on, 2 writes in flight stored 13,600-14,600 predictions/s
    /// against 10,300 with 1 and 8,500 with 4; on SQLite 1 did best (42,500/s; 31,400-38,900
    /// with 2, 26,900 with 4). Producers spread over many model versions may gain from more.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `max_in_flight`) for 0 or more than 64.
    pub fn with_max_in_flight(mut self, max_in_flight: usize) -> Result<Self> {
        if !(1..=64).contains(&max_in_flight) {
            return Err(Error::invalid(
                "max_in_flight",
                format!("must be between 1 and 64, not {max_in_flight}"),
            ));
        }
        self.max_in_flight = max_in_flight;
        Ok(self)
    }

    /// See [`with_max_in_flight`](Self::with_max_in_flight).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// See [`with_max_batch`](Self::with_max_batch).
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// See [`with_max_delay`](Self::with_max_delay).
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// See [`with_queue`](Self::with_queue).
    pub fn queue(&self) -> usize {
        self.queue
    }
}

/// What a [`PredictionBatcher`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatcherStats {
    /// Items accepted into the queue.
    pub accepted: u64,
    /// Items stored (predictions) or recorded (labels).
    pub stored: u64,
    /// Items that were not stored (their own reason or their batch's error).
    pub failed: u64,
    /// Of `failed`, the items queued with [`PredictionBatcher::submit`], whose caller does not
    /// learn it otherwise.
    pub failed_unawaited: u64,
    /// Writes made (a batch with predictions and labels makes two).
    pub batches: u64,
    /// The most items one write held.
    pub largest_batch: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    stored: AtomicU64,
    failed: AtomicU64,
    failed_unawaited: AtomicU64,
    batches: AtomicU64,
    largest_batch: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> BatcherStats {
        BatcherStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            failed_unawaited: self.failed_unawaited.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
        }
    }
}

/// Where an item's result goes: to its awaiting caller, or only into the counters.
type Reply = Option<oneshot::Sender<Result<()>>>;

enum Item {
    Prediction(Prediction, Reply),
    Label(Label, Reply),
    /// Sent by [`PredictionBatcher::close`]: the worker closes the queue, writes what it holds
    /// and stops.
    Stop,
}

/// Coalesces single predictions and labels from many producers into batch writes; see the
/// [module documentation](self).
pub struct PredictionBatcher {
    sender: mpsc::Sender<Item>,
    counters: Arc<Counters>,
    closed: AtomicBool,
    worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
    config: BatcherConfig,
}

impl fmt::Debug for PredictionBatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PredictionBatcher")
            .field("config", &self.config)
            .field("stats", &self.counters.snapshot())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl PredictionBatcher {
    /// A batcher writing into `store`, its worker spawned on the current Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Configuration`] when called outside a Tokio runtime.
    pub fn new<S>(store: Arc<S>, config: BatcherConfig) -> Result<Self>
    where
        S: PredictionStore + ?Sized + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::configuration("a PredictionBatcher needs a Tokio runtime to run its worker")
        })?;
        let (sender, receiver) = mpsc::channel(config.queue);
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            store,
            receiver,
            counters: counters.clone(),
            max_batch: config.max_batch,
            max_delay: config.max_delay,
            max_in_flight: config.max_in_flight,
            carried: VecDeque::new(),
            busy: HashMap::new(),
            drained: false,
        };
        let worker = runtime.spawn(worker.run());
        Ok(Self {
            sender,
            counters,
            closed: AtomicBool::new(false),
            worker: Mutex::new(Some(worker)),
            config,
        })
    }

    /// The settings it batches with.
    pub fn config(&self) -> &BatcherConfig {
        &self.config
    }

    /// What it has done so far.
    pub fn stats(&self) -> BatcherStats {
        self.counters.snapshot()
    }

    /// Items accepted and not yet taken by a write.
    pub fn queued(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// Stores a prediction with the next batch, waiting for room in the queue; returns once
    /// its batch was committed.
    ///
    /// # Errors
    /// As [`PredictionStore::store_prediction`] for this prediction ([`Error::AlreadyExists`],
    /// [`Error::NotFound`]), the batch's error when its write failed as a whole, and
    /// [`Error::Unavailable`] once the batcher is closed.
    pub async fn store(&self, prediction: Prediction) -> Result<()> {
        let (reply, result) = oneshot::channel();
        self.enqueue(Item::Prediction(prediction, Some(reply)))
            .await?;
        Self::outcome(result).await
    }

    /// As [`store`](Self::store), but fails at once with [`Error::Unavailable`] when the queue
    /// is full instead of waiting for room.
    ///
    /// # Errors
    /// As [`store`](Self::store), and [`Error::Unavailable`] when the queue is full.
    pub async fn try_store(&self, prediction: Prediction) -> Result<()> {
        let (reply, result) = oneshot::channel();
        self.try_enqueue(Item::Prediction(prediction, Some(reply)))?;
        Self::outcome(result).await
    }

    /// Queues a prediction without waiting for its write (at-most-once: see the
    /// [module documentation](self)); waits only for room in the queue. A failure is counted in
    /// [`BatcherStats::failed_unawaited`].
    ///
    /// # Errors
    /// [`Error::Unavailable`] once the batcher is closed.
    pub async fn submit(&self, prediction: Prediction) -> Result<()> {
        self.enqueue(Item::Prediction(prediction, None)).await
    }

    /// Records a label with the next batch, waiting for room in the queue; returns once its
    /// batch was committed.
    ///
    /// # Errors
    /// As [`PredictionStore::record_actual`] ([`Error::NotFound`] for an unknown prediction),
    /// the batch's error when its write failed as a whole, and [`Error::Unavailable`] once the
    /// batcher is closed.
    pub async fn record(&self, label: Label) -> Result<()> {
        let (reply, result) = oneshot::channel();
        self.enqueue(Item::Label(label, Some(reply))).await?;
        Self::outcome(result).await
    }

    /// As [`record`](Self::record), but fails at once with [`Error::Unavailable`] when the
    /// queue is full.
    ///
    /// # Errors
    /// As [`record`](Self::record), and [`Error::Unavailable`] when the queue is full.
    pub async fn try_record(&self, label: Label) -> Result<()> {
        let (reply, result) = oneshot::channel();
        self.try_enqueue(Item::Label(label, Some(reply)))?;
        Self::outcome(result).await
    }

    /// Refuses new items, writes every item accepted before, and returns the final statistics.
    /// Calling it again returns the statistics at once.
    pub async fn close(&self) -> BatcherStats {
        self.closed.store(true, Ordering::SeqCst);
        let worker = self.worker.lock().expect("batcher worker lock").take();
        if let Some(worker) = worker {
            // The worker closes the queue when it takes the marker, then writes what the queue
            // still holds (every item accepted before) and stops. A send fails only when the
            // worker has stopped already.
            let _ = self.sender.send(Item::Stop).await;
            if let Err(e) = worker.await {
                tracing::error!(error = %e, "the batcher's worker ended abnormally");
            }
        }
        self.counters.snapshot()
    }

    fn closed_error() -> Error {
        Error::unavailable(NAME, "the prediction batcher is closed")
    }

    async fn enqueue(&self, item: Item) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Self::closed_error());
        }
        self.sender
            .send(item)
            .await
            .map_err(|_| Self::closed_error())?;
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn try_enqueue(&self, item: Item) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Self::closed_error());
        }
        self.sender.try_send(item).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::unavailable(
                NAME,
                format!(
                    "the prediction batcher's queue is full ({} items); retry, or use the \
                     waiting method",
                    self.config.queue
                ),
            ),
            mpsc::error::TrySendError::Closed(_) => Self::closed_error(),
        })?;
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn outcome(result: oneshot::Receiver<Result<()>>) -> Result<()> {
        result.await.unwrap_or_else(|_| {
            Err(Error::unavailable(
                NAME,
                "the prediction batcher stopped before writing this item",
            ))
        })
    }
}

impl Drop for PredictionBatcher {
    fn drop(&mut self) {
        let queued = self.queued();
        if !self.closed.load(Ordering::SeqCst) && queued > 0 {
            tracing::warn!(
                queued,
                "a PredictionBatcher was dropped without close(): {queued} accepted items were \
                 not written yet; the worker writes them only while the runtime keeps running"
            );
        }
    }
}

struct Worker<S: ?Sized> {
    store: Arc<S>,
    receiver: mpsc::Receiver<Item>,
    counters: Arc<Counters>,
    max_batch: usize,
    max_delay: Duration,
    max_in_flight: usize,
    /// Items taken from the queue that wait for a later batch: their id is in the batch being
    /// formed or in a write still running.
    carried: VecDeque<Item>,
    /// Ids of the writes still running, with how many items of each.
    busy: HashMap<Uuid, usize>,
    /// The queue is closed and empty: no item will come.
    drained: bool,
}

impl<S: PredictionStore + ?Sized + 'static> Worker<S> {
    async fn run(mut self) {
        let mut writes: JoinSet<()> = JoinSet::new();
        // The ids of each running write, by task.
        let mut running: HashMap<tokio::task::Id, Vec<Uuid>> = HashMap::new();
        loop {
            while let Some(done) = writes.try_join_next_with_id() {
                self.release(&mut running, done);
            }
            if writes.len() >= self.max_in_flight {
                if let Some(done) = writes.join_next_with_id().await {
                    self.release(&mut running, done);
                }
                continue;
            }
            let batch = self.next_batch().await;
            if batch.is_empty() {
                // Nothing can start now: the carried items wait for a running write, or the
                // queue is closed and drained.
                match writes.join_next_with_id().await {
                    Some(done) => self.release(&mut running, done),
                    None if self.drained && self.carried.is_empty() => return,
                    None => {}
                }
                continue;
            }
            let ids: Vec<Uuid> = batch.iter().filter_map(Item::id).collect();
            for id in &ids {
                *self.busy.entry(*id).or_default() += 1;
            }
            let (store, counters) = (self.store.clone(), self.counters.clone());
            let task = writes.spawn(async move { write(store.as_ref(), &counters, batch).await });
            running.insert(task.id(), ids);
        }
    }

    /// Forgets the ids of a finished write, whether it returned or panicked.
    fn release(
        &mut self,
        running: &mut HashMap<tokio::task::Id, Vec<Uuid>>,
        done: std::result::Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    ) {
        let task = match done {
            Ok((task, ())) => task,
            Err(e) => {
                tracing::error!(error = %e, "a batch write of the prediction batcher panicked");
                e.id()
            }
        };
        for id in running.remove(&task).unwrap_or_default() {
            if let Some(n) = self.busy.get_mut(&id) {
                *n -= 1;
                if *n == 0 {
                    self.busy.remove(&id);
                }
            }
        }
    }

    /// The next batch: carried items first, then what is queued, waiting for the first item
    /// (unless items are carried) and up to `max_delay` for more. Empty when every carried
    /// item waits for a running write, or the queue is closed and drained.
    async fn next_batch(&mut self) -> Vec<Item> {
        let mut batch = Vec::with_capacity(self.max_batch.min(1024));
        let mut ids = HashSet::new();
        let carried = std::mem::take(&mut self.carried);
        for item in carried {
            self.push(&mut batch, &mut ids, item);
        }
        if !self.carried.is_empty() && batch.is_empty() {
            return batch;
        }
        if batch.is_empty() && !self.drained {
            match self.receiver.recv().await {
                Some(item) => self.push(&mut batch, &mut ids, item),
                None => self.drained = true,
            }
        }
        while batch.len() < self.max_batch && !self.drained {
            match self.receiver.try_recv() {
                Ok(item) => self.push(&mut batch, &mut ids, item),
                Err(mpsc::error::TryRecvError::Disconnected) => self.drained = true,
                Err(mpsc::error::TryRecvError::Empty) => break,
            }
        }
        if batch.len() < self.max_batch && !self.max_delay.is_zero() && !self.drained {
            let deadline = tokio::time::Instant::now() + self.max_delay;
            while batch.len() < self.max_batch {
                match tokio::time::timeout_at(deadline, self.receiver.recv()).await {
                    Ok(Some(item)) => self.push(&mut batch, &mut ids, item),
                    Ok(None) => {
                        self.drained = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        batch
    }

    /// Adds `item` to the batch, or carries it to a later one when its id is in the batch
    /// already (a batch may not hold an id twice) or in a running write (so that writes of one
    /// id commit in the order they were queued, and a label follows its prediction).
    fn push(&mut self, batch: &mut Vec<Item>, ids: &mut HashSet<(bool, Uuid)>, item: Item) {
        let key = match &item {
            Item::Prediction(p, _) => (true, p.id()),
            Item::Label(l, _) => (false, l.id()),
            Item::Stop => {
                self.receiver.close();
                return;
            }
        };
        if !self.carried.is_empty() || self.busy.contains_key(&key.1) || !ids.insert(key) {
            // Once one item waits, the ones after it wait too, keeping the queue's order.
            self.carried.push_back(item);
        } else {
            batch.push(item);
        }
    }
}

impl Item {
    fn id(&self) -> Option<Uuid> {
        match self {
            Item::Prediction(p, _) => Some(p.id()),
            Item::Label(l, _) => Some(l.id()),
            Item::Stop => None,
        }
    }
}

/// Writes a batch (its predictions, then its labels) and sends each item its result.
async fn write<S: PredictionStore + ?Sized>(store: &S, counters: &Counters, batch: Vec<Item>) {
    let mut predictions = Vec::new();
    let mut prediction_replies = Vec::new();
    let mut labels = Vec::new();
    let mut label_replies = Vec::new();
    for item in batch {
        match item {
            Item::Prediction(p, reply) => {
                predictions.push(p);
                prediction_replies.push(reply);
            }
            Item::Label(l, reply) => {
                labels.push(l);
                label_replies.push(reply);
            }
            Item::Stop => {}
        }
    }
    let options = BatchOptions::default()
        .on_conflict(OnProblem::Skip)
        .on_missing(OnProblem::Skip);
    if !predictions.is_empty() {
        let outcome = store.store_predictions_with(&predictions, options).await;
        settle(
            counters,
            outcome,
            prediction_replies,
            |index, reason| match reason {
                SkipReason::AlreadyExists => {
                    Error::already_exists(format!("prediction {}", predictions[index].id()))
                }
                SkipReason::NotFound => Error::version_not_found(
                    predictions[index].model(),
                    predictions[index].version(),
                ),
            },
        );
    }
    if !labels.is_empty() {
        let outcome = store.record_actuals_with(&labels, options).await;
        settle(counters, outcome, label_replies, |index, _| {
            Error::not_found(format!("prediction {}", labels[index].id()))
        });
    }
}

/// Sends each item its result and counts them.
fn settle(
    c: &Counters,
    outcome: Result<crate::BatchOutcome>,
    replies: Vec<Reply>,
    skipped_error: impl Fn(usize, SkipReason) -> Error,
) {
    c.batches.fetch_add(1, Ordering::Relaxed);
    c.largest_batch
        .fetch_max(replies.len() as u64, Ordering::Relaxed);
    let mut results: Vec<Result<()>> = match outcome {
        Ok(outcome) => {
            let mut results: Vec<Result<()>> = replies.iter().map(|_| Ok(())).collect();
            for s in &outcome.skipped {
                results[s.index] = Err(skipped_error(s.index, s.reason));
            }
            results
        }
        Err(e) => replies.iter().map(|_| Err(e.clone())).collect(),
    };
    for (reply, result) in replies.into_iter().zip(results.drain(..)) {
        match &result {
            Ok(()) => c.stored.fetch_add(1, Ordering::Relaxed),
            Err(_) => {
                if reply.is_none() {
                    c.failed_unawaited.fetch_add(1, Ordering::Relaxed);
                }
                c.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        if let Some(reply) = reply {
            // A caller that stopped waiting has its item written all the same.
            let _ = reply.send(result);
        }
    }
}
