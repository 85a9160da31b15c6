//! Checks of retention: [`crate::PredictionStore::prune_predictions`], retention policies,
//! [`crate::PredictionStore::prepare_storage`] and [`crate::retention::maintain`].

use serde_json::json;

use super::fixtures::{at, metadata, prediction, unique_name, version};
use crate::monitoring::{Bucket, SeriesQuery};
use crate::retention::{maintain, Prune, Retention};
use crate::{
    ConfidenceBaseline, ErrorKind, ModelName, Prediction, PredictionFilter, Store, Timestamp,
    Window,
};

fn hour() -> i64 {
    3_600_000_000
}

async fn registered(store: &dyn Store, prefix: &str, versions: &[&str]) -> ModelName {
    let name = unique_name(prefix);
    for v in versions {
        store.register(&metadata(&name, v)).await.expect("register");
    }
    name
}

/// Three predictions of `name`/`v`, one per hour from [`at`]`(0)`, the first two labelled.
async fn three(store: &dyn Store, name: &ModelName, v: &str) -> Vec<Prediction> {
    let preds: Vec<Prediction> = (0..3)
        .map(|i| prediction(name, v, json!("a"), i * hour() + 5))
        .collect();
    store.store_predictions(&preds).await.expect("store");
    for p in &preds[..2] {
        store
            .record_actual(p.id(), &json!("a"))
            .await
            .expect("label");
    }
    preds
}

async fn hourly(store: &dyn Store, name: &ModelName, v: &str) -> Vec<crate::BucketSums> {
    let q = SeriesQuery::new(at(0), at(3 * hour()), Bucket::Hour);
    store
        .bucket_sums(name, &version(v), &q)
        .await
        .expect("hourly sums")
}

async fn count(store: &dyn Store, name: &ModelName) -> u64 {
    store
        .count_predictions(&PredictionFilter::model(name.clone()))
        .await
        .expect("count")
}

/// prune_predictions (one version): removes exactly its predictions before the cut-off (a dry
/// run only counts them); they are gone by id and for labels; later ones, other versions and
/// other models stay; hourly sums and the baseline are unchanged.
pub async fn prune_removes_only_what_is_before_the_cutoff(store: &dyn Store) {
    let name = registered(store, "prune", &["1.0.0", "2.0.0"]).await;
    let other = registered(store, "prune-other", &["1.0.0"]).await;
    let preds = three(store, &name, "1.0.0").await;
    let kept_version = three(store, &name, "2.0.0").await;
    let kept_model = three(store, &other, "1.0.0").await;
    let baseline =
        ConfidenceBaseline::new(name.clone(), version("1.0.0"), 0.7, 0.1, 50).expect("baseline");
    store.store_baseline(&baseline).await.expect("baseline");
    let sums_before = hourly(store, &name, "1.0.0").await;
    let cutoff = at(2 * hour());
    let v1 = Prune::before(cutoff).version(name.clone(), version("1.0.0"));

    let dry = store
        .prune_predictions(&v1.clone().dry_run(true))
        .await
        .expect("dry run");
    assert_eq!((dry.predictions, dry.dry_run), (2, true));
    assert_eq!(count(store, &name).await, 6, "a dry run removes nothing");

    let done = store.prune_predictions(&v1).await.expect("prune");
    assert_eq!((done.predictions, done.dry_run), (2, false));
    for p in &preds[..2] {
        assert_eq!(store.prediction(p.id()).await.expect("read"), None);
        let err = store.record_actual(p.id(), &json!("a")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }
    assert_eq!(
        store
            .prediction(preds[2].id())
            .await
            .expect("read")
            .as_ref(),
        Some(&preds[2])
    );
    let recent = store
        .recent_predictions(&name, &version("1.0.0"), Window::last(10))
        .await
        .expect("recent");
    assert_eq!(recent, vec![preds[2].clone()]);
    let accuracy = store
        .accuracy(&name, &version("1.0.0"), Window::last(10))
        .await
        .expect("accuracy");
    assert_eq!(accuracy.total(), 0, "the labelled ones were pruned");
    for p in kept_version.iter().chain(&kept_model) {
        assert!(store.prediction(p.id()).await.expect("read").is_some());
    }
    assert_eq!(count(store, &name).await, 4);
    assert_eq!(count(store, &other).await, 3);
    assert_eq!(
        hourly(store, &name, "1.0.0").await,
        sums_before,
        "hourly sums outlive the pruned predictions"
    );
    let minutes = SeriesQuery::new(at(0), at(3 * hour()), Bucket::Minute);
    let minute_sums = store
        .bucket_sums(&name, &version("1.0.0"), &minutes)
        .await
        .expect("minute sums");
    assert_eq!(
        minute_sums.iter().map(|s| s.predictions).sum::<u64>(),
        1,
        "minute sums come from the predictions that remain"
    );
    assert_eq!(
        store
            .baseline(&name, &version("1.0.0"))
            .await
            .expect("baseline"),
        Some(baseline)
    );
    let again = store.prune_predictions(&v1).await.expect("prune again");
    assert_eq!(again.predictions, 0, "nothing left before the cut-off");
}

/// prune_predictions (a model, every model): a model's prune covers all its versions; a prune
/// of every model removes every model's predictions before the cut-off and nothing after.
pub async fn prune_of_a_model_and_of_everything(store: &dyn Store) {
    let name = registered(store, "prune-model", &["1.0.0", "2.0.0"]).await;
    three(store, &name, "1.0.0").await;
    let later = three(store, &name, "2.0.0").await;
    let done = store
        .prune_predictions(&Prune::before(at(hour())).model(name.clone()))
        .await
        .expect("prune model");
    assert_eq!(done.predictions, 2, "one per version");
    assert_eq!(count(store, &name).await, 4);

    // Every model: predictions of this check alone lie in 1500 (other checks' lie elsewhere).
    let old = registered(store, "prune-all", &["1.0.0"]).await;
    let t = |month: u32, day: u32| -> Timestamp {
        chrono::NaiveDate::from_ymd_opt(1500, month, day)
            .expect("date")
            .and_hms_opt(12, 0, 0)
            .expect("time")
            .and_utc()
    };
    let ancient: Vec<Prediction> = [t(1, 10), t(1, 31), t(3, 10)]
        .into_iter()
        .map(|ts| {
            Prediction::builder(old.clone(), version("1.0.0"), json!(1), 0.5)
                .timestamp(ts)
                .build()
                .expect("prediction")
        })
        .collect();
    store.store_predictions(&ancient).await.expect("store");
    let cutoff = t(2, 1);
    let dry = store
        .prune_predictions(&Prune::before(cutoff).dry_run(true))
        .await
        .expect("dry run");
    assert!(dry.predictions >= 2, "{dry:?}");
    assert_eq!(count(store, &old).await, 3);
    let done = store
        .prune_predictions(&Prune::before(cutoff))
        .await
        .expect("prune all");
    assert!(done.predictions >= 2, "{done:?}");
    assert_eq!(count(store, &old).await, 1);
    assert!(store
        .prediction(ancient[2].id())
        .await
        .expect("read")
        .is_some());
    assert!(store
        .prediction(ancient[0].id())
        .await
        .expect("read")
        .is_none());
    for p in &later[1..] {
        assert!(store.prediction(p.id()).await.expect("read").is_some());
    }
}

/// prune_predictions: an unknown model or version is NotFound and a cut-off outside the time
/// range InvalidInput; nothing is removed.
pub async fn prune_of_unknown_scope_is_not_found(store: &dyn Store) {
    let name = registered(store, "prune-missing", &["1.0.0"]).await;
    three(store, &name, "1.0.0").await;
    let cutoff = at(10 * hour());
    let missing = [
        Prune::before(cutoff).model(unique_name("nobody")),
        Prune::before(cutoff).version(name.clone(), version("9.9.9")),
    ];
    for prune in missing {
        let err = store.prune_predictions(&prune).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{prune:?}: {err}");
    }
    let err = store
        .prune_predictions(&Prune::before(crate::time::end_of_range()).model(name.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            crate::Error::InvalidInput {
                field: "before",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(count(store, &name).await, 3);
}

/// set_retention / retention_policies: stored, listed, replaced and removed; a policy for a
/// model with no versions is NotFound; maintain applies the policies and prepare_storage is
/// idempotent.
pub async fn retention_policies_are_kept_and_applied(store: &dyn Store) {
    let name = registered(store, "retention", &["1.0.0"]).await;
    let err = store
        .set_retention(
            &unique_name("nobody"),
            Some(Retention::parse("7d").expect("policy")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let week = Retention::parse("7d").expect("policy");
    let month = Retention::parse("30d").expect("policy");
    store
        .set_retention(&name, Some(week))
        .await
        .expect("set policy");
    let mine = |policies: Vec<(ModelName, Retention)>| {
        policies
            .into_iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, r)| r)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mine(store.retention_policies().await.expect("list")),
        [week]
    );
    store
        .set_retention(&name, Some(month))
        .await
        .expect("replace policy");
    assert_eq!(
        mine(store.retention_policies().await.expect("list")),
        [month]
    );

    // Maintenance at a fixed "now": 40 days old goes, 10 days old stays.
    let now = at(0);
    let aged = |days: i64| {
        Prediction::builder(name.clone(), version("1.0.0"), json!("a"), 0.5)
            .timestamp(now - chrono::Duration::days(days))
            .build()
            .expect("prediction")
    };
    let (old, young) = (aged(40), aged(10));
    store
        .store_predictions(&[old.clone(), young.clone()])
        .await
        .expect("store");
    let dry = maintain(store, now, true).await.expect("dry maintenance");
    let planned = dry
        .models
        .iter()
        .find(|m| m.model == name)
        .expect("the policy was applied");
    assert_eq!(planned.outcome.predictions, 1);
    assert_eq!(count(store, &name).await, 2, "a dry run removes nothing");
    let report = maintain(store, now, false).await.expect("maintenance");
    assert!(report.predictions() >= 1, "{report:?}");
    assert!(store.prediction(old.id()).await.expect("read").is_none());
    assert!(store.prediction(young.id()).await.expect("read").is_some());
    assert_eq!(
        store.prepare_storage(now).await.expect("prepare"),
        0,
        "maintenance prepared this month and the next ones already"
    );

    store.set_retention(&name, None).await.expect("remove");
    assert!(mine(store.retention_policies().await.expect("list")).is_empty());
    store
        .set_retention(&name, None)
        .await
        .expect("removing an absent policy does nothing");
}
