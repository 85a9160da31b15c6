//! The floor: the same SQL the store runs, on a held driver connection with the parameters
//! already encoded, and a raw Redis `GET`. What a store adds on top (validation, encoding,
//! decoding, the pool, the cache) is the ratio to this.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mlstore_core::codec::{BaselineRow, MetadataRow, PredictionRow};
use mlstore_core::json::canonical;
use mlstore_core::time::to_micros;
use mlstore_core::{Error, Result};
use rusqlite::{params, OptionalExtension};
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
    Metadata(Box<MetadataRow>, Vec<u8>),
    /// One prediction's columns.
    Prediction(Box<PredictionRow>),
    /// A batch's columns.
    Batch(Vec<PredictionRow>),
    /// A label.
    Label(uuid::Uuid, String),
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
        Input::Metadata(m) => {
            FloorInput::Metadata(Box::new(MetadataRow::encode(m)), m.version().sort_key())
        }
        Input::Prediction(p) => FloorInput::Prediction(Box::new(PredictionRow::encode(p))),
        Input::Batch(batch) => FloorInput::Batch(batch.iter().map(PredictionRow::encode).collect()),
        Input::Label(l) => FloorInput::Label(l.id(), canonical(l.actual())),
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

/// A prediction row of `RECENT` as the SQLite driver returns it.
type SqlitePredictionColumns = (Vec<u8>, String, Option<String>, f64, String, i64);
/// A prediction row of `RECENT` as sqlx returns it.
type PgPredictionColumns = (
    uuid::Uuid,
    String,
    Option<String>,
    f64,
    String,
    DateTime<Utc>,
);

type MetadataColumns = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

fn sqlite_metadata(r: &rusqlite::Row<'_>) -> rusqlite::Result<MetadataColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
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
        (Op::Register, FloorInput::Metadata(m, k)) => {
            conn.prepare_cached(sql::REGISTER)
                .map_err(e)?
                .execute(params![
                    m.name,
                    m.version,
                    k,
                    m.model_type,
                    m.configuration,
                    m.metrics,
                    m.tags,
                    m.description,
                    m.environment,
                    to_micros(&m.created_at),
                    m.deployed_at.as_ref().map(to_micros)
                ])
                .map_err(e)?;
        }
        (Op::Get, _) => {
            conn.prepare_cached(sql::GET)
                .map_err(e)?
                .query_row(params![name, key], sqlite_metadata)
                .optional()
                .map_err(e)?;
        }
        (Op::Latest, _) => {
            conn.prepare_cached(sql::LATEST)
                .map_err(e)?
                .query_row(params![name], sqlite_metadata)
                .optional()
                .map_err(e)?;
        }
        (Op::Versions10, _) => {
            let mut stmt = conn.prepare_cached(sql::VERSIONS).map_err(e)?;
            let rows: Vec<MetadataColumns> = stmt
                .query_map(params![name], sqlite_metadata)
                .map_err(e)?
                .collect::<rusqlite::Result<_>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Store1, FloorInput::Prediction(p)) => {
            conn.prepare_cached(sql::STORE_PREDICTION)
                .map_err(e)?
                .execute(params![
                    &p.id.as_bytes()[..],
                    name,
                    fx.write_version.sort_key(),
                    p.prediction,
                    p.actual,
                    p.correct,
                    p.confidence,
                    p.features,
                    to_micros(&p.timestamp)
                ])
                .map_err(e)?;
        }
        (Op::Store100, FloorInput::Batch(rows)) => {
            conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
            let model_id: i64 = conn
                .prepare_cached(sql::MODEL_ID)
                .map_err(e)?
                .query_row(params![name, fx.write_version.sort_key()], |r| r.get(0))
                .map_err(e)?;
            {
                let mut insert = conn.prepare_cached(sql::INSERT_PREDICTION).map_err(e)?;
                for p in rows {
                    insert
                        .execute(params![
                            &p.id.as_bytes()[..],
                            model_id,
                            p.prediction,
                            p.actual,
                            p.correct,
                            p.confidence,
                            p.features,
                            to_micros(&p.timestamp)
                        ])
                        .map_err(e)?;
                }
            }
            conn.execute_batch("COMMIT").map_err(e)?;
        }
        (Op::Recent100, _) => {
            let mut stmt = conn.prepare_cached(sql::RECENT).map_err(e)?;
            let rows: Vec<SqlitePredictionColumns> = stmt
                .query_map(params![name, key, 100], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .map_err(e)?
                .collect::<rusqlite::Result<_>>()
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Accuracy1000, _) => {
            let counts: (i64, i64) = conn
                .prepare_cached(sql::ACCURACY)
                .map_err(e)?
                .query_row(params![name, key, 1000], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(e)?;
            std::hint::black_box(counts);
        }
        (Op::BaselineWrite, _) => {
            let b = BaselineRow::encode(&fx.baseline);
            conn.prepare_cached(sql::STORE_BASELINE)
                .map_err(e)?
                .execute(params![
                    name,
                    key,
                    b.mean,
                    b.std_dev,
                    b.sample_count,
                    to_micros(&b.updated_at)
                ])
                .map_err(e)?;
        }
        (Op::BaselineRead, _) => {
            let row: Option<(f64, f64, i64, i64)> = conn
                .prepare_cached(sql::BASELINE)
                .map_err(e)?
                .query_row(params![name, key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
                .map_err(e)?;
            std::hint::black_box(row);
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
        (Op::RecordActual, FloorInput::Label(id, text)) => {
            conn.prepare_cached(sql::RECORD_ACTUAL)
                .map_err(e)?
                .execute(params![&id.as_bytes()[..], text])
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

type PgMetadataColumns = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

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
    match (op, input) {
        (Op::Register, FloorInput::Metadata(m, k)) => {
            sqlx::query(sql::REGISTER)
                .bind(&m.name)
                .bind(&m.version)
                .bind(k)
                .bind(&m.model_type)
                .bind(&m.configuration)
                .bind(&m.metrics)
                .bind(&m.tags)
                .bind(&m.description)
                .bind(&m.environment)
                .bind(m.created_at)
                .bind(m.deployed_at)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
        }
        (Op::Get, _) => {
            let row: Option<PgMetadataColumns> = sqlx::query_as(sql::GET)
                .bind(name)
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(row);
        }
        (Op::Latest, _) => {
            let row: Option<PgMetadataColumns> = sqlx::query_as(sql::LATEST)
                .bind(name)
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(row);
        }
        (Op::Versions10, _) => {
            let rows: Vec<PgMetadataColumns> = sqlx::query_as(sql::VERSIONS)
                .bind(name)
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Store1, FloorInput::Prediction(p)) => {
            sqlx::query(sql::STORE_PREDICTION)
                .bind(p.id)
                .bind(name)
                .bind(fx.write_version.sort_key())
                .bind(&p.prediction)
                .bind(&p.actual)
                .bind(p.correct)
                .bind(p.confidence)
                .bind(&p.features)
                .bind(p.timestamp)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
        }
        (Op::Store100, FloorInput::Batch(rows)) => {
            let n = rows.len();
            let ids: Vec<uuid::Uuid> = rows.iter().map(|p| p.id).collect();
            let names = vec![name; n];
            let keys = vec![fx.write_version.sort_key(); n];
            let values: Vec<&str> = rows.iter().map(|p| p.prediction.as_str()).collect();
            let actuals: Vec<Option<&str>> = rows.iter().map(|p| p.actual.as_deref()).collect();
            let corrects: Vec<Option<bool>> = rows.iter().map(|p| p.correct).collect();
            let confidences: Vec<f64> = rows.iter().map(|p| p.confidence).collect();
            let features: Vec<&str> = rows.iter().map(|p| p.features.as_str()).collect();
            let ts: Vec<DateTime<Utc>> = rows.iter().map(|p| p.timestamp).collect();
            sqlx::query(sql::STORE_PREDICTIONS)
                .bind(&ids)
                .bind(&names)
                .bind(&keys)
                .bind(&values)
                .bind(&actuals)
                .bind(&corrects)
                .bind(&confidences)
                .bind(&features)
                .bind(&ts)
                .bind(n as i64)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
        }
        (Op::Recent100, _) => {
            let rows: Vec<PgPredictionColumns> = sqlx::query_as(sql::RECENT)
                .bind(name)
                .bind(&key)
                .bind(100i64)
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(rows);
        }
        (Op::Accuracy1000, _) => {
            let row: (Option<i64>, i64, i64) = sqlx::query_as(sql::ACCURACY)
                .bind(name)
                .bind(&key)
                .bind(1000i64)
                .fetch_one(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(row);
        }
        (Op::BaselineWrite, _) => {
            let b = BaselineRow::encode(&fx.baseline);
            sqlx::query(sql::STORE_BASELINE)
                .bind(name)
                .bind(&key)
                .bind(b.mean)
                .bind(b.std_dev)
                .bind(b.sample_count)
                .bind(b.updated_at)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
        }
        (Op::BaselineRead, _) => {
            let row: Option<(f64, f64, i64, DateTime<Utc>)> = sqlx::query_as(sql::BASELINE)
                .bind(name)
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(e)?;
            std::hint::black_box(row);
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
        (Op::RecordActual, FloorInput::Label(id, text)) => {
            sqlx::query(sql::RECORD_ACTUAL)
                .bind(id)
                .bind(text)
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
