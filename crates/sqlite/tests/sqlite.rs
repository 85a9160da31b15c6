//! SQLite-specific behaviour: persistence, migrations on open, several handles on one file, and
//! what happens while another connection holds the write lock.

use std::sync::Arc;
use std::time::Duration;

use mlstore_core::conformance::{metadata, prediction, unique_name, version};
use mlstore_core::{ErrorKind, ModelRegistry, PredictionStore, Window};
use mlstore_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use serde_json::json;

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ml.db");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_reopening() {
    let (_dir, path) = temp_db();
    let name = unique_name("persist");
    {
        let store =
            SqliteStore::open(SqliteConfig::file(&path).with_synchronous(Synchronous::Full))
                .await
                .unwrap();
        store.register(&metadata(&name, "1.0.0")).await.unwrap();
        store
            .store_prediction(&prediction(&name, "1.0.0", json!(1), 0))
            .await
            .unwrap();
    }
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    assert_eq!(
        store.schema_version(),
        mlstore_sqlite::latest_schema_version()
    );
    assert_eq!(
        store.get(&name, &version("1.0.0")).await.unwrap(),
        Some(metadata(&name, "1.0.0"))
    );
    let recent = store
        .recent_predictions(&name, &version("1.0.0"), Window::last(10))
        .await
        .unwrap();
    assert_eq!(recent.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_on_open() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(SqliteConfig::file(&path)).await.unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "INSERT INTO mlstore_migrations VALUES (?1, 'future', 0, 0)",
        [mlstore_sqlite::latest_schema_version() + 1],
    )
    .unwrap();
    drop(raw);
    let err = SqliteStore::open(SqliteConfig::file(&path))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("newer than this build"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unopenable_path_is_a_configuration_error() {
    let (dir, _) = temp_db();
    let path = dir.path().join("no-such-dir").join("ml.db");
    let err = SqliteStore::open(SqliteConfig::file(&path))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

/// Two stores on one file behave like two processes: their writers meet on SQLite's lock, and the
/// busy timeout makes them wait instead of failing with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_on_one_file_write_concurrently_without_errors() {
    let (_dir, path) = temp_db();
    let a = Arc::new(SqliteStore::open(SqliteConfig::file(&path)).await.unwrap());
    let b = Arc::new(SqliteStore::open(SqliteConfig::file(&path)).await.unwrap());
    let name = unique_name("two-handles");
    a.register(&metadata(&name, "1.0.0")).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..8i64 {
        let store = if writer % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let name = name.clone();
        tasks.spawn(async move {
            for i in 0..50 {
                let p = prediction(&name, "1.0.0", json!(writer), writer * 1000 + i);
                store.store_prediction(&p).await.unwrap();
            }
            let batch: Vec<_> = (50..100)
                .map(|i| prediction(&name, "1.0.0", json!(writer), writer * 1000 + i))
                .collect();
            store.store_predictions(&batch).await.unwrap();
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("no writer failed");
    }
    for store in [&a, &b] {
        let all = store
            .recent_predictions(&name, &version("1.0.0"), Window::last(10_000))
            .await
            .unwrap();
        assert_eq!(all.len(), 800);
    }
}

/// While another connection holds the write lock: reads go on (WAL) and see the last commit;
/// a write waits up to the busy timeout, then returns Unavailable (retryable) and writes nothing;
/// once the lock is released the same write succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_write_lock_blocks_writes_not_reads() {
    let (_dir, path) = temp_db();
    let store =
        SqliteStore::open(SqliteConfig::file(&path).with_busy_timeout(Duration::from_millis(200)))
            .await
            .unwrap();
    let name = unique_name("locked");
    store.register(&metadata(&name, "1.0.0")).await.unwrap();

    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("BEGIN IMMEDIATE; DELETE FROM ml_models;")
        .unwrap();

    let read = tokio::time::timeout(Duration::from_secs(10), store.get(&name, &version("1.0.0")))
        .await
        .expect("a read must not wait for the writer")
        .unwrap();
    assert!(read.is_some(), "the uncommitted delete is not visible");

    let err = store
        .register(&metadata(&name, "2.0.0"))
        .await
        .expect_err("the write lock is held");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());

    raw.execute_batch("ROLLBACK").unwrap();
    store.register(&metadata(&name, "2.0.0")).await.unwrap();
    assert_eq!(store.versions(&name).await.unwrap().len(), 2);
}

/// The store runs SQLite's checkpoints itself (off the async scheduler): the WAL is copied back
/// into the database and reused instead of growing with every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_as_writes_accumulate() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    let name = unique_name("wal");
    store.register(&metadata(&name, "1.0.0")).await.unwrap();
    for batch in 0..100i64 {
        // Random (v4) ids land on scattered index pages: about a page of WAL per row.
        let predictions: Vec<_> = (0..100)
            .map(|i| {
                prediction(&name, "1.0.0", json!(i), batch * 100 + i)
                    .to_builder()
                    .id(uuid::Uuid::new_v4())
                    .build()
                    .unwrap()
            })
            .collect();
        store.store_predictions(&predictions).await.unwrap();
    }
    for i in 0..500 {
        store
            .store_prediction(&prediction(&name, "1.0.0", json!(i), 1_000_000 + i))
            .await
            .unwrap();
    }
    let wal = std::fs::metadata(path.with_extension("db-wal"))
        .unwrap()
        .len();
    // 10,000 scattered rows would need tens of MB of WAL without checkpoints; with them the WAL
    // stays near the 1000-page threshold (4 MiB) plus one batch.
    assert!(wal < 12 * 1024 * 1024, "WAL grew to {wal} bytes");
    assert_eq!(
        store
            .accuracy(&name, &version("1.0.0"), Window::last(10))
            .await
            .unwrap()
            .total(),
        0
    );
}

/// Opens the database named by `MLSTORE_CHILD_OPEN` twice at once and exits; run by
/// [`concurrent_opens_of_a_new_file_never_fail`] as a separate process.
#[test]
#[ignore = "a child process of concurrent_opens_of_a_new_file_never_fail"]
fn child_opens_a_database() {
    let path = std::env::var("MLSTORE_CHILD_OPEN").expect("run by the parent test");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let opens = (0..2).map(|_| SqliteStore::open(SqliteConfig::file(&path)));
        for opened in futures_join_all(opens).await {
            opened.expect("a concurrent open succeeds");
        }
    });
}

async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// Several handles and processes opening (and so migrating) the same new file at once all
/// succeed: opening waits for a concurrent migration instead of failing with "database is
/// locked". 8 handles in this process and 4 processes of 2 handles each, on 20 fresh files.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_of_a_new_file_never_fail() {
    let exe = std::env::current_exe().unwrap();
    for round in 0..20 {
        let (_dir, path) = temp_db();
        let children: Vec<std::process::Child> = (0..4)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args(["--exact", "child_opens_a_database", "--ignored", "--quiet"])
                    .env("MLSTORE_CHILD_OPEN", &path)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let opens = (0..8).map(|_| SqliteStore::open(SqliteConfig::file(path.clone())));
        for (i, opened) in futures_join_all(opens).await.into_iter().enumerate() {
            let store = opened.unwrap_or_else(|e| panic!("round {round}, handle {i}: {e}"));
            assert_eq!(
                store.schema_version(),
                mlstore_sqlite::latest_schema_version()
            );
        }
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "round {round}: a child process failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// A database written by the schema before monitoring (version 2), with a model, labelled
/// predictions and a baseline, opens migrated: the baseline reads back (without a histogram),
/// the old predictions are in the hourly sums, and metrics work over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_written_before_monitoring_reads_back_after_the_migration() {
    use mlstore_core::{MetricsOptions, PredictionStoreExt, SeriesQuery};
    let (_dir, path) = temp_db();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE mlstore_migrations (version INTEGER PRIMARY KEY, description TEXT NOT \
             NULL, checksum INTEGER NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        for m in &mlstore_sqlite::MIGRATIONS[..2] {
            conn.execute_batch(m.sql).unwrap();
            conn.execute(
                "INSERT INTO mlstore_migrations VALUES (?1, ?2, ?3, 0)",
                rusqlite::params![m.version, m.description, m.checksum()],
            )
            .unwrap();
        }
        let name = "old";
        let key = version("1.0.0").sort_key();
        conn.execute(
            "INSERT INTO ml_models (name, version, version_key, model_type, configuration, \
             metrics, tags, created_at) VALUES (?1, '1.0.0', ?2, 't', '{}', '{}', '{}', 0)",
            rusqlite::params![name, key],
        )
        .unwrap();
        for i in 0..4i64 {
            let id = uuid::Uuid::from_u128(i as u128 + 1);
            conn.execute(
                "INSERT INTO ml_predictions (id, model_id, prediction, actual, correct, \
                 confidence, features, ts) VALUES (?1, 1, '\"a\"', '\"a\"', ?2, 0.5, '{}', ?3)",
                rusqlite::params![&id.as_bytes()[..], i % 2 == 0, 1_800_000_000_000_000i64 + i],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO ml_confidence_baselines VALUES (1, 0.5, 0.1, 4, 0)",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    assert_eq!(
        store.schema_version(),
        mlstore_sqlite::latest_schema_version()
    );
    let name = mlstore_core::ModelName::new("old").unwrap();
    let v = version("1.0.0");
    let b = store
        .baseline(&name, &v)
        .await
        .unwrap()
        .expect("the old baseline");
    assert_eq!((b.mean(), b.sample_count(), b.histogram()), (0.5, 4, None));
    let at = mlstore_core::time::from_micros(1_800_000_000_000_000).unwrap();
    let q = SeriesQuery::new(
        at,
        at + chrono::Duration::hours(1),
        mlstore_core::Bucket::Hour,
    );
    let sums = store.bucket_sums(&name, &v, &q).await.unwrap();
    assert_eq!(
        (sums[0].predictions, sums[0].labelled, sums[0].correct),
        (4, 4, 2)
    );
    let m = store
        .metrics(&name, &v, MetricsOptions::new(Window::all()))
        .await
        .unwrap();
    assert_eq!((m.accuracy, m.label_lag), (Some(0.5), None));
}

/// A change and its event are one transaction: when the event cannot be written (here a
/// trigger refuses it, after the change itself succeeded), the change is rolled back too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_its_event_cannot_exist() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    let name = unique_name("atomic-events");
    store.register(&metadata(&name, "1.0.0")).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse_events BEFORE INSERT ON ml_events \
         BEGIN SELECT RAISE(ABORT, 'events refused'); END",
    )
    .unwrap();
    let prod = mlstore_core::Alias::new("production").unwrap();
    assert!(store.register(&metadata(&name, "2.0.0")).await.is_err());
    assert!(store
        .set_alias(&name, &prod, &version("1.0.0"))
        .await
        .is_err());
    assert!(store.delete(&name, &version("1.0.0")).await.is_err());
    assert_eq!(store.get(&name, &version("2.0.0")).await.unwrap(), None);
    assert_eq!(store.resolve_alias(&name, &prod).await.unwrap(), None);
    assert!(store.get(&name, &version("1.0.0")).await.unwrap().is_some());
    conn.execute_batch("DROP TRIGGER refuse_events").unwrap();
    store
        .set_alias(&name, &prod, &version("1.0.0"))
        .await
        .unwrap();
    let log = store
        .events(&mlstore_core::EventQuery::all().model(name.clone()))
        .await
        .unwrap();
    assert_eq!(
        log.events.len(),
        2,
        "the registration and the alias, nothing else"
    );
}
