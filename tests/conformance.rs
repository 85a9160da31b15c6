//! The conformance suite over every store this build has: the in-memory reference, SQLite on a
//! temporary file, SQLite in memory.

mod memory {
    mlstore_core::conformance_tests!(mlstore_core::MemoryStore::new());
}

#[cfg(feature = "sqlite")]
mod sqlite_file {
    mlstore_core::conformance_tests!(mlstore_sqlite::SqliteStore::open_temporary()
        .await
        .expect("open a temporary SQLite file"));
}

#[cfg(feature = "sqlite")]
mod sqlite_memory {
    mlstore_core::conformance_tests!(mlstore_sqlite::SqliteStore::open_in_memory()
        .await
        .expect("open an in-memory SQLite database"));
}
