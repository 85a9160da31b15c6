//! The prediction batcher against the real backends: many producers, some of them sending ids
//! another producer sends too, some naming an unregistered version. Every prediction a producer
//! was told is stored is in the database exactly once, and nothing else is.

use std::collections::HashSet;
use std::sync::Arc;

use mlstore::batcher::{BatcherConfig, PredictionBatcher};
use mlstore_core::{
    ErrorKind, ModelMetadata, ModelName, ModelRegistry, Prediction, PredictionFilter,
    PredictionStore, Store, Version,
};
use serde_json::json;
use uuid::Uuid;

const PRODUCERS: u128 = 32;
const EACH: u128 = 40;

async fn many_producers(store: Arc<dyn Store>) {
    let name = ModelName::new("fraud").unwrap();
    let v = Version::new("1.0.0").unwrap();
    let meta = ModelMetadata::builder(name.clone(), v.clone(), "xgboost")
        .build()
        .unwrap();
    store.register(&meta).await.unwrap();
    let batcher =
        Arc::new(PredictionBatcher::new(store.clone(), BatcherConfig::default()).unwrap());

    let mut tasks = Vec::new();
    for producer in 0..PRODUCERS {
        let batcher = batcher.clone();
        let (name, v) = (name.clone(), v.clone());
        tasks.push(tokio::spawn(async move {
            let mut told = Vec::new();
            for i in 0..EACH {
                // Every 10th id is also sent by the next producer; every 13th names a version
                // that is not registered.
                let id = if i % 10 == 0 && producer > 0 {
                    (producer - 1) * EACH + i
                } else {
                    producer * EACH + i
                };
                let version = if i % 13 == 0 {
                    Version::new("9.9.9").unwrap()
                } else {
                    v.clone()
                };
                let p = Prediction::builder(name.clone(), version, json!("ok"), 0.5)
                    .id(Uuid::from_u128(id + 1))
                    .build()
                    .unwrap();
                told.push((id + 1, i % 13 == 0, batcher.store(p).await));
            }
            told
        }));
    }
    let mut stored = HashSet::new();
    let mut exists = 0;
    for task in tasks {
        for (id, unregistered, result) in task.await.unwrap() {
            match result {
                Ok(()) => assert!(stored.insert(id), "{id} acknowledged twice"),
                Err(e) if unregistered => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
                    exists += 1;
                }
            }
        }
    }
    let stats = batcher.close().await;
    println!(
        "{} stored, {exists} told they exist, {stats:?}",
        stored.len()
    );
    assert!(exists > 0, "the test sends duplicate ids");
    assert_eq!(stats.stored as usize, stored.len());
    assert!(
        stats.batches < stats.accepted,
        "producers share writes: {stats:?}"
    );
    let count = store
        .count_predictions(&PredictionFilter::all())
        .await
        .unwrap();
    assert_eq!(count as usize, stored.len());
    for id in stored {
        assert!(store
            .prediction(Uuid::from_u128(id))
            .await
            .unwrap()
            .is_some());
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_producers_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("batcher.db").display());
    let handle = mlstore::connect(&url).await.unwrap();
    many_producers(Arc::new(handle)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_producers_on_postgres() {
    let url = mlstore_testkit::fresh_postgres_url().await;
    let handle = mlstore::connect(&url).await.unwrap();
    many_producers(Arc::new(handle)).await;
}

/// How the multi-process tests start a producer: `URL FIRST COUNT OVERLAP` (store ids
/// `FIRST..FIRST+COUNT` and then `FIRST+COUNT..FIRST+COUNT+OVERLAP`, the next producer's first
/// ids), printing `ack ID` once each is acknowledged.
const CHILD: &str = "MLSTORE_BATCHER_CHILD";

/// A producer process: stores its ids through its own batcher from 8 tasks and prints each
/// acknowledged one at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a producer process that the multi-process tests start themselves"]
async fn producer_process() {
    use std::io::Write;
    let spec = std::env::var(CHILD).expect("MLSTORE_BATCHER_CHILD, set by the parent test");
    let parts: Vec<&str> = spec.split(' ').collect();
    let (url, first, count, overlap): (&str, u128, u128, u128) = (
        parts[0],
        parts[1].parse().unwrap(),
        parts[2].parse().unwrap(),
        parts[3].parse().unwrap(),
    );
    let store = Arc::new(mlstore::connect(url).await.unwrap());
    let batcher = Arc::new(PredictionBatcher::new(store, BatcherConfig::default()).unwrap());
    let ids: Vec<u128> = (first..first + count + overlap).collect();
    let tasks: Vec<_> = ids
        .chunks(ids.len().div_ceil(8))
        .map(|chunk| {
            let (batcher, chunk) = (batcher.clone(), chunk.to_vec());
            tokio::spawn(async move {
                for id in chunk {
                    let p = Prediction::builder(
                        ModelName::new("fraud").unwrap(),
                        Version::new("1.0.0").unwrap(),
                        json!("ok"),
                        0.5,
                    )
                    .id(Uuid::from_u128(id))
                    .build()
                    .unwrap();
                    match batcher.store(p).await {
                        Ok(()) => {
                            let mut out = std::io::stdout().lock();
                            writeln!(out, "ack {id}").unwrap();
                            out.flush().unwrap();
                        }
                        Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    batcher.close().await;
}

/// A running producer process and the ids it acknowledged so far.
struct Producer {
    child: std::process::Child,
    acks: std::sync::mpsc::Receiver<u128>,
}

fn start_producer(url: &str, first: u128, count: u128, overlap: u128) -> Producer {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["producer_process", "--exact", "--ignored", "--nocapture"])
        .env(CHILD, format!("{url} {first} {count} {overlap}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, acks) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ack ") {
                let _ = send.send(id.trim().parse().unwrap());
            }
        }
    });
    Producer { child, acks }
}

async fn register(url: &str) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(mlstore::connect(url).await.unwrap());
    let meta = ModelMetadata::builder(
        ModelName::new("fraud").unwrap(),
        Version::new("1.0.0").unwrap(),
        "xgboost",
    )
    .build()
    .unwrap();
    store.register(&meta).await.unwrap();
    store
}

/// Four processes, each with its own batcher, into one database; each also sends the next
/// one's first 100 ids. Every acknowledged id is stored, none is acknowledged twice, nothing
/// else is stored.
async fn four_processes(url: &str) {
    let store = register(url).await;
    let producers: Vec<Producer> = (0..4u128)
        .map(|k| start_producer(url, 1 + k * 1_000, 1_000, if k < 3 { 100 } else { 0 }))
        .collect();
    let mut acked = HashSet::new();
    for mut p in producers {
        assert!(p.child.wait().unwrap().success(), "a producer failed");
        for id in p.acks.iter() {
            assert!(acked.insert(id), "{id} acknowledged twice");
        }
    }
    assert_eq!(acked.len(), 4_000);
    let count = store
        .count_predictions(&PredictionFilter::all())
        .await
        .unwrap();
    assert_eq!(count, 4_000);
}

/// A producer killed with SIGKILL mid-stream: everything it acknowledged is stored.
async fn killed_producer_loses_nothing_acknowledged(url: &str) {
    let store = register(url).await;
    let mut p = start_producer(url, 1, 1_000_000, 0);
    let mut acked = Vec::new();
    while acked.len() < 3_000 {
        match p.acks.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(id) => acked.push(id),
            Err(e) => panic!(
                "the producer stopped acknowledging after {}: {e}",
                acked.len()
            ),
        }
    }
    p.child.kill().unwrap(); // SIGKILL
    p.child.wait().unwrap();
    acked.extend(p.acks.iter()); // acknowledgements printed before the kill
    let stored = store
        .count_predictions(&PredictionFilter::all())
        .await
        .unwrap();
    println!(
        "{} acknowledged before SIGKILL, {stored} stored",
        acked.len()
    );
    assert!(stored >= acked.len() as u64);
    for id in acked {
        assert!(
            store
                .prediction(Uuid::from_u128(id))
                .await
                .unwrap()
                .is_some(),
            "prediction {id} was acknowledged and is not stored"
        );
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("four.db").display());
    four_processes(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_one_postgres_database() {
    four_processes(&kept_postgres_url().await).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_producer_loses_nothing_acknowledged_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("killed.db").display());
    killed_producer_loses_nothing_acknowledged(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_producer_loses_nothing_acknowledged_on_postgres() {
    killed_producer_loses_nothing_acknowledged(&kept_postgres_url().await).await;
}

/// A database of its own that stays until the server stops: the processes this test starts
/// connect and disconnect in turn, so the database may be without a connection for a while, and
/// a test database ([`mlstore_testkit::fresh_postgres_url`]) unused for a while may be dropped.
#[cfg(feature = "postgres")]
async fn kept_postgres_url() -> String {
    mlstore_testkit::postgres()
        .create_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
