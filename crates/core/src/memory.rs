//! [`MemoryStore`]: the in-memory reference implementation.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use crate::history::{self, Event, EventKind, EventPage, EventQuery, NewEvent};
use crate::monitoring::{Bucket, BucketSums, SeriesQuery, WindowRow};
use crate::retention::{Prune, PruneOutcome, PruneScope, Retention};
use crate::{ModelPage, ModelQuery, VersionPage, VersionQuery};

use crate::{
    validate, Accuracy, Alias, BatchOptions, BatchOutcome, Bounds, ConfidenceBaseline, Cursor,
    DatabaseId, Error, Label, ModelMetadata, ModelName, ModelRegistry, OnProblem, Prediction,
    PredictionFilter, PredictionStore, Result, ScanOptions, ScanPage, SkipReason, Skipped, Version,
    Window,
};

/// A complete store kept in memory, written to be obviously right rather than fast.
///
/// It is the oracle of the conformance suite's model-based property test (every backend must
/// give the results it gives) and a test double for code that uses a store. Nothing is persisted.
///
/// ```
/// # tokio_test_block_on(async {
/// use mlstore_core::{MemoryStore, ModelMetadata, ModelName, ModelRegistry, Version};
/// let store = MemoryStore::new();
/// let name = ModelName::new("fraud").unwrap();
/// let m = ModelMetadata::builder(name.clone(), Version::new("1.0.0").unwrap(), "xgboost")
///     .build()
///     .unwrap();
/// store.register(&m).await.unwrap();
/// assert_eq!(store.latest(&name).await.unwrap(), Some(m));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    id: DatabaseId,
    state: RwLock<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            id: DatabaseId::random(),
            state: RwLock::default(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    models: BTreeMap<ModelName, BTreeMap<Version, ModelMetadata>>,
    aliases: BTreeMap<(ModelName, Alias), Version>,
    predictions: HashMap<Uuid, Prediction>,
    /// When each labelled prediction's label was written.
    labelled_at: HashMap<Uuid, crate::Timestamp>,
    baselines: BTreeMap<(ModelName, Version), ConfidenceBaseline>,
    events: Vec<Event>,
    /// The hourly sums of pruned predictions, by version and hour: series keep them.
    pruned_hours: BTreeMap<(ModelName, Version, crate::Timestamp), BucketSums>,
    retention: BTreeMap<ModelName, Retention>,
}

impl State {
    /// Appends an event with the next sequence number.
    fn record(&mut self, event: NewEvent) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            at: event.at,
            kind: event.kind,
            model: event.model,
            version: event.version,
            alias: event.alias,
            from_version: event.from_version,
            actor: event.actor,
            fields: event.fields,
        });
    }

    fn has_version(&self, name: &ModelName, version: &Version) -> bool {
        self.models
            .get(name)
            .is_some_and(|versions| versions.contains_key(version))
    }

    fn require_version(&self, name: &ModelName, version: &Version) -> Result<()> {
        if self.has_version(name, version) {
            Ok(())
        } else {
            Err(Error::version_not_found(name, version))
        }
    }

    /// Predictions of one version in the window's time range, newest first.
    fn newest_first(
        &self,
        name: &ModelName,
        version: &Version,
        bounds: &Bounds,
    ) -> Vec<&Prediction> {
        let mut found: Vec<&Prediction> = self
            .predictions
            .values()
            .filter(|p| {
                p.model() == name && p.version() == version && bounds.contains(p.timestamp())
            })
            .collect();
        found.sort_by_key(|p| std::cmp::Reverse(p.recency_key()));
        found
    }
}

impl State {
    /// What monitoring reads of a prediction.
    fn window_row(&self, p: &Prediction) -> WindowRow {
        let number = |v: &Value| crate::codec::number(v);
        let labelled = p.actual();
        WindowRow {
            confidence: p.confidence(),
            correct: p.is_correct(),
            lag_micros: labelled
                .and(self.labelled_at.get(&p.id()))
                .map(|at| (*at - p.timestamp()).num_microseconds().unwrap_or(i64::MAX)),
            prediction_number: number(p.prediction()),
            actual_number: labelled.and_then(number),
            classes: labelled.map(|a| {
                (
                    crate::json::match_key(p.prediction()),
                    crate::json::match_key(a),
                )
            }),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated: every write below
        // checks first and then mutates, so a poisoned lock still guards consistent data.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ModelRegistry for MemoryStore {
    fn database_id(&self) -> DatabaseId {
        self.id
    }

    async fn register(&self, metadata: &ModelMetadata) -> Result<()> {
        let mut state = self.write();
        let versions = state.models.entry(metadata.name().clone()).or_default();
        if versions.contains_key(metadata.version()) {
            return Err(Error::version_exists(metadata.name(), metadata.version()));
        }
        versions.insert(metadata.version().clone(), metadata.clone());
        state.record(
            NewEvent::now(EventKind::VersionRegistered, metadata.name())
                .version(metadata.version()),
        );
        Ok(())
    }

    async fn get(&self, name: &ModelName, version: &Version) -> Result<Option<ModelMetadata>> {
        Ok(self
            .read()
            .models
            .get(name)
            .and_then(|versions| versions.get(version))
            .cloned())
    }

    async fn latest(&self, name: &ModelName) -> Result<Option<ModelMetadata>> {
        Ok(self
            .read()
            .models
            .get(name)
            .and_then(|versions| versions.values().next_back())
            .cloned())
    }

    async fn versions(&self, name: &ModelName) -> Result<Vec<ModelMetadata>> {
        Ok(self
            .read()
            .models
            .get(name)
            .map(|versions| versions.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn list_models(&self) -> Result<Vec<ModelName>> {
        Ok(self.read().models.keys().cloned().collect())
    }

    async fn update(&self, metadata: &ModelMetadata) -> Result<()> {
        let mut state = self.write();
        let stored = state
            .models
            .get_mut(metadata.name())
            .and_then(|versions| versions.get_mut(metadata.version()))
            .ok_or_else(|| Error::version_not_found(metadata.name(), metadata.version()))?;
        let updated = metadata
            .to_builder()
            .created_at(stored.created_at())
            .build()?;
        let fields = stored.changed_fields(&updated);
        *stored = updated;
        state.record(
            NewEvent::now(EventKind::VersionUpdated, metadata.name())
                .version(metadata.version())
                .fields(fields),
        );
        Ok(())
    }

    async fn delete(&self, name: &ModelName, version: &Version) -> Result<()> {
        let mut state = self.write();
        state.require_version(name, version)?;
        let versions = state.models.get_mut(name).expect("checked above");
        versions.remove(version);
        if versions.is_empty() {
            state.models.remove(name);
        }
        let removed: Vec<Alias> = state
            .aliases
            .iter()
            .filter(|((n, _), v)| n == name && *v == version)
            .map(|((_, a), _)| a.clone())
            .collect();
        state
            .aliases
            .retain(|(n, _), v| !(n == name && v == version));
        state
            .predictions
            .retain(|_, p| !(p.model() == name && p.version() == version));
        let predictions = &state.predictions;
        let kept: std::collections::HashSet<Uuid> = predictions.keys().copied().collect();
        state.labelled_at.retain(|id, _| kept.contains(id));
        state.baselines.remove(&(name.clone(), version.clone()));
        state
            .pruned_hours
            .retain(|(n, v, _), _| !(n == name && v == version));
        for alias in &removed {
            state.record(
                NewEvent::now(EventKind::AliasRemoved, name).alias(alias, Some(version.clone())),
            );
        }
        state.record(NewEvent::now(EventKind::VersionDeleted, name).version(version));
        Ok(())
    }

    async fn set_alias(&self, name: &ModelName, alias: &Alias, version: &Version) -> Result<()> {
        let mut state = self.write();
        state.require_version(name, version)?;
        let previous = state
            .aliases
            .insert((name.clone(), alias.clone()), version.clone());
        if previous.as_ref() != Some(version) {
            state.record(
                NewEvent::now(EventKind::AliasSet, name)
                    .version(version)
                    .alias(alias, previous),
            );
        }
        Ok(())
    }

    async fn resolve_alias(&self, name: &ModelName, alias: &Alias) -> Result<Option<Version>> {
        Ok(self
            .read()
            .aliases
            .get(&(name.clone(), alias.clone()))
            .cloned())
    }

    async fn remove_alias(&self, name: &ModelName, alias: &Alias) -> Result<()> {
        let mut state = self.write();
        let previous = state
            .aliases
            .remove(&(name.clone(), alias.clone()))
            .ok_or_else(|| Error::alias_not_found(name, alias))?;
        state.record(NewEvent::now(EventKind::AliasRemoved, name).alias(alias, Some(previous)));
        Ok(())
    }

    async fn aliases(&self, name: &ModelName) -> Result<Vec<(Alias, Version)>> {
        Ok(self
            .read()
            .aliases
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, a), v)| (a.clone(), v.clone()))
            .collect())
    }

    async fn resolve_alias_at(
        &self,
        name: &ModelName,
        alias: &Alias,
        at: crate::Timestamp,
    ) -> Result<Option<Version>> {
        let state = self.read();
        let last = state
            .events
            .iter()
            .filter(|e| &e.model == name && e.alias.as_ref() == Some(alias) && e.at <= at)
            .max_by_key(|e| (e.at, e.seq));
        Ok(history::alias_target_at(last))
    }

    async fn rollback_alias(&self, name: &ModelName, alias: &Alias) -> Result<Version> {
        let mut state = self.write();
        let alias_events: Vec<Event> = state
            .events
            .iter()
            .filter(|e| &e.model == name && e.alias.as_ref() == Some(alias))
            .cloned()
            .collect();
        let target = history::rollback_target(&alias_events).ok_or_else(|| {
            Error::not_found(format!(
                "an earlier target of alias {alias:?} of model {name:?}"
            ))
        })?;
        state.require_version(name, &target)?;
        let previous = state
            .aliases
            .insert((name.clone(), alias.clone()), target.clone());
        state.record(
            NewEvent::now(EventKind::AliasRolledBack, name)
                .version(&target)
                .alias(alias, previous),
        );
        Ok(target)
    }

    async fn events(&self, query: &EventQuery) -> Result<EventPage> {
        let limit = query.check()?;
        let state = self.read();
        let matching = state.events.iter().filter(|e| query.matches(e));
        let events: Vec<Event> = if query.is_newest_first() {
            matching.rev().take(limit).cloned().collect()
        } else {
            matching.take(limit).cloned().collect()
        };
        Ok(EventPage::new(events, limit))
    }

    async fn versions_page(&self, name: &ModelName, query: &VersionQuery) -> Result<VersionPage> {
        let page_size = query.checked_page_size()?;
        let state = self.read();
        let versions: Vec<ModelMetadata> = state
            .models
            .get(name)
            .map(|versions| {
                versions
                    .iter()
                    .filter(|(v, _)| query.cursor().is_none_or(|c| *v > c))
                    .map(|(_, m)| m)
                    .filter(|m| query.list_filter().matches(m))
                    .take(page_size)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(VersionPage::new(versions, page_size))
    }

    async fn models_page(&self, query: &ModelQuery) -> Result<ModelPage> {
        let page_size = query.checked_page_size()?;
        let state = self.read();
        let names: Vec<ModelName> = state
            .models
            .iter()
            .filter(|(n, _)| query.cursor().is_none_or(|c| *n > c))
            .filter(|(_, versions)| versions.values().any(|m| query.list_filter().matches(m)))
            .map(|(n, _)| n.clone())
            .take(page_size)
            .collect();
        Ok(ModelPage::new(names, page_size))
    }
}

#[async_trait]
impl PredictionStore for MemoryStore {
    async fn store_prediction(&self, prediction: &Prediction) -> Result<()> {
        self.store_predictions(std::slice::from_ref(prediction))
            .await
    }

    async fn store_predictions(&self, predictions: &[Prediction]) -> Result<()> {
        self.store_predictions_with(predictions, BatchOptions::default())
            .await
            .map(drop)
    }

    async fn store_predictions_with(
        &self,
        predictions: &[Prediction],
        options: BatchOptions,
    ) -> Result<BatchOutcome> {
        validate::prediction_batch(predictions)?;
        let mut state = self.write();
        let mut skipped = Vec::new();
        let skip = |index: usize, p: &Prediction, reason| Skipped {
            index,
            id: p.id(),
            reason,
        };
        // Every unknown version is found before any stored id, so that NotFound comes before
        // AlreadyExists.
        let mut known = Vec::with_capacity(predictions.len());
        for (i, p) in predictions.iter().enumerate() {
            match state.require_version(p.model(), p.version()) {
                Ok(()) => known.push((i, p)),
                Err(e) if options.missing() == OnProblem::Fail => return Err(e),
                Err(_) => skipped.push(skip(i, p, SkipReason::NotFound)),
            }
        }
        let mut new = Vec::with_capacity(known.len());
        for (i, p) in known {
            if !state.predictions.contains_key(&p.id()) {
                new.push(p);
            } else if options.conflict() == OnProblem::Fail {
                return Err(Error::already_exists(format!("prediction {}", p.id())));
            } else {
                skipped.push(skip(i, p, SkipReason::AlreadyExists));
            }
        }
        let now = crate::time::now();
        for p in &new {
            state.predictions.insert(p.id(), (*p).clone());
            if p.actual().is_some() {
                state.labelled_at.insert(p.id(), now);
            }
        }
        skipped.sort_by_key(|s| s.index);
        Ok(BatchOutcome {
            stored: new.len(),
            skipped,
        })
    }

    async fn record_actual(&self, id: Uuid, actual: &Value) -> Result<()> {
        self.record_actuals(&[Label::new(id, actual.clone())?])
            .await
    }

    async fn record_actuals(&self, labels: &[Label]) -> Result<()> {
        self.record_actuals_with(labels, BatchOptions::default())
            .await
            .map(drop)
    }

    async fn record_actuals_with(
        &self,
        labels: &[Label],
        options: BatchOptions,
    ) -> Result<BatchOutcome> {
        validate::label_batch(labels)?;
        let mut state = self.write();
        let mut labelled = Vec::with_capacity(labels.len());
        let mut skipped = Vec::new();
        for (index, label) in labels.iter().enumerate() {
            let Some(stored) = state.predictions.get(&label.id()) else {
                if options.missing() == OnProblem::Fail {
                    return Err(Error::not_found(format!("prediction {}", label.id())));
                }
                skipped.push(Skipped {
                    index,
                    id: label.id(),
                    reason: SkipReason::NotFound,
                });
                continue;
            };
            labelled.push(
                stored
                    .to_builder()
                    .actual(Some(label.actual().clone()))
                    .build()?,
            );
        }
        let stored = labelled.len();
        let now = crate::time::now();
        for p in labelled {
            state.labelled_at.insert(p.id(), now);
            state.predictions.insert(p.id(), p);
        }
        Ok(BatchOutcome { stored, skipped })
    }

    async fn prediction(&self, id: Uuid) -> Result<Option<Prediction>> {
        Ok(self.read().predictions.get(&id).cloned())
    }

    async fn count_predictions(&self, filter: &PredictionFilter) -> Result<u64> {
        let bounds = filter.bounds()?;
        let state = self.read();
        match (filter.model_name(), filter.model_version()) {
            (Some(name), Some(version)) => state.require_version(name, version)?,
            (Some(name), None) if !state.models.contains_key(name) => {
                return Err(Error::not_found(format!("model {name:?}")))
            }
            _ => {}
        }
        let count = state
            .predictions
            .values()
            .filter(|p| filter.model_name().is_none_or(|n| p.model() == n))
            .filter(|p| filter.model_version().is_none_or(|v| p.version() == v))
            .filter(|p| bounds.contains(p.timestamp()))
            .filter(|p| !filter.is_labelled_only() || p.actual().is_some())
            .count();
        Ok(count as u64)
    }

    async fn scan_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        options: ScanOptions,
    ) -> Result<ScanPage> {
        let (bounds, from, page_size) = options.resolve()?;
        let state = self.read();
        state.require_version(model, version)?;
        let mut found: Vec<&Prediction> = state
            .newest_first(model, version, &bounds)
            .into_iter()
            .filter(|p| {
                Cursor {
                    ts: p.timestamp(),
                    id: p.id(),
                } >= from
            })
            .filter(|p| !options.is_labelled_only() || p.actual().is_some())
            .collect();
        found.reverse();
        found.truncate(page_size);
        Ok(ScanPage::new(
            found.into_iter().cloned().collect(),
            page_size,
        ))
    }

    async fn recent_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<Prediction>> {
        let bounds = window.for_rows()?;
        let state = self.read();
        state.require_version(model, version)?;
        Ok(state
            .newest_first(model, version, &bounds)
            .into_iter()
            .take(bounds.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn accuracy(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Accuracy> {
        let bounds = window.for_aggregate()?;
        let state = self.read();
        state.require_version(model, version)?;
        let labelled: Vec<bool> = state
            .newest_first(model, version, &bounds)
            .into_iter()
            .filter_map(Prediction::is_correct)
            .take(bounds.limit.unwrap_or(usize::MAX))
            .collect();
        let correct = labelled.iter().filter(|c| **c).count();
        Accuracy::new(correct as u64, labelled.len() as u64)
    }

    async fn window_rows(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<WindowRow>> {
        let bounds = window.for_aggregate()?;
        let state = self.read();
        state.require_version(model, version)?;
        Ok(state
            .newest_first(model, version, &bounds)
            .into_iter()
            .take(bounds.limit.unwrap_or(usize::MAX))
            .map(|p| state.window_row(p))
            .collect())
    }

    async fn window_confidences(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<f64>> {
        let mut confidences: Vec<f64> = self
            .window_rows(model, version, window)
            .await?
            .iter()
            .map(|r| r.confidence)
            .collect();
        confidences.sort_by(f64::total_cmp);
        Ok(confidences)
    }

    async fn bucket_sums(
        &self,
        model: &ModelName,
        version: &Version,
        query: &SeriesQuery,
    ) -> Result<Vec<BucketSums>> {
        let (_, start, end) = query.buckets()?;
        let unit = query.sums_bucket();
        let state = self.read();
        state.require_version(model, version)?;
        let mut sums: BTreeMap<crate::Timestamp, BucketSums> = BTreeMap::new();
        if unit == Bucket::Hour {
            let from = (model.clone(), version.clone(), start);
            for ((n, v, hour), pruned) in state.pruned_hours.range(from..) {
                if n != model || v != version || *hour >= end {
                    break;
                }
                sums.entry(*hour).or_default().add(pruned);
            }
        }
        for p in state.predictions.values() {
            if p.model() == model && p.version() == version {
                let t = p.timestamp();
                if start <= t && t < end {
                    let entry = sums.entry(unit.floor(t)).or_default();
                    entry.add(&BucketSums::of_row(&state.window_row(p)));
                }
            }
        }
        Ok(sums
            .into_iter()
            .map(|(t, mut s)| {
                s.start = Some(t);
                s
            })
            .collect())
    }

    async fn prune_predictions(&self, prune: &Prune) -> Result<PruneOutcome> {
        prune.check()?;
        let mut state = self.write();
        let in_scope = |p: &Prediction| match prune.scope() {
            PruneScope::All => true,
            PruneScope::Model(name) => p.model() == name,
            PruneScope::Version(name, version) => p.model() == name && p.version() == version,
        };
        match prune.scope() {
            PruneScope::All => {}
            PruneScope::Model(name) => {
                if !state.models.contains_key(name) {
                    return Err(Error::model_not_found(name));
                }
            }
            PruneScope::Version(name, version) => state.require_version(name, version)?,
        }
        let doomed: Vec<Uuid> = state
            .predictions
            .values()
            .filter(|p| in_scope(p) && p.timestamp() < prune.cutoff())
            .map(|p| p.id())
            .collect();
        let mut outcome = PruneOutcome {
            predictions: doomed.len() as u64,
            dry_run: prune.is_dry_run(),
            ..PruneOutcome::default()
        };
        if prune.is_dry_run() || doomed.is_empty() {
            return Ok(outcome);
        }
        outcome.batches = 1;
        for id in doomed {
            let row = {
                let p = &state.predictions[&id];
                (
                    p.model().clone(),
                    p.version().clone(),
                    Bucket::Hour.floor(p.timestamp()),
                )
            };
            let sums = BucketSums::of_row(&state.window_row(&state.predictions[&id]));
            state.pruned_hours.entry(row).or_default().add(&sums);
            state.predictions.remove(&id);
            state.labelled_at.remove(&id);
        }
        Ok(outcome)
    }

    async fn set_retention(&self, name: &ModelName, keep: Option<Retention>) -> Result<()> {
        let mut state = self.write();
        match keep {
            Some(keep) => {
                if !state.models.contains_key(name) {
                    return Err(Error::model_not_found(name));
                }
                state.retention.insert(name.clone(), keep);
            }
            None => {
                state.retention.remove(name);
            }
        }
        Ok(())
    }

    async fn retention_policies(&self) -> Result<Vec<(ModelName, Retention)>> {
        Ok(self
            .read()
            .retention
            .iter()
            .map(|(n, k)| (n.clone(), *k))
            .collect())
    }

    async fn prepare_storage(&self, _now: crate::Timestamp) -> Result<u64> {
        Ok(0)
    }

    async fn store_baseline(&self, baseline: &ConfidenceBaseline) -> Result<()> {
        let mut state = self.write();
        state.require_version(baseline.model(), baseline.version())?;
        state.baselines.insert(
            (baseline.model().clone(), baseline.version().clone()),
            baseline.clone(),
        );
        state.record(
            NewEvent::now(EventKind::BaselineWritten, baseline.model()).version(baseline.version()),
        );
        Ok(())
    }

    async fn baseline(
        &self,
        model: &ModelName,
        version: &Version,
    ) -> Result<Option<ConfidenceBaseline>> {
        Ok(self
            .read()
            .baselines
            .get(&(model.clone(), version.clone()))
            .cloned())
    }
}
