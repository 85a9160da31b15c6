//! The floor: the same SQL the store runs, on a held driver connection with the parameters
//! already encoded, bound and read through the backends' own row definitions
//! (`mlstore_sqlite::sql`, `mlstore_postgres::sql`), and a raw Redis `GET`. What a store adds on
//! top (validation, encoding, decoding into values, the pool, the cache) is the ratio to this.

use std::time::{Duration, Instant};

use mlstore_core::codec::{BaselineRow, EventRow, LabelColumns, MetadataRow, PredictionRow};
use mlstore_core::{Error, Result, Window};
use rusqlite::types::ToSqlOutput;
use rusqlite::{params, params_from_iter, OptionalExtension};
use sqlx::Connection;

use crate::{Fixture, Input, Op};

/// A held connection to a backend's database.
pub enum Floor {
    /// A rusqlite connection to the store's file, with cached statements.
    Sqlite(rusqlite::Connection),
    /// A sqlx connection (statements cached by sqlx).
    Postgres(sqlx::PgConnection),
}

/// A raw Redis connection holding a value the size of a cached model version.
pub struct RedisFloor {
    conn: redis::aio::MultiplexedConnection,
    key: String,
}

/// The parameters of one floor run, encoded before the clock starts.
pub enum FloorInput {
    /// Nothing beyond the fixture.
    None,
    /// A model version's columns.
    Metadata(Box<MetadataRow>),
    /// One prediction's columns.
    Prediction(Box<PredictionRow>),
    /// A batch's columns.
    Batch(Vec<PredictionRow>),
    /// A label and its columns.
    Label(uuid::Uuid, Box<LabelColumns>),
}

fn sqlite_err(e: rusqlite::Error) -> Error {
    Error::backend("sqlite floor", e)
}

fn pg_err(e: sqlx::Error) -> Error {
    Error::backend("postgres floor", e.to_string())
}

/// Encodes `input` the way the backends do.
pub fn encode(input: &Input) -> FloorInput {
    match input {
        Input::None => FloorInput::None,
        Input::Metadata(m) => FloorInput::Metadata(Box::new(MetadataRow::encode(m))),
        Input::Prediction(p) => FloorInput::Prediction(Box::new(PredictionRow::encode(p))),
        Input::Batch(batch) => FloorInput::Batch(batch.iter().map(PredictionRow::encode).collect()),
        Input::Label(l) => FloorInput::Label(
            l.id(),
            Box::new(LabelColumns::encode(l.actual(), mlstore_core::time::now())),
        ),
    }
}

impl Floor {
    /// Opens a connection to the SQLite file the store uses, set up like the store's.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn sqlite(path: &std::path::Path) -> Result<Self> {
        let conn = rusqlite::Connection::open(path).map_err(sqlite_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        // The store runs the checkpoints (off its writes); the floor measures the writes alone.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(sqlite_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(sqlite_err)?;
        Ok(Floor::Sqlite(conn))
    }

    /// Connects to the PostgreSQL database the store uses.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub async fn postgres(url: &str) -> Result<Self> {
        Ok(Floor::Postgres(
            sqlx::PgConnection::connect(url).await.map_err(pg_err)?,
        ))
    }

    /// Runs the SQL of `op` once; returns its time.
    ///
    /// # Errors
    /// What the driver returns.
    pub async fn run(&mut self, fixture: &Fixture, op: Op, input: &FloorInput) -> Result<Duration> {
        match self {
            Floor::Sqlite(conn) => sqlite_run(conn, fixture, op, input),
            Floor::Postgres(conn) => postgres_run(conn, fixture, op, input).await,
        }
    }
}

/// The window bounds of the recent-100 and accuracy-1000 floors, as the stores bind them.
fn window(last: usize) -> mlstore_core::Bounds {
    Window::last(last)
        .for_aggregate()
        .expect("a valid benchmark window")
}

/// A row's parameters followed by `extra` ones.
fn with<'a>(
    mut row: Vec<ToSqlOutput<'a>>,
    extra: impl IntoIterator<Item = ToSqlOutput<'a>>,
) -> impl rusqlite::Params + 'a {
    row.extend(extra);
    params_from_iter(row)
}

/// The event the store appends for a change of `kind` on the fixture's version.
fn event_of(fx: &Fixture, kind: mlstore_core::EventKind) -> mlstore_core::history::NewEvent {
    mlstore_core::history::NewEvent::now(kind, &fx.model).version(&fx.version)
}

/// Appends an event as the SQLite store does.
fn sqlite_event(conn: &rusqlite::Connection, row: &EventRow) -> Result<()> {
    use mlstore_sqlite::sql;
    conn.prepare_cached(sql::INSERT_EVENT)
        .map_err(sqlite_err)?
        .execute(params_from_iter(sql::event_params(row)))
        .map_err(sqlite_err)
        .map(drop)
}

/// What the SQLite store does to store predictions of the write version: in one transaction,
/// look up the version's id, insert each row, add the rows to their hours (here: one upsert,
/// every row of a benchmark batch falls in one or two hours).
fn sqlite_insert(conn: &rusqlite::Connection, fx: &Fixture, rows: &[PredictionRow]) -> Result<()> {
    use mlstore_sqlite::sql;
    let e = sqlite_err;
    conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
    let model_id: i64 = conn
        .prepare_cached(sql::MODEL_ID)
        .map_err(e)?
        .query_row(
            params![fx.model.as_str(), fx.write_version.sort_key()],
            |r| r.get(0),
        )
        .map_err(e)?;
    let mut insert = conn.prepare_cached(sql::INSERT_PREDICTION).map_err(e)?;
    for p in rows {
        insert
            .execute(with(
                sql::prediction_params(p),
                [ToSqlOutput::from(model_id)],
            ))
            .map_err(e)?;
    }
    let hour = mlstore_core::time::to_micros(&mlstore_core::Bucket::Hour.floor(rows[0].ts));
    let n = rows.len() as i64;
    let sum: f64 = rows.iter().map(|r| r.confidence).sum();
    conn.prepare_cached(sql::ADD_HOUR_SUMS)
        .map_err(e)?
        .execute(params![
            model_id, hour, n, 0, 0, sum, sum, 0, 0.0, 0, 0.0, 0.0, 0.0
        ])
        .map_err(e)?;
    conn.execute_batch("COMMIT").map_err(e)?;
    Ok(())
}

fn sqlite_run(
    conn: &rusqlite::Connection,
    fx: &Fixture,
    op: Op,
    input: &FloorInput,
) -> Result<Duration> {
    use mlstore_sqlite::sql;
    let name = fx.model.as_str();
    let key = fx.version.sort_key();
    let start = Instant::now();
    let e = sqlite_err;
    match (op, input) {
        (Op::Register, FloorInput::Metadata(m)) => {
            conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
            conn.prepare_cached(sql::REGISTER)
                .map_err(e)?
                .execute(params_from_iter(sql::metadata_params(m)))
                .map_err(e)?;
            sqlite_event(
                conn,
                &EventRow::encode(
                    &event_of(fx, mlstore_core::EventKind::VersionRegistered),
                    None,
                ),
            )?;
            conn.execute_batch("COMMIT").map_err(e)?;
        }
        (Op::Get, _) => {
            let row: Option<MetadataRow> = conn
                .prepare_cached(sql::GET)
                .map_err(e)?
                .query_row(params![name, key], |r| sql::read_metadata(r, 0))
                .optional()
                .map_err(e)?;
            std::hint::black_box(row);
        }
        (Op::Latest, _) => {
            let row: Option<MetadataRow> = conn
                .prepare_cached(sql::LATEST)
                .map_err(e)?
                .query_row(params![name], |r| sql::read_metadata(r, 0))
                .optional()
                .map_err(e)?;
            std::hint::black_box(row);
        }
        (Op::Versions10, _) => {
            let mut stmt = conn.prepare_cached(sql::VERSIONS).map_err(e)?;
            let rows: Vec<MetadataRow> = stmt
                .query_map(params![name], |r| sql::read_metadata(r, 0))
                .map_err(e)?
                .collect::<rusqlite::Result<_>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Store1, FloorInput::Prediction(p)) => {
            sqlite_insert(conn, fx, std::slice::from_ref(p))?;
        }
        (Op::Store100, FloorInput::Batch(rows)) => {
            sqlite_insert(conn, fx, rows)?;
        }
        (Op::Recent100, _) => {
            let [start, end, limit] = sql::window_params(&window(100));
            let mut stmt = conn.prepare_cached(sql::RECENT).map_err(e)?;
            let rows: Vec<PredictionRow> = stmt
                .query_map(params![name, key, start, end, limit], |r| {
                    sql::read_prediction(r, 0)
                })
                .map_err(e)?
                .collect::<rusqlite::Result<_>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Accuracy1000, _) => {
            let [start, end, limit] = sql::window_params(&window(1000));
            let counts: (i64, i64) = conn
                .prepare_cached(sql::ACCURACY)
                .map_err(e)?
                .query_row(params![name, key, start, end, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(e)?;
            std::hint::black_box(counts);
        }
        (Op::BaselineWrite, _) => {
            let b = BaselineRow::encode(&fx.baseline);
            conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
            conn.prepare_cached(sql::STORE_BASELINE)
                .map_err(e)?
                .execute(with(
                    sql::baseline_params(&b),
                    [ToSqlOutput::from(name), ToSqlOutput::from(&key[..])],
                ))
                .map_err(e)?;
            sqlite_event(
                conn,
                &EventRow::encode(
                    &event_of(fx, mlstore_core::EventKind::BaselineWritten),
                    None,
                ),
            )?;
            conn.execute_batch("COMMIT").map_err(e)?;
        }
        (Op::BaselineRead, _) => {
            let row: Option<BaselineRow> = conn
                .prepare_cached(sql::BASELINE)
                .map_err(e)?
                .query_row(params![name, key], |r| sql::read_baseline(r, 0))
                .optional()
                .map_err(e)?;
            std::hint::black_box(row);
        }
        (Op::AliasAt, _) => {
            let last: Option<(String, Option<String>)> = conn
                .prepare_cached(sql::ALIAS_AT)
                .map_err(e)?
                .query_row(
                    params![
                        name,
                        fx.moved_alias.as_str(),
                        mlstore_core::time::to_micros(&fx.moved_at)
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(e)?;
            std::hint::black_box(last);
        }
        (Op::History100, _) => {
            let sql = sql::events_query(&fx.history_query());
            let mut stmt = conn.prepare_cached(&sql).map_err(e)?;
            let rows = stmt
                .query_map(params![name, 100], |r| sql::read_event(r, 0))
                .map_err(e)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::AliasResolve, _) => {
            let v: Option<String> = conn
                .prepare_cached(sql::RESOLVE_ALIAS)
                .map_err(e)?
                .query_row(params![name, fx.alias.as_str()], |r| r.get(0))
                .optional()
                .map_err(e)?;
            std::hint::black_box(v);
        }
        (Op::Metrics10000, _) => {
            let [start, end, limit] = sql::window_params(&window(10_000));
            let key = fx.monitor_version.sort_key();
            let mut stmt = conn.prepare_cached(sql::WINDOW_ROWS).map_err(e)?;
            type Numbers = (f64, Option<bool>, Option<i64>, Option<f64>, Option<f64>);
            type Classes = (Option<String>, Option<String>);
            let rows: Vec<(Numbers, Classes)> = stmt
                .query_map(params![name, key, start, end, limit], |r| {
                    Ok((
                        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                        (r.get(5)?, r.get(6)?),
                    ))
                })
                .map_err(e)?
                .collect::<rusqlite::Result<_>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Drift10000, _) => {
            let [start, end, limit] = sql::window_params(&window(10_000));
            let key = fx.monitor_version.sort_key();
            let mut stmt = conn.prepare_cached(sql::WINDOW_CONFIDENCES).map_err(e)?;
            let values: Vec<f64> = stmt
                .query_map(params![name, key, start, end, limit], |r| r.get(0))
                .map_err(e)?
                .collect::<rusqlite::Result<_>>()
                .map_err(e)?;
            let baseline: Option<BaselineRow> = conn
                .prepare_cached(sql::BASELINE)
                .map_err(e)?
                .query_row(params![name, key], |r| sql::read_baseline(r, 0))
                .optional()
                .map_err(e)?;
            std::hint::black_box((values, baseline));
        }
        (Op::Series720, _) => {
            let (since, until) = fx.series_range;
            let key = fx.series_version.sort_key();
            let mut stmt = conn.prepare_cached(sql::HOUR_SUMS).map_err(e)?;
            let rows: Vec<(i64, i64, f64)> = stmt
                .query_map(
                    params![
                        name,
                        key,
                        mlstore_core::time::to_micros(&since),
                        mlstore_core::time::to_micros(&until)
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(4)?)),
                )
                .map_err(e)?
                .collect::<rusqlite::Result<_>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::RecordActual, FloorInput::Label(id, c)) => {
            conn.prepare_cached(sql::RECORD_ACTUAL)
                .map_err(e)?
                .execute(params![
                    &id.as_bytes()[..],
                    c.actual,
                    c.match_key,
                    c.actual_key,
                    c.actual_number,
                    mlstore_core::time::to_micros(&c.labelled_at)
                ])
                .map_err(e)?;
        }
        _ => {
            return Err(Error::invalid(
                "input",
                format!("no floor input for {}", op.name()),
            ))
        }
    }
    Ok(start.elapsed())
}

async fn postgres_run(
    conn: &mut sqlx::PgConnection,
    fx: &Fixture,
    op: Op,
    input: &FloorInput,
) -> Result<Duration> {
    use mlstore_postgres::sql;
    let name = fx.model.as_str();
    let key = fx.version.sort_key();
    let start = Instant::now();
    let e = pg_err;
    let read_metadata = |r: sqlx::postgres::PgRow| sql::read_metadata(&r, 0);
    match (op, input) {
        (Op::Register, FloorInput::Metadata(m)) => {
            sql::bind_metadata(sqlx::query(sql::REGISTER), m)
                .bind(m.created_at)
                .bind(Option::<String>::None)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
        }
        (Op::Get, _) => {
            let row = sqlx::query(sql::GET)
                .bind(name)
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(row.map(read_metadata).transpose().map_err(e)?);
        }
        (Op::Latest, _) => {
            let row = sqlx::query(sql::LATEST)
                .bind(name)
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(row.map(read_metadata).transpose().map_err(e)?);
        }
        (Op::Versions10, _) => {
            let rows = sqlx::query(sql::VERSIONS)
                .bind(name)
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?;
            let rows: Vec<MetadataRow> = rows
                .into_iter()
                .map(read_metadata)
                .collect::<std::result::Result<_, _>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Store1, FloorInput::Prediction(p)) => {
            sql::bind_prediction(sqlx::query(sql::STORE_PREDICTION), p)
                .bind(name)
                .bind(fx.write_version.sort_key())
                .execute(&mut *conn)
                .await
                .map_err(e)?;
        }
        (Op::Store100, FloorInput::Batch(rows)) => {
            let n = rows.len();
            let names = vec![name; n];
            let keys = vec![fx.write_version.sort_key(); n];
            sql::bind_prediction_arrays(sqlx::query(sql::STORE_PREDICTIONS), rows)
                .bind(&names)
                .bind(&keys)
                .bind(n as i64)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
        }
        (Op::Recent100, _) => {
            let bounds = window(100);
            let rows = sqlx::query(sql::RECENT)
                .bind(name)
                .bind(&key)
                .bind(bounds.start)
                .bind(bounds.end)
                .bind(bounds.sql_limit())
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?;
            let rows: Vec<PredictionRow> = rows
                .iter()
                .map(|r| sql::read_prediction(r, 0))
                .collect::<std::result::Result<_, _>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Accuracy1000, _) => {
            let bounds = window(1000);
            let row: (Option<i64>, i64, i64) = sqlx::query_as(sql::ACCURACY)
                .bind(name)
                .bind(&key)
                .bind(bounds.start)
                .bind(bounds.end)
                .bind(bounds.sql_limit())
                .fetch_one(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(row);
        }
        (Op::BaselineWrite, _) => {
            // As the store: a transaction holding the event counter's lock, the baseline and
            // its event.
            let b = BaselineRow::encode(&fx.baseline);
            sqlx::Executor::execute(&mut *conn, "BEGIN")
                .await
                .map_err(e)?;
            let last: i64 = sqlx::query_scalar(sql::LOCK_EVENTS)
                .fetch_one(&mut *conn)
                .await
                .map_err(e)?;
            sql::bind_baseline(sqlx::query(sql::STORE_BASELINE), &b)
                .bind(name)
                .bind(&key)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
            let event = EventRow::encode(
                &event_of(fx, mlstore_core::EventKind::BaselineWritten),
                Some(last + 1),
            );
            sql::bind_event_arrays(sqlx::query(sql::INSERT_EVENTS), &[event])
                .bind(last + 1)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
            sqlx::Executor::execute(&mut *conn, "COMMIT")
                .await
                .map_err(e)?;
        }
        (Op::BaselineRead, _) => {
            let row = sqlx::query(sql::BASELINE)
                .bind(name)
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            let row = row
                .map(|r| sql::read_baseline(&r, 0))
                .transpose()
                .map_err(e)?;
            std::hint::black_box(row);
        }
        (Op::AliasAt, _) => {
            let last: Option<(String, Option<String>)> = sqlx::query_as(sql::ALIAS_AT)
                .bind(name)
                .bind(fx.moved_alias.as_str())
                .bind(fx.moved_at)
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(last);
        }
        (Op::History100, _) => {
            let sql = sql::events_query(&fx.history_query());
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(name)
                .bind(100i64)
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?;
            let rows = rows
                .iter()
                .map(|r| sql::read_event(r, 0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::AliasResolve, _) => {
            let v: Option<String> = sqlx::query_scalar(sql::RESOLVE_ALIAS)
                .bind(name)
                .bind(fx.alias.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(v);
        }
        (Op::Metrics10000, _) => {
            let bounds = window(10_000);
            let rows = sqlx::query(sql::WINDOW_ROWS)
                .bind(name)
                .bind(fx.monitor_version.sort_key())
                .bind(bounds.start)
                .bind(bounds.end)
                .bind(bounds.sql_limit())
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Drift10000, _) => {
            let bounds = window(10_000);
            let values: Vec<f64> = sqlx::query_scalar(sql::WINDOW_CONFIDENCES)
                .bind(name)
                .bind(fx.monitor_version.sort_key())
                .bind(bounds.start)
                .bind(bounds.end)
                .bind(bounds.sql_limit())
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?;
            let baseline = sqlx::query(sql::BASELINE)
                .bind(name)
                .bind(fx.monitor_version.sort_key())
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box((values, baseline));
        }
        (Op::Series720, _) => {
            let (since, until) = fx.series_range;
            let rows = sqlx::query(sql::HOUR_SUMS)
                .bind(name)
                .bind(fx.series_version.sort_key())
                .bind(since)
                .bind(until)
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::RecordActual, FloorInput::Label(id, c)) => {
            sqlx::query(sql::RECORD_ACTUAL)
                .bind(id)
                .bind(&c.actual)
                .bind(&c.match_key)
                .bind(&c.actual_key)
                .bind(c.actual_number)
                .bind(c.labelled_at)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
        }
        _ => {
            return Err(Error::invalid(
                "input",
                format!("no floor input for {}", op.name()),
            ))
        }
    }
    Ok(start.elapsed())
}

impl RedisFloor {
    /// Connects and stores a value the size of a cached model version under a key of its own.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect(
        url: &str,
        fixture: &Fixture,
        store: &dyn mlstore_core::Store,
    ) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| Error::configuration(e.to_string()))?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| Error::unavailable("redis floor", e.to_string()))?;
        let value = store.get(&fixture.model, &fixture.version).await?;
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        let key = format!("mlstore-bench-floor-{}", uuid::Uuid::new_v4().simple());
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(bytes)
            .arg("EX")
            .arg(3600)
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::unavailable("redis floor", e.to_string()))?;
        Ok(Self { conn, key })
    }

    /// One `GET`; returns its time.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn run(&mut self) -> Result<Duration> {
        let start = Instant::now();
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut self.conn)
            .await
            .map_err(|e| Error::unavailable("redis floor", e.to_string()))?;
        std::hint::black_box(value);
        Ok(start.elapsed())
    }
}
