//! [`CachedStore`]: any store, with its reads cached.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use mlstore_core::{
    Accuracy, Alias, ConfidenceBaseline, Error, Label, ModelMetadata, ModelName, ModelRegistry,
    Prediction, PredictionStore, Result, Store, Version,
};
use moka::future::Cache;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::config::{CacheConfig, CacheMode};
use crate::key::{version_keys, Key, Value};
use crate::shared::{Announcement, RedisLayer};
use crate::stats::{bump, CacheStats, Counters};

/// An in-process cache entry and when it stops being served.
#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Duration,
}

type Moka = Cache<Key, Arc<Entry>>;

/// A store whose reads of model versions, latest, version lists, aliases and baselines are
/// cached; see the crate documentation for the behaviour of each operation.
///
/// Cheap to clone: clones share the caches.
pub struct CachedStore<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for CachedStore<S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<S> {
    backend: S,
    config: CacheConfig,
    moka: Option<Moka>,
    redis: Option<Arc<RedisLayer>>,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
    /// Bumped by every write; a load that overlapped a write does not stay cached.
    epoch: AtomicU64,
    subscriber: Option<tokio::task::JoinHandle<()>>,
}

impl<S> Drop for Shared<S> {
    fn drop(&mut self) {
        if let Some(task) = self.subscriber.take() {
            task.abort();
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for CachedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedStore")
            .field("backend", &self.shared.backend)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// A copy of an error for each of the callers that shared one load (moka hands the loader's
/// error to all of them behind an `Arc`). The kind and message are kept; a source becomes text.
fn share_error(err: Arc<Error>) -> Error {
    Arc::try_unwrap(err).unwrap_or_else(|shared| match &*shared {
        Error::InvalidInput { field, reason } => Error::invalid(field, reason.clone()),
        Error::NotFound { what } => Error::not_found(what.clone()),
        Error::AlreadyExists { what } => Error::already_exists(what.clone()),
        Error::Unavailable { backend, source } => Error::unavailable(backend, source.to_string()),
        Error::Configuration { message } => Error::configuration(message.clone()),
        Error::Backend { backend, source } => Error::backend(backend, source.to_string()),
        other => Error::backend("cache", other.to_string()),
    })
}

fn wrong_kind(key: &Key) -> Error {
    Error::backend(
        "cache",
        format!("cached value of another kind under {key:?}"),
    )
}

impl<S: Store> CachedStore<S> {
    /// Wraps `backend` with the caches `config` asks for. With Redis, connects lazily (the
    /// store works while Redis is down) and, with moka too, subscribes to the invalidations of
    /// the other instances. Call it inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Configuration`] for a malformed Redis URL or the mode `none`.
    pub fn new(backend: S, config: CacheConfig) -> Result<Self> {
        Self::with_clock(backend, config, Arc::new(SystemClock::default()))
    }

    /// Like [`CachedStore::new`], with the clock the in-process cache uses for its TTL (a
    /// [`crate::MockClock`] in tests).
    ///
    /// # Errors
    /// As [`CachedStore::new`].
    pub fn with_clock(backend: S, config: CacheConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        if config.mode == CacheMode::None {
            return Err(Error::configuration(
                "cache mode `none`: use the backend itself, without CachedStore",
            ));
        }
        let counters = Arc::new(Counters::default());
        let moka = config.mode.uses_moka().then(|| {
            Cache::builder()
                .max_capacity(config.moka_capacity)
                // A bound on memory in real time; serving stops at the TTL of `clock`.
                .time_to_live(config.ttl)
                .support_invalidation_closures()
                .build()
        });
        let redis = match config.mode.redis_url() {
            Some(url) => Some(Arc::new(RedisLayer::new(
                url,
                &config,
                Arc::clone(&counters),
            )?)),
            None => None,
        };
        let subscriber = match (&moka, &redis) {
            (Some(moka), Some(redis)) => Some(tokio::spawn(subscribe(
                redis.client().clone(),
                redis.channel().to_owned(),
                redis.instance,
                moka.clone(),
                config.redis_retry_after,
            ))),
            _ => None,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                backend,
                config,
                moka,
                redis,
                counters,
                clock,
                epoch: AtomicU64::new(0),
                subscriber,
            }),
        })
    }

    /// The wrapped store.
    pub fn backend(&self) -> &S {
        &self.shared.backend
    }

    /// The options the cache was built with.
    pub fn config(&self) -> &CacheConfig {
        &self.shared.config
    }

    /// Hit, miss and error counters since the store was built.
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot()
    }

    /// Whether Redis answers now (`false` without Redis).
    pub async fn redis_is_up(&self) -> bool {
        match &self.shared.redis {
            Some(redis) => redis.ping().await,
            None => false,
        }
    }

    /// Serves `key` from moka, else Redis, else `load` (the backend), filling the layers on the
    /// way back. Concurrent misses of one key share one load.
    async fn cached<F>(&self, key: Key, load: F) -> Result<Value>
    where
        F: std::future::Future<Output = Result<Value>> + Send,
    {
        let shared = &self.shared;
        let Some(moka) = &shared.moka else {
            return self.load_through_redis(&key, load).await;
        };
        if let Some(entry) = moka.get(&key).await {
            if entry.expires_at > shared.clock.now() {
                bump(&shared.counters.moka_hits);
                return Ok(entry.value.clone());
            }
            moka.invalidate(&key).await;
        }
        bump(&shared.counters.moka_misses);
        let epoch = shared.epoch.load(Ordering::SeqCst);
        let entry = moka
            .try_get_with(key.clone(), async {
                let value = self.load_through_redis(&key, load).await?;
                Ok::<_, Error>(Arc::new(Entry {
                    value,
                    expires_at: shared.clock.now() + shared.config.ttl,
                }))
            })
            .await
            .map_err(share_error)?;
        if shared.epoch.load(Ordering::SeqCst) != epoch {
            // A write ran while this value was loaded: it may predate the write.
            moka.invalidate(&key).await;
        }
        Ok(entry.value.clone())
    }

    async fn load_through_redis<F>(&self, key: &Key, load: F) -> Result<Value>
    where
        F: std::future::Future<Output = Result<Value>> + Send,
    {
        let shared = &self.shared;
        if let Some(redis) = &shared.redis {
            if let Some((found, stamp)) = redis.read(key).await {
                if let Some(value) = found {
                    bump(&shared.counters.redis_hits);
                    return Ok(value);
                }
                bump(&shared.counters.redis_misses);
                bump(&shared.counters.backend_reads);
                let value = load.await?;
                redis.fill(key, &value, stamp);
                return Ok(value);
            }
        }
        bump(&shared.counters.backend_reads);
        load.await
    }

    /// After a write (successful or not: a failure may hide a commit): forget every key it may
    /// have changed, here, in Redis, and in the other instances.
    async fn invalidate(&self, keys: Vec<Key>) {
        let shared = &self.shared;
        shared.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(moka) = &shared.moka {
            invalidate_local(moka, &keys).await;
        }
        if let Some(redis) = &shared.redis {
            redis.invalidate(&keys).await;
        }
    }
}

async fn invalidate_local(moka: &Moka, keys: &[Key]) {
    for key in keys {
        if let Key::AllAliases(name) = key {
            let name = name.clone();
            // Only fails when closures are not enabled; they are, in `with_clock`.
            let _ =
                moka.invalidate_entries_if(move |k, _| matches!(k, Key::Alias(n, _) if *n == name));
        } else {
            moka.invalidate(key).await;
        }
    }
}

/// Listens for other instances' invalidations and applies them to this instance's moka. When
/// the subscription drops, every local entry is forgotten (announcements may have been missed
/// meanwhile), and again once it is back.
async fn subscribe(
    client: redis::Client,
    channel: String,
    me: u128,
    moka: Moka,
    retry_after: Duration,
) {
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            if pubsub.subscribe(&channel).await.is_ok() {
                moka.invalidate_all();
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let Ok((sender, keys)) =
                        rmp_serde::from_slice::<Announcement>(message.get_payload_bytes())
                    else {
                        continue;
                    };
                    if sender != me {
                        invalidate_local(&moka, &keys).await;
                    }
                }
                moka.invalidate_all();
            }
        }
        tokio::time::sleep(retry_after).await;
    }
}

macro_rules! cached_read {
    ($self:ident, $key:expr, $variant:ident, $load:expr) => {{
        let key = $key;
        match $self
            .cached(key.clone(), async { $load.await.map(Value::$variant) })
            .await?
        {
            Value::$variant(found) => Ok(found),
            _ => Err(wrong_kind(&key)),
        }
    }};
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: Store> ModelRegistry for CachedStore<S> {
    async fn register(&self, metadata: &ModelMetadata) -> Result<()> {
        let result = self.shared.backend.register(metadata).await;
        self.invalidate(version_keys(metadata.name(), metadata.version()))
            .await;
        result
    }

    async fn get(&self, name: &ModelName, version: &Version) -> Result<Option<ModelMetadata>> {
        cached_read!(
            self,
            Key::Get(name.clone(), version.clone()),
            Metadata,
            self.shared.backend.get(name, version)
        )
    }

    async fn latest(&self, name: &ModelName) -> Result<Option<ModelMetadata>> {
        cached_read!(
            self,
            Key::Latest(name.clone()),
            Metadata,
            self.shared.backend.latest(name)
        )
    }

    async fn versions(&self, name: &ModelName) -> Result<Vec<ModelMetadata>> {
        cached_read!(
            self,
            Key::Versions(name.clone()),
            Versions,
            self.shared.backend.versions(name)
        )
    }

    async fn list_models(&self) -> Result<Vec<ModelName>> {
        self.shared.backend.list_models().await
    }

    async fn update(&self, metadata: &ModelMetadata) -> Result<()> {
        let result = self.shared.backend.update(metadata).await;
        self.invalidate(version_keys(metadata.name(), metadata.version()))
            .await;
        result
    }

    async fn delete(&self, name: &ModelName, version: &Version) -> Result<()> {
        let result = self.shared.backend.delete(name, version).await;
        let mut keys = version_keys(name, version);
        keys.push(Key::Baseline(name.clone(), version.clone()));
        keys.push(Key::AllAliases(name.clone()));
        self.invalidate(keys).await;
        result
    }

    async fn set_alias(&self, name: &ModelName, alias: &Alias, version: &Version) -> Result<()> {
        let result = self.shared.backend.set_alias(name, alias, version).await;
        self.invalidate(vec![Key::Alias(name.clone(), alias.clone())])
            .await;
        result
    }

    async fn resolve_alias(&self, name: &ModelName, alias: &Alias) -> Result<Option<Version>> {
        cached_read!(
            self,
            Key::Alias(name.clone(), alias.clone()),
            Version,
            self.shared.backend.resolve_alias(name, alias)
        )
    }

    async fn remove_alias(&self, name: &ModelName, alias: &Alias) -> Result<()> {
        let result = self.shared.backend.remove_alias(name, alias).await;
        self.invalidate(vec![Key::Alias(name.clone(), alias.clone())])
            .await;
        result
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: Store> PredictionStore for CachedStore<S> {
    async fn store_prediction(&self, prediction: &Prediction) -> Result<()> {
        self.shared.backend.store_prediction(prediction).await
    }

    async fn store_predictions(&self, predictions: &[Prediction]) -> Result<()> {
        self.shared.backend.store_predictions(predictions).await
    }

    async fn record_actual(&self, id: Uuid, actual: &Json) -> Result<()> {
        self.shared.backend.record_actual(id, actual).await
    }

    async fn record_actuals(&self, labels: &[Label]) -> Result<()> {
        self.shared.backend.record_actuals(labels).await
    }

    async fn recent_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        limit: usize,
    ) -> Result<Vec<Prediction>> {
        self.shared
            .backend
            .recent_predictions(model, version, limit)
            .await
    }

    async fn accuracy(
        &self,
        model: &ModelName,
        version: &Version,
        window: usize,
    ) -> Result<Accuracy> {
        self.shared.backend.accuracy(model, version, window).await
    }

    async fn store_baseline(&self, baseline: &ConfidenceBaseline) -> Result<()> {
        let result = self.shared.backend.store_baseline(baseline).await;
        self.invalidate(vec![Key::Baseline(
            baseline.model().clone(),
            baseline.version().clone(),
        )])
        .await;
        result
    }

    async fn baseline(
        &self,
        model: &ModelName,
        version: &Version,
    ) -> Result<Option<ConfidenceBaseline>> {
        cached_read!(
            self,
            Key::Baseline(model.clone(), version.clone()),
            Baseline,
            self.shared.backend.baseline(model, version)
        )
    }
}
