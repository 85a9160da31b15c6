//! The pieces of mlstore's benchmark, shared by the report binary (`cargo run --release -p
//! mlstore-bench`) and the criterion benches (`cargo bench -p mlstore-bench`), so that both
//! measure the same operations on stores built the same way.
//!
//! - [`Combo`]: a backend (SQLite file, PostgreSQL) and a cache (none, moka, Redis, both).
//! - [`Op`]: the ten operations of the system mlstore replaces, with its data sizes, plus alias
//!   resolution and late labels.
//! - [`Fixture`]: the data every operation works on, registered through the store.
//! - [`floor`]: the same SQL on a held driver connection (and a raw Redis `GET`), measured in the
//!   same run.

#![deny(missing_docs)]

pub mod clients;
pub mod conns;
pub mod dashboard;
pub mod floor;
pub mod http;
pub mod measure;
pub mod plot;
pub mod replicas;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mlstore_cache::{CacheConfig, CacheMode, CachedStore};
use mlstore_core::{
    Alias, ConfidenceBaseline, Label, ModelMetadata, ModelName, Prediction, PredictionStoreExt,
    Result, Store, Version, Window,
};
use serde_json::json;
use uuid::Uuid;

/// The storage backend of a combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite file in a temporary directory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The cache of a combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cache {
    /// No cache.
    None,
    /// In-process moka.
    Moka,
    /// Shared Redis.
    Redis,
    /// moka in front of Redis.
    MokaRedis,
}

impl Cache {
    /// `none`, `moka`, `redis`, `moka+redis`.
    pub fn name(self) -> &'static str {
        match self {
            Cache::None => "none",
            Cache::Moka => "moka",
            Cache::Redis => "redis",
            Cache::MokaRedis => "moka+redis",
        }
    }

    /// Whether the combination needs a Redis server.
    pub fn needs_redis(self) -> bool {
        matches!(self, Cache::Redis | Cache::MokaRedis)
    }
}

/// A backend with a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Combo {
    /// The backend.
    pub backend: Backend,
    /// The cache.
    pub cache: Cache,
}

impl fmt::Display for Combo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} + {}", self.backend.name(), self.cache.name())
    }
}

/// Where the servers are, for the combinations that need them.
#[derive(Debug, Clone, Default)]
pub struct Servers {
    /// A PostgreSQL database URL (the benchmark uses names of its own in it).
    pub postgres: Option<String>,
    /// A Redis URL.
    pub redis: Option<String>,
}

/// A store under test, with what it was built from.
pub struct Target {
    /// The combination.
    pub combo: Combo,
    /// The store, cache included.
    pub store: Arc<dyn Store>,
    /// The SQLite file's path, for the floor's own connection.
    pub sqlite_path: Option<std::path::PathBuf>,
    // Keeps the temporary SQLite directory alive.
    _temp: Option<tempfile_guard::Guard>,
}

mod tempfile_guard {
    /// Removes a directory when dropped.
    pub struct Guard(pub std::path::PathBuf);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Target {
    /// Builds the store of `combo`: a new SQLite file, or the PostgreSQL database of `servers`,
    /// behind the cache (with a Redis namespace of its own).
    ///
    /// # Errors
    /// When a server is missing or a store cannot be opened.
    pub async fn build(combo: Combo, servers: &Servers) -> Result<Self> {
        let (backend, sqlite_path, temp): (Arc<dyn Store>, _, _) = match combo.backend {
            Backend::Sqlite => {
                let dir =
                    std::env::temp_dir().join(format!("mlstore-bench-{}", Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).map_err(|e| {
                    mlstore_core::Error::configuration(format!(
                        "cannot create {}: {e}",
                        dir.display()
                    ))
                })?;
                let path = dir.join("bench.db");
                let store =
                    mlstore_sqlite::SqliteStore::open(mlstore_sqlite::SqliteConfig::file(&path))
                        .await?;
                (
                    Arc::new(store),
                    Some(path),
                    Some(tempfile_guard::Guard(dir)),
                )
            }
            Backend::Postgres => {
                let url = servers.postgres.as_deref().ok_or_else(|| {
                    mlstore_core::Error::configuration(
                        "the postgres combinations need --postgres URL or --all",
                    )
                })?;
                (
                    Arc::new(mlstore_postgres::PostgresStore::connect_url(url).await?),
                    None,
                    None,
                )
            }
        };
        let redis = || {
            servers.redis.clone().ok_or_else(|| {
                mlstore_core::Error::configuration(
                    "the redis combinations need --redis URL or --all",
                )
            })
        };
        let mode = match combo.cache {
            Cache::None => None,
            Cache::Moka => Some(CacheMode::Moka),
            Cache::Redis => Some(CacheMode::Redis(redis()?)),
            Cache::MokaRedis => Some(CacheMode::MokaRedis(redis()?)),
        };
        let store: Arc<dyn Store> = match mode {
            None => backend,
            Some(mode) => {
                let config = CacheConfig::new(mode)
                    .with_namespace(format!("mlstore-bench-{}", Uuid::new_v4().simple()))?;
                Arc::new(CachedStore::new(backend, config)?)
            }
        };
        Ok(Self {
            combo,
            store,
            sqlite_path,
            _temp: temp,
        })
    }
}

/// One measured operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Register one version.
    Register,
    /// Get one version by name + version.
    Get,
    /// Latest version of a model.
    Latest,
    /// All versions of a 10-version model.
    Versions10,
    /// Store one prediction.
    Store1,
    /// Store 100 predictions in one batch.
    Store100,
    /// The 100 newest predictions.
    Recent100,
    /// Accuracy over the newest 1000 labelled predictions.
    Accuracy1000,
    /// Write the confidence baseline (upsert).
    BaselineWrite,
    /// Read the confidence baseline.
    BaselineRead,
    /// Resolve an alias.
    AliasResolve,
    /// Record the late label of one prediction.
    RecordActual,
    /// Metrics over the newest 10,000 predictions of a version.
    Metrics10000,
    /// Drift of the newest 10,000 predictions against the baseline.
    Drift10000,
    /// 720 hourly buckets (30 days) of a version with 100,000 predictions in them.
    Series720,
    /// Where an alias with 1,000 past moves pointed at a time in the middle of them.
    AliasAt,
    /// The newest 100 events of a model.
    History100,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 17] = [
        Op::Register,
        Op::Get,
        Op::Latest,
        Op::Versions10,
        Op::Store1,
        Op::Store100,
        Op::Recent100,
        Op::Accuracy1000,
        Op::BaselineWrite,
        Op::BaselineRead,
        Op::AliasResolve,
        Op::RecordActual,
        Op::Metrics10000,
        Op::Drift10000,
        Op::Series720,
        Op::AliasAt,
        Op::History100,
    ];

    /// The stable name used in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Op::Register => "register",
            Op::Get => "get",
            Op::Latest => "latest",
            Op::Versions10 => "versions_10",
            Op::Store1 => "store_1",
            Op::Store100 => "store_100",
            Op::Recent100 => "recent_100",
            Op::Accuracy1000 => "accuracy_1000",
            Op::BaselineWrite => "baseline_write",
            Op::BaselineRead => "baseline_read",
            Op::AliasResolve => "alias_resolve",
            Op::RecordActual => "record_actual",
            Op::Metrics10000 => "metrics_10000",
            Op::Drift10000 => "drift_10000",
            Op::Series720 => "series_720",
            Op::AliasAt => "alias_at",
            Op::History100 => "history_100",
        }
    }

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Op::Register => "Register model",
            Op::Get => "Get by name+version",
            Op::Latest => "Latest version",
            Op::Versions10 => "All versions (10)",
            Op::Store1 => "Store 1 prediction",
            Op::Store100 => "Store 100 (batch)",
            Op::Recent100 => "Recent 100",
            Op::Accuracy1000 => "Accuracy (1000)",
            Op::BaselineWrite => "Baseline write",
            Op::BaselineRead => "Baseline read",
            Op::AliasResolve => "Alias resolve",
            Op::RecordActual => "Record actual",
            Op::Metrics10000 => "Metrics (10000)",
            Op::Drift10000 => "Drift (10000)",
            Op::Series720 => "Series (720 hours)",
            Op::AliasAt => "Alias at a time (1000 moves)",
            Op::History100 => "History (100 events)",
        }
    }

    /// The figure the system mlstore replaces published, in milliseconds (`SPEC.md`).
    pub fn original_ms(self) -> Option<f64> {
        match self {
            Op::Register => Some(6.49),
            Op::Get => Some(1.49),
            Op::Latest => Some(1.60),
            Op::Versions10 => Some(1.46),
            Op::Store1 => Some(4.15),
            Op::Store100 => Some(422.99),
            Op::Recent100 => Some(2.47),
            Op::Accuracy1000 => Some(1.92),
            Op::BaselineWrite => Some(4.26),
            Op::BaselineRead => Some(1.05),
            Op::AliasResolve
            | Op::RecordActual
            | Op::Metrics10000
            | Op::Drift10000
            | Op::Series720
            | Op::AliasAt
            | Op::History100 => None,
        }
    }

    /// Whether the cache serves this operation (the others pass through or write).
    pub fn is_cached_read(self) -> bool {
        matches!(
            self,
            Op::Get | Op::Latest | Op::Versions10 | Op::BaselineRead | Op::AliasResolve
        )
    }

    /// Whether the operation writes.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Op::Register | Op::Store1 | Op::Store100 | Op::BaselineWrite | Op::RecordActual
        )
    }
}

/// What one run of an operation needs, built before the clock starts.
#[derive(Debug, Clone)]
pub enum Input {
    /// Nothing beyond the fixture.
    None,
    /// A version to register.
    Metadata(Box<ModelMetadata>),
    /// One prediction.
    Prediction(Box<Prediction>),
    /// A batch.
    Batch(Vec<Prediction>),
    /// A label.
    Label(Label),
}

/// The data the operations work on, under names of its own (a run suffix), so that several
/// fixtures can share a database.
#[derive(Debug)]
pub struct Fixture {
    /// The 10-version model read by get / latest / versions.
    pub model: ModelName,
    /// Its version 1.9.0 ("latest"), read by get, with the 1000 labelled predictions, the
    /// baseline and the alias.
    pub version: Version,
    /// The version the write operations add predictions to.
    pub write_version: Version,
    /// The model whose versions `register` adds.
    pub register_model: ModelName,
    /// The alias, pointing at `version`.
    pub alias: Alias,
    /// The baseline `baseline_write` writes.
    pub baseline: ConfidenceBaseline,
    /// Predictions `record_actual` labels, in turn.
    pub label_targets: Vec<Uuid>,
    /// The version monitoring reads: 10,000 predictions (half labelled) and a baseline.
    pub monitor_version: Version,
    /// The version series read: predictions spread over [`Fixture::series_range`].
    pub series_version: Version,
    /// 30 days ending at a whole hour: 720 hourly buckets.
    pub series_range: (mlstore_core::Timestamp, mlstore_core::Timestamp),
    /// The alias moved 1,000 times between the model's versions (`alias_at`).
    pub moved_alias: Alias,
    /// A time between its 500th and 501st moves.
    pub moved_at: mlstore_core::Timestamp,
    counter: AtomicU64,
}

fn prediction(model: &ModelName, version: &Version, i: u64, labelled: bool) -> Prediction {
    let label = if i % 4 == 0 { "fraud" } else { "legit" };
    Prediction::builder(
        model.clone(),
        version.clone(),
        json!(label),
        0.5 + (i % 50) as f64 / 100.0,
    )
    .feature("amount", json!(12.5 + i as f64))
    .feature("country", json!("NO"))
    .feature("merchant_category", json!(5411))
    .actual(labelled.then(|| json!("legit")))
    .build()
    .expect("valid benchmark prediction")
}

impl Fixture {
    /// Registers the fixture's data through `store`: a 10-version model, 1000 labelled
    /// predictions, 1000 unlabelled ones to label, a baseline and an alias. `tag` keeps the
    /// names apart from other fixtures in the same database.
    ///
    /// # Errors
    /// When the store refuses a write.
    pub async fn create(store: &dyn Store, tag: &str) -> Result<Self> {
        let model = ModelName::new(format!("bench-model-{tag}"))?;
        for minor in 0..10 {
            let m = ModelMetadata::builder(
                model.clone(),
                Version::new(format!("1.{minor}.0"))?,
                "xgboost",
            )
            .metric("auc", 0.91)
            .metric("f1", 0.87)
            .tag("team", "risk")
            .description("fraud detection model")
            .environment("production")
            .configuration(
                json!({"threshold": 0.7, "max_depth": 6, "features": ["amount", "country"]})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
            .build()?;
            store.register(&m).await?;
        }
        let version = Version::new("1.9.0")?;
        let write_version = Version::new("1.8.0")?;
        let labelled: Vec<Prediction> = (0..1000)
            .map(|i| prediction(&model, &version, i, true))
            .collect();
        store.store_predictions(&labelled).await?;
        let unlabelled: Vec<Prediction> = (0..1000)
            .map(|i| prediction(&model, &write_version, i, false))
            .collect();
        store.store_predictions(&unlabelled).await?;
        let alias = Alias::new("production")?;
        store.set_alias(&model, &alias, &version).await?;
        let baseline = ConfidenceBaseline::new(model.clone(), version.clone(), 0.74, 0.14, 1000)?;
        store.store_baseline(&baseline).await?;
        let monitor_version = Version::new("1.7.0")?;
        for chunk in 0..10u64 {
            let batch: Vec<Prediction> = (0..1000)
                .map(|i| {
                    let n = chunk * 1000 + i;
                    prediction(&model, &monitor_version, n, n % 2 == 0)
                })
                .collect();
            store.store_predictions(&batch).await?;
        }
        store
            .compute_baseline(&model, &monitor_version, mlstore_core::Window::last(10_000))
            .await?;
        let series_version = Version::new("1.6.0")?;
        let series_range = Self::series_range();
        Self::spread(store, &model, &series_version, series_range, 0, 100_000).await?;
        let moved_alias = Alias::new("canary")?;
        let mut moved_at = mlstore_core::time::now();
        for step in 0..1000u64 {
            let target = Version::new(format!("1.{}.0", step % 10))?;
            store.set_alias(&model, &moved_alias, &target).await?;
            if step == 499 {
                moved_at = mlstore_core::time::now();
            }
        }
        Ok(Self {
            moved_alias,
            moved_at,
            register_model: ModelName::new(format!("bench-register-{tag}"))?,
            label_targets: unlabelled.iter().map(Prediction::id).collect(),
            monitor_version,
            series_version,
            series_range,
            model,
            version,
            write_version,
            alias,
            baseline,
            counter: AtomicU64::new(0),
        })
    }

    /// 30 days ending at the last whole hour.
    pub fn series_range() -> (mlstore_core::Timestamp, mlstore_core::Timestamp) {
        let end = mlstore_core::Bucket::Hour.floor(mlstore_core::time::now());
        (end - chrono::Duration::days(30), end)
    }

    /// Stores `count` predictions of `version` spread evenly over `range` (prediction `first +
    /// k` at `k/count` of the way), in batches of 10,000, with every tenth labelled.
    ///
    /// # Errors
    /// When the store refuses a write.
    pub async fn spread(
        store: &dyn Store,
        model: &ModelName,
        version: &Version,
        (since, until): (mlstore_core::Timestamp, mlstore_core::Timestamp),
        first: u64,
        count: u64,
    ) -> Result<()> {
        let span = (until - since).num_microseconds().unwrap_or(i64::MAX) as f64;
        for chunk in (0..count).step_by(10_000) {
            let batch: Vec<Prediction> = (chunk..(chunk + 10_000).min(count))
                .map(|k| {
                    let offset = (k as f64 / count as f64 * span) as i64;
                    prediction(model, version, first + k, (first + k) % 10 == 0)
                        .to_builder()
                        .timestamp(since + chrono::Duration::microseconds(offset))
                        .build()
                        .expect("valid benchmark prediction")
                })
                .collect();
            store.store_predictions(&batch).await?;
        }
        Ok(())
    }

    /// The query of `history_100`: the newest 100 events of the model.
    pub fn history_query(&self) -> mlstore_core::EventQuery {
        mlstore_core::EventQuery::all()
            .model(self.model.clone())
            .newest_first(true)
            .limit(100)
    }

    /// Builds the input of run `i` of `op` (outside the timed section).
    pub fn input(&self, op: Op) -> Input {
        let i = self.counter.fetch_add(1, Ordering::Relaxed);
        match op {
            Op::Register => {
                let version = Version::new(format!("0.{}.{}", i / 1_000_000, i % 1_000_000))
                    .expect("valid generated version");
                let m = ModelMetadata::builder(self.register_model.clone(), version, "xgboost")
                    .metric("auc", 0.9)
                    .tag("team", "risk")
                    .build()
                    .expect("valid metadata");
                Input::Metadata(Box::new(m))
            }
            Op::Store1 => Input::Prediction(Box::new(prediction(
                &self.model,
                &self.write_version,
                i,
                false,
            ))),
            Op::Store100 => Input::Batch(
                (0..100)
                    .map(|j| prediction(&self.model, &self.write_version, i * 100 + j, false))
                    .collect(),
            ),
            Op::RecordActual => {
                let id = self.label_targets[(i % self.label_targets.len() as u64) as usize];
                Input::Label(Label::new(id, json!("legit")).expect("valid label"))
            }
            _ => Input::None,
        }
    }

    /// Runs `op` once on `store`.
    ///
    /// # Errors
    /// What the store returns.
    pub async fn run(&self, store: &dyn Store, op: Op, input: &Input) -> Result<()> {
        match (op, input) {
            (Op::Register, Input::Metadata(m)) => store.register(m).await,
            (Op::Get, _) => store.get(&self.model, &self.version).await.map(drop),
            (Op::Latest, _) => store.latest(&self.model).await.map(drop),
            (Op::Versions10, _) => store.versions(&self.model).await.map(drop),
            (Op::Store1, Input::Prediction(p)) => store.store_prediction(p).await,
            (Op::Store100, Input::Batch(batch)) => store.store_predictions(batch).await,
            (Op::Recent100, _) => store
                .recent_predictions(&self.model, &self.version, Window::last(100))
                .await
                .map(drop),
            (Op::Accuracy1000, _) => store
                .accuracy(&self.model, &self.version, Window::last(1000))
                .await
                .map(drop),
            (Op::BaselineWrite, _) => store.store_baseline(&self.baseline).await,
            (Op::BaselineRead, _) => store.baseline(&self.model, &self.version).await.map(drop),
            (Op::AliasResolve, _) => store
                .resolve_alias(&self.model, &self.alias)
                .await
                .map(drop),
            (Op::RecordActual, Input::Label(l)) => store.record_actual(l.id(), l.actual()).await,
            (Op::Metrics10000, _) => store
                .metrics(
                    &self.model,
                    &self.monitor_version,
                    mlstore_core::MetricsOptions::new(Window::last(10_000)),
                )
                .await
                .map(drop),
            (Op::Drift10000, _) => store
                .drift(
                    &self.model,
                    &self.monitor_version,
                    Window::last(10_000),
                    mlstore_core::DriftThresholds::default(),
                )
                .await
                .map(drop),
            (Op::Series720, _) => {
                let (since, until) = self.series_range;
                let q = mlstore_core::SeriesQuery::new(since, until, mlstore_core::Bucket::Hour);
                store
                    .series(&self.model, &self.series_version, &q)
                    .await
                    .map(drop)
            }
            (Op::AliasAt, _) => store
                .resolve_alias_at(&self.model, &self.moved_alias, self.moved_at)
                .await
                .map(drop),
            (Op::History100, _) => store.events(&self.history_query()).await.map(drop),
            (op, input) => Err(mlstore_core::Error::invalid(
                "input",
                format!("{} cannot run with {input:?}", op.name()),
            )),
        }
    }
}
