//! Read replicas against a real streaming replica (`pg_basebackup -R` of the throwaway
//! primary, started by the testkit): read-your-writes under a continuous write load, staleness
//! across handles bounded by the lag (replay paused with `pg_wal_replay_pause()`), a lagging
//! replica skipped, a replica stopped and started mid-run, and caches that never learn an old
//! value from a replica.
//!
//! Each test has a replica of its own (pausing or stopping one must not disturb another test).

use std::time::{Duration, Instant};

use mlstore_core::{
    Alias, ModelMetadata, ModelName, ModelRegistry, Prediction, PredictionStore, Version,
};
use mlstore_postgres::PostgresStore;
use mlstore_testkit::PostgresReplica;
use serde_json::json;

fn version(v: &str) -> Version {
    Version::new(v).unwrap()
}

async fn register(store: &PostgresStore, name: &ModelName, v: &str) {
    let m = ModelMetadata::builder(name.clone(), version(v), "t")
        .build()
        .unwrap();
    store.register(&m).await.unwrap();
}

/// A database on the primary, its own replica, and the replicated URL (with `extra` query).
async fn setup(extra: &str) -> (PostgresReplica, String) {
    let (replica, url) = mlstore_testkit::fresh_database_with_own_replica().await;
    (replica, format!("{url}{extra}"))
}

async fn until_replica_reads(store: &PostgresStore, name: &ModelName, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.replica_status()[0].1.reads < at_least {
        store.latest(name).await.unwrap();
        assert!(Instant::now() < deadline, "reads never reached the replica");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handle_reads_its_own_writes_under_a_continuous_write_load() {
    let (_replica, url) = setup("").await;
    let store = PostgresStore::connect_url(&url).await.unwrap();
    let name = ModelName::new("ryw").unwrap();
    for i in 0..20 {
        register(&store, &name, &format!("1.0.{i}")).await;
    }
    // A second handle writes predictions all along, so the replica always has WAL to replay.
    let writer = PostgresStore::connect_url(&url).await.unwrap();
    let load = tokio::spawn({
        let name = name.clone();
        async move {
            for i in 0..2000u32 {
                let p = Prediction::builder(name.clone(), version("1.0.0"), json!(i), 0.5)
                    .build()
                    .unwrap();
                writer.store_prediction(&p).await.unwrap();
            }
        }
    });
    let alias = Alias::new("production").unwrap();
    for round in 0..300u32 {
        let target = version(&format!("1.0.{}", round % 20));
        store.set_alias(&name, &alias, &target).await.unwrap();
        assert_eq!(
            store.resolve_alias(&name, &alias).await.unwrap(),
            Some(target.clone()),
            "round {round}: a read after the handle's own write saw an older state"
        );
        let p = Prediction::builder(name.clone(), target.clone(), json!(round), 0.7)
            .build()
            .unwrap();
        store.store_prediction(&p).await.unwrap();
        let back = store.prediction(p.id()).await.unwrap();
        assert_eq!(back.map(|b| b.id()), Some(p.id()), "round {round}");
        if round % 30 == 0 {
            // Now and then, read until the replica has caught up and serves a read, so that the
            // rounds after it start with reads that may land there.
            let served = store.replica_status()[0].1.reads;
            until_replica_reads(&store, &name, served + 1).await;
        }
    }
    load.await.unwrap();
    let served = store.replica_status()[0].1.reads;
    assert!(
        served > 0,
        "the replica served no read of the checked handle"
    );
    eprintln!("replica served {served} reads of the checked handle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_across_handles_is_bounded_by_the_lag_and_a_lagging_replica_is_skipped() {
    let (replica, url) = setup("&replica_max_lag_ms=300").await;
    let writer = PostgresStore::connect_url(&url).await.unwrap();
    let name = ModelName::new("lag").unwrap();
    register(&writer, &name, "1.0.0").await;
    let reader = PostgresStore::connect_url(&url).await.unwrap();
    until_replica_reads(&reader, &name, 1).await;
    assert_eq!(
        reader.latest(&name).await.unwrap().unwrap().version(),
        &version("1.0.0")
    );

    replica.pause_replay().await.unwrap();
    register(&writer, &name, "2.0.0").await;
    // The writing handle sees its write at once (its reads go to the primary).
    assert_eq!(
        writer.latest(&name).await.unwrap().unwrap().version(),
        &version("2.0.0")
    );
    // Another handle reads the paused replica: the old state, within the lag bound.
    let before = reader.replica_status()[0].1.reads;
    assert_eq!(
        reader.latest(&name).await.unwrap().unwrap().version(),
        &version("1.0.0")
    );
    assert!(reader.replica_status()[0].1.reads > before);

    // Once the replica has held WAL unreplayed for longer than the bound (300 ms), and the next
    // check (at most every second) sees it, reads skip it: the primary answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = reader.latest(&name).await.unwrap().unwrap();
        if v.version() == &version("2.0.0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a lagging replica kept serving reads"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = &reader.replica_status()[0].1;
    assert!(status.lag > Duration::from_millis(300), "{status:?}");

    replica.resume_replay().await.unwrap();
    // Caught up, the replica serves again.
    let served = reader.replica_status()[0].1.reads;
    until_replica_reads(&reader, &name, served + 1).await;
    assert_eq!(
        reader.latest(&name).await.unwrap().unwrap().version(),
        &version("2.0.0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_replica_is_skipped_then_used_again_once_back() {
    let (mut replica, url) = setup("&replica_connect_timeout_ms=500").await;
    let store = PostgresStore::connect_url(&url).await.unwrap();
    let name = ModelName::new("down").unwrap();
    register(&store, &name, "1.0.0").await;
    until_replica_reads(&store, &name, 1).await;

    tokio::task::block_in_place(|| replica.stop());
    // Reads keep working: the first may pay one failed connect, then the replica is known
    // down and costs nothing.
    let mut slowest_after_first = Duration::ZERO;
    for i in 0..200 {
        let start = Instant::now();
        assert!(store.latest(&name).await.unwrap().is_some());
        if i > 0 {
            slowest_after_first = slowest_after_first.max(start.elapsed());
        }
    }
    assert!(!store.replica_status()[0].1.up);
    assert!(
        slowest_after_first < Duration::from_millis(400),
        "a known-down replica delayed a read by {slowest_after_first:?}"
    );
    register(&store, &name, "1.1.0").await;

    tokio::task::block_in_place(|| replica.restart()).unwrap();
    // After the retry delay the replica is tried again, catches up, and serves.
    let served = store.replica_status()[0].1.reads;
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.replica_status()[0].1.reads == served {
        assert_eq!(
            store.latest(&name).await.unwrap().unwrap().version(),
            &version("1.1.0")
        );
        assert!(
            Instant::now() < deadline,
            "the restarted replica never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.replica_status()[0].1.up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_inside_from_primary_never_see_the_replicas_older_state() {
    let (replica, url) = setup("").await;
    let writer = PostgresStore::connect_url(&url).await.unwrap();
    let name = ModelName::new("fill").unwrap();
    register(&writer, &name, "1.0.0").await;
    let reader = PostgresStore::connect_url(&url).await.unwrap();
    until_replica_reads(&reader, &name, 1).await;
    replica.pause_replay().await.unwrap();
    register(&writer, &name, "2.0.0").await;
    // A plain read of the other handle may see the replica's older state...
    assert_eq!(
        reader.latest(&name).await.unwrap().unwrap().version(),
        &version("1.0.0")
    );
    // ...a read that fills a cache may not.
    let fresh = mlstore_core::routing::from_primary(reader.latest(&name)).await;
    assert_eq!(fresh.unwrap().unwrap().version(), &version("2.0.0"));
    replica.resume_replay().await.unwrap();
}

#[test]
fn replica_urls_share_the_primarys_credentials_and_hide_them() {
    let c = mlstore_postgres::PostgresConfig::from_url(
        "postgres://app:s3cret@db1:5432/ml?sslmode=disable&replica=db2:5433&replica=db3&replica_max_lag_ms=250",
    )
    .unwrap();
    assert_eq!(
        c.replicas(),
        vec![
            "postgres://app:***@db2:5433/ml?sslmode=disable".to_owned(),
            "postgres://app:***@db3:5432/ml?sslmode=disable".to_owned(),
        ]
    );
    assert_eq!(c.replica_max_lag(), Duration::from_millis(250));
    let shown = format!("{c} {c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("(+2 read replicas)"), "{shown}");
    for bad in [
        "postgres://db/ml?replica=db2:notaport",
        "postgres://db/ml?replica=",
        "postgres://db/ml?replica=mysql://x/y",
        "postgres://db/ml?replica_max_lag_ms=soon",
        "postgres://db/ml?replica=db2&replica_connect_timeout_ms=0",
    ] {
        let e = mlstore_postgres::PostgresConfig::from_url(bad).unwrap_err();
        assert_eq!(
            e.kind(),
            mlstore_core::ErrorKind::Configuration,
            "{bad}: {e}"
        );
    }
}
