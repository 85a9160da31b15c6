//! [`CachedStore`]: any store, with its reads cached.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use mlstore_core::layers::LayeredStore;
use mlstore_core::{
    Alias, ConfidenceBaseline, Error, ModelMetadata, ModelName, Result, Store, Version,
};
use moka::future::Cache;

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
/// A [`LayeredStore`]: it overrides only the reads it serves and the writes after which it
/// invalidates; every other operation (predictions, labels, monitoring) goes to the wrapped store
/// untouched, including operations added to the traits later.
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
    /// Bumped by every write of this handle and every invalidation heard from another instance;
    /// a load that overlapped either does not stay cached.
    epoch: Arc<AtomicU64>,
    /// The Redis key namespace (bound to the database's identity unless configured).
    namespace: String,
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
        if *config.mode() == CacheMode::None {
            return Err(Error::configuration(
                "cache mode `none`: use the backend itself, without CachedStore",
            ));
        }
        let namespace = config.namespace_for(backend.database_id());
        let counters = Arc::new(Counters::default());
        let epoch = Arc::new(AtomicU64::new(0));
        let moka = config.mode().uses_moka().then(|| {
            Cache::builder()
                .max_capacity(config.moka_capacity())
                // A bound on memory in real time; serving stops at the TTL of `clock`.
                .time_to_live(config.ttl())
                .support_invalidation_closures()
                .build()
        });
        let redis = match config.mode().redis_url() {
            Some(url) => Some(Arc::new(RedisLayer::new(
                url,
                namespace.clone(),
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
                Arc::clone(&epoch),
                config.redis_retry_after(),
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
                epoch,
                namespace,
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

    /// The Redis key namespace in use: the configured one, or `mlstore:<database id>`.
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
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
                    expires_at: shared.clock.now() + shared.config.ttl(),
                }))
            })
            .await
            .map_err(|shared_error| (*shared_error).clone())?;
        if shared.epoch.load(Ordering::SeqCst) != epoch {
            // A write ran (here or in another instance) while this value was loaded: the value
            // may predate it. An invalidation applied before this load inserted its value did
            // not remove it; this does.
            moka.invalidate(&key).await;
        }
        Ok(entry.value.clone())
    }

    async fn load_through_redis<F>(&self, key: &Key, load: F) -> Result<Value>
    where
        F: std::future::Future<Output = Result<Value>> + Send,
    {
        let shared = &self.shared;
        // A value that fills a cache must be the latest commit, not a replica's older state.
        let load = mlstore_core::routing::from_primary(load);
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

/// Listens for other instances' invalidations and applies them to this instance's moka. Each
/// one also moves the epoch, so that a load running at that moment (which may have read the
/// backend before the other instance's write) does not stay cached. When the subscription
/// drops, every local entry is forgotten (announcements may have been missed meanwhile), and
/// again once it is back.
async fn subscribe(
    client: redis::Client,
    channel: String,
    me: u128,
    moka: Moka,
    epoch: Arc<AtomicU64>,
    retry_after: Duration,
) {
    let forget_all = || {
        epoch.fetch_add(1, Ordering::SeqCst);
        moka.invalidate_all();
    };
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            if pubsub.subscribe(&channel).await.is_ok() {
                forget_all();
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let Ok((sender, keys)) =
                        rmp_serde::from_slice::<Announcement>(message.get_payload_bytes())
                    else {
                        continue;
                    };
                    if sender != me {
                        epoch.fetch_add(1, Ordering::SeqCst);
                        invalidate_local(&moka, &keys).await;
                    }
                }
                forget_all();
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

#[async_trait]
impl<S: Store> LayeredStore for CachedStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.shared.backend
    }

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

    async fn rollback_alias(&self, name: &ModelName, alias: &Alias) -> Result<Version> {
        let result = self.shared.backend.rollback_alias(name, alias).await;
        self.invalidate(vec![Key::Alias(name.clone(), alias.clone())])
            .await;
        result
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
