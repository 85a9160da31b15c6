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
