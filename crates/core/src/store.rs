//! The store traits: the contract every backend implements and every decorator forwards.
//!
//! Each method's **Behavior** list is the contract; each bullet has a conformance check in
//! [`crate::conformance`] (feature `conformance`) with the same wording.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Accuracy, Alias, ConfidenceBaseline, Label, ModelMetadata, ModelName, Prediction, Result,
    Version,
};

/// The model registry: model versions, their metadata, "latest" and aliases.
///
/// Every method is atomic: it either happens completely or not at all.
#[async_trait]
pub trait ModelRegistry: Debug + Send + Sync {
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

    /// Records the actual label of a stored prediction (replacing an earlier label, if any).
    ///
    /// # Behavior
    /// - Returns [`crate::Error::NotFound`] when no prediction has that id; nothing is written.
    /// - The prediction then counts in [`accuracy`](Self::accuracy), correct when the label equals
    ///   the prediction as JSON ([`crate::labels_match`]).
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

    /// Reads the newest `limit` predictions of a model version, newest first.
    ///
    /// # Behavior
    /// - `limit` 0 or above [`crate::limits::MAX_RECENT_LIMIT`] returns
    ///   [`crate::Error::InvalidInput`] (field `limit`).
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered.
    /// - Returns fewer than `limit` predictions when fewer exist (none: an empty list).
    async fn recent_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        limit: usize,
    ) -> Result<Vec<Prediction>>;

    /// Accuracy over the newest `window` labelled predictions of a model version.
    ///
    /// # Behavior
    /// - `window` 0 or above [`crate::limits::MAX_ACCURACY_WINDOW`] returns
    ///   [`crate::Error::InvalidInput`] (field `window`).
    /// - Returns [`crate::Error::NotFound`] when the model version is not registered.
    /// - Unlabelled predictions are not counted; with no labelled prediction the total is 0 and
    ///   the ratio `None`.
    async fn accuracy(
        &self,
        model: &ModelName,
        version: &Version,
        window: usize,
    ) -> Result<Accuracy>;

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

macro_rules! forward_store {
    ($($wrapper:ident),*) => {$(
        #[async_trait]
        impl<T: ModelRegistry + ?Sized> ModelRegistry for $wrapper<T> {
            async fn register(&self, metadata: &ModelMetadata) -> Result<()> {
                (**self).register(metadata).await
            }
            async fn get(&self, name: &ModelName, version: &Version) -> Result<Option<ModelMetadata>> {
                (**self).get(name, version).await
            }
            async fn latest(&self, name: &ModelName) -> Result<Option<ModelMetadata>> {
                (**self).latest(name).await
            }
            async fn versions(&self, name: &ModelName) -> Result<Vec<ModelMetadata>> {
                (**self).versions(name).await
            }
            async fn list_models(&self) -> Result<Vec<ModelName>> {
                (**self).list_models().await
            }
            async fn update(&self, metadata: &ModelMetadata) -> Result<()> {
                (**self).update(metadata).await
            }
            async fn delete(&self, name: &ModelName, version: &Version) -> Result<()> {
                (**self).delete(name, version).await
            }
            async fn set_alias(&self, name: &ModelName, alias: &Alias, version: &Version) -> Result<()> {
                (**self).set_alias(name, alias, version).await
            }
            async fn resolve_alias(&self, name: &ModelName, alias: &Alias) -> Result<Option<Version>> {
                (**self).resolve_alias(name, alias).await
            }
            async fn remove_alias(&self, name: &ModelName, alias: &Alias) -> Result<()> {
                (**self).remove_alias(name, alias).await
            }
        }

        #[async_trait]
        impl<T: PredictionStore + ?Sized> PredictionStore for $wrapper<T> {
            async fn store_prediction(&self, prediction: &Prediction) -> Result<()> {
                (**self).store_prediction(prediction).await
            }
            async fn store_predictions(&self, predictions: &[Prediction]) -> Result<()> {
                (**self).store_predictions(predictions).await
            }
            async fn record_actual(&self, id: Uuid, actual: &Value) -> Result<()> {
                (**self).record_actual(id, actual).await
            }
            async fn record_actuals(&self, labels: &[Label]) -> Result<()> {
                (**self).record_actuals(labels).await
            }
            async fn recent_predictions(
                &self,
                model: &ModelName,
                version: &Version,
                limit: usize,
            ) -> Result<Vec<Prediction>> {
                (**self).recent_predictions(model, version, limit).await
            }
            async fn accuracy(&self, model: &ModelName, version: &Version, window: usize) -> Result<Accuracy> {
                (**self).accuracy(model, version, window).await
            }
            async fn store_baseline(&self, baseline: &ConfidenceBaseline) -> Result<()> {
                (**self).store_baseline(baseline).await
            }
            async fn baseline(&self, model: &ModelName, version: &Version) -> Result<Option<ConfidenceBaseline>> {
                (**self).baseline(model, version).await
            }
        }
    )*};
}

forward_store!(Arc, Box);

/// Conveniences built on [`ModelRegistry`], available on every registry.
#[async_trait]
pub trait ModelRegistryExt: ModelRegistry {
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

/// Conveniences built on [`PredictionStore`], available on every prediction store.
#[async_trait]
pub trait PredictionStoreExt: PredictionStore {
    /// Computes the confidence baseline of a model version from its newest `window` predictions
    /// and stores it; returns what was stored.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for an unregistered version; [`crate::Error::InvalidInput`] when
    /// `window` is out of range or the version has no predictions.
    async fn compute_baseline(
        &self,
        model: &ModelName,
        version: &Version,
        window: usize,
    ) -> Result<ConfidenceBaseline> {
        let recent = self.recent_predictions(model, version, window).await?;
        let baseline = ConfidenceBaseline::from_confidences(
            model.clone(),
            version.clone(),
            recent.iter().map(Prediction::confidence),
        )?;
        self.store_baseline(&baseline).await?;
        Ok(baseline)
    }
}

impl<T: PredictionStore + ?Sized> PredictionStoreExt for T {}
