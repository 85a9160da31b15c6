//! Checks that need tasks running in parallel on one shared store.

use std::sync::Arc;

use serde_json::json;

use super::fixtures::{metadata, prediction, unique_name, version};
use crate::limits::MAX_RECENT_LIMIT;
use crate::{ErrorKind, Store, Window};

/// 16 tasks register the same name + version at once: exactly one succeeds, the other 15 get
/// AlreadyExists (never a "locked" or other error).
pub async fn concurrent_registers_have_one_winner(store: Arc<dyn Store>) {
    let name = unique_name("race");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        let m = metadata(&name, "1.0.0")
            .to_builder()
            .description(format!("writer {i}"))
            .build()
            .expect("valid");
        tasks.spawn(async move { store.register(&m).await });
    }
    let (mut won, mut lost) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task panicked") {
            Ok(()) => won += 1,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => lost += 1,
            Err(e) => panic!("a concurrent register failed with {e}"),
        }
    }
    assert_eq!((won, lost), (1, 15));
    assert_eq!(store.versions(&name).await.expect("versions").len(), 1);
}

/// 8 tasks write predictions concurrently (single writes and batches): every acknowledged
/// prediction is stored, and no write fails.
pub async fn concurrent_prediction_writers_lose_nothing(store: Arc<dyn Store>) {
    let name = unique_name("writers");
    store
        .register(&metadata(&name, "1.0.0"))
        .await
        .expect("register");
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..8i64 {
        let store = Arc::clone(&store);
        let name = name.clone();
        tasks.spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..25i64 {
                let p = prediction(&name, "1.0.0", json!(writer), writer * 1000 + i);
                store
                    .store_prediction(&p)
                    .await
                    .unwrap_or_else(|e| panic!("writer {writer} single write {i}: {e}"));
                acknowledged.push(p);
            }
            let batch: Vec<_> = (25..50i64)
                .map(|i| prediction(&name, "1.0.0", json!(writer), writer * 1000 + i))
                .collect();
            store
                .store_predictions(&batch)
                .await
                .unwrap_or_else(|e| panic!("writer {writer} batch: {e}"));
            acknowledged.extend(batch);
            acknowledged
        });
    }
    let mut expected = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        expected.extend(joined.expect("writer task panicked"));
    }
    let mut stored = store
        .recent_predictions(&name, &version("1.0.0"), Window::last(MAX_RECENT_LIMIT))
        .await
        .expect("recent");
    assert_eq!(stored.len(), 400);
    let key = |p: &crate::Prediction| p.id();
    stored.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(stored, expected);
}

/// Two rollbacks of one alias at once: each moves exactly one step (or one fails with
/// NotFound when no earlier target is left); the log holds one event per successful rollback.
pub async fn concurrent_rollbacks_each_move_one_step(store: Arc<dyn Store>) {
    use crate::{Alias, EventKind, ModelRegistryExt};
    let name = unique_name("rollbacks");
    let alias = Alias::new("production").expect("valid");
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        store.register(&metadata(&name, v)).await.expect("register");
        store
            .set_alias(&name, &alias, &version(v))
            .await
            .expect("set");
    }
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (store, name, alias) = (Arc::clone(&store), name.clone(), alias.clone());
        tasks.spawn(async move { store.rollback_alias(&name, &alias).await });
    }
    let mut targets = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task panicked") {
            Ok(v) => targets.push(v),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => panic!("a concurrent rollback failed with {e}"),
        }
    }
    targets.sort();
    assert_eq!(targets, vec![version("1.0.0"), version("2.0.0")]);
    assert_eq!(
        store.resolve_alias(&name, &alias).await.expect("resolve"),
        Some(version("1.0.0"))
    );
    let history = store.alias_history(&name, &alias).await.expect("history");
    let rollbacks = history
        .iter()
        .filter(|e| e.kind == EventKind::AliasRolledBack)
        .count();
    assert_eq!(rollbacks, 2);
}

/// A prune of every model before a cut-off while writers store predictions after it and
/// labels are written for earlier ones after it: every prediction from the cut-off on is kept
/// with its label, and every one before it is removed, exactly once.
pub async fn concurrent_prune_loses_nothing_outside_the_cutoff(store: Arc<dyn Store>) {
    use crate::retention::Prune;
    use crate::{Prediction, PredictionFilter};
    let name = unique_name("pruned");
    store
        .register(&metadata(&name, "1.0.0"))
        .await
        .expect("register");
    let day = 86_400_000_000i64;
    let cutoff = crate::time::parse_instant("2027-01-01", crate::time::now()).expect("date");
    let dated = |ts: crate::Timestamp, i: i64| {
        Prediction::builder(name.clone(), version("1.0.0"), json!(i % 2), 0.5)
            .timestamp(ts)
            .build()
            .expect("prediction")
    };
    // 1,500 before the cut-off over three months, 300 after it to be labelled during the prune.
    let old: Vec<Prediction> = (0..1500)
        .map(|i| {
            dated(
                cutoff - chrono::Duration::microseconds(1 + i * (day / 17)),
                i,
            )
        })
        .collect();
    for chunk in old.chunks(500) {
        store.store_predictions(chunk).await.expect("store old");
    }
    let to_label: Vec<Prediction> = (0..300)
        .map(|i| dated(cutoff + chrono::Duration::microseconds(i * 1000), i))
        .collect();
    store.store_predictions(&to_label).await.expect("store new");

    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..4i64 {
        let store = Arc::clone(&store);
        let name = name.clone();
        writers.spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..50i64 {
                let p = prediction(&name, "1.0.0", json!(writer), writer * 1000 + i);
                store
                    .store_prediction(&p)
                    .await
                    .unwrap_or_else(|e| panic!("writer {writer} write {i}: {e}"));
                acknowledged.push(p);
            }
            acknowledged
        });
    }
    let labeller = {
        let store = Arc::clone(&store);
        let ids: Vec<_> = to_label.iter().map(|p| p.id()).collect();
        tokio::spawn(async move {
            for id in ids {
                store
                    .record_actual(id, &json!(1))
                    .await
                    .unwrap_or_else(|e| panic!("label {id}: {e}"));
            }
        })
    };
    let pruner = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut removed = 0;
            for _ in 0..3 {
                let outcome = store
                    .prune_predictions(&Prune::before(cutoff))
                    .await
                    .expect("prune");
                removed += outcome.predictions;
                tokio::task::yield_now().await;
            }
            removed
        })
    };
    let mut expected = to_label.clone();
    while let Some(joined) = writers.join_next().await {
        expected.extend(joined.expect("writer task panicked"));
    }
    labeller.await.expect("labeller panicked");
    let removed = pruner.await.expect("pruner panicked");
    assert_eq!(removed, 1500, "every old prediction removed exactly once");

    let before = PredictionFilter::model(name.clone()).within(Window::until(cutoff));
    assert_eq!(store.count_predictions(&before).await.expect("count"), 0);
    let mut stored = store
        .recent_predictions(&name, &version("1.0.0"), Window::last(MAX_RECENT_LIMIT))
        .await
        .expect("recent");
    assert_eq!(stored.len(), expected.len());
    let key = |p: &Prediction| p.id();
    stored.sort_by_key(key);
    let labelled: std::collections::HashSet<_> = to_label.iter().map(|p| p.id()).collect();
    for p in &stored {
        let want = labelled.contains(&p.id()).then(|| json!(1));
        assert_eq!(p.actual(), want.as_ref(), "{}", p.id());
    }
    let strip = |p: &Prediction| (p.id(), p.timestamp(), p.prediction().clone());
    expected.sort_by_key(key);
    assert_eq!(
        stored.iter().map(strip).collect::<Vec<_>>(),
        expected.iter().map(strip).collect::<Vec<_>>()
    );
}
