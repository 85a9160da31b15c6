//! The store traits: the contract every backend implements and every decorator forwards.
//!
//! Each method's **Behavior** list is the contract; each bullet has a conformance check in
//! [`crate::conformance`] (feature `conformance`) with the same wording.

use std::fmt::{self, Debug};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::monitoring::{
    BucketSums, Comparison, DriftReport, DriftThresholds, MetricsOptions, Series, SeriesQuery,
    WindowMetrics, WindowRow,
};
use crate::retention::{Prune, PruneOutcome, Retention};
use crate::{
    Accuracy, Alias, BatchOptions, BatchOutcome, ConfidenceBaseline, Error, EventPage, EventQuery,
    Label, ModelMetadata, ModelName, ModelPage, ModelQuery, Prediction, PredictionFilter, Result,
    ScanOptions, ScanPage, Timestamp, Version, VersionPage, VersionQuery, Window,
};

/// Identifies the database a store reads and writes: two handles on one database have the same
/// id however their URLs are spelled, and two databases never share one. Backends create it
/// with the schema and keep it in the database; caches key their shared entries by it, so that
/// two deployments sharing one Redis never see each other's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatabaseId(Uuid);

impl DatabaseId {
    /// The id `uuid` (as read from a database).
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// A new random id (for a new database).
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for DatabaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.simple(), f)
    }
}

/// The model registry: model versions, their metadata, "latest" and aliases.
///
/// Every method is atomic: it either happens completely or not at all.
#[async_trait]
pub trait ModelRegistry: Debug + Send + Sync {
    /// The id of the database this store works on (see [`DatabaseId`]). Cheap: read when the
    /// store opens.
    fn database_id(&self) -> DatabaseId;

    /// Registers a new model version.
    ///
    /// # Behavior
    /// - The version can then be read back with [`get`](Self::get), equal to what was given.
    /// - A duplicate name + version returns [`crate::Error::AlreadyExists`] and changes nothing.
    /// - The name appears in [`list_models`](Self::list_models) and the version in
    ///   [`versions`](Self::versions).
    async fn register(&self, metadata: &ModelMetadata) -> Result<()>;

    /// Reads one model version.
    ///
    /// # Behavior
    /// - Returns `None` when the name or the version is not registered.
    async fn get(&self, name: &ModelName, version: &Version) -> Result<Option<ModelMetadata>>;

    /// Reads the version of `name` with the highest SemVer precedence (`1.10.0 > 1.9.0`,
    /// `1.0.0 > 1.0.0-rc.1`), whatever the order of registration.
    ///
    /// # Behavior
    /// - Returns `None` when the name has no versions.
    async fn latest(&self, name: &ModelName) -> Result<Option<ModelMetadata>>;

    /// Lists every version of `name`, ascending by SemVer precedence.
    ///
    /// # Behavior
    /// - Returns an empty list when the name is not registered.
    async fn versions(&self, name: &ModelName) -> Result<Vec<ModelMetadata>>;

    /// Lists the names that have at least one version, ascending by their bytes.
    ///
    /// # Behavior
    /// - A name whose last version was deleted is no longer listed.
    async fn list_models(&self) -> Result<Vec<ModelName>>;

    /// Replaces the metadata of an existing version (identified by its name and version) with
    /// `metadata`, except `created_at`, which keeps the registration time.
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the version is not registered, and writes nothing.
    async fn update(&self, metadata: &ModelMetadata) -> Result<()>;

    /// Deletes a version with its predictions, its baseline and the aliases that point at it.
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the version is not registered.
    /// - Predictions of other versions, and other versions' aliases and baselines, are untouched.
    async fn delete(&self, name: &ModelName, version: &Version) -> Result<()>;

    /// Points `alias` of model `name` at `version`, creating the alias or moving it.
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the version is not registered, and writes nothing
    ///   (an existing alias keeps pointing where it did).
    async fn set_alias(&self, name: &ModelName, alias: &Alias, version: &Version) -> Result<()>;

    /// Resolves `alias` of model `name` to the version it points at.
    ///
    /// # Behavior
    /// - Returns `None` when the alias does not exist (or its version was deleted).
    async fn resolve_alias(&self, name: &ModelName, alias: &Alias) -> Result<Option<Version>>;

    /// Lists the aliases of model `name` with the versions they point at, by alias.
    ///
    /// # Behavior
    /// - Returns an empty list when the model has no aliases (or no versions).
    async fn aliases(&self, name: &ModelName) -> Result<Vec<(Alias, Version)>>;

    /// The version `alias` of `name` pointed at, at time `at`: after its last set or rollback
    /// made at or before `at`.
    ///
    /// # Behavior
    /// - Returns `None` before the alias was first set, and while it was removed (also by the
    ///   deletion of its version).
    /// - A time in the future gives the alias's current target.
    async fn resolve_alias_at(
        &self,
        name: &ModelName,
        alias: &Alias,
        at: Timestamp,
    ) -> Result<Option<Version>>;

    /// Moves `alias` of `name` back to the version it pointed at before its last move, in one
    /// atomic step, and records the rollback; returns that version. Rollbacks walk back the
    /// alias's moves one at a time ([`crate::history::rollback_target`]).
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the alias has no earlier target (set once,
    ///   missing, or set again after a removal), or that version was deleted; nothing changes.
    /// - The alias then resolves to the earlier version, and a second rollback goes one step
    ///   further back.
    async fn rollback_alias(&self, name: &ModelName, alias: &Alias) -> Result<Version>;

    /// Reads the registry's event log: every change (registered, updated with the fields that
    /// changed, deleted; alias set, removed, rolled back; baseline written) with its sequence
    /// number, time and actor ([`crate::history`]).
    ///
    /// # Behavior
    /// - Every successful change records exactly one event (a deletion also one removal per
    ///   alias of the version), in the same transaction; a failed change records none.
    /// - Events come in sequence order (oldest or newest first), filtered by model, alias, kind
    ///   and time, a page at a time; following `next` visits each event exactly once.
    /// - A limit of 0 or above [`crate::limits::MAX_RECENT_LIMIT`], or an alias filter without
    ///   a model, returns [`crate::Error::InvalidInput`].
    async fn events(&self, query: &EventQuery) -> Result<EventPage>;

    /// A page of the versions of `name` by SemVer precedence, after the query's cursor,
    /// filtered by status and tag.
    ///
    /// # Behavior
    /// - Returns an empty page when the name is not registered.
    /// - Following `next` visits every matching version exactly once, also while versions are
    ///   registered meanwhile (the cursor is a version, not an offset).
    /// - A page size of 0 or above [`crate::limits::MAX_RECENT_LIMIT`] returns
    ///   [`crate::Error::InvalidInput`] (field `page_size`).
    async fn versions_page(&self, name: &ModelName, query: &VersionQuery) -> Result<VersionPage>;

    /// A page of the model names (by their bytes) after the query's cursor, of models with a
    /// version that passes the filter.
    ///
    /// # Behavior
    /// - Following `next` visits every matching name exactly once.
    /// - A page size of 0 or above [`crate::limits::MAX_RECENT_LIMIT`] returns
    ///   [`crate::Error::InvalidInput`] (field `page_size`).
    async fn models_page(&self, query: &ModelQuery) -> Result<ModelPage>;

    /// Removes `alias` of model `name`.
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the alias does not exist.
    async fn remove_alias(&self, name: &ModelName, alias: &Alias) -> Result<()>;
}

/// The prediction store: predictions, late labels, recent predictions, accuracy and confidence
/// baselines, each belonging to one registered model version.
///
/// "Newest" means the greatest `(timestamp, id)`: by timestamp, and between predictions with the
/// same timestamp by id (UUID byte order), so that every backend agrees on the order.
#[async_trait]
pub trait PredictionStore: Debug + Send + Sync {
    /// Stores one prediction.
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when its model version is not registered; nothing is
    ///   written.
    /// - Returns [`crate::Error::AlreadyExists`] when a prediction with the same id exists; the
    ///   stored one is unchanged.
    /// - A prediction stored with an `actual` label counts in [`accuracy`](Self::accuracy).
    async fn store_prediction(&self, prediction: &Prediction) -> Result<()>;

    /// Stores a batch of predictions, all or nothing.
    ///
    /// # Behavior
    /// - An empty batch does nothing and succeeds.
    /// - More than [`crate::limits::MAX_BATCH_LEN`] predictions return
    ///   [`crate::Error::InvalidInput`] (field `batch`); nothing is written.
    /// - The same id twice in the batch returns [`crate::Error::InvalidInput`] (field `id`);
    ///   nothing is written.
    /// - Any prediction whose model version is not registered returns [`crate::Error::NotFound`];
    ///   nothing is written.
    /// - Any id that is already stored returns [`crate::Error::AlreadyExists`]; nothing is written.
    /// - When several of these apply, InvalidInput comes before NotFound, and NotFound before
    ///   AlreadyExists.
    async fn store_predictions(&self, predictions: &[Prediction]) -> Result<()>;

    /// Stores a batch of predictions, skipping (and reporting) the ones that cannot be stored
    /// when `options` says so; the stored ones are written together, atomically.
    ///
    /// # Behavior
    /// - With the default options it is [`store_predictions`](Self::store_predictions): all or
    ///   nothing, and the outcome reports every prediction stored.
    /// - More than [`crate::limits::MAX_BATCH_LEN`] predictions, or an id twice in the batch,
    ///   return [`crate::Error::InvalidInput`] whatever the options; nothing is written.
    /// - With `on_conflict(Skip)`, a prediction whose id is already stored is skipped
    ///   ([`crate::SkipReason::AlreadyExists`]), the stored one unchanged, and the rest stored.
    /// - With `on_missing(Skip)`, a prediction whose model version is not registered is skipped
    ///   ([`crate::SkipReason::NotFound`]) and the rest stored.
    async fn store_predictions_with(
        &self,
        predictions: &[Prediction],
        options: BatchOptions,
    ) -> Result<BatchOutcome>;

    /// Records the actual label of a stored prediction (replacing an earlier label, if any).
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when no prediction has that id; nothing is written.
    /// - The prediction then counts in [`accuracy`](Self::accuracy), correct when the label equals
    ///   the prediction as a value ([`crate::labels_match`]: `3` equals `3.0`).
    async fn record_actual(&self, id: Uuid, actual: &Value) -> Result<()>;

    /// Records a batch of labels, all or nothing.
    ///
    /// # Behavior
    /// - An empty batch does nothing and succeeds.
    /// - More than [`crate::limits::MAX_BATCH_LEN`] labels return [`crate::Error::InvalidInput`]
    ///   (field `batch`); the same id twice returns [`crate::Error::InvalidInput`] (field `id`);
    ///   nothing is written.
    /// - Any id with no stored prediction returns [`crate::Error::NotFound`]; nothing is written.
    async fn record_actuals(&self, labels: &[Label]) -> Result<()>;

    /// Records a batch of labels, skipping (and reporting) the ones whose prediction does not
    /// exist when `options` says so; the others are written together, atomically.
    ///
    /// # Behavior
    /// - With the default options it is [`record_actuals`](Self::record_actuals): all or
    ///   nothing.
    /// - With `on_missing(Skip)`, a label whose prediction does not exist is skipped
    ///   ([`crate::SkipReason::NotFound`]) and the rest recorded.
    async fn record_actuals_with(
        &self,
        labels: &[Label],
        options: BatchOptions,
    ) -> Result<BatchOutcome>;

    /// Reads one prediction by its id.
    ///
    /// # Behavior
    /// - Returns `None` when no prediction has that id.
    async fn prediction(&self, id: Uuid) -> Result<Option<Prediction>>;

    /// Counts the predictions `filter` selects.
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the filter names a model with no versions or a
    ///   version that is not registered.
    /// - A window with a count returns [`crate::Error::InvalidInput`] (field `last`).
    /// - Counts only predictions made in the window's range, and only labelled ones when the
    ///   filter says so.
    async fn count_predictions(&self, filter: &PredictionFilter) -> Result<u64>;

    /// Reads a page of a model version's predictions in `(timestamp, id)` order, oldest first,
    /// starting at the options' cursor; the page's `next` cursor continues the scan.
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered.
    /// - Following `next` until it is `None` visits every prediction of the range exactly once,
    ///   also when many share a timestamp; only labelled ones when the options say so.
    /// - A page size of 0 or above [`crate::limits::MAX_RECENT_LIMIT`] returns
    ///   [`crate::Error::InvalidInput`] (field `page_size`).
    async fn scan_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        options: ScanOptions,
    ) -> Result<ScanPage>;

    /// Reads the newest predictions of a model version in `window`, newest first.
    ///
    /// # Behavior
    /// - A window without a count, or a count of 0 or above
    ///   [`crate::limits::MAX_RECENT_LIMIT`], returns [`crate::Error::InvalidInput`] (field
    ///   `last`); a start not before the end returns [`crate::Error::InvalidInput`] (field
    ///   `window`).
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered.
    /// - Returns fewer than the count when fewer exist in the window (none: an empty list).
    /// - Only predictions made in `[since, until)` of the window are returned.
    async fn recent_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<Prediction>>;

    /// Accuracy over the labelled predictions of a model version in `window`: with a count, the
    /// newest that many labelled predictions (of the range, if one is given).
    ///
    /// # Behavior
    /// - A count of 0 or above [`crate::limits::MAX_WINDOW_LAST`] returns
    ///   [`crate::Error::InvalidInput`] (field `last`); a start not before the end returns
    ///   [`crate::Error::InvalidInput`] (field `window`).
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered.
    /// - Unlabelled predictions are not counted; with no labelled prediction the total is 0 and
    ///   the ratio `None`.
    /// - Only predictions made in `[since, until)` of the window are counted.
    async fn accuracy(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Accuracy>;

    /// The few numbers monitoring needs of each prediction in `window` (never its features),
    /// newest first: confidence, and for labelled ones whether they were right, the label lag,
    /// their numeric values and their classes ([`WindowRow`]).
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered.
    /// - A count of 0 or above [`crate::limits::MAX_WINDOW_LAST`], or a start not before the end,
    ///   returns [`crate::Error::InvalidInput`] (fields `last`, `window`).
    /// - Returns one row per prediction in the window, labelled ones with their label's
    ///   correctness, numbers and classes, and the lag from the prediction to the label write.
    async fn window_rows(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<WindowRow>>;

    /// The confidences of the predictions in `window`, ascending (for baselines and drift).
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered, and
    ///   [`crate::Error::InvalidInput`] for a bad window, as [`window_rows`](Self::window_rows).
    /// - Returns the confidences of exactly the predictions `window_rows` returns, ascending.
    async fn window_confidences(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<f64>>;

    /// Per-hour sums of a model version's predictions in the query's range widened to whole
    /// buckets (per-minute sums for minute buckets), kept as predictions and labels are
    /// written, so that a series costs the number of buckets, not of predictions.
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered, and
    ///   [`crate::Error::InvalidInput`] for a bad range (fields `window`, `bucket`).
    /// - Returns one entry per hour (minute) holding predictions, oldest first, with the sums of
    ///   [`BucketSums::of_row`] over them; labels written later (and relabels) are included.
    async fn bucket_sums(
        &self,
        model: &ModelName,
        version: &Version,
        query: &SeriesQuery,
    ) -> Result<Vec<BucketSums>>;

    /// Removes the predictions of the prune's scope made before its cut-off, keeping their
    /// hourly sums ([`crate::retention`] says how each backend does it).
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the scope names a model with no versions or a
    ///   version that is not registered; nothing is removed.
    /// - A cut-off outside the supported time range returns [`crate::Error::InvalidInput`]
    ///   (field `before`); nothing is removed.
    /// - Removes exactly the predictions of the scope made before the cut-off: they are then
    ///   not found by id, labels for them return [`crate::Error::NotFound`], and no count,
    ///   window or scan includes them; predictions made at or after the cut-off, and other
    ///   models' predictions, stay as they were.
    /// - Returns how many were removed; a dry run returns how many would be, and removes nothing.
    /// - Hourly bucket sums ([`bucket_sums`](Self::bucket_sums) by hour) and baselines are
    ///   unchanged.
    async fn prune_predictions(&self, prune: &Prune) -> Result<PruneOutcome>;

    /// Stores (`Some`) or removes (`None`) the retention policy of model `name`
    /// ([`crate::retention::maintain`] applies it). A policy belongs to the name: it stays
    /// when the model's last version is deleted, and applies again if the name is registered
    /// again.
    ///
    /// # Behavior
    /// - Storing a policy for a name with no versions returns [`crate::Error::NotFound`].
    /// - A stored policy is listed by [`retention_policies`](Self::retention_policies), and
    ///   replaced by the next one stored; removing one that does not exist does nothing.
    async fn set_retention(&self, name: &ModelName, keep: Option<Retention>) -> Result<()>;

    /// Every stored retention policy, by model name (ascending by its bytes).
    ///
    /// # Behavior
    /// - Returns an empty list when no policy is stored.
    async fn retention_policies(&self) -> Result<Vec<(ModelName, Retention)>>;

    /// Prepares storage for the predictions of the coming months: on PostgreSQL, creates the
    /// monthly partitions from `now`'s month to [`crate::retention::MONTHS_AHEAD`] months
    /// after it. Returns how many were created (always 0 where nothing needs preparing).
    ///
    /// # Behavior
    /// - A second call with the same `now` creates nothing.
    async fn prepare_storage(&self, now: Timestamp) -> Result<u64>;

    /// Stores the confidence baseline of a model version, replacing any earlier one (upsert).
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered; nothing is
    ///   written.
    async fn store_baseline(&self, baseline: &ConfidenceBaseline) -> Result<()>;

    /// Reads the confidence baseline of a model version.
    ///
    /// # Behavior
    /// - Returns `None` when no baseline was stored (or the version is not registered).
    async fn baseline(
        &self,
        model: &ModelName,
        version: &Version,
    ) -> Result<Option<ConfidenceBaseline>>;
}

/// A complete store: registry and prediction store. Implemented for every type that implements
/// both, so `Arc<dyn Store>` is the type to pass around.
pub trait Store: ModelRegistry + PredictionStore {}

impl<T: ModelRegistry + PredictionStore + ?Sized> Store for T {}

/// The future every store operation returns (what `#[async_trait]` methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Lists every store operation once, as `Variant => method[lifetimes](args) -> output;` per
/// trait, and hands the list to `$callback`. The operation enum, the forwarding defaults of
/// [`LayeredStore`], and the forwarding impls are generated from it, so a new operation is one
/// line here beside its declaration in the trait.
///
/// Each reference argument names its own lifetime, in argument order: the forwarding methods
/// are written in the form `#[async_trait]` gives the trait's methods (one lifetime per
/// reference, each outliving the future), so that they return the inner store's future as it
/// is instead of boxing a future that awaits it.
macro_rules! store_operations {
    ($callback:ident) => {
        $callback! {
            ModelRegistry {
                Register => register['a](metadata: &'a ModelMetadata) -> ();
                Get => get['a, 'b](name: &'a ModelName, version: &'b Version) -> Option<ModelMetadata>;
                Latest => latest['a](name: &'a ModelName) -> Option<ModelMetadata>;
                Versions => versions['a](name: &'a ModelName) -> Vec<ModelMetadata>;
                ListModels => list_models[]() -> Vec<ModelName>;
                Update => update['a](metadata: &'a ModelMetadata) -> ();
                Delete => delete['a, 'b](name: &'a ModelName, version: &'b Version) -> ();
                SetAlias => set_alias['a, 'b, 'c](name: &'a ModelName, alias: &'b Alias, version: &'c Version) -> ();
                ResolveAlias => resolve_alias['a, 'b](name: &'a ModelName, alias: &'b Alias) -> Option<Version>;
                RemoveAlias => remove_alias['a, 'b](name: &'a ModelName, alias: &'b Alias) -> ();
                Aliases => aliases['a](name: &'a ModelName) -> Vec<(Alias, Version)>;
                ResolveAliasAt => resolve_alias_at['a, 'b](name: &'a ModelName, alias: &'b Alias, at: Timestamp) -> Option<Version>;
                RollbackAlias => rollback_alias['a, 'b](name: &'a ModelName, alias: &'b Alias) -> Version;
                Events => events['a](query: &'a EventQuery) -> EventPage;
                VersionsPage => versions_page['a, 'b](name: &'a ModelName, query: &'b VersionQuery) -> VersionPage;
                ModelsPage => models_page['a](query: &'a ModelQuery) -> ModelPage;
            }
            PredictionStore {
                StorePrediction => store_prediction['a](prediction: &'a Prediction) -> ();
                StorePredictions => store_predictions['a](predictions: &'a [Prediction]) -> ();
                RecordActual => record_actual['a](id: Uuid, actual: &'a Value) -> ();
                RecordActuals => record_actuals['a](labels: &'a [Label]) -> ();
                StorePredictionsWith => store_predictions_with['a](predictions: &'a [Prediction], options: BatchOptions) -> BatchOutcome;
                RecordActualsWith => record_actuals_with['a](labels: &'a [Label], options: BatchOptions) -> BatchOutcome;
                GetPrediction => prediction[](id: Uuid) -> Option<Prediction>;
                CountPredictions => count_predictions['a](filter: &'a PredictionFilter) -> u64;
                ScanPredictions => scan_predictions['a, 'b](model: &'a ModelName, version: &'b Version, options: ScanOptions) -> ScanPage;
                RecentPredictions => recent_predictions['a, 'b](model: &'a ModelName, version: &'b Version, window: Window) -> Vec<Prediction>;
                Accuracy => accuracy['a, 'b](model: &'a ModelName, version: &'b Version, window: Window) -> Accuracy;
                WindowRows => window_rows['a, 'b](model: &'a ModelName, version: &'b Version, window: Window) -> Vec<WindowRow>;
                WindowConfidences => window_confidences['a, 'b](model: &'a ModelName, version: &'b Version, window: Window) -> Vec<f64>;
                BucketSums => bucket_sums['a, 'b, 'c](model: &'a ModelName, version: &'b Version, query: &'c SeriesQuery) -> Vec<BucketSums>;
                PrunePredictions => prune_predictions['a](prune: &'a Prune) -> PruneOutcome;
                SetRetention => set_retention['a](name: &'a ModelName, keep: Option<Retention>) -> ();
                RetentionPolicies => retention_policies[]() -> Vec<(ModelName, Retention)>;
                PrepareStorage => prepare_storage[](now: Timestamp) -> u64;
                StoreBaseline => store_baseline['a](baseline: &'a ConfidenceBaseline) -> ();
                Baseline => baseline['a, 'b](model: &'a ModelName, version: &'b Version) -> Option<ConfidenceBaseline>;
            }
        }
    };
}

macro_rules! define_operation {
    ($($trait:ident { $($variant:ident => $method:ident[$($lt:lifetime),*]($($arg:ident: $ty:ty),*) -> $out:ty;)* })*) => {
        /// Every operation of the store traits, for layers that observe them (metrics, tracing):
        /// the name is the method's.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Operation {
            $($(
                #[doc = concat!("[`", stringify!($trait), "::", stringify!($method), "`]")]
                $variant,
            )*)*
        }

        impl Operation {
            /// Every operation, in the order of the traits.
            pub const ALL: &'static [Operation] = &[$($(Operation::$variant,)*)*];

            /// The method's name, e.g. `"resolve_alias"`.
            pub fn name(self) -> &'static str {
                match self {
                    $($(Operation::$variant => stringify!($method),)*)*
                }
            }

            /// Whether the operation changes the store.
            pub fn is_write(self) -> bool {
                matches!(
                    self,
                    Operation::Register
                        | Operation::Update
                        | Operation::Delete
                        | Operation::SetAlias
                        | Operation::RemoveAlias
                        | Operation::RollbackAlias
                        | Operation::StorePrediction
                        | Operation::StorePredictions
                        | Operation::RecordActual
                        | Operation::RecordActuals
                        | Operation::StorePredictionsWith
                        | Operation::RecordActualsWith
                        | Operation::StoreBaseline
                        | Operation::PrunePredictions
                        | Operation::SetRetention
                        | Operation::PrepareStorage
                )
            }
        }
    };
}

store_operations!(define_operation);

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! define_layered_store {
    ($($trait:ident { $($variant:ident => $method:ident[$($lt:lifetime),*]($($arg:ident: $ty:ty),*) -> $out:ty;)* })*) => {
        /// A layer around a store: a decorator that names the store it wraps
        /// ([`inner`](Self::inner)) and overrides only the operations it changes. Every
        /// operation has a default body that forwards to the inner store through
        /// [`around`](Self::around), and every `LayeredStore` is a [`Store`] (blanket impls), so
        /// a new operation in the traits needs no edit in a layer that does not care about it.
        ///
        /// A layer that observes every call (metrics, tracing) overrides only `around`; a cache
        /// overrides the reads it serves and the writes it must invalidate after.
        ///
        /// ```
        /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
        /// use std::sync::atomic::{AtomicU64, Ordering};
        /// use mlstore_core::layers::{BoxFuture, LayeredStore};
        /// use mlstore_core::{MemoryStore, ModelName, Operation, Result, Store};
        ///
        /// /// Counts the reads of "latest"; forwards everything else untouched.
        /// #[derive(Debug, Default)]
        /// struct CountLatest {
        ///     inner: MemoryStore,
        ///     calls: AtomicU64,
        /// }
        ///
        /// #[mlstore_core::async_trait]
        /// impl LayeredStore for CountLatest {
        ///     type Inner = MemoryStore;
        ///     fn inner(&self) -> &MemoryStore {
        ///         &self.inner
        ///     }
        ///     fn around<'a, T: Send + 'a>(
        ///         &'a self,
        ///         op: Operation,
        ///         call: BoxFuture<'a, Result<T>>,
        ///     ) -> BoxFuture<'a, Result<T>> {
        ///         if op == Operation::Latest {
        ///             self.calls.fetch_add(1, Ordering::Relaxed);
        ///         }
        ///         call
        ///     }
        /// }
        ///
        /// // A layer is a store: hand it to anything that takes one.
        /// let store: Box<dyn Store> = Box::new(CountLatest::default());
        /// store.latest(&ModelName::new("fraud").unwrap()).await.unwrap();
        /// # let store = CountLatest::default();
        /// # mlstore_core::ModelRegistry::latest(&store, &ModelName::new("x").unwrap()).await.unwrap();
        /// assert_eq!(store.calls.load(Ordering::Relaxed), 1);
        /// # });
        /// ```
        pub trait LayeredStore: Debug + Send + Sync {
            /// The store this layer wraps.
            type Inner: Store + ?Sized;

            /// The store this layer wraps.
            fn inner(&self) -> &Self::Inner;

            /// Runs `call`, the inner store's operation `op`, for every operation this layer does
            /// not override. The default runs it as it is.
            fn around<'a, T: Send + 'a>(
                &'a self,
                op: Operation,
                call: BoxFuture<'a, Result<T>>,
            ) -> BoxFuture<'a, Result<T>> {
                let _ = op;
                call
            }

            /// Forwards [`ModelRegistry::database_id`].
            fn database_id(&self) -> DatabaseId {
                self.inner().database_id()
            }

            $($(
                #[doc = concat!("Forwards [`", stringify!($trait), "::", stringify!($method), "`] through [`around`](Self::around). Override it with an `async fn` in an `#[async_trait]` impl.")]
                fn $method<'life0, $($lt,)* 'async_trait>(
                    &'life0 self $(, $arg: $ty)*
                ) -> BoxFuture<'async_trait, Result<$out>>
                where
                    'life0: 'async_trait,
                    $($lt: 'async_trait,)*
                    Self: 'async_trait,
                {
                    self.around(Operation::$variant, self.inner().$method($($arg),*))
                }
            )*)*
        }

        $(
            impl<L: LayeredStore> $trait for L {
                stores_database_id!($trait, this => LayeredStore::database_id(this));
                $(
                    fn $method<'life0, $($lt,)* 'async_trait>(
                        &'life0 self $(, $arg: $ty)*
                    ) -> BoxFuture<'async_trait, Result<$out>>
                    where
                        'life0: 'async_trait,
                        $($lt: 'async_trait,)*
                        Self: 'async_trait,
                    {
                        LayeredStore::$method(self $(, $arg)*)
                    }
                )*
            }

            impl<T: $trait + ?Sized> $trait for Arc<T> {
                stores_database_id!($trait, this => (**this).database_id());
                $(
                    fn $method<'life0, $($lt,)* 'async_trait>(
                        &'life0 self $(, $arg: $ty)*
                    ) -> BoxFuture<'async_trait, Result<$out>>
                    where
                        'life0: 'async_trait,
                        $($lt: 'async_trait,)*
                        Self: 'async_trait,
                    {
                        (**self).$method($($arg),*)
                    }
                )*
            }
        )*
    };
}

/// The one synchronous method, which belongs to [`ModelRegistry`].
macro_rules! stores_database_id {
    (ModelRegistry, $this:ident => $body:expr) => {
        fn database_id(&self) -> DatabaseId {
            let $this = self;
            $body
        }
    };
    (PredictionStore, $this:ident => $body:expr) => {};
}

store_operations!(define_layered_store);

/// A boxed store is a layer that adds nothing.
impl<T: Store + ?Sized> LayeredStore for Box<T> {
    type Inner = T;
    fn inner(&self) -> &T {
        self
    }
}

/// Conveniences built on [`ModelRegistry`], available on every registry.
#[async_trait]
pub trait ModelRegistryExt: ModelRegistry {
    /// Every event of one alias, oldest first: each set, removal and rollback, with the
    /// version before and after.
    ///
    /// # Errors
    /// What [`ModelRegistry::events`] returns.
    async fn alias_history(&self, name: &ModelName, alias: &Alias) -> Result<Vec<crate::Event>> {
        let mut events = Vec::new();
        let mut query = EventQuery::all()
            .model(name.clone())
            .alias(alias.clone())
            .limit(crate::limits::MAX_RECENT_LIMIT);
        loop {
            let page = self.events(&query).await?;
            events.extend(page.events);
            match page.next {
                Some(seq) => query = query.after(seq),
                None => return Ok(events),
            }
        }
    }

    /// Reads the version an alias points at: [`ModelRegistry::resolve_alias`] then
    /// [`ModelRegistry::get`]. `None` when the alias does not exist.
    async fn get_by_alias(&self, name: &ModelName, alias: &Alias) -> Result<Option<ModelMetadata>> {
        match self.resolve_alias(name, alias).await? {
            Some(version) => self.get(name, &version).await,
            None => Ok(None),
        }
    }
}

impl<T: ModelRegistry + ?Sized> ModelRegistryExt for T {}

/// Conveniences built on [`PredictionStore`], available on every prediction store: baselines
/// and monitoring, computed the same way for every backend from its window and bucket reads
/// (see [`crate::monitoring`] for every formula).
#[async_trait]
pub trait PredictionStoreExt: PredictionStore {
    /// Computes the confidence baseline of a model version from the predictions in `window`
    /// ([`ConfidenceBaseline::from_confidences`]) and stores it; returns what was stored.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for an unregistered version; [`crate::Error::InvalidInput`] when
    /// the window is invalid or holds no predictions.
    async fn compute_baseline(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<ConfidenceBaseline> {
        let confidences = self.window_confidences(model, version, window).await?;
        let baseline =
            ConfidenceBaseline::from_confidences(model.clone(), version.clone(), confidences)?
                .computed_from(window);
        self.store_baseline(&baseline).await?;
        Ok(baseline)
    }

    /// Metrics of a model version over a window ([`WindowMetrics`]).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for an unregistered version; [`crate::Error::InvalidInput`] for a
    /// bad window or, with classes on, more than [`crate::monitoring::MAX_CLASSES`] classes.
    async fn metrics(
        &self,
        model: &ModelName,
        version: &Version,
        options: MetricsOptions,
    ) -> Result<WindowMetrics> {
        let rows = self.window_rows(model, version, options.window()).await?;
        WindowMetrics::from_rows(&rows, options.classes_on())
    }

    /// The metrics of a model version per bucket of a time range, empty buckets included.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for an unregistered version; [`crate::Error::InvalidInput`] for a
    /// bad range or too many buckets.
    async fn series(
        &self,
        model: &ModelName,
        version: &Version,
        query: &SeriesQuery,
    ) -> Result<Series> {
        let (starts, _, _) = query.buckets()?;
        let sums = self.bucket_sums(model, version, query).await?;
        Ok(Series::from_sums(query, &starts, &sums))
    }

    /// The confidence distribution of a window against the version's baseline
    /// ([`DriftReport`]).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for an unregistered version or a version without a baseline
    /// (the message says how to create one); [`crate::Error::InvalidInput`] for a bad or empty
    /// window, or a baseline without a histogram.
    async fn drift(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
        thresholds: DriftThresholds,
    ) -> Result<DriftReport> {
        let confidences = self.window_confidences(model, version, window).await?;
        let baseline = self.baseline(model, version).await?.ok_or_else(|| {
            Error::not_found(format!(
                "baseline of {model:?} {version}: create one with `mlstore baseline compute \
                 {model} {version}` (or PredictionStoreExt::compute_baseline)"
            ))
        })?;
        DriftReport::compute(&confidences, &baseline, thresholds)
    }

    /// Two versions of a model over the same window: each one's metrics, the accuracy
    /// difference and a two-proportion z-test ([`Comparison`]).
    ///
    /// # Errors
    /// As [`metrics`](Self::metrics), for either version.
    async fn compare(
        &self,
        model: &ModelName,
        a: &Version,
        b: &Version,
        options: MetricsOptions,
    ) -> Result<Comparison> {
        let first = self.metrics(model, a, options).await?;
        let second = self.metrics(model, b, options).await?;
        Ok(Comparison::of(first, second))
    }
}

impl<T: PredictionStore + ?Sized> PredictionStoreExt for T {}
