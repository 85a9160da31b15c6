//! The whole conformance suite on PostgreSQL: each store gets a database of its own on the test
//! process's throwaway server (or `MLSTORE_TEST_POSTGRES_URL`).

mlstore_core::conformance_tests!(mlstore_postgres::PostgresStore::connect_url(
    &mlstore_testkit::fresh_postgres_url().await
)
.await
.expect("connect to a fresh PostgreSQL database"));
