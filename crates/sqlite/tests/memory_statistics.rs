//! SQLite's global memory statistics are off in a process that opens SQLite through mlstore
//! first: they take a global mutex on every allocation and serialize reads across threads.
//! (Its own test binary: a process whose first SQLite connection was opened elsewhere keeps
//! them on.)

use mlstore_core::{ModelMetadata, ModelName, ModelRegistry, Version};
use mlstore_sqlite::{SqliteConfig, SqliteStore};

#[tokio::test]
async fn sqlite_keeps_no_memory_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteConfig::file(dir.path().join("m.db")))
        .await
        .unwrap();
    let meta = ModelMetadata::builder(
        ModelName::new("fraud").unwrap(),
        Version::new("1.0.0").unwrap(),
        "xgboost",
    )
    .build()
    .unwrap();
    store.register(&meta).await.unwrap();
    let (mut current, mut highest) = (0i64, 0i64);
    // SAFETY: valid pointers to two i64; the status call only reads counters.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_status64(
            rusqlite::ffi::SQLITE_STATUS_MEMORY_USED,
            &mut current,
            &mut highest,
            0,
        )
    };
    assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
    // With statistics on, an open connection and a write use hundreds of KiB.
    assert_eq!((current, highest), (0, 0), "memory statistics are kept");
}
