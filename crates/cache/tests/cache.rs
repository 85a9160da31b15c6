//! What the cache promises beyond the conformance suite: read-your-writes after every write kind
//! (on one handle and across two sharing Redis), single-flight loads, the TTL (on a mock
//! clock), and service through a Redis outage.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlstore_cache::{CacheConfig, CacheMode, CachedStore, MockClock};
use mlstore_core::conformance::{metadata, unique_name, version};
use mlstore_core::{
    Alias, ConfidenceBaseline, MemoryStore, ModelName, ModelRegistry, Prediction, PredictionStore,
    Store, Version, Window,
};
use uuid::Uuid;

fn namespace() -> String {
    format!("test-{}", Uuid::new_v4().simple())
}

fn config(mode: &str, redis_url: &str) -> CacheConfig {
    let mode = match mode {
        "moka" => CacheMode::Moka,
        "redis" => CacheMode::Redis(redis_url.into()),
        _ => CacheMode::MokaRedis(redis_url.into()),
    };
    CacheConfig::new(mode).with_namespace(namespace()).unwrap()
}

const MODES: [&str; 3] = ["moka", "redis", "moka+redis"];

/// Reads every cached key of `name` so that a stale cache would show.
async fn prime(store: &dyn Store, name: &ModelName, v: &Version, alias: &Alias) {
    store.get(name, v).await.unwrap();
    store.latest(name).await.unwrap();
    store.versions(name).await.unwrap();
    store.resolve_alias(name, alias).await.unwrap();
    store.baseline(name, v).await.unwrap();
}

/// After each kind of write, the next read through `reader` sees it; `settle` waits for the
/// reader to have caught up (nothing for the same handle, the invalidation announcement for
/// another one).
async fn check_read_your_writes(writer: &dyn Store, reader: &dyn Store, settle: Duration) {
    let name = unique_name("ryw");
    let (v1, v2) = (version("1.0.0"), version("2.0.0"));
    let prod = Alias::new("production").unwrap();
    let wait_for = |ok: bool, what: &str| {
        assert!(ok, "the reader did not see the {what} within {settle:?}");
    };
    macro_rules! eventually {
        ($what:expr, $cond:expr) => {{
            let deadline = Instant::now() + settle;
            loop {
                if $cond {
                    break true;
                }
                if Instant::now() >= deadline {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }};
    }

    prime(reader, &name, &v1, &prod).await;
    writer.register(&metadata(&name, "1.0.0")).await.unwrap();
    wait_for(
        eventually!(
            "register",
            reader.get(&name, &v1).await.unwrap().is_some()
                && reader
                    .latest(&name)
                    .await
                    .unwrap()
                    .map(|m| m.version().clone())
                    == Some(v1.clone())
                && reader.versions(&name).await.unwrap().len() == 1
        ),
        "register",
    );

    prime(reader, &name, &v2, &prod).await;
    writer.register(&metadata(&name, "2.0.0")).await.unwrap();
    wait_for(
        eventually!(
            "second register",
            reader
                .latest(&name)
                .await
                .unwrap()
                .map(|m| m.version().clone())
                == Some(v2.clone())
                && reader.versions(&name).await.unwrap().len() == 2
                && reader.get(&name, &v2).await.unwrap().is_some()
        ),
        "second register",
    );

    let updated = metadata(&name, "1.0.0")
        .to_builder()
        .model_type("updated")
        .build()
        .unwrap();
    writer.update(&updated).await.unwrap();
    wait_for(
        eventually!(
            "update",
            reader
                .get(&name, &v1)
                .await
                .unwrap()
                .map(|m| m.model_type().to_owned())
                == Some("updated".into())
                && reader.versions(&name).await.unwrap()[0].model_type() == "updated"
        ),
        "update",
    );

    writer.set_alias(&name, &prod, &v1).await.unwrap();
    wait_for(
        eventually!(
            "alias set",
            reader.resolve_alias(&name, &prod).await.unwrap() == Some(v1.clone())
        ),
        "alias set",
    );
    writer.set_alias(&name, &prod, &v2).await.unwrap();
    wait_for(
        eventually!(
            "alias move",
            reader.resolve_alias(&name, &prod).await.unwrap() == Some(v2.clone())
        ),
        "alias move",
    );
    writer.remove_alias(&name, &prod).await.unwrap();
    wait_for(
        eventually!(
            "alias removal",
            reader.resolve_alias(&name, &prod).await.unwrap().is_none()
        ),
        "alias removal",
    );

    let b1 = ConfidenceBaseline::new(name.clone(), v2.clone(), 0.7, 0.1, 10).unwrap();
    writer.store_baseline(&b1).await.unwrap();
    wait_for(
        eventually!(
            "baseline",
            reader.baseline(&name, &v2).await.unwrap() == Some(b1.clone())
        ),
        "baseline",
    );
    let b2 = ConfidenceBaseline::new(name.clone(), v2.clone(), 0.5, 0.2, 20).unwrap();
    writer.store_baseline(&b2).await.unwrap();
    wait_for(
        eventually!(
            "baseline replacement",
            reader.baseline(&name, &v2).await.unwrap() == Some(b2.clone())
        ),
        "baseline replacement",
    );

    writer.set_alias(&name, &prod, &v2).await.unwrap();
    prime(reader, &name, &v2, &prod).await;
    writer.delete(&name, &v2).await.unwrap();
    wait_for(
        eventually!(
            "delete",
            reader.get(&name, &v2).await.unwrap().is_none()
                && reader
                    .latest(&name)
                    .await
                    .unwrap()
                    .map(|m| m.version().clone())
                    == Some(v1.clone())
                && reader.versions(&name).await.unwrap().len() == 1
                && reader.baseline(&name, &v2).await.unwrap().is_none()
                && reader.resolve_alias(&name, &prod).await.unwrap().is_none()
        ),
        "delete",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_after_every_write_kind_see_it_on_the_same_handle() {
    let redis = mlstore_testkit::redis().url().to_string();
    for mode in MODES {
        let store = CachedStore::new(MemoryStore::new(), config(mode, &redis)).unwrap();
        check_read_your_writes(&store, &store, Duration::ZERO).await;
        let stats = store.stats();
        assert!(
            stats.moka_hits + stats.redis_hits > 0,
            "{mode}: the cache served reads"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_after_every_write_kind_see_it_across_handles_sharing_redis() {
    let redis = mlstore_testkit::redis().url().to_string();
    for mode in ["redis", "moka+redis"] {
        let backend = Arc::new(MemoryStore::new());
        let shared = config(mode, &redis);
        let a = CachedStore::new(Arc::clone(&backend), shared.clone()).unwrap();
        let b = CachedStore::new(Arc::clone(&backend), shared).unwrap();
        // Without moka every read asks Redis, which the write cleared before it returned; with
        // moka the other handle hears of the write over pub/sub, within milliseconds.
        let settle = if mode == "redis" {
            Duration::ZERO
        } else {
            Duration::from_secs(5)
        };
        if mode == "moka+redis" {
            wait_until_subscribed(&a, &b).await;
            wait_until_subscribed(&b, &a).await;
        }
        check_read_your_writes(&a, &b, settle).await;
        check_read_your_writes(&b, &a, settle).await;
    }
}

/// Waits until `reader` hears `writer`'s announcements: a subscription that starts late forgets
/// the whole local cache when it starts, so the probe is seen either way.
async fn wait_until_subscribed(writer: &dyn Store, reader: &dyn Store) {
    let probe = unique_name("probe");
    let v = version("1.0.0");
    assert!(reader.get(&probe, &v).await.unwrap().is_none());
    writer.register(&metadata(&probe, "1.0.0")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reader.get(&probe, &v).await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the reader never subscribed to invalidations"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

mod counting {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use mlstore_core::layers::LayeredStore;
    use mlstore_core::{async_trait, ModelMetadata, ModelName, Result, Store, Version};

    /// Counts the backend's `get` calls, and makes each take a while so that callers overlap.
    /// A layer: only `get` is written here, everything else forwards by default.
    #[derive(Debug)]
    pub struct CountingGets<S> {
        pub inner: S,
        pub gets: AtomicUsize,
    }

    #[async_trait]
    impl<S: Store> LayeredStore for CountingGets<S> {
        type Inner = S;
        fn inner(&self) -> &S {
            &self.inner
        }
        async fn get(&self, n: &ModelName, v: &Version) -> Result<Option<ModelMetadata>> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.inner.get(n, v).await
        }
    }
}
use counting::CountingGets;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_of_one_key_make_one_backend_call() {
    let redis = mlstore_testkit::redis().url().to_string();
    for mode in MODES {
        let backend = CountingGets {
            inner: MemoryStore::new(),
            gets: AtomicUsize::new(0),
        };
        let store = Arc::new(CachedStore::new(backend, config(mode, &redis)).unwrap());
        let name = unique_name("flight");
        store.register(&metadata(&name, "1.0.0")).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let store = Arc::clone(&store);
            let name = name.clone();
            tasks.spawn(async move { store.get(&name, &version("1.0.0")).await });
        }
        while let Some(joined) = tasks.join_next().await {
            assert!(joined.unwrap().unwrap().is_some());
        }
        let calls = store.backend().gets.load(Ordering::SeqCst);
        if mode == "redis" {
            // Without moka there is no in-process single flight; Redis alone serves repeats.
            assert!(calls >= 1, "{mode}: {calls}");
        } else {
            assert_eq!(calls, 1, "{mode}: 32 concurrent misses, one backend call");
        }
    }
}

#[tokio::test]
async fn entries_expire_after_the_ttl_on_the_cache_clock() {
    let clock = Arc::new(MockClock::default());
    let backend = Arc::new(MemoryStore::new());
    let store = CachedStore::with_clock(
        Arc::clone(&backend),
        CacheConfig::moka()
            .with_ttl(Duration::from_secs(300))
            .unwrap(),
        clock.clone(),
    )
    .unwrap();
    let name = unique_name("ttl");
    let v = version("1.0.0");
    store.register(&metadata(&name, "1.0.0")).await.unwrap();
    assert_eq!(
        store.get(&name, &v).await.unwrap().unwrap().model_type(),
        "xgboost"
    );
    // Changed behind the cache's back: the cache keeps serving what it has until the TTL.
    let changed = metadata(&name, "1.0.0")
        .to_builder()
        .model_type("changed")
        .build()
        .unwrap();
    backend.update(&changed).await.unwrap();
    clock.advance(Duration::from_secs(299));
    assert_eq!(
        store.get(&name, &v).await.unwrap().unwrap().model_type(),
        "xgboost"
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        store.get(&name, &v).await.unwrap().unwrap().model_type(),
        "changed"
    );
    let stats = store.stats();
    assert_eq!((stats.moka_hits, stats.backend_reads), (1, 2), "{stats:?}");
}

/// Redis stopped mid-test: every operation still succeeds, from the backend; Redis back: the
/// cache serves hits again without any call from the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_not_an_outage() {
    let mut redis = mlstore_testkit::RedisServer::start().expect("a Redis of its own");
    for mode in ["redis", "moka+redis"] {
        let cfg = config(mode, redis.url())
            .with_redis_timeout(Duration::from_millis(100))
            .unwrap()
            .with_redis_retry_after(Duration::from_millis(200))
            .unwrap();
        let store = CachedStore::new(
            mlstore_sqlite::SqliteStore::open_temporary().await.unwrap(),
            cfg,
        )
        .unwrap();
        let name = unique_name("outage");
        let v = version("1.0.0");
        store.register(&metadata(&name, "1.0.0")).await.unwrap();
        store.get(&name, &v).await.unwrap();
        assert!(store.redis_is_up().await);

        redis.stop().unwrap();
        let before = store.stats().redis_errors;
        // Every kind of operation works while Redis is gone.
        store.register(&metadata(&name, "2.0.0")).await.unwrap();
        assert_eq!(
            store.latest(&name).await.unwrap().unwrap().version(),
            &version("2.0.0")
        );
        assert_eq!(store.versions(&name).await.unwrap().len(), 2);
        let prod = Alias::new("production").unwrap();
        store.set_alias(&name, &prod, &v).await.unwrap();
        assert_eq!(
            store.resolve_alias(&name, &prod).await.unwrap(),
            Some(v.clone())
        );
        let b = ConfidenceBaseline::new(name.clone(), v.clone(), 0.5, 0.1, 3).unwrap();
        store.store_baseline(&b).await.unwrap();
        assert_eq!(store.baseline(&name, &v).await.unwrap(), Some(b));
        let p = Prediction::builder(name.clone(), v.clone(), serde_json::json!(1), 0.5)
            .build()
            .unwrap();
        store.store_prediction(&p).await.unwrap();
        store
            .record_actual(p.id(), &serde_json::json!(1))
            .await
            .unwrap();
        assert_eq!(
            store
                .accuracy(&name, &v, Window::last(10))
                .await
                .unwrap()
                .total(),
            1
        );
        store.delete(&name, &version("2.0.0")).await.unwrap();
        assert_eq!(store.latest(&name).await.unwrap().unwrap().version(), &v);
        assert!(
            store.stats().redis_errors > before,
            "the failures were counted"
        );

        redis.restart().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let hits_before = store.stats().redis_hits + store.stats().moka_hits;
        loop {
            store.get(&name, &v).await.unwrap();
            let s = store.stats();
            if s.redis_hits + s.moka_hits > hits_before + 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{mode}: caching did not resume: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if mode == "redis" {
            let before = store.stats().redis_hits;
            store.get(&name, &v).await.unwrap();
            assert_eq!(
                store.stats().redis_hits,
                before + 1,
                "Redis serves hits again"
            );
        }
    }
}

#[tokio::test]
async fn redis_values_are_namespaced_versioned_and_expire() {
    let url = mlstore_testkit::redis().url().to_string();
    let cfg = config("redis", &url)
        .with_ttl(Duration::from_secs(120))
        .unwrap();
    let namespace = cfg.namespace().unwrap().to_owned();
    let store = CachedStore::new(MemoryStore::new(), cfg).unwrap();
    let name = ModelName::new("m").unwrap();
    store.register(&metadata(&name, "1.0.0")).await.unwrap();
    store.get(&name, &version("1.0.0")).await.unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{namespace}:v2:get:1:m:1.0.0");
    let deadline = Instant::now() + Duration::from_secs(5);
    let ttl: i64 = loop {
        // The fill runs in the background.
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if ttl > 0 || Instant::now() > deadline {
            break ttl;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!((1..=120).contains(&ttl), "TTL {ttl}");
}
