//! The conformance suite through the facade: the in-memory reference store, and the store that
//! `mlstore::connect` returns for each backend URL (an `Arc<dyn Store>`, so the forwarding impls
//! are checked too).
//! Each backend crate runs the suite on its own constructors as well.

mod memory {
    mlstore_core::conformance_tests!(mlstore_core::MemoryStore::new());
}

#[cfg(feature = "sqlite")]
mod connect_sqlite_memory {
    mlstore_core::conformance_tests!(mlstore::connect("sqlite::memory:")
        .await
        .expect("connect to sqlite::memory:"));
}

#[cfg(feature = "postgres")]
mod connect_postgres {
    mlstore_core::conformance_tests!(mlstore::connect(
        &mlstore_testkit::fresh_postgres_url().await
    )
    .await
    .expect("connect to a fresh PostgreSQL database"));
}

#[cfg(all(feature = "cache", feature = "sqlite"))]
mod connect_sqlite_moka {
    mlstore_core::conformance_tests!(mlstore::connect_with_cache("sqlite::memory:", "moka")
        .await
        .expect("connect to sqlite::memory: behind moka"));
}
