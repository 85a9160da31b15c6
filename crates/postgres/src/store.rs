//! [`PostgresStore`]: the store traits on PostgreSQL, through a sqlx pool.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Datelike;
use mlstore_core::codec::{BaselineRow, EventRow, LabelColumns, MetadataRow, PredictionRow};
use mlstore_core::history::{self, NewEvent};
use mlstore_core::monitoring::{Bucket, BucketSums, SeriesQuery, WindowRow};
use mlstore_core::retention::{
    BatchSizer, Prune, PruneOutcome, PruneScope, Retention, MONTHS_AHEAD,
};
use mlstore_core::{
    validate, Accuracy, Alias, BatchOptions, BatchOutcome, ConfidenceBaseline, DatabaseId, Error,
    EventKind, EventPage, EventQuery, Label, ModelMetadata, ModelName, ModelPage, ModelQuery,
    ModelRegistry, OnProblem, Prediction, PredictionFilter, PredictionStore, Result, ScanOptions,
    ScanPage, SkipReason, Skipped, Timestamp, Version, VersionPage, VersionQuery, Window,
};
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgRow;
use sqlx::{Executor, PgConnection, Row};

use uuid::Uuid;

use crate::config::PostgresConfig;
use crate::error::{ErrorMap, BACKEND};
use crate::pool::{ConnPool, PooledConnection};
use crate::replicas::{ReplicaStatus, Replicas};
use crate::sql;

/// Runs one query on a pooled connection of the primary and records how it ended (see
/// [`PooledConnection::settle`]): `primary!(self, c => query.execute(c))`.
macro_rules! primary {
    ($store:expr, $conn:ident => $query:expr) => {{
        let mut lease = $store.pool.acquire().await?;
        let result = {
            let $conn = &mut *lease;
            $query.await
        };
        lease.settle(&result);
        result
    }};
}

/// Runs one writing statement on the primary, as [`primary!`]; after a success, with read
/// replicas, records the primary's WAL position for read-your-writes (see [`crate::replicas`]).
macro_rules! run {
    ($store:expr, $conn:ident => $query:expr) => {{
        let mut lease = $store.pool.acquire().await?;
        let result = {
            let $conn = &mut *lease;
            $query.await
        };
        lease.settle(&result);
        match &result {
            Ok(_) => $store.replicas.after_write(&mut lease).await,
            Err(e) => $store.replicas.after_failed_write(e),
        }
        result
    }};
}

/// Runs an insert of `$predictions` with [`run!`]; when one of their timestamps has no monthly
/// partition yet, creates the partitions of their months and runs it again. `$retry_unique`:
/// also run it again (up to three times) after a unique violation, for statements that skip
/// stored ids and lost a race with a concurrent writer of the same id.
macro_rules! inserting {
    ($store:expr, $predictions:expr, $retry_unique:expr, $conn:ident => $query:expr) => {{
        let mut attempts = 0;
        loop {
            let result = run!($store, $conn => $query);
            attempts += 1;
            match &result {
                Err(e) if attempts < 4 && crate::store::is_no_partition(e) => {
                    $store.create_partitions($predictions).await?;
                }
                Err(sqlx::Error::Database(db))
                    if attempts < 4 && $retry_unique && db.code().as_deref() == Some("23505") => {}
                _ => break result,
            }
        }
    }};
}

/// Runs one reading statement on a replica that has replayed this store's writes, or on the
/// primary (see [`crate::replicas`]); a read that fails on a replica runs again on the primary.
macro_rules! read {
    ($store:expr, $conn:ident => $query:expr) => {{
        let mut routed = None;
        if let Some(replica) = $store.replicas.pick().await {
            match replica.pool.acquire().await {
                Ok(mut lease) => {
                    let result = {
                        let $conn = &mut *lease;
                        $query.await
                    };
                    lease.settle(&result);
                    match result {
                        Ok(value) => {
                            replica.served();
                            routed = Some(Ok(value));
                        }
                        Err(e) => {
                            if crate::replicas::is_connection_error(&e) {
                                replica.mark_down();
                            }
                        }
                    }
                }
                Err(_) => replica.unavailable(),
            }
        }
        match routed {
            Some(result) => result,
            None => primary!($store, $conn => $query),
        }
    }};
}

/// Whether an insert into `ml_predictions` failed because a timestamp has no partition yet.
pub(crate) fn is_no_partition(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some(sql::NO_PARTITION))
}

/// Midnight UTC of the first day of a month.
fn month_start(year: i32, month: u32) -> Timestamp {
    chrono::NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(mlstore_core::time::MIN)
}

/// Where a "newest N" read of `bounds` tries first: the start of last month (UTC), when that
/// lies inside the window. Partitions are monthly, so the first try plans and locks this
/// month's and last month's (and any later ones), not every month of the window.
fn recent_start(bounds: &mlstore_core::Bounds) -> Option<Timestamp> {
    let now = mlstore_core::time::now();
    let last_month = chrono::NaiveDate::from_ymd_opt(now.year(), now.month(), 1)?
        .checked_sub_months(chrono::Months::new(1))?;
    let start = month_start(last_month.year(), last_month.month());
    (bounds.start < start && start < bounds.end).then_some(start)
}

/// Creates the partitions of `now`'s month and the [`MONTHS_AHEAD`] after it that do not
/// exist; returns how many were created.
async fn prepare_partitions(
    conn: &mut sqlx::PgConnection,
    now: Timestamp,
) -> std::result::Result<u64, sqlx::Error> {
    let first = chrono::NaiveDate::from_ymd_opt(now.year(), now.month(), 1);
    let mut created = 0;
    for ahead in 0..=MONTHS_AHEAD {
        let Some(month) = first.and_then(|d| d.checked_add_months(chrono::Months::new(ahead)))
        else {
            break;
        };
        let made: bool = sqlx::query_scalar(sql::PARTITION)
            .bind(month_start(month.year(), month.month()))
            .fetch_one(&mut *conn)
            .await?;
        created += u64::from(made);
    }
    Ok(created)
}

/// The migrations of `migrations/postgres`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// The schema version this build creates: the last of [`MIGRATOR`].
pub fn latest_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The PostgreSQL store. Cheap to clone: clones share the pool.
///
/// Every operation is one statement, so one round trip, and atomic: batches travel as arrays
/// (`UNNEST`) and write all rows or none.
///
/// ```no_run
/// # async fn demo() -> mlstore_core::Result<()> {
/// use mlstore_postgres::{PostgresConfig, PostgresStore};
/// let config = PostgresConfig::from_url("postgres://app:secret@db:5432/ml")?.with_max_connections(32)?;
/// let store = PostgresStore::connect(config).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Arc<ConnPool>,
    replicas: Arc<Replicas>,
    config: PostgresConfig,
    errors: ErrorMap,
    schema_version: i64,
    database_id: DatabaseId,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("config", &self.config)
            .field("schema_version", &self.schema_version)
            .field("database_id", &self.database_id)
            .finish_non_exhaustive()
    }
}

/// Labels as the arrays of [`sql::RECORD_ACTUALS`], with the time they are written.
struct LabelArrays {
    ids: Vec<Uuid>,
    actuals: Vec<String>,
    match_keys: Vec<String>,
    actual_keys: Vec<Option<String>>,
    numbers: Vec<Option<f64>>,
    at: chrono::DateTime<chrono::Utc>,
}

impl LabelArrays {
    fn of(labels: &[Label], at: chrono::DateTime<chrono::Utc>) -> Self {
        let mut a = Self {
            ids: Vec::with_capacity(labels.len()),
            actuals: Vec::with_capacity(labels.len()),
            match_keys: Vec::with_capacity(labels.len()),
            actual_keys: Vec::with_capacity(labels.len()),
            numbers: Vec::with_capacity(labels.len()),
            at,
        };
        for l in labels {
            let c = LabelColumns::encode(l.actual(), at);
            a.ids.push(l.id());
            a.actuals.push(c.actual);
            a.match_keys.push(c.match_key);
            a.actual_keys.push(c.actual_key);
            a.numbers.push(c.actual_number);
        }
        a
    }

    fn bind<'q>(&'q self, query: sql::PgQuery<'q>) -> sql::PgQuery<'q> {
        query
            .bind(&self.ids)
            .bind(&self.actuals)
            .bind(&self.match_keys)
            .bind(&self.actual_keys)
            .bind(&self.numbers)
            .bind(self.at)
    }
}

/// NotFound for the model version unless a statement changed a row.
fn changed_or_not_found(changed: u64, name: &ModelName, version: &Version) -> Result<()> {
    if changed == 0 {
        return Err(Error::version_not_found(name, version));
    }
    Ok(())
}

/// A registry change in progress: a transaction on a pooled connection that holds the event
/// counter's lock, with the events it will append. [`Change::finish`] commits the change and
/// its events together, or rolls both back.
struct Change<'a> {
    store: &'a PostgresStore,
    lease: PooledConnection<'a>,
    last: i64,
    events: Vec<EventRow>,
    finished: bool,
}

impl Drop for Change<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped mid-change (its future was cancelled): the transaction is open.
            self.lease.discard();
        }
    }
}

impl<'a> Change<'a> {
    /// Begins the transaction and takes the counter's lock: registry changes commit in the
    /// order of their events' numbers.
    async fn begin(store: &'a PostgresStore) -> Result<Self> {
        let mut lease = store.pool.acquire().await?;
        let result = async {
            (&mut *lease).execute("BEGIN").await?;
            sqlx::query_scalar::<_, i64>(sql::LOCK_EVENTS)
                .fetch_one(&mut *lease)
                .await
        }
        .await;
        lease.settle(&result);
        let last = result.map_err(|e| store.map(e))?;
        Ok(Self {
            store,
            lease,
            last,
            events: Vec::new(),
            finished: false,
        })
    }

    /// The transaction's connection.
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.lease
    }

    /// Maps a statement's result, keeping the connection reusable after a server error.
    fn check<T>(&mut self, result: std::result::Result<T, sqlx::Error>) -> Result<T> {
        self.lease.settle(&result);
        result.map_err(|e| self.store.map(e))
    }

    /// Queues `event`, numbered after the last.
    fn record(&mut self, event: &NewEvent) {
        self.last += 1;
        self.events.push(EventRow::encode(event, Some(self.last)));
    }

    /// Where an alias points now.
    async fn current_target(&mut self, name: &ModelName, alias: &Alias) -> Result<Option<Version>> {
        let result = sqlx::query_scalar::<_, String>(sql::RESOLVE_ALIAS)
            .bind(name.as_str())
            .bind(alias.as_str())
            .fetch_optional(self.conn())
            .await;
        self.check(result)?.map(Version::new).transpose()
    }

    /// Commits when `outcome` is `Ok` (appending the queued events first), rolls back
    /// otherwise; returns `outcome`, or the error that ended the commit.
    async fn finish<T>(mut self, outcome: Result<T>) -> Result<T> {
        let value = match outcome {
            Ok(value) => value,
            Err(e) => {
                let result = (&mut *self.lease).execute("ROLLBACK").await;
                self.lease.settle(&result);
                self.finished = result.is_ok();
                return Err(e);
            }
        };
        let result = async {
            if !self.events.is_empty() {
                sql::bind_event_arrays(sqlx::query(sql::INSERT_EVENTS), &self.events)
                    .bind(self.last)
                    .execute(&mut *self.lease)
                    .await?;
            }
            (&mut *self.lease).execute("COMMIT").await
        }
        .await;
        if let Err(e) = &result {
            self.store.replicas.after_failed_write(e);
        }
        match self.check(result) {
            Ok(_) => {
                self.finished = true;
                self.store.replicas.after_write(&mut self.lease).await;
                Ok(value)
            }
            Err(e) => {
                // A failed statement aborted the transaction; end it before the connection is
                // reused.
                let result = (&mut *self.lease).execute("ROLLBACK").await;
                self.lease.settle(&result);
                self.finished = result.is_ok();
                Err(e)
            }
        }
    }
}

impl PostgresStore {
    /// Connects a pool and applies pending migrations. Several processes may connect to an
    /// empty database at once: the migrations run under an advisory lock, once.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the server cannot be reached in the acquire timeout;
    /// [`Error::Configuration`] for a bad URL, TLS problems, or a schema newer than this build.
    pub async fn connect(config: PostgresConfig) -> Result<Self> {
        let errors = ErrorMap::new(config.secrets());
        let options = config.connect_options()?;
        let pool = Arc::new(ConnPool::new(
            options,
            config.max_connections(),
            config.acquire_timeout(),
            config.idle_timeout(),
            config.max_lifetime(),
            errors.clone(),
        ));
        let mut conn = pool.open(config.acquire_timeout()).await?;
        MIGRATOR
            .run_direct(None, &mut conn, false)
            .await
            .map_err(|e| errors.migration(e))?;
        // The coming months' partitions. A role that may write but not create tables connects
        // anyway: writes to an existing month work, and a month without its partition fails
        // with the server's permission error until an owner runs `mlstore maintain`.
        match prepare_partitions(&mut conn, mlstore_core::time::now()).await {
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => {}
            other => {
                other.map_err(|e| errors.map(e))?;
            }
        }
        let schema_version: i64 = sqlx::query_scalar(sql::SCHEMA_VERSION)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| errors.map(e))?;
        let database_id: uuid::Uuid = sqlx::query_scalar(sql::DATABASE_ID)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| errors.map(e))?;
        let replicas = (0..config.replicas().len())
            .map(|i| {
                Ok((
                    config.replicas()[i].clone(),
                    config.replica_connect_options(i)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let replicas = Arc::new(Replicas::new(
            replicas,
            config.replica_connect_timeout(),
            config.replica_max_lag(),
            &errors,
        ));
        replicas.after_connect(&mut conn).await;
        Ok(Self {
            pool,
            replicas,
            config,
            errors,
            schema_version,
            database_id: DatabaseId::from_uuid(database_id),
        })
    }

    /// Connects with the default options to `url` (`postgres://...`).
    ///
    /// # Errors
    /// As [`PostgresStore::connect`].
    pub async fn connect_url(url: &str) -> Result<Self> {
        Self::connect(PostgresConfig::from_url(url)?).await
    }

    /// The options the store was opened with.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// The schema version of the database (the last migration applied).
    pub fn schema_version(&self) -> i64 {
        self.schema_version
    }

    /// A connection of the store's pool, for other queries against the same database. Call
    /// [`PooledConnection::settle`] with each query's result to let the connection return to
    /// the pool when dropped; otherwise it is closed then.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when no connection frees up (or opens) within the acquire timeout.
    pub async fn acquire(&self) -> Result<PooledConnection<'_>> {
        self.pool.acquire().await
    }

    /// How many connections the pool holds now: in use, idle, at most.
    pub fn pool_status(&self) -> crate::PoolStatus {
        self.pool.status()
    }

    /// Closes the idle connections and refuses new queries; connections in use close when
    /// their query ends.
    pub fn close(&self) {
        self.pool.close();
        self.replicas.close();
    }

    /// What the store knows of each read replica (none without replicas): the URL (password
    /// hidden), whether it is up, how far it has replayed and how far behind it was at the last
    /// check, and how many reads it served.
    pub fn replica_status(&self) -> Vec<(String, ReplicaStatus)> {
        self.replicas.status()
    }

    fn map(&self, err: sqlx::Error) -> Error {
        self.errors.map(err)
    }

    /// Creates the monthly partitions of the predictions' timestamps that do not exist yet;
    /// returns how many were created.
    async fn create_partitions(&self, predictions: &[Prediction]) -> Result<u64> {
        let months: BTreeSet<(i32, u32)> = predictions
            .iter()
            .map(|p| (p.timestamp().year(), p.timestamp().month()))
            .collect();
        let mut created = 0;
        for (year, month) in months {
            let start = month_start(year, month);
            let made: bool = primary!(self, c => sqlx::query_scalar(sql::PARTITION)
                .bind(start)
                .fetch_one(c))
            .map_err(|e| self.map(e))?;
            created += u64::from(made);
        }
        Ok(created)
    }

    /// The model version ids a prune applies to.
    ///
    /// # Errors
    /// NotFound when the scope names a model with no versions or an unregistered version.
    async fn scope_ids(&self, scope: &PruneScope) -> Result<Vec<i64>> {
        match scope {
            PruneScope::All => primary!(self, c => sqlx::query_scalar(sql::ALL_MODEL_IDS)
                .fetch_all(c))
            .map_err(|e| self.map(e)),
            PruneScope::Model(name) => {
                let ids: Vec<i64> = primary!(self, c => sqlx::query_scalar(sql::MODEL_IDS)
                    .bind(name.as_str())
                    .fetch_all(c))
                .map_err(|e| self.map(e))?;
                if ids.is_empty() {
                    return Err(Error::model_not_found(name));
                }
                Ok(ids)
            }
            PruneScope::Version(name, version) => {
                let id: Option<i64> = primary!(self, c => sqlx::query_scalar(sql::MODEL_ID)
                    .bind(name.as_str())
                    .bind(version.sort_key())
                    .fetch_optional(c))
                .map_err(|e| self.map(e))?;
                id.map(|id| vec![id])
                    .ok_or_else(|| Error::version_not_found(name, version))
            }
        }
    }

    /// Finishes every detached partition (`ml_pruned_...`): removes its ids and drops it.
    /// Returns how many predictions they held.
    async fn finish_pruned(&self) -> Result<u64> {
        let tables: Vec<String> = primary!(self, c => sqlx::query_scalar(sql::PRUNED_TABLES)
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        let mut removed = 0;
        for table in tables {
            let n: i64 = run!(self, c => sqlx::query_scalar(sql::FINISH_PRUNED)
                .bind(&table)
                .fetch_one(c))
            .map_err(|e| self.map(e))?;
            removed += n as u64;
        }
        Ok(removed)
    }

    async fn version_exists(&self, model: &ModelName, key: &[u8]) -> Result<bool> {
        let id: Option<i64> = read!(self, c => sqlx::query_scalar(sql::MODEL_ID)
            .bind(model.as_str())
            .bind(key)
            .fetch_optional(c))
        .map_err(|e| self.map(e))?;
        Ok(id.is_some())
    }

    /// The rows `statement` reads for a window of a model version (parameters: model, version
    /// key, start, end, limit); `NotFound` when there are none because the version is not
    /// registered.
    async fn window_query(
        &self,
        statement: &'static str,
        model: &ModelName,
        version: &Version,
        bounds: &mlstore_core::Bounds,
    ) -> Result<Vec<sqlx::postgres::PgRow>> {
        let key = version.sort_key();
        // The newest N: first from the recent partitions alone (planned and locked without the
        // older months), which is the whole answer when they hold N rows of the window.
        if let (Some(limit), Some(recent)) = (bounds.limit, recent_start(bounds)) {
            let rows = read!(self, c => sqlx::query(statement)
                .bind(model.as_str())
                .bind(&key)
                .bind(recent)
                .bind(bounds.end)
                .bind(bounds.sql_limit())
                .fetch_all(c))
            .map_err(|e| self.map(e))?;
            if rows.len() >= limit {
                return Ok(rows);
            }
        }
        let rows = read!(self, c => sqlx::query(statement)
            .bind(model.as_str())
            .bind(&key)
            .bind(bounds.start)
            .bind(bounds.end)
            .bind(bounds.sql_limit())
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        if rows.is_empty() && !self.version_exists(model, &key).await? {
            return Err(Error::version_not_found(model, version));
        }
        Ok(rows)
    }

    /// NotFound when a filter names a model without versions or an unregistered version.
    async fn check_filter_names_something(&self, filter: &PredictionFilter) -> Result<()> {
        match (filter.model_name(), filter.model_version()) {
            (Some(name), Some(version))
                if !self.version_exists(name, &version.sort_key()).await? =>
            {
                return Err(Error::version_not_found(name, version));
            }
            (Some(name), None) => {
                let exists: Option<i32> = read!(self, c => sqlx::query_scalar(sql::MODEL_EXISTS)
                    .bind(name.as_str())
                    .fetch_optional(c))
                .map_err(|e| self.map(e))?;
                if exists.is_none() {
                    return Err(Error::not_found(format!("model {name:?}")));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn metadata_from_row(&self, row: &PgRow) -> Result<ModelMetadata> {
        sql::read_metadata(row, 0)
            .map_err(|e| self.map(e))?
            .decode(BACKEND)
    }
}

#[async_trait]
impl ModelRegistry for PostgresStore {
    fn database_id(&self) -> DatabaseId {
        self.database_id
    }

    async fn register(&self, metadata: &ModelMetadata) -> Result<()> {
        let row = MetadataRow::encode(metadata);
        let event = NewEvent::now(EventKind::VersionRegistered, metadata.name());
        run!(self, c => sql::bind_metadata(sqlx::query(sql::REGISTER), &row)
            .bind(event.at)
            .bind(&event.actor)
            .execute(c))
        .map_err(|e| {
            self.map(e)
                .naming_conflict(|| Error::version_exists(metadata.name(), metadata.version()))
        })
        .map(drop)
    }

    async fn get(&self, name: &ModelName, version: &Version) -> Result<Option<ModelMetadata>> {
        let row = read!(self, c => sqlx::query(sql::GET)
            .bind(name.as_str())
            .bind(version.sort_key())
            .fetch_optional(c))
        .map_err(|e| self.map(e))?;
        row.map(|r| self.metadata_from_row(&r)).transpose()
    }

    async fn latest(&self, name: &ModelName) -> Result<Option<ModelMetadata>> {
        let row = read!(self, c => sqlx::query(sql::LATEST)
            .bind(name.as_str())
            .fetch_optional(c))
        .map_err(|e| self.map(e))?;
        row.map(|r| self.metadata_from_row(&r)).transpose()
    }

    async fn versions(&self, name: &ModelName) -> Result<Vec<ModelMetadata>> {
        let rows = read!(self, c => sqlx::query(sql::VERSIONS)
            .bind(name.as_str())
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        rows.iter().map(|r| self.metadata_from_row(r)).collect()
    }

    async fn list_models(&self) -> Result<Vec<ModelName>> {
        let names: Vec<String> = read!(self, c => sqlx::query_scalar(sql::LIST_MODELS)
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        names.into_iter().map(ModelName::new).collect()
    }

    async fn update(&self, metadata: &ModelMetadata) -> Result<()> {
        let row = MetadataRow::encode(metadata);
        let (name, version) = (metadata.name(), metadata.version());
        let mut tx = Change::begin(self).await?;
        let outcome = async {
            let old = sqlx::query(sql::GET_FOR_UPDATE)
                .bind(name.as_str())
                .bind(version.sort_key())
                .fetch_optional(tx.conn())
                .await;
            let old = tx
                .check(old)?
                .map(|r| self.metadata_from_row(&r))
                .transpose()?
                .ok_or_else(|| Error::version_not_found(name, version))?;
            let done = sql::bind_metadata(sqlx::query(sql::UPDATE), &row)
                .execute(tx.conn())
                .await;
            tx.check(done)?;
            let kept = metadata.to_builder().created_at(old.created_at()).build()?;
            let event = NewEvent::now(EventKind::VersionUpdated, name).version(version);
            tx.record(&event.fields(old.changed_fields(&kept)));
            Ok(())
        }
        .await;
        tx.finish(outcome).await
    }

    async fn delete(&self, name: &ModelName, version: &Version) -> Result<()> {
        let key = version.sort_key();
        let mut tx = Change::begin(self).await?;
        let outcome = async {
            let aliases = sqlx::query_scalar::<_, String>(sql::VERSION_ALIASES)
                .bind(name.as_str())
                .bind(&key)
                .fetch_all(tx.conn())
                .await;
            let aliases = tx.check(aliases)?;
            let done = sqlx::query(sql::DELETE)
                .bind(name.as_str())
                .bind(&key)
                .execute(tx.conn())
                .await;
            changed_or_not_found(tx.check(done)?.rows_affected(), name, version)?;
            for alias in aliases {
                let alias = Alias::new(alias)?;
                tx.record(
                    &NewEvent::now(EventKind::AliasRemoved, name)
                        .alias(&alias, Some(version.clone())),
                );
            }
            tx.record(&NewEvent::now(EventKind::VersionDeleted, name).version(version));
            Ok(())
        }
        .await;
        tx.finish(outcome).await
    }

    async fn set_alias(&self, name: &ModelName, alias: &Alias, version: &Version) -> Result<()> {
        let mut tx = Change::begin(self).await?;
        let outcome = async {
            let previous = tx.current_target(name, alias).await?;
            let done = sqlx::query(sql::SET_ALIAS)
                .bind(name.as_str())
                .bind(alias.as_str())
                .bind(version.sort_key())
                .execute(tx.conn())
                .await;
            changed_or_not_found(tx.check(done)?.rows_affected(), name, version)?;
            if previous.as_ref() != Some(version) {
                tx.record(
                    &NewEvent::now(EventKind::AliasSet, name)
                        .version(version)
                        .alias(alias, previous),
                );
            }
            Ok(())
        }
        .await;
        tx.finish(outcome).await
    }

    async fn resolve_alias(&self, name: &ModelName, alias: &Alias) -> Result<Option<Version>> {
        let text: Option<String> = read!(self, c => sqlx::query_scalar(sql::RESOLVE_ALIAS)
            .bind(name.as_str())
            .bind(alias.as_str())
            .fetch_optional(c))
        .map_err(|e| self.map(e))?;
        text.map(Version::new).transpose()
    }

    async fn remove_alias(&self, name: &ModelName, alias: &Alias) -> Result<()> {
        let mut tx = Change::begin(self).await?;
        let outcome = async {
            let previous = tx
                .current_target(name, alias)
                .await?
                .ok_or_else(|| Error::alias_not_found(name, alias))?;
            let done = sqlx::query(sql::REMOVE_ALIAS)
                .bind(name.as_str())
                .bind(alias.as_str())
                .execute(tx.conn())
                .await;
            tx.check(done)?;
            tx.record(&NewEvent::now(EventKind::AliasRemoved, name).alias(alias, Some(previous)));
            Ok(())
        }
        .await;
        tx.finish(outcome).await
    }

    async fn aliases(&self, name: &ModelName) -> Result<Vec<(Alias, Version)>> {
        let rows: Vec<(String, String)> = read!(self, c => sqlx::query_as(sql::ALIASES)
            .bind(name.as_str())
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        rows.into_iter()
            .map(|(alias, version)| Ok((Alias::new(alias)?, Version::new(&version)?)))
            .collect()
    }

    async fn resolve_alias_at(
        &self,
        name: &ModelName,
        alias: &Alias,
        at: Timestamp,
    ) -> Result<Option<Version>> {
        let last: Option<(String, Option<String>)> = read!(self, c => sqlx::query_as(sql::ALIAS_AT)
            .bind(name.as_str())
            .bind(alias.as_str())
            .bind(at)
            .fetch_optional(c))
        .map_err(|e| self.map(e))?;
        match last {
            Some((kind, Some(version))) if EventKind::parse(&kind)? != EventKind::AliasRemoved => {
                Ok(Some(Version::new(&version)?))
            }
            _ => Ok(None),
        }
    }

    async fn rollback_alias(&self, name: &ModelName, alias: &Alias) -> Result<Version> {
        let mut tx = Change::begin(self).await?;
        let outcome = async {
            let rows = sqlx::query(sql::ALIAS_EVENTS)
                .bind(name.as_str())
                .bind(alias.as_str())
                .fetch_all(tx.conn())
                .await;
            let events = tx
                .check(rows)?
                .iter()
                .map(|r| {
                    sql::read_event(r, 0)
                        .map_err(|e| self.map(e))?
                        .decode(BACKEND)
                })
                .collect::<Result<Vec<_>>>()?;
            let target = history::rollback_target(&events).ok_or_else(|| {
                Error::not_found(format!(
                    "an earlier target of alias {alias:?} of model {name:?}"
                ))
            })?;
            let previous = tx.current_target(name, alias).await?;
            let done = sqlx::query(sql::SET_ALIAS)
                .bind(name.as_str())
                .bind(alias.as_str())
                .bind(target.sort_key())
                .execute(tx.conn())
                .await;
            changed_or_not_found(tx.check(done)?.rows_affected(), name, &target)?;
            tx.record(
                &NewEvent::now(EventKind::AliasRolledBack, name)
                    .version(&target)
                    .alias(alias, previous),
            );
            Ok(target)
        }
        .await;
        tx.finish(outcome).await
    }

    async fn events(&self, query: &EventQuery) -> Result<EventPage> {
        let limit = query.check()?;
        use mlstore_core::history::FilterValue;
        let build = || {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql::events_query(query)));
            for (_, value) in query.sql_filters() {
                q = match value {
                    FilterValue::Text(t) => q.bind(t.to_owned()),
                    FilterValue::Time(t) => q.bind(t),
                    FilterValue::Seq(n) => q.bind(n),
                    _ => q.bind(Option::<String>::None),
                };
            }
            q.bind(limit as i64)
        };
        let rows = read!(self, c => build().fetch_all(c)).map_err(|e| self.map(e))?;
        let events = rows
            .iter()
            .map(|r| {
                sql::read_event(r, 0)
                    .map_err(|e| self.map(e))?
                    .decode(BACKEND)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EventPage::new(events, limit))
    }

    async fn versions_page(&self, name: &ModelName, query: &VersionQuery) -> Result<VersionPage> {
        let page_size = query.checked_page_size()?;
        let after = query.cursor().map(Version::sort_key).unwrap_or_default();
        let filter = query.list_filter();
        let tag = filter.tag_filter();
        let rows = read!(self, c => sqlx::query(sql::VERSIONS_PAGE)
            .bind(name.as_str())
            .bind(&after)
            .bind(filter.status_filter())
            .bind(tag.map(|t| t.0))
            .bind(tag.map(|t| t.1))
            .bind(page_size as i64)
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        let versions = rows
            .iter()
            .map(|r| self.metadata_from_row(r))
            .collect::<Result<Vec<_>>>()?;
        Ok(VersionPage::new(versions, page_size))
    }

    async fn models_page(&self, query: &ModelQuery) -> Result<ModelPage> {
        let page_size = query.checked_page_size()?;
        let after = query.cursor().map_or("", ModelName::as_str);
        let filter = query.list_filter();
        let tag = filter.tag_filter();
        let names: Vec<String> = read!(self, c => sqlx::query_scalar(sql::MODELS_PAGE)
            .bind(after)
            .bind(Option::<Vec<u8>>::None)
            .bind(filter.status_filter())
            .bind(tag.map(|t| t.0))
            .bind(tag.map(|t| t.1))
            .bind(page_size as i64)
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        let names = names
            .into_iter()
            .map(ModelName::new)
            .collect::<Result<Vec<_>>>()?;
        Ok(ModelPage::new(names, page_size))
    }
}

#[async_trait]
impl PredictionStore for PostgresStore {
    async fn store_prediction(&self, prediction: &Prediction) -> Result<()> {
        let row = PredictionRow::encode(prediction);
        let done = inserting!(self, std::slice::from_ref(prediction), false,
            c => sql::bind_prediction(sqlx::query(sql::STORE_PREDICTION), &row)
            .bind(prediction.model().as_str())
            .bind(prediction.version().sort_key())
            .execute(c))
        .map_err(|e| {
            self.map(e)
                .naming_conflict(|| Error::already_exists(format!("prediction {}", row.id)))
        })?;
        changed_or_not_found(
            done.rows_affected(),
            prediction.model(),
            prediction.version(),
        )
    }

    async fn store_predictions(&self, predictions: &[Prediction]) -> Result<()> {
        validate::prediction_batch(predictions)?;
        if predictions.is_empty() {
            return Ok(());
        }
        let n = predictions.len();
        let rows: Vec<PredictionRow> = predictions.iter().map(PredictionRow::encode).collect();
        let names: Vec<&str> = predictions.iter().map(|p| p.model().as_str()).collect();
        let keys: Vec<Vec<u8>> = predictions.iter().map(|p| p.version().sort_key()).collect();
        let done = inserting!(self, predictions, false,
                c => sql::bind_prediction_arrays(sqlx::query(sql::STORE_PREDICTIONS), &rows)
            .bind(&names)
            .bind(&keys)
            .bind(n as i64)
            .execute(c))
        .map_err(|e| {
            self.map(e).naming_conflict(|| {
                Error::already_exists("a prediction id of the batch is already stored")
            })
        })?;
        if done.rows_affected() == n as u64 {
            return Ok(());
        }
        // Nothing was written: name the first unknown model version.
        let distinct: BTreeSet<(&ModelName, &Version)> = predictions
            .iter()
            .map(|p| (p.model(), p.version()))
            .collect();
        let (names, keys): (Vec<&str>, Vec<Vec<u8>>) = distinct
            .iter()
            .map(|(m, v)| (m.as_str(), v.sort_key()))
            .unzip();
        let unknown: Option<(String, Vec<u8>)> =
            primary!(self, c => sqlx::query_as(sql::FIRST_UNKNOWN_VERSION)
            .bind(&names)
            .bind(&keys)
            .fetch_optional(c))
            .map_err(|e| self.map(e))?;
        let missing = unknown.and_then(|(name, key)| {
            distinct
                .iter()
                .find(|(m, v)| m.as_str() == name && v.sort_key() == key)
                .copied()
        });
        Err(match missing {
            Some((m, v)) => Error::version_not_found(m, v),
            None => Error::not_found("a model version of the batch"),
        })
    }

    async fn store_predictions_with(
        &self,
        predictions: &[Prediction],
        options: BatchOptions,
    ) -> Result<BatchOutcome> {
        let statement = match (options.conflict(), options.missing()) {
            (OnProblem::Fail, OnProblem::Fail) => {
                self.store_predictions(predictions).await?;
                return Ok(BatchOutcome {
                    stored: predictions.len(),
                    skipped: Vec::new(),
                });
            }
            (OnProblem::Skip, _) => sql::STORE_PREDICTIONS_SKIPPING,
            (OnProblem::Fail, OnProblem::Skip) => sql::STORE_PREDICTIONS_SKIPPING_MISSING,
        };
        validate::prediction_batch(predictions)?;
        if predictions.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let rows: Vec<PredictionRow> = predictions.iter().map(PredictionRow::encode).collect();
        let names: Vec<&str> = predictions.iter().map(|p| p.model().as_str()).collect();
        let keys: Vec<Vec<u8>> = predictions.iter().map(|p| p.version().sort_key()).collect();
        let store_rest = options.missing() == OnProblem::Skip;
        let retry_unique = statement == sql::STORE_PREDICTIONS_SKIPPING;
        let not_stored = inserting!(self, predictions, retry_unique,
            c => sql::bind_prediction_arrays(sqlx::query(statement), &rows)
            .bind(&names)
            .bind(&keys)
            .bind(store_rest)
            .fetch_all(c))
        .map_err(|e| {
            self.map(e).naming_conflict(|| {
                Error::already_exists("a prediction id of the batch is already stored")
            })
        })?;
        let mut skipped = Vec::with_capacity(not_stored.len());
        for row in not_stored {
            let (ord, missing): (i64, bool) = (
                row.try_get(0).map_err(|e| self.map(e))?,
                row.try_get(1).map_err(|e| self.map(e))?,
            );
            let index = (ord - 1) as usize;
            let p = &predictions[index];
            if missing && !store_rest {
                return Err(Error::version_not_found(p.model(), p.version()));
            }
            skipped.push(Skipped {
                index,
                id: p.id(),
                reason: if missing {
                    SkipReason::NotFound
                } else {
                    SkipReason::AlreadyExists
                },
            });
        }
        Ok(BatchOutcome {
            stored: predictions.len() - skipped.len(),
            skipped,
        })
    }

    async fn record_actual(&self, id: Uuid, actual: &Value) -> Result<()> {
        let label = Label::new(id, actual.clone())?;
        let c = LabelColumns::encode(label.actual(), mlstore_core::time::now());
        let changed: i64 = run!(self, conn => sqlx::query_scalar(sql::RECORD_ACTUAL)
            .bind(label.id())
            .bind(&c.actual)
            .bind(&c.match_key)
            .bind(&c.actual_key)
            .bind(c.actual_number)
            .bind(c.labelled_at)
            .fetch_one(conn))
        .map_err(|e| self.map(e))?;
        if changed == 0 {
            return Err(Error::not_found(format!("prediction {id}")));
        }
        Ok(())
    }

    async fn record_actuals(&self, labels: &[Label]) -> Result<()> {
        validate::label_batch(labels)?;
        if labels.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = labels.iter().map(Label::id).collect();
        let now = mlstore_core::time::now();
        let columns = LabelArrays::of(labels, now);
        let done = run!(self, c => columns.bind(sqlx::query(sql::RECORD_ACTUALS))
            .bind(labels.len() as i64)
            .execute(c))
        .map_err(|e| self.map(e))?;
        if done.rows_affected() == labels.len() as u64 {
            return Ok(());
        }
        let unknown: Option<Uuid> =
            primary!(self, c => sqlx::query_scalar(sql::FIRST_UNKNOWN_PREDICTION)
            .bind(&ids)
            .fetch_optional(c))
            .map_err(|e| self.map(e))?;
        Err(match unknown {
            Some(id) => Error::not_found(format!("prediction {id}")),
            None => Error::not_found("a prediction of the batch"),
        })
    }

    async fn record_actuals_with(
        &self,
        labels: &[Label],
        options: BatchOptions,
    ) -> Result<BatchOutcome> {
        if options.missing() == OnProblem::Fail {
            self.record_actuals(labels).await?;
            return Ok(BatchOutcome {
                stored: labels.len(),
                skipped: Vec::new(),
            });
        }
        validate::label_batch(labels)?;
        if labels.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let columns = LabelArrays::of(labels, mlstore_core::time::now());
        let missing: Vec<i64> = run!(self, c => columns
            .bind(sqlx::query(sql::RECORD_ACTUALS_SKIPPING))
            .fetch_all(c))
        .map_err(|e| self.map(e))?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| self.map(e))?;
        let skipped: Vec<Skipped> = missing
            .into_iter()
            .map(|ord| {
                let index = (ord - 1) as usize;
                Skipped {
                    index,
                    id: labels[index].id(),
                    reason: SkipReason::NotFound,
                }
            })
            .collect();
        Ok(BatchOutcome {
            stored: labels.len() - skipped.len(),
            skipped,
        })
    }

    async fn prediction(&self, id: Uuid) -> Result<Option<Prediction>> {
        let row = read!(self, c => sqlx::query(sql::PREDICTION_BY_ID)
            .bind(id)
            .fetch_optional(c))
        .map_err(|e| self.map(e))?;
        row.map(|r| {
            let name: String = r.try_get(0).map_err(|e| self.map(e))?;
            let version: String = r.try_get(1).map_err(|e| self.map(e))?;
            let (name, version) = (ModelName::new(name)?, Version::new(&version)?);
            sql::read_prediction(&r, 2)
                .map_err(|e| self.map(e))?
                .decode(&name, &version, BACKEND)
        })
        .transpose()
    }

    async fn count_predictions(&self, filter: &PredictionFilter) -> Result<u64> {
        let bounds = filter.bounds()?;
        let name = filter.model_name().map(ModelName::as_str);
        let key = filter.model_version().map(Version::sort_key);
        let count: i64 = read!(self, c => sqlx::query_scalar(sql::COUNT_PREDICTIONS)
            .bind(name)
            .bind(&key)
            .bind(bounds.start)
            .bind(bounds.end)
            .bind(filter.is_labelled_only())
            .fetch_one(c))
        .map_err(|e| self.map(e))?;
        if count == 0 {
            self.check_filter_names_something(filter).await?;
        }
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
        let rows = read!(self, c => sqlx::query(sql::SCAN_PREDICTIONS)
            .bind(model.as_str())
            .bind(&key)
            .bind(bounds.start)
            .bind(bounds.end)
            .bind(from.ts)
            .bind(from.id)
            .bind(options.is_labelled_only())
            .bind(page_size as i64)
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        if rows.is_empty() && !self.version_exists(model, &key).await? {
            return Err(Error::version_not_found(model, version));
        }
        let found = rows
            .iter()
            .map(|r| {
                sql::read_prediction(r, 0)
                    .map_err(|e| self.map(e))?
                    .decode(model, version, BACKEND)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ScanPage::new(found, page_size))
    }

    async fn recent_predictions(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<Prediction>> {
        let bounds = window.for_rows()?;
        let rows = self
            .window_query(sql::RECENT, model, version, &bounds)
            .await?;
        rows.iter()
            .map(|r| {
                sql::read_prediction(r, 0)
                    .map_err(|e| self.map(e))?
                    .decode(model, version, BACKEND)
            })
            .collect()
    }

    async fn accuracy(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Accuracy> {
        let bounds = window.for_aggregate()?;
        // As window_query: the recent partitions first, when they hold the N newest labelled.
        if let (Some(limit), Some(recent)) = (bounds.limit, recent_start(&bounds)) {
            let (model_id, total, correct): (Option<i64>, i64, i64) =
                read!(self, c => sqlx::query_as(sql::ACCURACY)
                .bind(model.as_str())
                .bind(version.sort_key())
                .bind(recent)
                .bind(bounds.end)
                .bind(bounds.sql_limit())
                .fetch_one(c))
                .map_err(|e| self.map(e))?;
            if model_id.is_some() && total as usize >= limit {
                return Accuracy::new(correct as u64, total as u64);
            }
        }
        let (model_id, total, correct): (Option<i64>, i64, i64) =
            read!(self, c => sqlx::query_as(sql::ACCURACY)
            .bind(model.as_str())
            .bind(version.sort_key())
            .bind(bounds.start)
            .bind(bounds.end)
            .bind(bounds.sql_limit())
            .fetch_one(c))
            .map_err(|e| self.map(e))?;
        if model_id.is_none() {
            return Err(Error::version_not_found(model, version));
        }
        Accuracy::new(correct as u64, total as u64)
    }

    async fn window_rows(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<WindowRow>> {
        let bounds = window.for_aggregate()?;
        let rows = self
            .window_query(sql::WINDOW_ROWS, model, version, &bounds)
            .await?;
        rows.iter()
            .map(|r| {
                let classes = match (r.try_get::<Option<String>, _>(5)?, r.try_get(6)?) {
                    (Some(p), Some(a)) => Some((p, a)),
                    _ => None,
                };
                Ok(WindowRow {
                    confidence: r.try_get(0)?,
                    correct: r.try_get(1)?,
                    lag_micros: r.try_get(2)?,
                    prediction_number: r.try_get(3)?,
                    actual_number: r.try_get(4)?,
                    classes,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(|e| self.map(e))
    }

    async fn window_confidences(
        &self,
        model: &ModelName,
        version: &Version,
        window: Window,
    ) -> Result<Vec<f64>> {
        let bounds = window.for_aggregate()?;
        let rows = self
            .window_query(sql::WINDOW_CONFIDENCES, model, version, &bounds)
            .await?;
        let mut found = rows
            .iter()
            .map(|r| r.try_get::<f64, _>(0))
            .collect::<std::result::Result<Vec<f64>, sqlx::Error>>()
            .map_err(|e| self.map(e))?;
        found.sort_by(f64::total_cmp);
        Ok(found)
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
        let rows = read!(self, c => sqlx::query(statement)
            .bind(model.as_str())
            .bind(&key)
            .bind(start)
            .bind(end)
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        if rows.is_empty() && !self.version_exists(model, &key).await? {
            return Err(Error::version_not_found(model, version));
        }
        let count = |r: &PgRow, i: usize| r.try_get::<i64, _>(i).map(|n| n.max(0) as u64);
        rows.iter()
            .map(|r| {
                Ok(BucketSums {
                    start: Some(r.try_get(0)?),
                    predictions: count(r, 1)?,
                    labelled: count(r, 2)?,
                    correct: count(r, 3)?,
                    confidence_sum: r.try_get(4)?,
                    confidence_square_sum: r.try_get(5)?,
                    lag_count: count(r, 6)?,
                    lag_micros_sum: r.try_get(7)?,
                    numeric_count: count(r, 8)?,
                    absolute_error_sum: r.try_get(9)?,
                    squared_error_sum: r.try_get(10)?,
                    error_sum: r.try_get(11)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(|e| self.map(e))
    }

    async fn prune_predictions(&self, prune: &Prune) -> Result<PruneOutcome> {
        prune.check()?;
        let cutoff = prune.cutoff();
        let ids = self.scope_ids(prune.scope()).await?;
        let mut outcome = PruneOutcome {
            dry_run: prune.is_dry_run(),
            ..PruneOutcome::default()
        };
        if prune.is_dry_run() {
            let n: i64 = primary!(self, c => sqlx::query_scalar(sql::COUNT_BEFORE)
                .bind(cutoff)
                .bind(&ids)
                .fetch_one(c))
            .map_err(|e| self.map(e))?;
            outcome.predictions = n as u64;
            return Ok(outcome);
        }
        // A prune stopped half-way left detached partitions: finish them first.
        outcome.predictions += self.finish_pruned().await?;
        if *prune.scope() == PruneScope::All {
            let detached: i64 = run!(self, c => sqlx::query_scalar(sql::DETACH_PARTITIONS)
                .bind(cutoff)
                .fetch_one(c))
            .map_err(|e| self.map(e))?;
            outcome.partitions_dropped = detached as u64;
            outcome.predictions += self.finish_pruned().await?;
        }
        // What remains before the cut-off (every model's rows in the partition holding it, or
        // one scope's rows), in batches of about 50 ms each.
        let mut sizer = BatchSizer::default();
        let batches: Vec<Option<i64>> = match prune.scope() {
            PruneScope::All => vec![None],
            _ => ids.into_iter().map(Some).collect(),
        };
        for id in batches {
            sizer
                .run(&mut outcome, |size| async move {
                    let done = match id {
                        Some(id) => run!(self, c => sqlx::query(sql::PRUNE_BATCH)
                            .bind(id)
                            .bind(cutoff)
                            .bind(size as i64)
                            .execute(c)),
                        None => run!(self, c => sqlx::query(sql::PRUNE_ALL_BATCH)
                            .bind(cutoff)
                            .bind(size as i64)
                            .execute(c)),
                    }
                    .map_err(|e| self.map(e))?;
                    Ok(done.rows_affected())
                })
                .await?;
        }
        Ok(outcome)
    }

    async fn set_retention(&self, name: &ModelName, keep: Option<Retention>) -> Result<()> {
        let done = match keep {
            Some(keep) => run!(self, c => sqlx::query(sql::SET_RETENTION)
                .bind(name.as_str())
                .bind(keep.keep_seconds())
                .execute(c)),
            None => run!(self, c => sqlx::query(sql::REMOVE_RETENTION)
                .bind(name.as_str())
                .execute(c)),
        }
        .map_err(|e| self.map(e))?;
        if keep.is_some() && done.rows_affected() == 0 {
            return Err(Error::model_not_found(name));
        }
        Ok(())
    }

    async fn retention_policies(&self) -> Result<Vec<(ModelName, Retention)>> {
        let rows: Vec<(String, i64)> = read!(self, c => sqlx::query_as(sql::RETENTION_POLICIES)
            .fetch_all(c))
        .map_err(|e| self.map(e))?;
        rows.into_iter()
            .map(|(name, keep)| Ok((ModelName::new(name)?, Retention::from_seconds(keep)?)))
            .collect()
    }

    async fn prepare_storage(&self, now: Timestamp) -> Result<u64> {
        // Also the place where a prune stopped half-way is finished, as `maintain` runs it.
        self.finish_pruned().await?;
        let mut lease = self.pool.acquire().await?;
        let result = prepare_partitions(&mut lease, now).await;
        lease.settle(&result);
        result.map_err(|e| self.map(e))
    }

    async fn store_baseline(&self, baseline: &ConfidenceBaseline) -> Result<()> {
        let row = BaselineRow::encode(baseline);
        let (model, version) = (baseline.model(), baseline.version());
        let mut tx = Change::begin(self).await?;
        let outcome = async {
            let done = sql::bind_baseline(sqlx::query(sql::STORE_BASELINE), &row)
                .bind(model.as_str())
                .bind(version.sort_key())
                .execute(tx.conn())
                .await;
            changed_or_not_found(tx.check(done)?.rows_affected(), model, version)?;
            tx.record(&NewEvent::now(EventKind::BaselineWritten, model).version(version));
            Ok(())
        }
        .await;
        tx.finish(outcome).await
    }

    async fn baseline(
        &self,
        model: &ModelName,
        version: &Version,
    ) -> Result<Option<ConfidenceBaseline>> {
        let row = read!(self, c => sqlx::query(sql::BASELINE)
            .bind(model.as_str())
            .bind(version.sort_key())
            .fetch_optional(c))
        .map_err(|e| self.map(e))?;
        row.map(|r| {
            sql::read_baseline(&r, 0)
                .map_err(|e| self.map(e))?
                .decode(model, version, BACKEND)
        })
        .transpose()
    }
}
