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

/// The mutex entry mlstore installs (see `spinning_mutexes`) keeps SQLite's mutexes exclusive
/// and recursive ones recursive: four threads add to a plain counter under one SQLite mutex,
/// and a recursive mutex entered twice by one thread stays closed to another until left twice.
#[tokio::test]
async fn sqlite_mutexes_stay_exclusive_with_the_spinning_entry() {
    use rusqlite::ffi;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let _store = SqliteStore::open(SqliteConfig::file(dir.path().join("m.db")))
        .await
        .unwrap();
    assert!(
        mlstore_sqlite::spinning_mutexes(),
        "the first store of the process installs the spinning entry"
    );

    struct Shared(*mut ffi::sqlite3_mutex);
    // SAFETY: SQLite mutexes are made to be used from any thread.
    unsafe impl Send for Shared {}
    unsafe impl Sync for Shared {}
    impl Shared {
        fn ptr(&self) -> *mut ffi::sqlite3_mutex {
            self.0
        }
    }

    // SAFETY: a fast mutex from SQLite, entered and left in pairs, freed after the threads.
    let fast = Shared(unsafe { ffi::sqlite3_mutex_alloc(ffi::SQLITE_MUTEX_FAST) });
    assert!(!fast.ptr().is_null());
    // Read-then-write under the mutex: lost updates would show if it let two threads in.
    let counter = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50_000 {
                    unsafe { ffi::sqlite3_mutex_enter(fast.ptr()) };
                    let seen = counter.load(Ordering::Relaxed);
                    std::hint::spin_loop();
                    counter.store(seen + 1, Ordering::Relaxed);
                    unsafe { ffi::sqlite3_mutex_leave(fast.ptr()) };
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), 200_000);
    unsafe { ffi::sqlite3_mutex_free(fast.ptr()) };

    // SAFETY: as above, for a recursive mutex.
    let recursive = Shared(unsafe { ffi::sqlite3_mutex_alloc(ffi::SQLITE_MUTEX_RECURSIVE) });
    assert!(!recursive.ptr().is_null());
    unsafe {
        ffi::sqlite3_mutex_enter(recursive.ptr());
        ffi::sqlite3_mutex_enter(recursive.ptr());
    }
    let other_try = |m: &Shared| {
        std::thread::scope(|s| {
            s.spawn(|| {
                let rc = unsafe { ffi::sqlite3_mutex_try(m.ptr()) };
                if rc == ffi::SQLITE_OK {
                    unsafe { ffi::sqlite3_mutex_leave(m.ptr()) };
                }
                rc
            })
            .join()
            .unwrap()
        })
    };
    assert_eq!(other_try(&recursive), ffi::SQLITE_BUSY, "held twice");
    unsafe { ffi::sqlite3_mutex_leave(recursive.ptr()) };
    assert_eq!(other_try(&recursive), ffi::SQLITE_BUSY, "still held once");
    unsafe { ffi::sqlite3_mutex_leave(recursive.ptr()) };
    assert_eq!(other_try(&recursive), ffi::SQLITE_OK, "free");
    unsafe { ffi::sqlite3_mutex_free(recursive.ptr()) };
}

/// The workspace builds SQLite without SQLITE_ENABLE_MEMORY_MANAGEMENT (`.cargo/config.toml`):
/// with it, every connection's page cache shares one global lock, taken on each page read.
#[test]
fn sqlite_page_caches_share_no_lock() {
    // SAFETY: a NUL-terminated option name; the call only reads SQLite's compile options.
    let used =
        unsafe { rusqlite::ffi::sqlite3_compileoption_used(c"ENABLE_MEMORY_MANAGEMENT".as_ptr()) };
    assert_eq!(
        used, 0,
        "SQLite was built with SQLITE_ENABLE_MEMORY_MANAGEMENT: is LIBSQLITE3_FLAGS from \
         .cargo/config.toml set?"
    );
}
