//! [`SqliteStore`]: the store traits on an embedded SQLite database.
//!
//! # Concurrency
//! - One writer connection behind an async mutex: writers of this process queue on the mutex
//!   (never on SQLite's lock), so they cannot fail with "database is locked".
//! - For a file database, a pool of read connections: in WAL mode a reader sees the last commit
//!   and never waits for the writer.
//! - Point operations run inline on the calling task: a cached-statement lookup costs a few
//!   microseconds, less than a hop to a blocking thread. Work whose size is not bounded by a
//!   small constant (batches, deletes that cascade) runs under `block_in_place`, and so does any
//!   call that finds the database busy (another process holding the write lock): it then waits up
//!   to the busy timeout off the async scheduler.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::c_int;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use mlstore_core::codec::{BaselineRow, EventRow, LabelColumns, MetadataRow, PredictionRow};
use mlstore_core::history::{self, NewEvent};
use mlstore_core::monitoring::{Bucket, BucketSums, SeriesQuery, WindowRow};
use mlstore_core::retention::{BatchSizer, Prune, PruneOutcome, PruneScope, Retention};
use mlstore_core::time::to_micros;
use mlstore_core::{
    validate, Accuracy, Alias, BatchOptions, BatchOutcome, ConfidenceBaseline, DatabaseId, Error,
    EventKind, EventPage, EventQuery, Label, ModelMetadata, ModelName, ModelPage, ModelQuery,
    ModelRegistry, OnProblem, Prediction, PredictionFilter, PredictionStore, Result, ScanOptions,
    ScanPage, SkipReason, Skipped, Version, VersionPage, VersionQuery, Window,
};
use rusqlite::types::ToSqlOutput;
use rusqlite::{
    params, params_from_iter, Connection, OpenFlags, OptionalExtension, Params, Row,
    TransactionBehavior,
};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

use crate::config::{Location, SqliteConfig};
use crate::error::{is_busy, map, BACKEND};
use crate::{migrate, sql};

/// The SQLite store. Cheap to clone: clones share the connections.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use mlstore_core::{ModelMetadata, ModelName, ModelRegistry, Version};
/// use mlstore_sqlite::SqliteStore;
///
/// let store = SqliteStore::open_in_memory().await.unwrap();
/// let name = ModelName::new("fraud").unwrap();
/// let m = ModelMetadata::builder(name.clone(), Version::new("1.0.0").unwrap(), "xgboost")
///     .build()
///     .unwrap();
/// store.register(&m).await.unwrap();
/// assert_eq!(store.latest(&name).await.unwrap(), Some(m));
/// # });
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: SqliteConfig,
    writer: Mutex<Connection>,
    readers: Option<ReaderPool>,
    schema_version: i64,
    database_id: DatabaseId,
    // Declared last: the directory is removed after the connections above are closed.
    _temp_dir: Option<tempfile::TempDir>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("config", &self.inner.config)
            .field("schema_version", &self.inner.schema_version)
            .field("database_id", &self.inner.database_id)
            .finish_non_exhaustive()
    }
}

/// Read connections of a file database: one slot per connection (opened on first use), each
/// behind a lock of its own, so that readers on different threads share no lock. A thread
/// starts at the slot it used last and so keeps reading through the same connection, with its
/// page cache warm in that CPU's caches.
struct ReaderPool {
    /// As many permits as slots: a reader holding one always finds a free slot.
    permits: Semaphore,
    slots: Box<[StdMutex<Option<Connection>>]>,
}

thread_local! {
    /// The reader slot this thread used last (`usize::MAX`: none yet).
    static READER_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Spreads the first slot of each thread over the pool.
static NEXT_READER_SLOT: AtomicUsize = AtomicUsize::new(0);

impl ReaderPool {
    fn new(size: usize) -> Self {
        Self {
            permits: Semaphore::new(size),
            slots: (0..size).map(|_| StdMutex::new(None)).collect(),
        }
    }

    /// Runs `f` on a free slot's connection (opening it with `open` if the slot is empty).
    /// The caller holds a permit, so a free slot exists.
    fn with_free_slot<T>(
        &self,
        open: impl FnOnce() -> Result<Connection>,
        f: impl FnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let len = self.slots.len();
        let start = READER_SLOT.with(|slot| {
            if slot.get() == usize::MAX {
                slot.set(NEXT_READER_SLOT.fetch_add(1, Ordering::Relaxed));
            }
            slot.get()
        }) % len;
        for k in 0..len {
            let index = (start + k) % len;
            let mut guard = match self.slots[index].try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => continue,
            };
            READER_SLOT.with(|slot| slot.set(index));
            let conn = match guard.as_mut() {
                Some(conn) => conn,
                None => guard.insert(open()?),
            };
            return f(conn);
        }
        Err(Error::unavailable(
            BACKEND,
            "no free read connection although a permit was held",
        ))
    }
}

/// WAL size, in pages, above which a write is followed by a checkpoint (SQLite's default).
const CHECKPOINT_PAGES: c_int = 1000;

thread_local! {
    /// Pages in the WAL after the last commit of a writer connection on this thread.
    static WAL_PAGES: Cell<c_int> = const { Cell::new(0) };
}

/// The writer's WAL hook: notes the WAL size after each commit. Registering it replaces SQLite's
/// automatic checkpoint, which would run inside whichever commit crosses the threshold, on
/// whatever thread that is (an async worker, for inline writes). [`SqliteStore::write`] reads
/// the note and runs the checkpoint itself, off the scheduler.
fn note_wal_pages(_wal: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    Ok(())
}

/// Runs the checkpoint that SQLite's automatic checkpointing would run, when the last commit on
/// this thread left the WAL over [`CHECKPOINT_PAGES`]. The write has committed whatever happens
/// here; a failed checkpoint is logged and retried after a later write.
fn checkpoint_if_due(conn: &Connection) {
    if WAL_PAGES.with(|p| p.replace(0)) < CHECKPOINT_PAGES {
        return;
    }
    blocking(|| {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "sqlite WAL checkpoint failed; retrying after a later write");
        }
    });
}

/// Runs `f` off the async scheduler when the runtime allows it (multi-thread), inline otherwise.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Runs `f` inline; if the database is busy (another process holds a lock), runs it again off
/// the scheduler, this time waiting up to `timeout` for the lock. `f` must be all-or-nothing
/// (one statement, or one transaction that rolls back on error), so a retry is safe.
fn with_busy_retry<T>(
    conn: &mut Connection,
    timeout: Duration,
    mut f: impl FnMut(&mut Connection) -> Result<T>,
) -> Result<T> {
    match f(conn) {
        Err(e) if is_busy(&e) => blocking(|| {
            conn.busy_timeout(timeout).map_err(map)?;
            let result = f(conn);
            conn.busy_timeout(Duration::ZERO).map_err(map)?;
            result
        }),
        other => other,
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database described by `config`.
    ///
    /// # Errors
    /// [`Error::Configuration`] when the file cannot be opened or created, or its schema is newer
    /// than this build; [`Error::Unavailable`] when another process holds the database locked
    /// longer than the busy timeout.
    pub async fn open(config: SqliteConfig) -> Result<Self> {
        Self::open_with_temp_dir(config, None).await
    }

    /// Opens a private in-memory database.
    pub async fn open_in_memory() -> Result<Self> {
        Self::open(SqliteConfig::in_memory()).await
    }

    /// Opens a database file in a new temporary directory that is deleted when the last clone
    /// of the store is dropped (tests, benchmarks).
    pub async fn open_temporary() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mlstore-sqlite-")
            .tempdir()
            .map_err(|e| {
                Error::configuration(format!("cannot create a temporary directory: {e}"))
            })?;
        let config = SqliteConfig::file(dir.path().join("mlstore.db"));
        Self::open_with_temp_dir(config, Some(dir)).await
    }

    async fn open_with_temp_dir(
        config: SqliteConfig,
        temp_dir: Option<tempfile::TempDir>,
    ) -> Result<Self> {
        // Opening and migrating touch the disk once; keep it off the scheduler.
        let inner = blocking(move || Inner::open(config, temp_dir))?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The options the store was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    /// The schema version of the database (the last migration applied).
    pub fn schema_version(&self) -> i64 {
        self.inner.schema_version
    }

    /// Runs `f` on the writer connection: inline, or off the scheduler when `heavy` (or busy).
    async fn write<T>(
        &self,
        heavy: bool,
        f: impl FnMut(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.inner.writer.lock().await;
        let timeout = self.inner.config.busy_timeout();
        let result = if heavy {
            blocking(|| with_busy_retry(&mut conn, timeout, f))
        } else {
            with_busy_retry(&mut conn, timeout, f)
        };
        checkpoint_if_due(&conn);
        result
    }

    /// Runs `f` on a read connection (the writer's, for an in-memory database).
    async fn read<T>(&self, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<T> {
        let timeout = self.inner.config.busy_timeout();
        let Some(pool) = &self.inner.readers else {
            let mut conn = self.inner.writer.lock().await;
            return with_busy_retry(&mut conn, timeout, |c| f(c));
        };
        let _permit = pool
            .permits
            .acquire()
            .await
            .map_err(|e| Error::unavailable(BACKEND, e))?;
        pool.with_free_slot(
            || self.inner.open_reader(),
            |conn| with_busy_retry(conn, timeout, |c| f(c)),
        )
    }

    /// [`read`](Self::read) for reads whose size is not bounded by a small constant (windows of
    /// up to a million predictions): off the async scheduler.
    async fn read_heavy<T>(&self, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<T> {
        self.read(|conn| blocking(|| f(conn))).await
    }
}

impl Inner {
    fn open(config: SqliteConfig, temp_dir: Option<tempfile::TempDir>) -> Result<Self> {
        let mut writer = open_connection(&config)?;
        // Other handles or processes may be opening (and migrating) the same new file now:
        // every step below waits for their locks, up to the busy timeout, rather than failing.
        writer.busy_timeout(config.busy_timeout()).map_err(map)?;
        if let Location::File(_) = config.location() {
            let mode = switch_to_wal(&writer, config.busy_timeout())?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::configuration(format!(
                    "{config}: SQLite refused WAL mode (journal_mode is {mode})"
                )));
            }
        }
        let schema_version = migrate::run(&mut writer)?;
        let database_id = writer
            .query_row(sql::DATABASE_ID, [], |r| r.get::<_, [u8; 16]>(0))
            .map(|bytes| DatabaseId::from_uuid(Uuid::from_bytes(bytes)))
            .map_err(map)?;
        writer.busy_timeout(Duration::ZERO).map_err(map)?;
        let readers = match config.location() {
            Location::File(_) => {
                writer.wal_hook(Some(note_wal_pages));
                Some(ReaderPool::new(config.max_readers()))
            }
            Location::Memory => None,
        };
        Ok(Self {
            config,
            writer: Mutex::new(writer),
            readers,
            schema_version,
            database_id,
            _temp_dir: temp_dir,
        })
    }

    fn open_reader(&self) -> Result<Connection> {
        let conn = open_connection(&self.config)?;
        conn.busy_timeout(Duration::ZERO).map_err(map)?;
        Ok(conn)
    }
}

/// Puts the database file in WAL mode (readers then run beside the writer; the mode is a
/// property of the file) and returns the journal mode it is in. Switching needs an exclusive
/// lock, and SQLite reports a conflict with another connection switching or migrating the same
/// new file as "busy" at once, without its busy handler: wait here instead, up to `timeout`.
fn switch_to_wal(conn: &Connection, timeout: Duration) -> Result<String> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) => return Ok(mode),
            Err(e) => {
                let e = map(e);
                if !is_busy(&e) || started.elapsed() >= timeout {
                    return Err(e);
                }
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

fn open_connection(config: &SqliteConfig) -> Result<Connection> {
    crate::process::configure();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = match config.location() {
        Location::File(path) => Connection::open_with_flags(path, flags),
        Location::Memory => Connection::open_in_memory(),
    }
    .map_err(|e| Error::configuration(format!("cannot open {config}: {e}")))?;
    conn.set_prepared_statement_cache_capacity(config.statement_cache_capacity());
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {};",
        config.synchronous().pragma_value()
    ))
    .map_err(map)?;
    Ok(conn)
}

/// Decodes a row of [`sql::GET`], [`sql::LATEST`] or [`sql::VERSIONS`].
fn metadata_from_row(row: &Row<'_>) -> rusqlite::Result<Result<ModelMetadata>> {
    Ok(sql::read_metadata(row, 0)?.decode(BACKEND))
}

/// Decodes a row of [`sql::RECENT`].
fn prediction_from_row(
    row: &Row<'_>,
    model: &ModelName,
    version: &Version,
) -> rusqlite::Result<Result<Prediction>> {
    Ok(sql::read_prediction(row, 0)?.decode(model, version, BACKEND))
}

/// A row's parameters followed by `extra` ones.
fn with<'a>(
    mut row: Vec<ToSqlOutput<'a>>,
    extra: impl IntoIterator<Item = ToSqlOutput<'a>>,
) -> impl Params + 'a {
    row.extend(extra);
    params_from_iter(row)
}

fn text(s: &str) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes()))
}

fn blob(b: &[u8]) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Blob(b))
}

/// Runs a cached statement that changes rows; returns how many it changed.
fn execute(conn: &Connection, sql: &str, params: impl Params) -> Result<usize> {
    conn.prepare_cached(sql)
        .map_err(map)?
        .execute(params)
        .map_err(map)
}

/// Runs a cached query that returns at most one row.
fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    conn.prepare_cached(sql)
        .map_err(map)?
        .query_row(params, decode)
        .optional()
        .map_err(map)
}

/// Runs a cached query and decodes every row.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnMut(&Row<'_>) -> rusqlite::Result<Result<T>>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map)?;
    let rows = stmt.query_map(params, decode).map_err(map)?;
    rows.map(|row| row.map_err(map)?).collect()
}

/// [`query_all`] over the rows of one model version: no row from an unregistered version is
/// [`Error::NotFound`], while a registered version with no row in range is an empty list.
fn version_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    (model, version): (&ModelName, &Version),
    decode: impl FnMut(&Row<'_>) -> rusqlite::Result<Result<T>>,
) -> Result<Vec<T>> {
    let rows = query_all(conn, sql, params, decode)?;
    if rows.is_empty() && model_id(conn, model, version)?.is_none() {
        return Err(Error::version_not_found(model, version));
    }
    Ok(rows)
}

/// The id of a model version, if it is registered.
fn model_id(conn: &Connection, name: &ModelName, version: &Version) -> Result<Option<i64>> {
    query_one(
        conn,
        sql::MODEL_ID,
        params![name.as_str(), version.sort_key()],
        |r| r.get(0),
    )
}

/// The hourly sums new predictions add, per model version and hour
/// ([`BucketSums::of_row`]), written with one upsert per hour.
#[derive(Default)]
struct HourSums(HashMap<(i64, i64), BucketSums>);

impl HourSums {
    fn add(&mut self, model_id: i64, row: &PredictionRow) {
        let hour = to_micros(&Bucket::Hour.floor(row.ts));
        let contribution = BucketSums::of_row(&WindowRow {
            confidence: row.confidence,
            correct: row.correct,
            lag_micros: row
                .labelled_at
                .map(|at| to_micros(&at) - to_micros(&row.ts)),
            prediction_number: row.prediction_number,
            actual_number: row.actual_number,
            classes: None,
        });
        self.0
            .entry((model_id, hour))
            .or_default()
            .add(&contribution);
    }

    fn write(&self, conn: &Connection) -> Result<()> {
        let mut upsert = conn.prepare_cached(sql::ADD_HOUR_SUMS).map_err(map)?;
        for ((model_id, hour), s) in &self.0 {
            upsert
                .execute(params![
                    model_id,
                    hour,
                    s.predictions as i64,
                    s.labelled as i64,
                    s.correct as i64,
                    s.confidence_sum,
                    s.confidence_square_sum,
                    s.lag_count as i64,
                    s.lag_micros_sum,
                    s.numeric_count as i64,
                    s.absolute_error_sum,
                    s.squared_error_sum,
                    s.error_sum,
                ])
                .map_err(map)?;
        }
        Ok(())
    }
}

/// NotFound when a filter names a model without versions or an unregistered version.
fn check_filter_names_something(conn: &Connection, filter: &PredictionFilter) -> Result<()> {
    match (filter.model_name(), filter.model_version()) {
        (Some(name), Some(version)) if model_id(conn, name, version)?.is_none() => {
            Err(Error::version_not_found(name, version))
        }
        (Some(name), None) => {
            let exists = query_one(conn, sql::MODEL_EXISTS, params![name.as_str()], |r| {
                r.get::<_, i64>(0)
            })?;
            match exists {
                Some(_) => Ok(()),
                None => Err(Error::not_found(format!("model {name:?}"))),
            }
        }
        _ => Ok(()),
    }
}

/// Runs `f` in an immediate transaction of the writer: committed when it returns `Ok`, rolled
/// back otherwise (a change and its event are written together or not at all).
fn in_transaction<T>(conn: &mut Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map)?;
    let value = f(&tx)?;
    tx.commit().map_err(map)?;
    Ok(value)
}

/// Appends `event` to the log.
fn record(conn: &Connection, event: &NewEvent) -> Result<()> {
    let row = EventRow::encode(event, None);
    execute(
        conn,
        sql::INSERT_EVENT,
        params_from_iter(sql::event_params(&row)),
    )
    .map(drop)
}

/// Where an alias points now.
fn current_target(conn: &Connection, name: &ModelName, alias: &Alias) -> Result<Option<Version>> {
    query_one(
        conn,
        sql::RESOLVE_ALIAS,
        params![name.as_str(), alias.as_str()],
        |r| r.get::<_, String>(0),
    )?
    .map(Version::new)
    .transpose()
}

/// The model version ids a prune applies to.
///
/// # Errors
/// NotFound when the scope names a model with no versions or an unregistered version.
fn scope_ids(conn: &Connection, scope: &PruneScope) -> Result<Vec<i64>> {
    match scope {
        PruneScope::All => query_all(conn, sql::ALL_MODEL_IDS, [], |r| Ok(Ok(r.get(0)?))),
        PruneScope::Model(name) => {
            let ids = query_all(conn, sql::MODEL_IDS, params![name.as_str()], |r| {
                Ok(Ok(r.get(0)?))
            })?;
            if ids.is_empty() {
                return Err(Error::model_not_found(name));
            }
            Ok(ids)
        }
        PruneScope::Version(name, version) => model_id(conn, name, version)?
            .map(|id| vec![id])
            .ok_or_else(|| Error::version_not_found(name, version)),
    }
}

/// NotFound for the model version unless a statement changed a row.
fn changed_or_not_found(changed: usize, name: &ModelName, version: &Version) -> Result<()> {
    if changed == 0 {
        return Err(Error::version_not_found(name, version));
    }
    Ok(())
}

#[async_trait]
impl ModelRegistry for SqliteStore {
    fn database_id(&self) -> DatabaseId {
        self.inner.database_id
    }

    async fn register(&self, metadata: &ModelMetadata) -> Result<()> {
        let row = MetadataRow::encode(metadata);
        let event = NewEvent::now(EventKind::VersionRegistered, metadata.name())
            .version(metadata.version());
        self.write(false, |conn| {
            in_transaction(conn, |tx| {
                execute(
                    tx,
                    sql::REGISTER,
                    params_from_iter(sql::metadata_params(&row)),
                )?;
                record(tx, &event)
            })
        })
        .await
        .map_err(|e| {
            e.naming_conflict(|| Error::version_exists(metadata.name(), metadata.version()))
        })
    }

    async fn get(&self, name: &ModelName, version: &Version) -> Result<Option<ModelMetadata>> {
        let key = version.sort_key();
        self.read(|conn| {
            query_one(
                conn,
                sql::GET,
                params![name.as_str(), key],
                metadata_from_row,
            )?
            .transpose()
        })
        .await
    }

    async fn latest(&self, name: &ModelName) -> Result<Option<ModelMetadata>> {
        self.read(|conn| {
            query_one(conn, sql::LATEST, params![name.as_str()], metadata_from_row)?.transpose()
        })
        .await
    }

    async fn versions(&self, name: &ModelName) -> Result<Vec<ModelMetadata>> {
        self.read(|conn| {
            query_all(
                conn,
                sql::VERSIONS,
                params![name.as_str()],
                metadata_from_row,
            )
        })
        .await
    }

    async fn list_models(&self) -> Result<Vec<ModelName>> {
        self.read(|conn| {
            query_all(conn, sql::LIST_MODELS, [], |row| {
                Ok(ModelName::new(row.get::<_, String>(0)?))
            })
        })
        .await
    }

    async fn update(&self, metadata: &ModelMetadata) -> Result<()> {
        let row = MetadataRow::encode(metadata);
        let (name, version) = (metadata.name(), metadata.version());
        let key = version.sort_key();
        let event = NewEvent::now(EventKind::VersionUpdated, name).version(version);
        self.write(false, |conn| {
            in_transaction(conn, |tx| {
                let old = query_one(tx, sql::GET, params![name.as_str(), key], metadata_from_row)?
                    .transpose()?
                    .ok_or_else(|| Error::version_not_found(name, version))?;
                execute(
                    tx,
                    sql::UPDATE,
                    params_from_iter(sql::metadata_params(&row)),
                )?;
                let kept = metadata.to_builder().created_at(old.created_at()).build()?;
                record(tx, &event.clone().fields(old.changed_fields(&kept)))
            })
        })
        .await
    }

    async fn delete(&self, name: &ModelName, version: &Version) -> Result<()> {
        let key = version.sort_key();
        // The cascade deletes every prediction of the version: unbounded work.
        self.write(true, |conn| {
            in_transaction(conn, |tx| {
                let aliases =
                    query_all(tx, sql::VERSION_ALIASES, params![name.as_str(), key], |r| {
                        Ok(Alias::new(r.get::<_, String>(0)?))
                    })?;
                let changed = execute(tx, sql::DELETE, params![name.as_str(), key])?;
                changed_or_not_found(changed, name, version)?;
                for alias in &aliases {
                    let removed = NewEvent::now(EventKind::AliasRemoved, name)
                        .alias(alias, Some(version.clone()));
                    record(tx, &removed)?;
                }
                record(
                    tx,
                    &NewEvent::now(EventKind::VersionDeleted, name).version(version),
                )
            })
        })
        .await
    }

    async fn set_alias(&self, name: &ModelName, alias: &Alias, version: &Version) -> Result<()> {
        let key = version.sort_key();
        self.write(false, |conn| {
            in_transaction(conn, |tx| {
                let previous = current_target(tx, name, alias)?;
                let changed = execute(
                    tx,
                    sql::SET_ALIAS,
                    params![name.as_str(), alias.as_str(), key],
                )?;
                changed_or_not_found(changed, name, version)?;
                if previous.as_ref() == Some(version) {
                    return Ok(());
                }
                record(
                    tx,
                    &NewEvent::now(EventKind::AliasSet, name)
                        .version(version)
                        .alias(alias, previous),
                )
            })
        })
        .await
    }

    async fn resolve_alias(&self, name: &ModelName, alias: &Alias) -> Result<Option<Version>> {
        let text = self
            .read(|conn| {
                query_one(
                    conn,
                    sql::RESOLVE_ALIAS,
                    params![name.as_str(), alias.as_str()],
                    |row| row.get::<_, String>(0),
                )
            })
            .await?;
        text.map(Version::new).transpose()
    }

    async fn remove_alias(&self, name: &ModelName, alias: &Alias) -> Result<()> {
        self.write(false, |conn| {
            in_transaction(conn, |tx| {
                let previous = current_target(tx, name, alias)?
                    .ok_or_else(|| Error::alias_not_found(name, alias))?;
                execute(
                    tx,
                    sql::REMOVE_ALIAS,
                    params![name.as_str(), alias.as_str()],
                )?;
                record(
                    tx,
                    &NewEvent::now(EventKind::AliasRemoved, name).alias(alias, Some(previous)),
                )
            })
        })
        .await
    }

    async fn aliases(&self, name: &ModelName) -> Result<Vec<(Alias, Version)>> {
        self.read(|conn| {
            query_all(conn, sql::ALIASES, params![name.as_str()], |r| {
                let alias = r.get::<_, String>(0)?;
                let version = r.get::<_, String>(1)?;
                Ok(Alias::new(alias).and_then(|a| Ok((a, Version::new(&version)?))))
            })
        })
        .await
    }

    async fn resolve_alias_at(
        &self,
        name: &ModelName,
        alias: &Alias,
        at: mlstore_core::Timestamp,
    ) -> Result<Option<Version>> {
        let last = self
            .read(|conn| {
                query_one(
                    conn,
                    sql::ALIAS_AT,
                    params![name.as_str(), alias.as_str(), to_micros(&at)],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
                )
            })
            .await?;
        match last {
            Some((kind, Some(version))) if EventKind::parse(&kind)? != EventKind::AliasRemoved => {
                Ok(Some(Version::new(&version)?))
            }
            _ => Ok(None),
        }
    }

    async fn rollback_alias(&self, name: &ModelName, alias: &Alias) -> Result<Version> {
        self.write(false, |conn| {
            in_transaction(conn, |tx| {
                let events = query_all(
                    tx,
                    sql::ALIAS_EVENTS,
                    params![name.as_str(), alias.as_str()],
                    |r| Ok(sql::read_event(r, 0)?.decode(BACKEND)),
                )?;
                let target = history::rollback_target(&events).ok_or_else(|| {
                    Error::not_found(format!(
                        "an earlier target of alias {alias:?} of model {name:?}"
                    ))
                })?;
                let previous = current_target(tx, name, alias)?;
                let changed = execute(
                    tx,
                    sql::SET_ALIAS,
                    params![name.as_str(), alias.as_str(), target.sort_key()],
                )?;
                changed_or_not_found(changed, name, &target)?;
                record(
                    tx,
                    &NewEvent::now(EventKind::AliasRolledBack, name)
                        .version(&target)
                        .alias(alias, previous),
                )?;
                Ok(target)
            })
        })
        .await
    }

    async fn events(&self, query: &EventQuery) -> Result<EventPage> {
        let limit = query.check()?;
        let statement = sql::events_query(query);
        use mlstore_core::history::FilterValue;
        use rusqlite::types::Value as V;
        let mut values: Vec<V> = query
            .sql_filters()
            .into_iter()
            .map(|(_, value)| match value {
                FilterValue::Text(t) => V::Text(t.to_owned()),
                FilterValue::Time(t) => V::Integer(to_micros(&t)),
                FilterValue::Seq(n) => V::Integer(n),
                _ => V::Null,
            })
            .collect();
        values.push(V::Integer(limit as i64));
        let events = self
            .read(|conn| {
                query_all(conn, &statement, params_from_iter(values.iter()), |r| {
                    Ok(sql::read_event(r, 0)?.decode(BACKEND))
                })
            })
            .await?;
        Ok(EventPage::new(events, limit))
    }

    async fn versions_page(&self, name: &ModelName, query: &VersionQuery) -> Result<VersionPage> {
        let page_size = query.checked_page_size()?;
        let after = query.cursor().map(Version::sort_key).unwrap_or_default();
        let filter = query.list_filter();
        let tag = filter.tag_filter();
        let versions = self
            .read(|conn| {
                query_all(
                    conn,
                    sql::VERSIONS_PAGE,
                    params![
                        name.as_str(),
                        after,
                        filter.status_filter(),
                        tag.map(|t| t.0),
                        tag.map(|t| t.1),
                        page_size as i64
                    ],
                    metadata_from_row,
                )
            })
            .await?;
        Ok(VersionPage::new(versions, page_size))
    }

    async fn models_page(&self, query: &ModelQuery) -> Result<ModelPage> {
        let page_size = query.checked_page_size()?;
        let after = query.cursor().map_or("", ModelName::as_str);
        let filter = query.list_filter();
        let tag = filter.tag_filter();
        let names = self
            .read(|conn| {
                query_all(
                    conn,
                    sql::MODELS_PAGE,
                    params![
                        after,
                        Option::<i64>::None,
                        filter.status_filter(),
                        tag.map(|t| t.0),
                        tag.map(|t| t.1),
                        page_size as i64
                    ],
                    |r| Ok(ModelName::new(r.get::<_, String>(0)?)),
                )
            })
            .await?;
        Ok(ModelPage::new(names, page_size))
    }
}

#[async_trait]
impl PredictionStore for SqliteStore {
    async fn store_prediction(&self, prediction: &Prediction) -> Result<()> {
        self.store_predictions_with(std::slice::from_ref(prediction), BatchOptions::default())
            .await
            .map(drop)
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
        if predictions.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let rows: Vec<PredictionRow> = predictions.iter().map(PredictionRow::encode).collect();
        // One prediction is a few statements on a cached plan: inline.
        self.write(predictions.len() > 1, |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map)?;
            let mut skipped = Vec::new();
            // Every model version is resolved before the first insert, so an unknown version
            // is reported as NotFound even when the batch also repeats a stored id.
            let mut known: HashMap<(&ModelName, &Version), Option<i64>> = HashMap::new();
            let mut model_ids = Vec::with_capacity(predictions.len());
            for (index, p) in predictions.iter().enumerate() {
                let key = (p.model(), p.version());
                let id = match known.get(&key) {
                    Some(id) => *id,
                    None => *known
                        .entry(key)
                        .or_insert(model_id(&tx, p.model(), p.version())?),
                };
                match id {
                    Some(id) => model_ids.push(Some(id)),
                    None if options.missing() == OnProblem::Fail => {
                        return Err(Error::version_not_found(p.model(), p.version()))
                    }
                    None => {
                        skipped.push(Skipped {
                            index,
                            id: p.id(),
                            reason: SkipReason::NotFound,
                        });
                        model_ids.push(None);
                    }
                }
            }
            let statement = match options.conflict() {
                OnProblem::Fail => sql::INSERT_PREDICTION,
                OnProblem::Skip => sql::INSERT_PREDICTION_IF_NEW,
            };
            let mut stored = 0;
            let mut hours = HourSums::default();
            {
                let mut insert = tx.prepare_cached(statement).map_err(map)?;
                let items = predictions.iter().zip(&rows).zip(model_ids).enumerate();
                for (index, ((p, row), model_id)) in items {
                    let Some(model_id) = model_id else { continue };
                    let params = with(sql::prediction_params(row), [ToSqlOutput::from(model_id)]);
                    let changed = insert.execute(params).map_err(map).map_err(|e| {
                        e.naming_conflict(|| {
                            Error::already_exists(format!("prediction {}", p.id()))
                        })
                    })?;
                    if changed == 1 {
                        stored += 1;
                        hours.add(model_id, row);
                    } else {
                        skipped.push(Skipped {
                            index,
                            id: p.id(),
                            reason: SkipReason::AlreadyExists,
                        });
                    }
                }
            }
            hours.write(&tx)?;
            tx.commit().map_err(map)?;
            skipped.sort_by_key(|s| s.index);
            Ok(BatchOutcome { stored, skipped })
        })
        .await
    }

    async fn record_actual(&self, id: Uuid, actual: &Value) -> Result<()> {
        let label = Label::new(id, actual.clone())?;
        self.record_actuals(std::slice::from_ref(&label)).await
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
        if labels.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let now = mlstore_core::time::now();
        let columns: Vec<LabelColumns> = labels
            .iter()
            .map(|l| LabelColumns::encode(l.actual(), now))
            .collect();
        let heavy = labels.len() > 1;
        self.write(heavy, |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map)?;
            let mut outcome = BatchOutcome::default();
            {
                let mut update = tx.prepare_cached(sql::RECORD_ACTUAL).map_err(map)?;
                for (index, (label, c)) in labels.iter().zip(&columns).enumerate() {
                    let changed = update
                        .execute(params![
                            &label.id().as_bytes()[..],
                            c.actual,
                            c.match_key,
                            c.actual_key,
                            c.actual_number,
                            to_micros(&c.labelled_at)
                        ])
                        .map_err(map)?;
                    if changed == 1 {
                        outcome.stored += 1;
                    } else if options.missing() == OnProblem::Fail {
                        return Err(Error::not_found(format!("prediction {}", label.id())));
                    } else {
                        outcome.skipped.push(Skipped {
                            index,
                            id: label.id(),
                            reason: SkipReason::NotFound,
                        });
                    }
                }
            }
            tx.commit().map_err(map)?;
            Ok(outcome)
        })
        .await
    }

    async fn prediction(&self, id: Uuid) -> Result<Option<Prediction>> {
        let found = self
            .read(|conn| {
                query_one(
                    conn,
                    sql::PREDICTION_BY_ID,
                    params![&id.as_bytes()[..]],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            sql::read_prediction(r, 2)?,
                        ))
                    },
                )
            })
            .await?;
        found
            .map(|(name, version, row)| {
                let name = ModelName::new(name)?;
                let version = Version::new(&version)?;
                row.decode(&name, &version, BACKEND)
            })
            .transpose()
    }

    async fn count_predictions(&self, filter: &PredictionFilter) -> Result<u64> {
        let bounds = filter.bounds()?;
        let name = filter.model_name().map(ModelName::as_str);
        let key = filter.model_version().map(Version::sort_key);
        let count: i64 = self
            .read(|conn| {
                let count = query_one(
                    conn,
                    sql::COUNT_PREDICTIONS,
                    params![
                        name,
                        key,
                        to_micros(&bounds.start),
                        to_micros(&bounds.end),
                        filter.is_labelled_only()
                    ],
                    |r| r.get(0),
                )?
                .unwrap_or(0);
                if count == 0 {
                    check_filter_names_something(conn, filter)?;
                }
                Ok(count)
            })
            .await?;
        Ok(count as u64)
    }

    async fn scan_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        options: ScanOptions,
    ) -> Result<ScanPage> {
        let (bounds, from, page_size) = options.resolve()?;
        let key = version.sort_key();
        let found = self
            .read(|conn| {
                version_rows(
                    conn,
                    sql::SCAN_PREDICTIONS,
                    params![
                        model.as_str(),
                        key,
                        to_micros(&bounds.start),
                        to_micros(&bounds.end),
                        to_micros(&from.ts),
                        &from.id.as_bytes()[..],
                        options.is_labelled_only(),
                        page_size as i64
                    ],
                    (model, version),
                    |row| prediction_from_row(row, model, version),
                )
            })
            .await?;
        Ok(ScanPage::new(found, page_size))
    }

    async fn recent_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<Prediction>> {
        let bounds = window.for_rows()?;
        let [start, end, limit] = sql::window_params(&bounds);
        let key = version.sort_key();
        self.read(|conn| {
            version_rows(
                conn,
                sql::RECENT,
                params![model.as_str(), key, start, end, limit],
                (model, version),
                |row| prediction_from_row(row, model, version),
            )
        })
        .await
    }

    async fn accuracy(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Accuracy> {
        let bounds = window.for_aggregate()?;
        let [start, end, limit] = sql::window_params(&bounds);
        let key = version.sort_key();
        let (total, correct) = self
            .read(|conn| {
                let counts: (i64, i64) = query_one(
                    conn,
                    sql::ACCURACY,
                    params![model.as_str(), key, start, end, limit],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .unwrap_or((0, 0));
                if counts.0 == 0 && model_id(conn, model, version)?.is_none() {
                    return Err(Error::version_not_found(model, version));
                }
                Ok(counts)
            })
            .await?;
        Accuracy::new(correct as u64, total as u64)
    }

    async fn window_rows(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<WindowRow>> {
        let bounds = window.for_aggregate()?;
        let [start, end, limit] = sql::window_params(&bounds);
        let key = version.sort_key();
        self.read_heavy(|conn| {
            version_rows(
                conn,
                sql::WINDOW_ROWS,
                params![model.as_str(), key, start, end, limit],
                (model, version),
                |r| {
                    let classes = match (r.get::<_, Option<String>>(5)?, r.get(6)?) {
                        (Some(p), Some(a)) => Some((p, a)),
                        _ => None,
                    };
                    Ok(Ok(WindowRow {
                        confidence: r.get(0)?,
                        correct: r.get(1)?,
                        lag_micros: r.get(2)?,
                        prediction_number: r.get(3)?,
                        actual_number: r.get(4)?,
                        classes,
                    }))
                },
            )
        })
        .await
    }

    async fn window_confidences(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<f64>> {
        let bounds = window.for_aggregate()?;
        let [start, end, limit] = sql::window_params(&bounds);
        let key = version.sort_key();
        let mut confidences = self
            .read_heavy(|conn| {
                version_rows(
                    conn,
                    sql::WINDOW_CONFIDENCES,
                    params![model.as_str(), key, start, end, limit],
                    (model, version),
                    |r| Ok(Ok(r.get::<_, f64>(0)?)),
                )
            })
            .await?;
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
        let statement = match query.sums_bucket() {
            Bucket::Minute => sql::MINUTE_SUMS,
            _ => sql::HOUR_SUMS,
        };
        let key = version.sort_key();
        self.read_heavy(|conn| {
            version_rows(
                conn,
                statement,
                params![model.as_str(), key, to_micros(&start), to_micros(&end)],
                (model, version),
                |r| {
                    let start = match mlstore_core::time::from_micros(r.get(0)?) {
                        Ok(t) => t,
                        Err(e) => return Ok(Err(e)),
                    };
                    Ok(Ok(BucketSums {
                        start: Some(start),
                        predictions: r.get::<_, i64>(1)? as u64,
                        labelled: r.get::<_, i64>(2)? as u64,
                        correct: r.get::<_, i64>(3)? as u64,
                        confidence_sum: r.get(4)?,
                        confidence_square_sum: r.get(5)?,
                        lag_count: r.get::<_, i64>(6)? as u64,
                        lag_micros_sum: r.get(7)?,
                        numeric_count: r.get::<_, i64>(8)? as u64,
                        absolute_error_sum: r.get(9)?,
                        squared_error_sum: r.get(10)?,
                        error_sum: r.get(11)?,
                    }))
                },
            )
        })
        .await
    }

    async fn prune_predictions(&self, prune: &Prune) -> Result<PruneOutcome> {
        prune.check()?;
        let cutoff = to_micros(&prune.cutoff());
        let model_ids: Vec<i64> = self.read(|conn| scope_ids(conn, prune.scope())).await?;
        let mut outcome = PruneOutcome {
            dry_run: prune.is_dry_run(),
            ..PruneOutcome::default()
        };
        if prune.is_dry_run() {
            let counted: i64 = self
                .read_heavy(|conn| {
                    let mut total = 0i64;
                    for id in &model_ids {
                        total += query_one(conn, sql::COUNT_BEFORE, params![id, cutoff], |r| {
                            r.get::<_, i64>(0)
                        })?
                        .unwrap_or(0);
                    }
                    Ok(total)
                })
                .await?;
            outcome.predictions = counted as u64;
            return Ok(outcome);
        }
        // One short transaction per batch: other writers take the lock between batches, and a
        // prune stopped half-way leaves whole batches done, which the next prune continues.
        let mut sizer = BatchSizer::default();
        for id in model_ids {
            // A read first: versions with nothing before the cut-off take no write lock.
            let any = self
                .read(|conn| query_one(conn, sql::ANY_BEFORE, params![id, cutoff], |_| Ok(())))
                .await?;
            if any.is_none() {
                continue;
            }
            sizer
                .run(&mut outcome, |size| async move {
                    let removed = self
                        .write(true, |conn| {
                            in_transaction(conn, |tx| {
                                execute(tx, sql::PRUNE_BATCH, params![id, cutoff, size as i64])
                            })
                        })
                        .await?;
                    Ok(removed as u64)
                })
                .await?;
        }
        Ok(outcome)
    }

    async fn set_retention(&self, name: &ModelName, keep: Option<Retention>) -> Result<()> {
        let changed = self
            .write(false, |conn| match keep {
                Some(keep) => execute(
                    conn,
                    sql::SET_RETENTION,
                    params![name.as_str(), keep.keep_seconds()],
                ),
                None => execute(conn, sql::REMOVE_RETENTION, params![name.as_str()]).map(|_| 1),
            })
            .await?;
        if changed == 0 {
            return Err(Error::model_not_found(name));
        }
        Ok(())
    }

    async fn retention_policies(&self) -> Result<Vec<(ModelName, Retention)>> {
        let rows = self
            .read(|conn| {
                query_all(conn, sql::RETENTION_POLICIES, [], |r| {
                    Ok(Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                })
            })
            .await?;
        rows.into_iter()
            .map(|(name, keep)| Ok((ModelName::new(name)?, Retention::from_seconds(keep)?)))
            .collect()
    }

    async fn prepare_storage(&self, _now: mlstore_core::Timestamp) -> Result<u64> {
        Ok(0)
    }

    async fn store_baseline(&self, baseline: &ConfidenceBaseline) -> Result<()> {
        let key = baseline.version().sort_key();
        let row = BaselineRow::encode(baseline);
        let event =
            NewEvent::now(EventKind::BaselineWritten, baseline.model()).version(baseline.version());
        self.write(false, |conn| {
            in_transaction(conn, |tx| {
                let params = with(
                    sql::baseline_params(&row),
                    [text(baseline.model().as_str()), blob(&key)],
                );
                let changed = execute(tx, sql::STORE_BASELINE, params)?;
                changed_or_not_found(changed, baseline.model(), baseline.version())?;
                record(tx, &event)
            })
        })
        .await
    }

    async fn baseline(
        &self,
        model: &ModelName,
        version: &Version,
    ) -> Result<Option<ConfidenceBaseline>> {
        let key = version.sort_key();
        let row = self
            .read(|conn| {
                query_one(conn, sql::BASELINE, params![model.as_str(), key], |r| {
                    sql::read_baseline(r, 0)
                })
            })
            .await?;
        row.map(|row| row.decode(model, version, BACKEND))
            .transpose()
    }
}
