//! Retention: removing old predictions while what monitoring needs of them stays.
//!
//! [`prune_predictions`](crate::PredictionStore::prune_predictions) removes the predictions
//! made before a cut-off, of one model version, one model or every model ([`Prune`]). What
//! pruning keeps:
//!
//! - the **hourly sums** behind [`bucket_sums`](crate::PredictionStore::bucket_sums) (and so
//!   every series by hour, day or week): a year of daily accuracy stays queryable after 90-day
//!   raw retention. Minute buckets are computed from the raw predictions and lose the pruned
//!   ones.
//! - **baselines**, the registry, aliases and history: pruning changes none of them.
//!
//! A [`Retention`] policy per model (`keep 90 days`) is stored with
//! [`set_retention`](crate::PredictionStore::set_retention) and applied by [`maintain`], which
//! also prepares the storage ahead of time
//! ([`prepare_storage`](crate::PredictionStore::prepare_storage): on PostgreSQL, the monthly
//! partitions of the coming months).
//!
//! How each backend prunes:
//! - **PostgreSQL** keeps predictions in monthly partitions: a prune of every model detaches
//!   and drops the partitions that lie entirely before the cut-off (the cost does not grow with
//!   their rows; the global id index entries of their rows are then removed) and deletes rows
//!   only in the partition that holds the cut-off. A prune of one model or version deletes its
//!   rows in bounded batches.
//! - **SQLite** deletes in bounded batches, each its own short transaction (sized to hold the
//!   write lock for about [`BATCH_TARGET`] at most), so other writers keep going; a prune that
//!   is stopped half-way leaves a consistent database and the next prune finishes it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{time, Error, ModelName, Result, Store, Timestamp, Version};

/// The time a batch of a batched prune aims to hold the write lock (SQLite): batches grow while
/// they take less than half of it and shrink when they take more.
pub const BATCH_TARGET: Duration = Duration::from_millis(50);

/// Sizes the batches of a batched delete so that each transaction takes about
/// [`BATCH_TARGET`]: a batch twice as large after a full one that took under half of it, half
/// as large after one that took longer, between 100 and 100,000 rows. A batch that found fewer
/// rows than its size says nothing about a full one, so it never grows the next.
///
/// ```
/// use std::time::Duration;
/// use mlstore_core::retention::BatchSizer;
/// let mut sizer = BatchSizer::default();
/// assert_eq!(sizer.size(), 1000);
/// sizer.record(Duration::from_millis(5), 1000);
/// assert_eq!(sizer.size(), 2000);
/// sizer.record(Duration::from_millis(1), 10);
/// assert_eq!(sizer.size(), 2000);
/// sizer.record(Duration::from_millis(80), 2000);
/// assert_eq!(sizer.size(), 1000);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BatchSizer {
    size: u64,
}

impl Default for BatchSizer {
    fn default() -> Self {
        Self { size: 1000 }
    }
}

impl BatchSizer {
    /// The number of rows the next batch should remove.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adjusts the size after a batch that removed `removed` rows in `elapsed`.
    pub fn record(&mut self, elapsed: Duration, removed: u64) {
        if elapsed > BATCH_TARGET {
            self.size = (self.size / 2).max(100);
        } else if removed >= self.size && elapsed < BATCH_TARGET / 2 {
            self.size = (self.size * 2).min(100_000);
        }
    }
}

impl BatchSizer {
    /// Runs `batch(size)`, a delete of at most `size` rows in a transaction of its own that
    /// returns how many it removed, until one removes nothing (a short batch is not the end:
    /// a concurrent prune may have taken rows from it); sizes each batch from the ones before,
    /// and adds what they removed to `outcome` (the backends' batched prunes).
    ///
    /// # Errors
    /// The first error of a batch; the batches before it stay done.
    pub async fn run<F, Fut>(&mut self, outcome: &mut PruneOutcome, mut batch: F) -> Result<()>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = Result<u64>>,
    {
        loop {
            let size = self.size;
            let started = std::time::Instant::now();
            let removed = batch(size).await?;
            self.record(started.elapsed(), removed);
            if removed > 0 {
                outcome.predictions += removed;
                outcome.batches += 1;
            }
            if removed == 0 {
                return Ok(());
            }
        }
    }
}

/// How many months after the current one [`PredictionStore::prepare_storage`] prepares
/// (PostgreSQL creates their partitions).
///
/// [`PredictionStore::prepare_storage`]: crate::PredictionStore::prepare_storage
pub const MONTHS_AHEAD: u32 = 3;

/// Which predictions a [`Prune`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneScope {
    /// Every model's.
    All,
    /// Every version's of one model.
    Model(ModelName),
    /// One model version's.
    Version(ModelName, Version),
}

/// A request to remove the predictions made before a cut-off ([`PredictionStore::prune_predictions`]).
///
/// ```
/// use mlstore_core::retention::Prune;
/// use mlstore_core::{time, ModelName};
/// let cutoff = time::parse_instant("90d", time::now()).unwrap();
/// let prune = Prune::before(cutoff).model(ModelName::new("fraud").unwrap()).dry_run(true);
/// assert!(prune.is_dry_run());
/// ```
///
/// [`PredictionStore::prune_predictions`]: crate::PredictionStore::prune_predictions
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prune {
    before: Timestamp,
    scope: PruneScope,
    dry_run: bool,
}

impl Prune {
    /// Every model's predictions made before `before` (strictly: a prediction made at `before`
    /// stays).
    pub fn before(before: Timestamp) -> Self {
        Self {
            before,
            scope: PruneScope::All,
            dry_run: false,
        }
    }

    /// Only the predictions of model `name` (every version).
    pub fn model(mut self, name: ModelName) -> Self {
        self.scope = PruneScope::Model(name);
        self
    }

    /// Only the predictions of one model version.
    pub fn version(mut self, name: ModelName, version: Version) -> Self {
        self.scope = PruneScope::Version(name, version);
        self
    }

    /// Count what would be removed, and remove nothing.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// The cut-off: predictions made before it are removed.
    pub fn cutoff(&self) -> Timestamp {
        self.before
    }

    /// Which predictions the prune applies to.
    pub fn scope(&self) -> &PruneScope {
        &self.scope
    }

    /// Whether the prune only counts.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// Checks the cut-off lies in the supported time range.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `before`) otherwise.
    pub fn check(&self) -> Result<()> {
        time::check("before", &self.before)
    }
}

/// What a prune removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneOutcome {
    /// Predictions removed (or that would be).
    pub predictions: u64,
    /// Whole partitions dropped (PostgreSQL; 0 elsewhere and in a dry run).
    pub partitions_dropped: u64,
    /// Transactions the row deletes took (batched prunes).
    pub batches: u64,
    /// Whether this was a dry run: nothing was removed.
    pub dry_run: bool,
}

impl PruneOutcome {
    /// Adds `other`'s counts to this outcome's.
    pub fn add(&mut self, other: &PruneOutcome) {
        self.predictions += other.predictions;
        self.partitions_dropped += other.partitions_dropped;
        self.batches += other.batches;
    }
}

/// How long a model's predictions are kept ([`PredictionStore::set_retention`]).
///
/// [`PredictionStore::set_retention`]: crate::PredictionStore::set_retention
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Retention {
    keep_seconds: i64,
}

/// The longest retention: about 10,000 years, the whole supported time range.
const MAX_KEEP_SECONDS: i64 = 316_000_000_000;

impl Retention {
    /// Keep predictions for `keep_seconds` seconds after they were made.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `keep`) unless it is at least one second and at most the
    /// supported time range.
    pub fn from_seconds(keep_seconds: i64) -> Result<Self> {
        if !(1..=MAX_KEEP_SECONDS).contains(&keep_seconds) {
            return Err(Error::invalid(
                "keep",
                format!("{keep_seconds} s is not a retention: give 1 s to {MAX_KEEP_SECONDS} s"),
            ));
        }
        Ok(Self { keep_seconds })
    }

    /// Reads a retention as people write one: `90d`, `12w`, `36h` (see
    /// [`time::parse_age`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `keep`) for anything else, or a length of 0.
    pub fn parse(text: &str) -> Result<Self> {
        let age = time::parse_age(text.trim()).ok_or_else(|| {
            Error::invalid(
                "keep",
                format!("{text:?} is not a length of time such as 90d, 12w or 36h"),
            )
        })?;
        Self::from_seconds(age.num_seconds())
    }

    /// How long predictions are kept, in seconds.
    pub fn keep_seconds(&self) -> i64 {
        self.keep_seconds
    }

    /// The cut-off at `now`: predictions made before it are past their retention (never
    /// earlier than [`time::MIN`]).
    pub fn cutoff(&self, now: Timestamp) -> Timestamp {
        now.checked_sub_signed(chrono::Duration::seconds(self.keep_seconds))
            .filter(|t| *t >= time::MIN)
            .unwrap_or(time::MIN)
    }
}

/// Written in the largest unit that divides it: `90d`, `2w`, `36h`, `90s`.
impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.keep_seconds;
        for (unit, seconds) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
            if s % seconds == 0 {
                return write!(f, "{}{unit}", s / seconds);
            }
        }
        write!(f, "{s}s")
    }
}

impl Serialize for Retention {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Retention::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One model's retention applied by [`maintain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPruned {
    /// The model.
    pub model: ModelName,
    /// Its policy.
    pub keep: Retention,
    /// The cut-off it gave.
    pub before: Timestamp,
    /// What was removed.
    pub outcome: PruneOutcome,
}

/// What [`maintain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    /// Storage prepared ahead (PostgreSQL: monthly partitions created).
    pub partitions_created: u64,
    /// When every model has a policy (and not in a dry run): the prune of every model before
    /// the earliest cut-off, done first so that whole partitions are dropped (PostgreSQL).
    pub common: Option<(Timestamp, PruneOutcome)>,
    /// Each model with a policy, by name.
    pub models: Vec<ModelPruned>,
}

impl Maintenance {
    /// Predictions removed in all.
    pub fn predictions(&self) -> u64 {
        self.common.map_or(0, |(_, o)| o.predictions)
            + self
                .models
                .iter()
                .map(|m| m.outcome.predictions)
                .sum::<u64>()
    }
}

/// Maintains a store at `now`: prepares storage ahead ([`PredictionStore::prepare_storage`]),
/// then applies every model's [`Retention`] policy (in a dry run, counts what it would remove
/// and changes nothing, partitions included).
///
/// When every registered model has a policy, the predictions before the earliest of their
/// cut-offs are pruned first for every model at once, so that PostgreSQL drops whole monthly
/// partitions instead of deleting their rows; then each model is pruned to its own cut-off.
/// Models without a policy keep their predictions (a model registered while maintenance runs
/// may lose predictions older than that earliest cut-off).
///
/// # Errors
/// What the store's operations return.
///
/// [`PredictionStore::prepare_storage`]: crate::PredictionStore::prepare_storage
pub async fn maintain<S: Store + ?Sized>(
    store: &S,
    now: Timestamp,
    dry_run: bool,
) -> Result<Maintenance> {
    let mut report = Maintenance::default();
    if !dry_run {
        report.partitions_created = store.prepare_storage(now).await?;
    }
    let policies = store.retention_policies().await?;
    let models = store.list_models().await?;
    let applied: Vec<_> = policies
        .into_iter()
        .filter(|(name, _)| models.binary_search(name).is_ok())
        .collect();
    // A dry run skips it: each model's own count below already covers what it would remove.
    if !dry_run && !models.is_empty() && applied.len() == models.len() {
        if let Some(earliest) = applied.iter().map(|(_, keep)| keep.cutoff(now)).min() {
            let outcome = store
                .prune_predictions(&Prune::before(earliest).dry_run(dry_run))
                .await?;
            report.common = Some((earliest, outcome));
        }
    }
    for (model, keep) in applied {
        let before = keep.cutoff(now);
        let outcome = store
            .prune_predictions(&Prune::before(before).model(model.clone()).dry_run(dry_run))
            .await?;
        report.models.push(ModelPruned {
            model,
            keep,
            before,
            outcome,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_and_writes_lengths() {
        for (text, seconds, shown) in [
            ("90d", 7_776_000, "90d"),
            ("14d", 1_209_600, "2w"),
            ("36h", 129_600, "36h"),
            ("90s", 90, "90s"),
            ("120m", 7200, "2h"),
        ] {
            let r = Retention::parse(text).unwrap();
            assert_eq!(r.keep_seconds(), seconds, "{text}");
            assert_eq!(r.to_string(), shown, "{text}");
            assert_eq!(Retention::parse(&r.to_string()).unwrap(), r);
        }
        for bad in ["", "0d", "90", "-3d", "3y", "999999999999w"] {
            let err = Retention::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { field: "keep", .. }),
                "{bad}: {err}"
            );
        }
        let json = serde_json::to_string(&Retention::parse("90d").unwrap()).unwrap();
        assert_eq!(json, "\"90d\"");
        assert!(serde_json::from_str::<Retention>("\"0s\"").is_err());
    }

    #[test]
    fn cutoffs_stay_in_range() {
        let now = time::now();
        let r = Retention::parse("7d").unwrap();
        assert_eq!(r.cutoff(now), now - chrono::Duration::days(7));
        let long = Retention::from_seconds(MAX_KEEP_SECONDS).unwrap();
        assert_eq!(long.cutoff(now), time::MIN);
        let prune = Prune::before(time::end_of_range());
        assert!(matches!(
            prune.check().unwrap_err(),
            Error::InvalidInput {
                field: "before",
                ..
            }
        ));
    }
}
