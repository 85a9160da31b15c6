//! Coherence across handles and deployments: the Redis key space is bound to the database's
//! identity (two databases behind one Redis never see each other's values; two spellings of one
//! database share them), and a write on one handle reaches another handle that reads
//! continuously within a bounded window, never staying stale.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlstore_cache::{CacheConfig, CacheMode, CachedStore};
use mlstore_core::conformance::{metadata, unique_name, version};
use mlstore_core::{Alias, ModelRegistry, Store};
use mlstore_postgres::PostgresStore;
use mlstore_sqlite::{SqliteConfig, SqliteStore};

fn mode(name: &str) -> CacheMode {
    let url = mlstore_testkit::redis().url().to_string();
    match name {
        "redis" => CacheMode::Redis(url),
        _ => CacheMode::MokaRedis(url),
    }
}

/// Two databases, one Redis, the default namespace: the same model name and version with
/// different metadata; each handle reads its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_databases_behind_one_redis_never_share_entries() {
    for cache in ["redis", "moka+redis"] {
        let one = SqliteStore::open_temporary().await.unwrap();
        let two = PostgresStore::connect_url(&mlstore_testkit::fresh_postgres_url().await)
            .await
            .unwrap();
        let name = unique_name("bleed");
        let first = metadata(&name, "1.0.0");
        let second = first.to_builder().model_type("other").build().unwrap();
        one.register(&first).await.unwrap();
        two.register(&second).await.unwrap();
        let one = CachedStore::new(one, CacheConfig::new(mode(cache))).unwrap();
        let two = CachedStore::new(two, CacheConfig::new(mode(cache))).unwrap();
        assert_ne!(one.namespace(), two.namespace());
        for _ in 0..3 {
            // Reads fill Redis in the background; repeat so that the second round is served
            // from the cache.
            assert_eq!(
                one.get(&name, &version("1.0.0")).await.unwrap(),
                Some(first.clone())
            );
            assert_eq!(
                two.get(&name, &version("1.0.0")).await.unwrap(),
                Some(second.clone())
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            one.stats().redis_hits + one.stats().moka_hits > 0,
            "{cache}: cached at all"
        );
    }
}

/// Two handles on one SQLite file, opened through two spellings of its path, share one
/// namespace; an explicit namespace overrides the database's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_spellings_of_one_database_share_entries() {
    let dir = tempfile_dir();
    let path = dir.join("shared.db");
    let relative = dir.join(".").join("shared.db");
    let a = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    let b = SqliteStore::open(SqliteConfig::file(&relative))
        .await
        .unwrap();
    let a = CachedStore::new(a, CacheConfig::new(mode("redis"))).unwrap();
    let b = CachedStore::new(b, CacheConfig::new(mode("redis"))).unwrap();
    assert_eq!(a.namespace(), b.namespace());
    let name = unique_name("spelling");
    a.register(&metadata(&name, "1.0.0")).await.unwrap();
    a.get(&name, &version("1.0.0")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        b.get(&name, &version("1.0.0")).await.unwrap();
        if b.stats().redis_hits > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "b never read a's entry");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = CachedStore::new(
        SqliteStore::open(SqliteConfig::file(&path)).await.unwrap(),
        CacheConfig::new(mode("redis"))
            .with_namespace("explicit-ns")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(c.namespace(), "explicit-ns");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mlstore-coherence-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// How long after a write on A the other handle B, reading continuously, first returns it.
struct StaleWindow {
    seen_after: Vec<Duration>,
    stuck: usize,
}

impl StaleWindow {
    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.seen_after.clone();
        sorted.sort();
        sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
    }
}

/// A moves an alias three times in quick succession, `bursts` times, while two tasks on B read
/// it in a loop; after each burst, B is polled until it returns A's last target (or 5 s pass:
/// "stuck").
async fn measure(a: Arc<dyn Store>, b: Arc<dyn Store>, bursts: usize) -> StaleWindow {
    let name = unique_name("stale");
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        a.register(&metadata(&name, v)).await.unwrap();
    }
    let alias = Alias::new("production").unwrap();
    a.set_alias(&name, &alias, &version("1.0.0")).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (b, name, alias, stop) = (Arc::clone(&b), name.clone(), alias.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                b.resolve_alias(&name, &alias).await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    let orders = [
        ["2.0.0", "3.0.0", "1.0.0"],
        ["3.0.0", "1.0.0", "2.0.0"],
        ["1.0.0", "2.0.0", "3.0.0"],
    ];
    let mut window = StaleWindow {
        seen_after: Vec::with_capacity(bursts),
        stuck: 0,
    };
    for burst in 0..bursts {
        let order = orders[burst % orders.len()];
        for v in order {
            a.set_alias(&name, &alias, &version(v)).await.unwrap();
        }
        let last = Some(version(order[2]));
        let written = Instant::now();
        loop {
            if b.resolve_alias(&name, &alias).await.unwrap() == last {
                window.seen_after.push(written.elapsed());
                break;
            }
            if written.elapsed() > Duration::from_secs(5) {
                window.stuck += 1;
                break;
            }
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    window
}

/// The stale window of `redis` and `moka+redis` on SQLite (two handles on one file) and on
/// PostgreSQL (two handles on one database), over `MLSTORE_STALE_BURSTS` bursts (default 1,000):
/// no burst may leave B stale (5 s without A's last write), and the window is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_reaches_a_continuously_reading_handle_within_a_bounded_window() {
    let bursts: usize = std::env::var("MLSTORE_STALE_BURSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile_dir();
    let pg_url = mlstore_testkit::fresh_postgres_url().await;
    for backend in ["sqlite", "postgres"] {
        for cache in ["redis", "moka+redis"] {
            let open = || async {
                let store: Arc<dyn Store> = match backend {
                    "sqlite" => Arc::new(
                        SqliteStore::open(SqliteConfig::file(dir.join("stale.db")))
                            .await
                            .unwrap(),
                    ),
                    _ => Arc::new(PostgresStore::connect_url(&pg_url).await.unwrap()),
                };
                Arc::new(CachedStore::new(store, CacheConfig::new(mode(cache))).unwrap())
                    as Arc<dyn Store>
            };
            let (a, b) = (open().await, open().await);
            let window = measure(a, b, bursts).await;
            let (p50, p99) = (window.quantile(0.5), window.quantile(0.99));
            let max = window.quantile(1.0);
            println!(
                "stale window {backend} + {cache}: {} bursts, p50 {p50:?}, p99 {p99:?}, max \
                 {max:?}, stuck {}",
                window.seen_after.len() + window.stuck,
                window.stuck
            );
            assert_eq!(
                window.stuck, 0,
                "{backend} + {cache}: a handle stayed stale"
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A cache over a PostgreSQL store with a read replica never learns a value from the replica:
/// with the replica's replay paused behind a write made by another handle, a plain read of the
/// store sees the replica's older state, while the cache's first read (which fills it) goes to
/// the primary and every later hit returns the new value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_never_fills_from_a_lagging_replica() {
    let (replica, replicated) = mlstore_testkit::fresh_database_with_own_replica().await;
    let writer = PostgresStore::connect_url(&replicated).await.unwrap();
    let name = unique_name("replica_fill");
    writer.register(&metadata(&name, "1.0.0")).await.unwrap();
    let plain = PostgresStore::connect_url(&replicated).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while plain.latest(&name).await.unwrap().is_none() || plain.replica_status()[0].1.reads == 0 {
        assert!(
            Instant::now() < deadline,
            "the replica never served: {:?}",
            plain.replica_status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for cache in ["moka", "redis", "moka+redis"] {
        let inner = PostgresStore::connect_url(&replicated).await.unwrap();
        let mode = match cache {
            "moka" => CacheMode::Moka,
            other => mode(other),
        };
        // A namespace of its own: the writer is not behind this cache, so nothing it writes
        // would reach an entry an earlier round left in Redis.
        let config = CacheConfig::new(mode)
            .with_namespace(format!(
                "replica_fill_{}_{}",
                cache.len(),
                uuid::Uuid::new_v4().simple()
            ))
            .unwrap();
        let cached = CachedStore::new(inner, config).unwrap();
        replica.pause_replay().await.unwrap();
        let next = format!("2.0.{}", cache.len());
        writer.register(&metadata(&name, &next)).await.unwrap();
        assert_ne!(
            plain.latest(&name).await.unwrap().unwrap().version(),
            &version(&next),
            "the paused replica answers plain reads with its older state"
        );
        for _ in 0..3 {
            assert_eq!(
                cached.latest(&name).await.unwrap().unwrap().version(),
                &version(&next),
                "{cache}: the cache learned an older value"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            cached.stats().moka_hits + cached.stats().redis_hits > 0,
            "{cache}: cached"
        );
        replica.resume_replay().await.unwrap();
        while plain.latest(&name).await.unwrap().unwrap().version() != &version(&next) {
            assert!(Instant::now() < deadline + Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
