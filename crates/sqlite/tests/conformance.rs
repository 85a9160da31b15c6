//! The whole conformance suite on SQLite: a temporary file (WAL, reader pool) and in memory.

mod file {
    mlstore_core::conformance_tests!(mlstore_sqlite::SqliteStore::open_temporary()
        .await
        .expect("open a temporary SQLite file"));
}

mod memory {
    mlstore_core::conformance_tests!(mlstore_sqlite::SqliteStore::open_in_memory()
        .await
        .expect("open an in-memory SQLite database"));
}
