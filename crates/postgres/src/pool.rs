//! A small connection pool that adds no round trip to a query.
//!
//! sqlx's `PgPool` pings a connection when it is returned (and, by default, when it is taken), so
//! every query costs one or two extra round trips; measured here, a point lookup took about 2.6×
//! the time it takes on a held connection. This pool checks a connection's health from how its
//! last use ended instead: a connection goes back to the pool only after a query that finished
//! (successfully, or with an error the server reported); after an I/O or protocol error, or when
//! the caller's future was dropped mid-query, it is closed instead of reused.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mlstore_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::ConnectOptions;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ErrorMap;

struct Idle {
    conn: PgConnection,
    opened: Instant,
    returned: Instant,
}

/// How many connections a store's pool holds now ([`crate::PostgresStore::pool_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max: u32,
    /// Connections on loan to a query now.
    pub in_use: u32,
    /// Open connections waiting for a query.
    pub idle: u32,
}

/// The pool: at most `max` connections, idle ones kept for reuse.
pub(crate) struct ConnPool {
    options: PgConnectOptions,
    permits: Semaphore,
    max: u32,
    idle: Mutex<Vec<Idle>>,
    acquire_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    closed: AtomicBool,
    errors: ErrorMap,
}

impl fmt::Debug for ConnPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnPool")
            .field("max", &self.max)
            .field("idle", &self.idle.lock().map(|i| i.len()).unwrap_or(0))
            .finish_non_exhaustive()
    }
}

/// A connection on loan from the pool; see [`crate::PostgresStore::acquire`].
///
/// It returns to the pool when dropped if its last use finished (see [`PooledConnection::settle`]);
/// otherwise it is closed.
pub struct PooledConnection<'a> {
    pool: &'a ConnPool,
    conn: Option<PgConnection>,
    opened: Instant,
    reusable: bool,
    _permit: SemaphorePermit<'a>,
}

impl fmt::Debug for PooledConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("reusable", &self.reusable)
            .finish_non_exhaustive()
    }
}

impl PooledConnection<'_> {
    /// Records how the last use of the connection ended: after success or an error the server
    /// reported, the connection is in a known state and may be reused; after anything else it
    /// is closed when dropped. The store calls this after each query; a connection whose query
    /// future was dropped before it settled is never reused.
    pub fn settle<T>(&mut self, result: &std::result::Result<T, sqlx::Error>) {
        self.reusable = matches!(result, Ok(_) | Err(sqlx::Error::Database(_)));
    }
}

impl PooledConnection<'_> {
    /// Closes the connection when dropped, whatever its last use (a transaction left open).
    pub(crate) fn discard(&mut self) {
        self.reusable = false;
    }
}

impl Deref for PooledConnection<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn
            .as_ref()
            .expect("a loaned connection is present until dropped")
    }
}

impl DerefMut for PooledConnection<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        // Until the next `settle`, a use in progress makes the connection not reusable.
        self.reusable = false;
        self.conn
            .as_mut()
            .expect("a loaned connection is present until dropped")
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.reusable && !self.pool.closed.load(Ordering::Acquire) {
            let idle = Idle {
                conn,
                opened: self.opened,
                returned: Instant::now(),
            };
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(idle);
        }
        // Otherwise the connection is dropped: sqlx closes its socket.
    }
}

impl ConnPool {
    pub(crate) fn new(
        options: PgConnectOptions,
        max: u32,
        acquire_timeout: Duration,
        idle_timeout: Option<Duration>,
        max_lifetime: Option<Duration>,
        errors: ErrorMap,
    ) -> Self {
        Self {
            options,
            permits: Semaphore::new(max as usize),
            max,
            idle: Mutex::new(Vec::new()),
            acquire_timeout,
            idle_timeout,
            max_lifetime,
            closed: AtomicBool::new(false),
            errors,
        }
    }

    pub(crate) fn status(&self) -> PoolStatus {
        let available = self.permits.available_permits() as u32;
        PoolStatus {
            max: self.max,
            in_use: self.max.saturating_sub(available),
            idle: self.idle.lock().map_or(0, |i| i.len() as u32),
        }
    }

    fn expired(&self, idle: &Idle, now: Instant) -> bool {
        self.max_lifetime
            .is_some_and(|life| now.duration_since(idle.opened) >= life)
            || self
                .idle_timeout
                .is_some_and(|t| now.duration_since(idle.returned) >= t)
    }

    /// Opens a new connection (outside the pool's count), within `timeout`.
    pub(crate) async fn open(&self, timeout: Duration) -> Result<PgConnection> {
        match tokio::time::timeout(timeout, self.options.connect()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(self.errors.map(e)),
            Err(_) => Err(Error::unavailable(
                crate::error::BACKEND,
                format!("no connection within {timeout:?}"),
            )),
        }
    }

    /// Takes an idle connection, or opens one, waiting at most the acquire timeout.
    pub(crate) async fn acquire(&self) -> Result<PooledConnection<'_>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::unavailable(
                crate::error::BACKEND,
                "the store is closed",
            ));
        }
        let start = Instant::now();
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| {
                Error::unavailable(
                    crate::error::BACKEND,
                    format!(
                        "pool timed out: all {} connections stayed busy for {:?}",
                        self.max, self.acquire_timeout
                    ),
                )
            })?
            .map_err(|e| Error::unavailable(crate::error::BACKEND, e))?;
        let now = Instant::now();
        loop {
            let candidate = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match candidate {
                Some(idle) if self.expired(&idle, now) => continue,
                Some(idle) => {
                    return Ok(PooledConnection {
                        pool: self,
                        conn: Some(idle.conn),
                        opened: idle.opened,
                        reusable: true,
                        _permit: permit,
                    })
                }
                None => break,
            }
        }
        let remaining = self.acquire_timeout.saturating_sub(start.elapsed());
        let conn = self.open(remaining).await?;
        Ok(PooledConnection {
            pool: self,
            conn: Some(conn),
            opened: Instant::now(),
            reusable: true,
            _permit: permit,
        })
    }

    /// Closes the idle connections and refuses new loans; loans out close when returned.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
