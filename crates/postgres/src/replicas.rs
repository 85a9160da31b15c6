//! Read replicas: which one serves a read, so that a store never reads an older state than its
//! own last write.
//!
//! After each write through the store (a statement, or a transaction's commit) the store asks
//! the primary for its WAL insert position (`pg_current_wal_insert_lsn()`, on the same
//! connection: one more round trip per write, only when replicas are configured) and keeps the
//! highest. A read goes to a replica only when that replica's replay position
//! (`pg_last_wal_replay_lsn()`) has reached it: known from the last check, or checked then (one
//! round trip, only on the first read after a write that the replica had not yet replayed).
//! Otherwise it goes to the primary. Reads that other handles make may see a state as old as
//! the replica's lag ([`PostgresStore::replica_status`](crate::PostgresStore::replica_status)).
//!
//! A replica whose connection fails is skipped for [`RETRY_DOWN_AFTER`], then tried again; one
//! that is more than the configured lag behind (WAL received but not replayed for longer than
//! that) is skipped until a later check finds it caught up. A read that fails on a replica is
//! run again on the primary. Reads inside [`mlstore_core::routing::from_primary`] (the caches'
//! fills) always go to the primary.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mlstore_core::redact_url;
use sqlx::postgres::PgConnectOptions;

use crate::error::ErrorMap;
use crate::pool::{ConnPool, PooledConnection};

/// How long a replica whose connection failed is left alone before a read tries it again.
pub const RETRY_DOWN_AFTER: Duration = Duration::from_secs(5);
/// How often a replica's replay position and lag are checked at most, when no write forces a
/// check.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Connections per replica pool.
const REPLICA_CONNECTIONS: u32 = 16;

/// The replay position and lag of a replica, and since when it is known.
const REPLAY: &str = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8, \
    CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 \
    ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0) \
    END::float8";
/// Where the primary's WAL ends now.
const PRIMARY_POSITION: &str = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8";

/// What a store knows of one replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaStatus {
    /// Up (reachable at the last try).
    pub up: bool,
    /// WAL replayed, in bytes from the start, at the last check.
    pub replayed: u64,
    /// How long WAL had waited to be replayed at the last check (0 when all received WAL was
    /// replayed).
    pub lag: Duration,
    /// Reads served by this replica so far.
    pub reads: u64,
}

#[derive(Debug)]
struct State {
    replayed: u64,
    lag: Duration,
    checked: Option<Instant>,
    down_until: Option<Instant>,
}

pub(crate) struct Replica {
    name: String,
    pub(crate) pool: ConnPool,
    state: Mutex<State>,
    reads: AtomicU64,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The replicas of a store and what routes reads among them.
#[derive(Debug)]
pub(crate) struct Replicas {
    list: Vec<Replica>,
    next: AtomicUsize,
    /// The highest WAL position after a write through this store.
    written: AtomicU64,
    /// After a write whose position could not be read: reads use the primary until then.
    primary_until: Mutex<Option<Instant>>,
    max_lag: Duration,
}

impl Replicas {
    pub(crate) fn new(
        replicas: Vec<(String, PgConnectOptions)>,
        connect_timeout: Duration,
        max_lag: Duration,
        errors: &ErrorMap,
    ) -> Self {
        let list = replicas
            .into_iter()
            .map(|(url, options)| Replica {
                name: redact_url(&url),
                pool: ConnPool::new(
                    options,
                    REPLICA_CONNECTIONS,
                    connect_timeout,
                    Some(Duration::from_secs(600)),
                    Some(Duration::from_secs(1800)),
                    errors.clone(),
                ),
                state: Mutex::new(State {
                    replayed: 0,
                    lag: Duration::ZERO,
                    checked: None,
                    down_until: None,
                }),
                reads: AtomicU64::new(0),
            })
            .collect();
        Self {
            list,
            next: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            primary_until: Mutex::new(None),
            max_lag,
        }
    }

    /// Records the primary's WAL position after a write, read on the write's connection.
    pub(crate) async fn after_write(&self, conn: &mut PooledConnection<'_>) {
        if self.list.is_empty() {
            return;
        }
        let result = sqlx::query_scalar::<_, i64>(PRIMARY_POSITION)
            .fetch_one(&mut **conn)
            .await;
        conn.settle(&result);
        self.record(result);
    }

    /// Records the primary's WAL position when the store opens (after its migrations, and
    /// after the database itself was made): reads use a replica only once it has those.
    pub(crate) async fn after_connect(&self, conn: &mut sqlx::PgConnection) {
        if self.list.is_empty() {
            return;
        }
        let result = sqlx::query_scalar::<_, i64>(PRIMARY_POSITION)
            .fetch_one(conn)
            .await;
        self.record(result);
    }

    fn record(&self, position: std::result::Result<i64, sqlx::Error>) {
        match position {
            Ok(position) => {
                self.written
                    .fetch_max(position.max(0) as u64, Ordering::AcqRel);
            }
            Err(e) => {
                tracing::warn!(
                    target: "mlstore::postgres",
                    error = %e,
                    "cannot read the WAL position after a write; reading from the primary for {RETRY_DOWN_AFTER:?}"
                );
                *lock(&self.primary_until) = Some(Instant::now() + RETRY_DOWN_AFTER);
            }
        }
    }

    /// A replica that may serve a read now, or `None` for the primary.
    pub(crate) async fn pick(&self) -> Option<&Replica> {
        if self.list.is_empty() || mlstore_core::routing::reads_from_primary() {
            return None;
        }

        if lock(&self.primary_until).is_some_and(|t| Instant::now() < t) {
            return None;
        }
        let need = self.written.load(Ordering::Acquire);
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..self.list.len() {
            let replica = &self.list[(start + k) % self.list.len()];
            if replica.ready(need, self.max_lag).await {
                return Some(replica);
            }
        }
        None
    }

    pub(crate) fn status(&self) -> Vec<(String, ReplicaStatus)> {
        self.list
            .iter()
            .map(|r| {
                let s = lock(&r.state);
                (
                    r.name.clone(),
                    ReplicaStatus {
                        up: s.down_until.is_none_or(|t| Instant::now() >= t),
                        replayed: s.replayed,
                        lag: s.lag,
                        reads: r.reads.load(Ordering::Relaxed),
                    },
                )
            })
            .collect()
    }

    pub(crate) fn close(&self) {
        for r in &self.list {
            r.pool.close();
        }
    }
}

impl Replica {
    /// Whether this replica may serve a read that must see WAL up to `need`: not known down,
    /// not lagging beyond `max_lag`, and replayed past `need` (checked now if the last check
    /// is older than [`CHECK_EVERY`] or short of `need`).
    async fn ready(&self, need: u64, max_lag: Duration) -> bool {
        let now = Instant::now();
        {
            let s = lock(&self.state);
            if s.down_until.is_some_and(|t| now < t) {
                return false;
            }
            let fresh = s
                .checked
                .is_some_and(|t| now.duration_since(t) < CHECK_EVERY);
            if fresh && s.lag > max_lag {
                return false;
            }
            if fresh && s.replayed >= need {
                return true;
            }
        }
        match self.check().await {
            Some((replayed, lag)) => lag <= max_lag && replayed >= need,
            None => false,
        }
    }

    /// Reads the replica's replay position and lag; marks it down when it cannot be reached.
    async fn check(&self) -> Option<(u64, Duration)> {
        let result = async {
            let mut lease = self.pool.acquire().await.ok()?;
            let row = sqlx::query_as::<_, (Option<i64>, f64)>(REPLAY)
                .fetch_one(&mut *lease)
                .await;
            lease.settle(&row);
            Some(row)
        }
        .await;
        let now = Instant::now();
        match result {
            Some(Ok((Some(replayed), lag))) => {
                let replayed = replayed.max(0) as u64;
                let lag = Duration::from_secs_f64(lag.max(0.0));
                let mut s = lock(&self.state);
                s.replayed = s.replayed.max(replayed);
                s.lag = lag;
                s.checked = Some(now);
                s.down_until = None;
                Some((s.replayed, lag))
            }
            Some(Ok((None, _))) => {
                tracing::warn!(
                    target: "mlstore::postgres",
                    replica = %self.name,
                    "not a replica (not in recovery): reads skip it"
                );
                self.mark_down();
                None
            }
            _ => {
                self.mark_down();
                None
            }
        }
    }

    /// Skips this replica for [`RETRY_DOWN_AFTER`].
    pub(crate) fn mark_down(&self) {
        let mut s = lock(&self.state);
        if s.down_until.is_none_or(|t| Instant::now() >= t) {
            tracing::warn!(
                target: "mlstore::postgres",
                replica = %self.name,
                "replica unreachable: reads go elsewhere for {RETRY_DOWN_AFTER:?}"
            );
        }
        s.down_until = Some(Instant::now() + RETRY_DOWN_AFTER);
        s.checked = None;
    }

    /// Counts a read it served.
    pub(crate) fn served(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether an error says the connection (not the query) failed.
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    !matches!(
        e,
        sqlx::Error::Database(_)
            | sqlx::Error::RowNotFound
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
