//! The prediction batcher over the in-memory reference store: per-item results, coalescing,
//! backpressure, fire and forget, close. The same guarantees against SQLite and PostgreSQL,
//! with many producers, are checked by the workspace's `tests/batcher.rs`.

use std::sync::Arc;
use std::time::Duration;

use mlstore_core::batcher::{BatcherConfig, PredictionBatcher};
use mlstore_core::{
    ErrorKind, Label, MemoryStore, ModelMetadata, ModelName, ModelRegistry, Prediction,
    PredictionStore, Version,
};
use serde_json::json;
use uuid::Uuid;

fn name() -> ModelName {
    ModelName::new("fraud").unwrap()
}

fn v(text: &str) -> Version {
    Version::new(text).unwrap()
}

fn prediction(version: &str, id: u128) -> Prediction {
    Prediction::builder(name(), v(version), json!("ok"), 0.75)
        .id(Uuid::from_u128(id))
        .build()
        .unwrap()
}

async fn store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let meta = ModelMetadata::builder(name(), v("1.0.0"), "xgboost")
        .build()
        .unwrap();
    store.register(&meta).await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_item_gets_its_own_result_and_the_rest_are_stored() {
    let store = store().await;
    store
        .store_prediction(&prediction("1.0.0", 1))
        .await
        .unwrap();
    let batcher =
        Arc::new(PredictionBatcher::new(store.clone(), BatcherConfig::default()).unwrap());

    let mut tasks = Vec::new();
    for id in 1..=200u128 {
        // id 1 is stored already; ids divisible by 50 name an unregistered version.
        let version = if id % 50 == 0 { "9.9.9" } else { "1.0.0" };
        let p = prediction(version, id);
        let b = batcher.clone();
        tasks.push(tokio::spawn(async move { (id, b.store(p).await) }));
    }
    for task in tasks {
        let (id, result) = task.await.unwrap();
        match id {
            1 => assert_eq!(result.unwrap_err().kind(), ErrorKind::AlreadyExists),
            id if id % 50 == 0 => assert_eq!(result.unwrap_err().kind(), ErrorKind::NotFound),
            id => assert!(result.is_ok(), "prediction {id}: {result:?}"),
        }
    }
    // Labels: one of a stored prediction, one of an unknown id.
    batcher
        .record(Label::new(Uuid::from_u128(2), json!("ok")).unwrap())
        .await
        .unwrap();
    let unknown = batcher
        .record(Label::new(Uuid::from_u128(9_999), json!("ok")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::NotFound);

    let stats = batcher.close().await;
    assert_eq!(stats.accepted, 202);
    assert_eq!(stats.stored, 200 - 1 - 4 + 1);
    assert_eq!(stats.failed, 1 + 4 + 1);
    let stored = store.prediction(Uuid::from_u128(2)).await.unwrap().unwrap();
    assert_eq!(stored.actual(), Some(&json!("ok")));
    assert!(store
        .prediction(Uuid::from_u128(50))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_producers_share_batches() {
    let store = store().await;
    let config = BatcherConfig::default()
        .with_max_delay(Duration::from_millis(20))
        .unwrap();
    let batcher = Arc::new(PredictionBatcher::new(store.clone(), config).unwrap());
    let tasks: Vec<_> = (0..100u128)
        .map(|id| {
            let b = batcher.clone();
            tokio::spawn(async move { b.store(prediction("1.0.0", id + 1)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = batcher.close().await;
    assert_eq!(stats.stored, 100);
    // 100 producers within a 20 ms window: far fewer writes than items.
    assert!(stats.batches < 50, "{stats:?}");
    assert!(stats.largest_batch > 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_queued_twice_is_written_twice_in_order() {
    let store = store().await;
    let batcher = PredictionBatcher::new(store.clone(), BatcherConfig::default()).unwrap();
    let (first, second) = tokio::join!(
        batcher.store(prediction("1.0.0", 7)),
        batcher.store(prediction("1.0.0", 7))
    );
    // Exactly one of them stored it; the other was told it exists.
    let kinds = [
        first.err().map(|e| e.kind()),
        second.err().map(|e| e.kind()),
    ];
    assert!(kinds.contains(&None), "{kinds:?}");
    assert!(kinds.contains(&Some(ErrorKind::AlreadyExists)), "{kinds:?}");
    // A prediction and its label queued together: the label finds it.
    let (p, l) = tokio::join!(
        batcher.store(prediction("1.0.0", 8)),
        batcher.record(Label::new(Uuid::from_u128(8), json!("ok")).unwrap())
    );
    p.unwrap();
    l.unwrap();
    batcher.close().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_fails_fast_or_makes_producers_wait() {
    let store = store().await;
    let config = BatcherConfig::default().with_queue(2).unwrap();
    let batcher = Arc::new(PredictionBatcher::new(store.clone(), config).unwrap());
    // On a current-thread runtime the worker runs only when this task yields: queue two
    // items without yielding, and the third finds the queue full.
    batcher.submit(prediction("1.0.0", 1)).await.unwrap();
    batcher.submit(prediction("1.0.0", 2)).await.unwrap();
    assert_eq!(batcher.queued(), 2);
    let full = batcher.try_store(prediction("1.0.0", 3)).await.unwrap_err();
    assert_eq!(full.kind(), ErrorKind::Unavailable);
    assert!(full.to_string().contains("queue is full"), "{full}");
    // The waiting method waits for room and succeeds.
    batcher.store(prediction("1.0.0", 3)).await.unwrap();
    let stats = batcher.close().await;
    assert_eq!((stats.accepted, stats.stored), (3, 3));
    assert!(store
        .prediction(Uuid::from_u128(3))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_writes_everything_accepted_then_refuses() {
    let store = store().await;
    let config = BatcherConfig::default().with_max_batch(7).unwrap();
    let batcher = PredictionBatcher::new(store.clone(), config).unwrap();
    for id in 1..=1_000u128 {
        batcher.submit(prediction("1.0.0", id)).await.unwrap();
    }
    // An unregistered version, fire and forget: counted, not reported.
    batcher.submit(prediction("9.9.9", 5_000)).await.unwrap();
    let stats = batcher.close().await;
    assert_eq!(stats.stored, 1_000);
    assert_eq!((stats.failed, stats.failed_unawaited), (1, 1));
    assert!(stats.largest_batch <= 7, "{stats:?}");
    let count = store
        .count_predictions(&mlstore_core::PredictionFilter::all())
        .await
        .unwrap();
    assert_eq!(count, 1_000);
    let refused = batcher.store(prediction("1.0.0", 2_000)).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unavailable);
    assert!(refused.to_string().contains("closed"), "{refused}");
    assert_eq!(batcher.close().await, stats);
}

#[test]
fn settings_are_checked() {
    let e = BatcherConfig::default().with_max_batch(0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(BatcherConfig::default().with_max_batch(10_001).is_err());
    assert!(BatcherConfig::default().with_queue(0).is_err());
    assert!(BatcherConfig::default().with_max_in_flight(0).is_err());
    assert!(BatcherConfig::default().with_max_in_flight(65).is_err());
    assert!(BatcherConfig::default()
        .with_max_delay(Duration::from_secs(2))
        .is_err());
    let outside =
        PredictionBatcher::new(Arc::new(MemoryStore::new()), BatcherConfig::default()).unwrap_err();
    assert_eq!(outside.kind(), ErrorKind::Configuration);
}

/// Predictions take 3 ms to write, labels none: a label written beside its prediction's
/// write, rather than after it, would not find it.
#[derive(Debug)]
struct SlowPredictions(MemoryStore);

impl mlstore_core::layers::LayeredStore for SlowPredictions {
    type Inner = MemoryStore;
    fn inner(&self) -> &MemoryStore {
        &self.0
    }
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: mlstore_core::Operation,
        call: mlstore_core::layers::BoxFuture<'a, mlstore_core::Result<T>>,
    ) -> mlstore_core::layers::BoxFuture<'a, mlstore_core::Result<T>> {
        if op.name() != "store_predictions_with" {
            return call;
        }
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            call.await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_one_id_keep_their_order_across_running_writes() {
    let store = Arc::new(SlowPredictions(MemoryStore::new()));
    let meta = ModelMetadata::builder(name(), v("1.0.0"), "xgboost")
        .build()
        .unwrap();
    store.register(&meta).await.unwrap();
    let config = BatcherConfig::default().with_max_in_flight(8).unwrap();
    let batcher = Arc::new(PredictionBatcher::new(store.clone(), config).unwrap());
    // Each prediction, then its label queued while the prediction's write is running.
    let mut labels = Vec::new();
    for id in 1..=50u128 {
        batcher.submit(prediction("1.0.0", id)).await.unwrap();
        tokio::time::sleep(Duration::from_micros(200)).await;
        let b = batcher.clone();
        labels.push(tokio::spawn(async move {
            b.record(Label::new(Uuid::from_u128(id), json!("ok")).unwrap())
                .await
        }));
    }
    for label in labels {
        label.await.unwrap().unwrap();
    }
    let stats = batcher.close().await;
    assert_eq!((stats.stored, stats.failed), (100, 0), "{stats:?}");
    assert!(stats.batches > 2, "{stats:?}");
}
