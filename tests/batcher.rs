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
