//! Read replicas: which one serves a read, so that a store never reads an older state than its
//! own last write.
//!
//! After each write through the store (a statement, or a transaction's commit) the store asks
//! the primary for its WAL insert position (`pg_current_wal_insert_lsn()`, on the same
//! connection: one more round trip per write, only when replicas are configured) and keeps the
//! highest. A read goes to a replica only when that replica's replay position
//! (`pg_last_wal_replay_lsn()`) has reached it: known from a check under [`CHECK_EVERY`] old, or
//! checked then (one round trip; after a check that found the replica short, reads go to the
//! primary for [`RECHECK_AFTER`] without asking again). Otherwise the primary answers. When a
//! write's position is unknown (the position read failed, or the write failed in a way that may
//! hide a commit, such as a lost connection), every read goes to the primary until the position
//! of a later write is read. Reads that other handles make may see a state as old as the
//! replica's lag ([`PostgresStore::replica_status`](crate::PostgresStore::replica_status)).
//!
//! A replica's lag is 0 when it has replayed all the WAL it received; otherwise the shorter of
//! the time since the last transaction it replayed was committed and the time since checks
//! first saw it behind. A replica more than the configured lag behind is skipped until a later
//! check finds it within; one that cannot be reached is skipped for [`RETRY_DOWN_AFTER`] (one
//! whose connections are all busy is only skipped by the read that found it so). A read that
//! fails on a replica is run again on the primary. Reads inside
//! [`mlstore_core::routing::from_primary`] (the caches' fills) always go to the primary.
//!
//! Each replica address must name one server: behind a load balancer, the check and the read
//! could reach different servers, and the guarantee would not hold.

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
/// After a check found a replica short of the store's last write, how long reads go to the
/// primary without checking again (a replica needs longer than this to replay a commit it has
/// just received).
pub const RECHECK_AFTER: Duration = Duration::from_millis(2);
/// Connections per replica pool.
const REPLICA_CONNECTIONS: u32 = 16;

/// A replica's replay position, whether it has received WAL it has not replayed yet, and the
/// seconds since the last transaction it replayed was committed on the primary.
const REPLAY: &str = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8, \
    coalesce(pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), false), \
    coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0)::float8";
/// Where the primary's WAL ends now.
const PRIMARY_POSITION: &str = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8";

/// What a store knows of one replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaStatus {
    /// Up (reachable at the last try).
    pub up: bool,
    /// WAL replayed, in bytes from the start, at the last check.
    pub replayed: u64,
    /// How far behind it was at the last check: 0 when it had replayed all the WAL it had
    /// received; else the shorter of the time since the last transaction it replayed was
    /// committed and the time since checks first saw it behind.
    pub lag: Duration,
    /// Reads served by this replica so far.
    pub reads: u64,
}

#[derive(Debug)]
struct State {
    replayed: u64,
    lag: Duration,
    checked: Option<Instant>,
    /// When checks first saw it with received WAL not yet replayed (reset once caught up).
    behind_since: Option<Instant>,
    /// When a check last found it short of the store's last write.
    short_at: Option<Instant>,
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
    /// Writes whose position is unknown (the position read failed, or the write failed in a
    /// way that may hide a commit), counted.
    unknown: AtomicU64,
    /// Of those, how many a later position read covers (it started after them). Reads use the
    /// primary while `covered < unknown`.
    covered: AtomicU64,
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
                    behind_since: None,
                    short_at: None,
                    down_until: None,
                }),
                reads: AtomicU64::new(0),
            })
            .collect();
        Self {
            list,
            next: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            covered: AtomicU64::new(0),
            max_lag,
        }
    }

    /// Records the primary's WAL position after a write, read on the write's connection.
    pub(crate) async fn after_write(&self, conn: &mut PooledConnection<'_>) {
        if self.list.is_empty() {
            return;
        }
        let before = self.unknown.load(Ordering::Acquire);
        let result = sqlx::query_scalar::<_, i64>(PRIMARY_POSITION)
            .fetch_one(&mut **conn)
            .await;
        conn.settle(&result);
        self.record(before, result);
    }

    /// Records a write that failed other than by the server's refusal (a lost connection, a
    /// cancelled future): it may have committed, at a position nobody read.
    pub(crate) fn after_failed_write(&self, e: &sqlx::Error) {
        if !self.list.is_empty() && !matches!(e, sqlx::Error::Database(_)) {
            self.unknown.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records the primary's WAL position when the store opens (after its migrations, and
    /// after the database itself was made): reads use a replica only once it has those.
    pub(crate) async fn after_connect(&self, conn: &mut sqlx::PgConnection) {
        if self.list.is_empty() {
            return;
        }
        let before = self.unknown.load(Ordering::Acquire);
        let result = sqlx::query_scalar::<_, i64>(PRIMARY_POSITION)
            .fetch_one(conn)
            .await;
        self.record(before, result);
    }

    /// A position read's outcome; `before` is the count of unknown writes when it started (a
    /// position read after them is at least their commits).
    fn record(&self, before: u64, position: std::result::Result<i64, sqlx::Error>) {
        match position {
            Ok(position) => {
                self.written
                    .fetch_max(position.max(0) as u64, Ordering::AcqRel);
                self.covered.fetch_max(before, Ordering::AcqRel);
            }
            Err(e) => {
                tracing::warn!(
                    target: "mlstore::postgres",
                    error = %e,
                    "cannot read the WAL position after a write; reads use the primary until a later write's position is read"
                );
                self.unknown.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// A replica that may serve a read now, or `None` for the primary.
    pub(crate) async fn pick(&self) -> Option<&Replica> {
        if self.list.is_empty() || mlstore_core::routing::reads_from_primary() {
            return None;
        }

        if self.covered.load(Ordering::Acquire) < self.unknown.load(Ordering::Acquire) {
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
            if s.short_at
                .is_some_and(|t| now.duration_since(t) < RECHECK_AFTER)
            {
                return false;
            }
        }
        match self.check().await {
            Some((replayed, lag)) if lag <= max_lag => {
                if replayed < need {
                    lock(&self.state).short_at = Some(Instant::now());
                }
                replayed >= need
            }
            _ => false,
        }
    }

    /// Reads the replica's replay position and lag; marks it down when it cannot be reached.
    async fn check(&self) -> Option<(u64, Duration)> {
        let mut lease = match self.pool.acquire().await {
            Ok(lease) => lease,
            Err(_) => {
                self.unavailable();
                return None;
            }
        };
        let row = sqlx::query_as::<_, (Option<i64>, bool, f64)>(REPLAY)
            .fetch_one(&mut *lease)
            .await;
        lease.settle(&row);
        drop(lease);
        let now = Instant::now();
        match row {
            Ok((Some(replayed), behind, since_replayed)) => {
                let mut s = lock(&self.state);
                s.replayed = replayed.max(0) as u64;
                s.lag = if behind {
                    let since = *s.behind_since.get_or_insert(now);
                    Duration::from_secs_f64(since_replayed.max(0.0)).min(now - since)
                } else {
                    s.behind_since = None;
                    Duration::ZERO
                };
                s.checked = Some(now);
                s.down_until = None;
                Some((s.replayed, s.lag))
            }
            Ok((None, _, _)) => {
                tracing::warn!(
                    target: "mlstore::postgres",
                    replica = %self.name,
                    "not a replica (not in recovery): reads skip it"
                );
                self.mark_down();
                None
            }
            Err(_) => {
                self.mark_down();
                None
            }
        }
    }

    /// No connection could be had: down, unless all its connections are busy (then only this
    /// read goes elsewhere).
    pub(crate) fn unavailable(&self) {
        let pool = self.pool.status();
        if pool.in_use < pool.max {
            self.mark_down();
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
