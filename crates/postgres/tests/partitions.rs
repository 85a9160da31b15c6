//! Monthly partitions of `ml_predictions` on a real PostgreSQL: the conversion of an existing
//! table with its data, partitions created on demand and ahead, and pruning by whole
//! partitions (also finishing a prune that stopped after its detach).

use chrono::{NaiveDate, TimeZone, Utc};
use mlstore_core::retention::Prune;
use mlstore_core::{
    ErrorKind, ModelMetadata, ModelName, ModelRegistry, Prediction, PredictionFilter,
    PredictionStore, Timestamp, Version,
};
use mlstore_postgres::{PostgresStore, MIGRATOR};
use serde_json::json;
use sqlx::Connection;

fn day(year: i32, month: u32, d: u32) -> Timestamp {
    Utc.from_utc_datetime(
        &NaiveDate::from_ymd_opt(year, month, d)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
    )
}

async fn registered(store: &PostgresStore) -> (ModelName, Version) {
    let name = ModelName::new("partitioned").unwrap();
    let version = Version::new("1.0.0").unwrap();
    let m = ModelMetadata::builder(name.clone(), version.clone(), "t")
        .build()
        .unwrap();
    store.register(&m).await.unwrap();
    (name, version)
}

fn predictions(name: &ModelName, version: &Version, days: &[Timestamp]) -> Vec<Prediction> {
    days.iter()
        .map(|ts| {
            Prediction::builder(name.clone(), version.clone(), json!("a"), 0.75)
                .timestamp(*ts)
                .build()
                .unwrap()
        })
        .collect()
}

async fn tables_like(conn: &mut sqlx::PgConnection, pattern: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relkind IN ('r', 'p') AND relname LIKE $1 \
         ORDER BY 1",
    )
    .bind(pattern)
    .fetch_all(conn)
    .await
    .unwrap()
}

async fn hours(conn: &mut sqlx::PgConnection) -> Vec<(Timestamp, i64, i64, i64)> {
    sqlx::query_as(
        "SELECT hour, predictions, labelled, correct FROM ml_prediction_hours ORDER BY hour",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// A database at schema version 4 (one unpartitioned table) with predictions in it is
/// converted by the next connect: every prediction is kept, readable by id, labelled in place,
/// still unique by id, and the hourly sums are neither lost nor counted twice.
#[tokio::test]
async fn an_unpartitioned_table_is_converted_with_its_data() {
    let url = mlstore_testkit::fresh_postgres_url().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    MIGRATOR
        .run_direct(Some(4), &mut conn, false)
        .await
        .expect("migrate to version 4");
    let version = Version::new("1.0.0").unwrap();
    let model_id: i64 = sqlx::query_scalar(
        "INSERT INTO ml_models (name, version, version_key, model_type, configuration, \
         metrics, tags, created_at) VALUES ('old', '1.0.0', $1, 't', '{}', '{}', '{}', now()) \
         RETURNING id",
    )
    .bind(version.sort_key())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // 300 predictions over three months, every third one labelled (right when even).
    let ids: Vec<uuid::Uuid> = (0..300).map(|_| uuid::Uuid::new_v4()).collect();
    sqlx::query(
        "INSERT INTO ml_predictions (id, model_id, prediction, actual, correct, confidence, \
         features, ts) \
         SELECT id, $2, '\"a\"', CASE WHEN n % 3 = 0 THEN '\"a\"' END, \
         CASE WHEN n % 3 = 0 THEN n % 2 = 0 END, 0.5, '{}', \
         '2025-01-01T00:00:00Z'::timestamptz + n * interval '7 hours' \
         FROM UNNEST($1::uuid[]) WITH ORDINALITY AS t(id, n)",
    )
    .bind(&ids)
    .bind(model_id)
    .execute(&mut conn)
    .await
    .unwrap();
    let sums_before = hours(&mut conn).await;
    assert_eq!(sums_before.iter().map(|h| h.1).sum::<i64>(), 300);

    let store = PostgresStore::connect_url(&url)
        .await
        .expect("migrate to 5");
    assert_eq!(store.schema_version(), 5);
    let kind: String =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE relname = 'ml_predictions'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(kind, "p", "ml_predictions is partitioned");
    let months = tables_like(&mut conn, "ml\\_predictions\\_2025\\_%").await;
    assert_eq!(
        months,
        [
            "ml_predictions_2025_01",
            "ml_predictions_2025_02",
            "ml_predictions_2025_03"
        ]
    );
    assert_eq!(
        tables_like(&mut conn, "ml\\_predictions\\_unpartitioned").await,
        Vec::<String>::new()
    );
    assert_eq!(hours(&mut conn).await, sums_before, "sums copied once");
    let name = ModelName::new("old").unwrap();
    let count = store
        .count_predictions(&PredictionFilter::model(name.clone()))
        .await
        .unwrap();
    assert_eq!(count, 300);
    let p = store.prediction(ids[10]).await.unwrap().expect("kept");
    assert_eq!(p.model(), &name);
    store.record_actual(ids[10], &json!("a")).await.unwrap();
    assert_eq!(
        store.prediction(ids[10]).await.unwrap().unwrap().actual(),
        Some(&json!("a"))
    );
    // The same id in another month is still a duplicate.
    let again = Prediction::builder(name.clone(), version.clone(), json!("b"), 0.5)
        .id(ids[10])
        .timestamp(day(2025, 6, 1))
        .build()
        .unwrap();
    let err = store.store_prediction(&again).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
}

/// Writes to a month with no partition create it; connect prepares this month and the next
/// ones, and prepare_storage further ahead creates only what is missing.
#[tokio::test]
async fn partitions_are_created_ahead_and_on_demand() {
    let url = mlstore_testkit::fresh_postgres_url().await;
    let store = PostgresStore::connect_url(&url).await.unwrap();
    let (name, version) = registered(&store).await;
    let now = mlstore_core::time::now();
    assert_eq!(
        store.prepare_storage(now).await.unwrap(),
        0,
        "done on connect"
    );
    let far = predictions(&name, &version, &[day(2031, 7, 4), day(2031, 9, 4)]);
    store
        .store_predictions(&far)
        .await
        .expect("a month without partition");
    store
        .store_prediction(&predictions(&name, &version, &[day(2032, 2, 29)])[0])
        .await
        .expect("single write");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let made = tables_like(&mut conn, "ml\\_predictions\\_203%").await;
    assert_eq!(
        made,
        [
            "ml_predictions_2031_07",
            "ml_predictions_2031_09",
            "ml_predictions_2032_02"
        ]
    );
    let next_year = now + chrono::Duration::days(366);
    assert_eq!(store.prepare_storage(next_year).await.unwrap(), 4);
    assert_eq!(store.prepare_storage(next_year).await.unwrap(), 0);
}

/// A prune of every model detaches and drops the partitions before the cut-off and deletes
/// rows only in the one holding it; the ids of the pruned predictions are free again, the
/// hourly sums stay, and no detached table is left.
#[tokio::test]
async fn pruning_every_model_drops_whole_partitions() {
    let url = mlstore_testkit::fresh_postgres_url().await;
    let store = PostgresStore::connect_url(&url).await.unwrap();
    let (name, version) = registered(&store).await;
    let days: Vec<Timestamp> = (1..=4u32)
        .flat_map(|m| (1..=28u32).step_by(3).map(move |d| day(2025, m, d)))
        .collect();
    let stored = predictions(&name, &version, &days);
    store.store_predictions(&stored).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let sums = hours(&mut conn).await;
    let cutoff = day(2025, 3, 15);
    let expected = days.iter().filter(|t| **t < cutoff).count() as u64;

    let outcome = store
        .prune_predictions(&Prune::before(cutoff))
        .await
        .unwrap();
    assert_eq!(outcome.partitions_dropped, 2, "{outcome:?}");
    assert_eq!(outcome.predictions, expected);
    assert_eq!(
        tables_like(&mut conn, "ml\\_predictions\\_2025\\_%").await,
        ["ml_predictions_2025_03", "ml_predictions_2025_04"]
    );
    assert!(tables_like(&mut conn, "ml\\_pruned\\_%").await.is_empty());
    let ids: i64 = sqlx::query_scalar("SELECT count(*) FROM ml_prediction_ids")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(ids as u64, days.len() as u64 - expected);
    assert_eq!(hours(&mut conn).await, sums, "hourly sums outlive the rows");
    // A pruned id is free again: storing it succeeds (its month's partition is recreated).
    store.store_prediction(&stored[0]).await.expect("id freed");
    assert_eq!(
        store.prediction(stored[0].id()).await.unwrap().as_ref(),
        Some(&stored[0])
    );
}

/// A prune stopped after detaching (here: the detach run alone) leaves `ml_pruned_...`
/// tables whose rows are already invisible and which no longer follow deletions of their
/// model version; the next prune, of any scope, removes their ids and drops them.
#[tokio::test]
async fn a_prune_stopped_after_its_detach_is_finished_by_the_next() {
    let url = mlstore_testkit::fresh_postgres_url().await;
    let store = PostgresStore::connect_url(&url).await.unwrap();
    let (name, version) = registered(&store).await;
    let stored = predictions(
        &name,
        &version,
        &[day(2024, 1, 5), day(2024, 1, 6), day(2024, 2, 5)],
    );
    store.store_predictions(&stored).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let detached: i64 = sqlx::query_scalar("SELECT ml_detach_partitions($1)")
        .bind(day(2024, 2, 1))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(detached, 1);
    assert_eq!(
        tables_like(&mut conn, "ml\\_pruned\\_%").await,
        ["ml_pruned_2024_01"]
    );
    assert_eq!(store.prediction(stored[0].id()).await.unwrap(), None);
    let err = store.store_prediction(&stored[0]).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::AlreadyExists,
        "ids stay reserved until the prune finishes"
    );
    let fks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'ml_pruned_2024_01'::regclass \
         AND contype = 'f'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(fks, 0, "a detached table keeps no cascade from ml_models");
    let outcome = store
        .prune_predictions(&Prune::before(day(2024, 2, 1)).model(name.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.predictions, 2, "{outcome:?}");
    assert!(tables_like(&mut conn, "ml\\_pruned\\_%").await.is_empty());
    store.store_prediction(&stored[0]).await.expect("id freed");
}
