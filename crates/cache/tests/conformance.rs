//! The whole conformance suite through the cache, for every backend x {moka, redis, moka+redis}.
//! Each store has a database (or file) of its own, and so, by default, a Redis namespace of its
//! own (bound to the database's identity): the suites run in parallel on the test process's
//! throwaway Redis and PostgreSQL.

use mlstore_cache::{CacheConfig, CacheMode};

fn config(mode: &str) -> CacheConfig {
    let redis = || mlstore_testkit::redis().url().to_string();
    let mode = match mode {
        "moka" => CacheMode::Moka,
        "redis" => CacheMode::Redis(redis()),
        _ => CacheMode::MokaRedis(redis()),
    };
    CacheConfig::new(mode)
}

macro_rules! matrix {
    ($($module:ident: $backend:expr, $mode:literal;)*) => {$(
        mod $module {
            mlstore_core::conformance_tests!(mlstore_cache::CachedStore::new(
                $backend,
                super::config($mode)
            )
            .expect("cache"));
        }
    )*};
}

matrix! {
    sqlite_moka: mlstore_sqlite::SqliteStore::open_temporary().await.expect("sqlite"), "moka";
    sqlite_redis: mlstore_sqlite::SqliteStore::open_temporary().await.expect("sqlite"), "redis";
    sqlite_moka_redis: mlstore_sqlite::SqliteStore::open_temporary().await.expect("sqlite"), "moka+redis";
    postgres_moka: mlstore_postgres::PostgresStore::connect_url(&mlstore_testkit::fresh_postgres_url().await).await.expect("postgres"), "moka";
    postgres_redis: mlstore_postgres::PostgresStore::connect_url(&mlstore_testkit::fresh_postgres_url().await).await.expect("postgres"), "redis";
    postgres_moka_redis: mlstore_postgres::PostgresStore::connect_url(&mlstore_testkit::fresh_postgres_url().await).await.expect("postgres"), "moka+redis";
}
