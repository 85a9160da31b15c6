//! Property tests run against any store.
//!
//! - [`model_based`]: random sequences of operations give the same results on the store under
//!   test as on [`MemoryStore`], the reference.
//! - [`bad_input`]: invalid names, versions, confidences, oversized JSON, unknown models and ids,
//!   out-of-range limits and conflicting batches get the right error and leave the store as it was.
//! - [`strings_round_trip`]: NUL-free Unicode, quotes, SQL fragments and emoji are stored and read
//!   back verbatim.
//!
//! Each takes a factory that builds a fresh store (called once per case by [`model_based`], once
//! in all by the others) and runs [`DEFAULT_CASES`] cases, or `PROPTEST_CASES` if set.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::limits::{MAX_JSON_BYTES, MAX_NAME_BYTES, MAX_RECENT_LIMIT, MAX_WINDOW_LAST};
use crate::{
    Accuracy, Alias, ConfidenceBaseline, Error, ErrorKind, Label, MemoryStore, ModelMetadata,
    ModelName, Prediction, Result, Store, Version, Window,
};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
pub const DEFAULT_CASES: u32 = 256;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn fail<E: std::fmt::Display>(e: E) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// The operation alphabet
// ---------------------------------------------------------------------------------------------

const NAMES: [&str; 3] = ["fraud", "'; DROP TABLE ml_models; --", "模型 🚀 \"q\""];
const VERSIONS: [&str; 10] = [
    "0.1.0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.0+build.7",
    "1.9.0",
    "1.10.0",
    "2.0.0-beta.2",
    "2.0.0-beta.11",
];
const ALIASES: [&str; 2] = ["production", "champion"];
const IDS: usize = 6;
const FIXED_MICROS: i64 = 1_750_000_000_000_000;

fn json_value(i: u8) -> Value {
    match i % 5 {
        0 => json!("a"),
        1 => json!("b"),
        2 => json!(1),
        3 => json!({"k": [1, 2], "a": null}),
        _ => json!(1.0),
    }
}

fn name(i: u8) -> ModelName {
    ModelName::new(NAMES[i as usize % NAMES.len()]).expect("valid")
}
fn version(i: u8) -> Version {
    Version::new(VERSIONS[i as usize % VERSIONS.len()]).expect("valid")
}
fn alias(i: u8) -> Alias {
    Alias::new(ALIASES[i as usize % ALIASES.len()]).expect("valid")
}
fn id(i: u8) -> Uuid {
    Uuid::from_u128(0x6d6c_7374_6f72_6500_0000_0000_0000_0000 + (i as usize % IDS) as u128)
}
fn at(micros: i64) -> crate::Timestamp {
    crate::time::from_micros(FIXED_MICROS + micros).expect("in range")
}

fn meta(n: u8, v: u8, variant: u8) -> ModelMetadata {
    let b = ModelMetadata::builder(
        name(n),
        version(v),
        ["cnn", "gbm", "linear"][variant as usize % 3],
    )
    .metric("auc", f64::from(variant) / 10.0)
    .created_at(at(i64::from(variant)));
    let b = if variant % 2 == 0 {
        b.tag("stage", "canary").description("d")
    } else {
        b
    };
    b.build().expect("valid")
}

/// One prediction of the generated alphabet.
#[derive(Debug, Clone)]
struct PredSpec {
    id: u8,
    name: u8,
    version: u8,
    value: u8,
    actual: Option<u8>,
    micros: u8,
    confidence: u8,
}

impl PredSpec {
    fn build(&self) -> Prediction {
        Prediction::builder(
            name(self.name),
            version(self.version),
            json_value(self.value),
            f64::from(self.confidence % 11) / 10.0,
        )
        .id(id(self.id))
        .actual(self.actual.map(json_value))
        .feature("f", json!(self.value))
        .timestamp(at(i64::from(self.micros % 4)))
        .build()
        .expect("valid")
    }
}

/// An optional `[since, until)` over the alphabet's timestamps (0 to 3 µs past the fixed instant).
type Range = (Option<u8>, Option<u8>);

fn window(last: Option<u8>, (since, until): Range) -> Window {
    let mut w = Window::all();
    if let Some(n) = last {
        w = w.with_last(usize::from(n));
    }
    if let Some(s) = since {
        w = w.with_since(at(i64::from(s)));
    }
    if let Some(u) = until {
        w = w.with_until(at(i64::from(u)));
    }
    w
}

fn range() -> impl Strategy<Value = Range> {
    (
        proptest::option::weighted(0.3, 0u8..5),
        proptest::option::weighted(0.3, 0u8..5),
    )
}

#[derive(Debug, Clone)]
enum Op {
    Register(u8, u8, u8),
    Update(u8, u8, u8),
    Delete(u8, u8),
    Get(u8, u8),
    Latest(u8),
    Versions(u8),
    ListModels,
    SetAlias(u8, u8, u8),
    ResolveAlias(u8, u8),
    RemoveAlias(u8, u8),
    StorePrediction(PredSpec),
    StorePredictions(Vec<PredSpec>),
    RecordActual(u8, u8),
    RecordActuals(Vec<(u8, u8)>),
    Recent(u8, u8, u8, Range),
    Accuracy(u8, u8, Option<u8>, Range),
    StoreBaseline(u8, u8, u8),
    Baseline(u8, u8),
    StorePredictionsWith(Vec<PredSpec>, bool, bool),
    RecordActualsWith(Vec<(u8, u8)>),
    GetPrediction(u8),
    CountPredictions(Option<u8>, Option<u8>, Range, bool),
    ScanPredictions(u8, u8, u8, Range, bool, Option<(u8, u8)>),
    WindowRows(u8, u8, Option<u8>, Range),
    BucketSums(u8, u8, bool),
    RollbackAlias(u8, u8),
    Aliases(u8),
}

fn batch_options(skip_conflicts: bool, skip_missing: bool) -> crate::BatchOptions {
    let choose = |skip| {
        if skip {
            crate::OnProblem::Skip
        } else {
            crate::OnProblem::Fail
        }
    };
    crate::BatchOptions::default()
        .on_conflict(choose(skip_conflicts))
        .on_missing(choose(skip_missing))
}

fn pred_spec() -> impl Strategy<Value = PredSpec> {
    // Versions are drawn from the first four so predictions often hit registered versions.
    (
        any::<u8>(),
        0u8..3,
        0u8..4,
        any::<u8>(),
        proptest::option::of(any::<u8>()),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(
            |(id, name, version, value, actual, micros, confidence)| PredSpec {
                id,
                name: name % 2,
                version,
                value,
                actual,
                micros,
                confidence,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0u8..3;
    let v = 0u8..10;
    let small_v = 0u8..4;
    prop_oneof![
        6 => (n.clone(), v.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::Register(a, b, c)),
        6 => (0u8..2, small_v.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::Register(a, b, c)),
        1 => (n.clone(), v.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::Update(a, b, c)),
        1 => (n.clone(), v.clone()).prop_map(|(a, b)| Op::Delete(a, b)),
        1 => (n.clone(), v.clone()).prop_map(|(a, b)| Op::Get(a, b)),
        2 => n.clone().prop_map(Op::Latest),
        1 => n.clone().prop_map(Op::Versions),
        1 => Just(Op::ListModels),
        2 => (n.clone(), 0u8..2, v.clone()).prop_map(|(a, b, c)| Op::SetAlias(a, b, c)),
        1 => (n.clone(), 0u8..2).prop_map(|(a, b)| Op::ResolveAlias(a, b)),
        1 => (n.clone(), 0u8..2).prop_map(|(a, b)| Op::RemoveAlias(a, b)),
        4 => pred_spec().prop_map(Op::StorePrediction),
        2 => proptest::collection::vec(pred_spec(), 0..5).prop_map(Op::StorePredictions),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::RecordActual(a, b)),
        1 => proptest::collection::vec((any::<u8>(), any::<u8>()), 0..4).prop_map(Op::RecordActuals),
        2 => (0u8..2, small_v.clone(), 1u8..8, range()).prop_map(|(a, b, c, r)| Op::Recent(a, b, c, r)),
        2 => (0u8..2, small_v.clone(), proptest::option::weighted(0.8, 1u8..8), range())
            .prop_map(|(a, b, c, r)| Op::Accuracy(a, b, c, r)),
        1 => (0u8..2, small_v.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::StoreBaseline(a, b, c)),
        1 => (0u8..2, small_v.clone()).prop_map(|(a, b)| Op::Baseline(a, b)),
        2 => (proptest::collection::vec(pred_spec(), 0..5), any::<bool>(), any::<bool>())
            .prop_map(|(b, c, m)| Op::StorePredictionsWith(b, c, m)),
        1 => proptest::collection::vec((any::<u8>(), any::<u8>()), 0..4)
            .prop_map(Op::RecordActualsWith),
        1 => any::<u8>().prop_map(Op::GetPrediction),
        1 => (
            proptest::option::of(0u8..3),
            proptest::option::of(small_v.clone()),
            range(),
            any::<bool>()
        )
            .prop_map(|(n, v, r, l)| Op::CountPredictions(n, v, r, l)),
        1 => (
            0u8..2,
            small_v.clone(),
            1u8..5,
            range(),
            any::<bool>(),
            proptest::option::of((0u8..5, any::<u8>()))
        )
            .prop_map(|(n, v, size, r, l, c)| Op::ScanPredictions(n, v, size, r, l, c)),
        1 => (0u8..2, small_v.clone(), proptest::option::of(1u8..8), range())
            .prop_map(|(n, v, l, r)| Op::WindowRows(n, v, l, r)),
        1 => (0u8..2, small_v, any::<bool>())
            .prop_map(|(n, v, minutes)| Op::BucketSums(n, v, minutes)),
        2 => (n.clone(), 0u8..2).prop_map(|(a, b)| Op::RollbackAlias(a, b)),
        1 => n.clone().prop_map(Op::Aliases),
    ]
}

/// What an operation returned, comparable across stores (errors by kind).
#[derive(Debug, PartialEq)]
enum Outcome {
    Done,
    Metadata(Option<ModelMetadata>),
    MetadataList(Vec<ModelMetadata>),
    Names(Vec<ModelName>),
    Version(Option<Version>),
    Predictions(Vec<Prediction>),
    Accuracy(Accuracy),
    Baseline(Option<ConfidenceBaseline>),
    Batch(crate::BatchOutcome),
    Prediction(Option<Prediction>),
    Count(u64),
    Page(crate::ScanPage),
    /// Window rows without the label lag (which depends on when each store wrote the label).
    Rows(Vec<RowSeen>),
    /// Bucket sums without the lag, floats to 9 decimals (sums may add in another order).
    Sums(Vec<String>),
    Aliases(Vec<(Alias, Version)>),
    /// The log without sequence numbers, times and actors (each store writes its own).
    Log(Vec<LoggedEvent>),
    Failed(ErrorKind),
}

type LoggedEvent = (
    crate::EventKind,
    ModelName,
    Option<Version>,
    Option<Alias>,
    Option<Version>,
    Vec<String>,
);

fn log_seen(page: crate::EventPage) -> Outcome {
    Outcome::Log(
        page.events
            .into_iter()
            .map(|e| {
                (
                    e.kind,
                    e.model,
                    e.version,
                    e.alias,
                    e.from_version,
                    e.fields,
                )
            })
            .collect(),
    )
}

type RowSeen = (
    u64,
    Option<bool>,
    Option<u64>,
    Option<u64>,
    Option<(String, String)>,
);

fn rows_seen(rows: Vec<crate::WindowRow>) -> Outcome {
    Outcome::Rows(
        rows.into_iter()
            .map(|r| {
                (
                    r.confidence.to_bits(),
                    r.correct,
                    r.prediction_number.map(f64::to_bits),
                    r.actual_number.map(f64::to_bits),
                    r.classes,
                )
            })
            .collect(),
    )
}

fn sums_seen(sums: Vec<crate::BucketSums>) -> Outcome {
    Outcome::Sums(
        sums.into_iter()
            .map(|s| {
                format!(
                    "{:?} {} {} {} {:.9} {:.9} {} {:.9} {:.9} {:.9}",
                    s.start,
                    s.predictions,
                    s.labelled,
                    s.correct,
                    s.confidence_sum,
                    s.confidence_square_sum,
                    s.numeric_count,
                    s.absolute_error_sum,
                    s.squared_error_sum,
                    s.error_sum
                )
            })
            .collect(),
    )
}

fn outcome<T>(result: Result<T>, wrap: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(value) => wrap(value),
        Err(e) => Outcome::Failed(e.kind()),
    }
}

async fn apply(store: &dyn Store, op: &Op) -> Outcome {
    use Outcome as O;
    let done = |_| O::Done;
    match op {
        Op::Register(n, v, k) => outcome(store.register(&meta(*n, *v, *k)).await, done),
        Op::Update(n, v, k) => outcome(store.update(&meta(*n, *v, *k)).await, done),
        Op::Delete(n, v) => outcome(store.delete(&name(*n), &version(*v)).await, done),
        Op::Get(n, v) => outcome(store.get(&name(*n), &version(*v)).await, O::Metadata),
        Op::Latest(n) => outcome(store.latest(&name(*n)).await, O::Metadata),
        Op::Versions(n) => outcome(store.versions(&name(*n)).await, O::MetadataList),
        Op::ListModels => outcome(store.list_models().await, O::Names),
        Op::SetAlias(n, a, v) => outcome(
            store.set_alias(&name(*n), &alias(*a), &version(*v)).await,
            done,
        ),
        Op::ResolveAlias(n, a) => {
            outcome(store.resolve_alias(&name(*n), &alias(*a)).await, O::Version)
        }
        Op::RemoveAlias(n, a) => outcome(store.remove_alias(&name(*n), &alias(*a)).await, done),
        Op::StorePrediction(p) => outcome(store.store_prediction(&p.build()).await, done),
        Op::StorePredictions(ps) => {
            let batch: Vec<Prediction> = ps.iter().map(PredSpec::build).collect();
            outcome(store.store_predictions(&batch).await, done)
        }
        Op::RecordActual(i, v) => outcome(store.record_actual(id(*i), &json_value(*v)).await, done),
        Op::RecordActuals(labels) => {
            let labels: Vec<Label> = labels
                .iter()
                .map(|(i, v)| Label::new(id(*i), json_value(*v)).expect("valid"))
                .collect();
            outcome(store.record_actuals(&labels).await, done)
        }
        Op::Recent(n, v, limit, r) => outcome(
            store
                .recent_predictions(&name(*n), &version(*v), window(Some(*limit), *r))
                .await,
            O::Predictions,
        ),
        Op::Accuracy(n, v, last, r) => outcome(
            store
                .accuracy(&name(*n), &version(*v), window(*last, *r))
                .await,
            O::Accuracy,
        ),
        Op::StoreBaseline(n, v, k) => {
            let b = ConfidenceBaseline::with_updated_at(
                name(*n),
                version(*v),
                f64::from(k % 101) / 100.0,
                f64::from(k % 7) / 20.0,
                u64::from(*k),
                at(i64::from(*k)),
            )
            .expect("valid");
            outcome(store.store_baseline(&b).await, done)
        }
        Op::Baseline(n, v) => outcome(store.baseline(&name(*n), &version(*v)).await, O::Baseline),
        Op::StorePredictionsWith(ps, c, m) => {
            let batch: Vec<Prediction> = ps.iter().map(PredSpec::build).collect();
            outcome(
                store
                    .store_predictions_with(&batch, batch_options(*c, *m))
                    .await,
                O::Batch,
            )
        }
        Op::RecordActualsWith(labels) => {
            let labels: Vec<Label> = labels
                .iter()
                .map(|(i, v)| Label::new(id(*i), json_value(*v)).expect("valid"))
                .collect();
            outcome(
                store
                    .record_actuals_with(&labels, batch_options(false, true))
                    .await,
                O::Batch,
            )
        }
        Op::GetPrediction(i) => outcome(store.prediction(id(*i)).await, O::Prediction),
        Op::CountPredictions(n, v, r, labelled) => {
            let filter = match (n, v) {
                (Some(n), Some(v)) => crate::PredictionFilter::version(name(*n), version(*v)),
                (Some(n), None) => crate::PredictionFilter::model(name(*n)),
                _ => crate::PredictionFilter::all(),
            };
            let filter = filter.within(window(None, *r)).labelled_only(*labelled);
            outcome(store.count_predictions(&filter).await, O::Count)
        }
        Op::RollbackAlias(n, a) => outcome(
            store.rollback_alias(&name(*n), &alias(*a)).await.map(Some),
            O::Version,
        ),
        Op::Aliases(n) => outcome(store.aliases(&name(*n)).await, O::Aliases),
        Op::WindowRows(n, v, last, r) => outcome(
            store
                .window_rows(&name(*n), &version(*v), window(*last, *r))
                .await,
            rows_seen,
        ),
        Op::BucketSums(n, v, minutes) => {
            let bucket = if *minutes {
                crate::Bucket::Minute
            } else {
                crate::Bucket::Hour
            };
            let q = crate::SeriesQuery::new(at(-120_000_000), at(7_200_000_000), bucket);
            outcome(
                store.bucket_sums(&name(*n), &version(*v), &q).await,
                sums_seen,
            )
        }
        Op::ScanPredictions(n, v, size, r, labelled, from) => {
            let options = crate::ScanOptions::default()
                .page_size(usize::from(*size))
                .within(window(None, *r))
                .labelled_only(*labelled)
                .from(from.map(|(micros, i)| crate::Cursor {
                    ts: at(i64::from(micros)),
                    id: id(i),
                }));
            outcome(
                store
                    .scan_predictions(&name(*n), &version(*v), options)
                    .await,
                O::Page,
            )
        }
    }
}

/// Everything observable about the alphabet's names, versions and aliases.
async fn snapshot(
    store: &dyn Store,
    names: &[ModelName],
    versions: &[Version],
    aliases: &[Alias],
) -> Vec<Outcome> {
    let mut seen = vec![outcome(store.list_models().await, Outcome::Names)];
    let everything = crate::EventQuery::all().limit(MAX_RECENT_LIMIT);
    seen.push(outcome(store.events(&everything).await, log_seen));
    for n in names {
        seen.push(outcome(store.latest(n).await, Outcome::Metadata));
        seen.push(outcome(store.versions(n).await, Outcome::MetadataList));
        for a in aliases {
            seen.push(outcome(store.resolve_alias(n, a).await, Outcome::Version));
        }
        for v in versions {
            seen.push(outcome(store.get(n, v).await, Outcome::Metadata));
            seen.push(outcome(
                store
                    .recent_predictions(n, v, Window::last(MAX_RECENT_LIMIT))
                    .await,
                Outcome::Predictions,
            ));
            seen.push(outcome(
                store.accuracy(n, v, Window::last(1000)).await,
                Outcome::Accuracy,
            ));
            seen.push(outcome(
                store
                    .count_predictions(&crate::PredictionFilter::version(n.clone(), v.clone()))
                    .await,
                Outcome::Count,
            ));
            seen.push(outcome(store.baseline(n, v).await, Outcome::Baseline));
        }
    }
    seen
}

async fn alphabet_snapshot(store: &dyn Store) -> Vec<Outcome> {
    let names: Vec<ModelName> = (0..NAMES.len() as u8).map(name).collect();
    let versions: Vec<Version> = (0..VERSIONS.len() as u8).map(version).collect();
    let aliases: Vec<Alias> = (0..ALIASES.len() as u8).map(alias).collect();
    snapshot(store, &names, &versions, &aliases).await
}

/// Applies random operation sequences to a fresh store from `make` and to a fresh
/// [`MemoryStore`]; every result, and the final state, must be identical (errors compared by
/// kind).
///
/// # Panics
/// On the first difference, with the shrunk sequence of operations.
pub fn model_based<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Store + 'static,
{
    let rt = runtime();
    let mut runner = TestRunner::new(Config {
        // Each case builds a fresh store; keep the default case count but shorter shrinking.
        max_shrink_iters: 2048,
        ..config()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        rt.block_on(async {
            let store = make().await;
            let oracle = MemoryStore::new();
            for (step, op) in ops.iter().enumerate() {
                let got = apply(&store, op).await;
                let want = apply(&oracle, op).await;
                prop_assert_eq!(got, want, "step {} of {}: {:?}", step, ops.len(), op);
            }
            let got = alphabet_snapshot(&store).await;
            let want = alphabet_snapshot(&oracle).await;
            prop_assert_eq!(got, want, "final state differs");
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("model-based property failed: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

/// Strings that are not valid model names or aliases.
fn invalid_label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "\\PC{0,10}".prop_map(|s| format!(" {s}")),
        "\\PC{0,10}".prop_map(|s| format!("{s}\t")),
        ("\\PC{0,10}", "[\\x01-\\x1f\\x7f]", "\\PC{0,10}")
            .prop_map(|(a, c, b)| format!("{a}{c}{b}")),
        (MAX_NAME_BYTES + 1..MAX_NAME_BYTES + 300).prop_map(|n| "n".repeat(n)),
        (86usize..120).prop_map(|n| "🚀".repeat(n)),
    ]
}

/// Strings that are not valid versions.
fn invalid_version() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,20}".prop_filter("must not parse", |s| semver::Version::parse(s).is_err()),
        (0u32..100, 0u32..100).prop_map(|(a, b)| format!("{a}.{b}")),
        (0u32..100, 0u32..100, 0u32..100).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        (1u32..100, 0u32..100).prop_map(|(a, b)| format!("0{a}.{b}.0")),
        (0u32..10).prop_map(|a| format!("{a}.0.0-")),
        (45usize..80).prop_map(|n| format!("1.0.0-{}", "a".repeat(n))),
    ]
}

/// Numbers that are not valid confidences.
fn invalid_confidence() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -1e12f64..-1e-12,
        (1.0f64 + 1e-9)..1e12,
    ]
}

#[derive(Debug, Clone)]
enum BadInput {
    Name(String),
    Alias(String),
    Version(String),
    Confidence(f64),
    BaselineStatistic(f64),
    OversizedPrediction(usize),
    OversizedFeatures(usize),
    OversizedActual(usize),
    OversizedConfiguration(usize),
    UnknownModel(String, u32),
    UnknownVersion(u32),
    UnknownPredictionId(u128),
    BatchWithUnknownModel(usize),
    BatchWithRepeatedId(usize),
    BatchWithStoredId(usize),
    LabelsWithUnknownId(usize),
    RecentLimit(usize),
    AccuracyWindow(usize),
    DuplicateRegister(u8),
    DuplicatePrediction(u8),
}

fn bad_input_strategy() -> impl Strategy<Value = BadInput> {
    let extra = 1usize..4096;
    prop_oneof![
        invalid_label().prop_map(BadInput::Name),
        invalid_label().prop_map(BadInput::Alias),
        invalid_version().prop_map(BadInput::Version),
        invalid_confidence().prop_map(BadInput::Confidence),
        invalid_confidence().prop_map(BadInput::BaselineStatistic),
        extra.clone().prop_map(BadInput::OversizedPrediction),
        extra.clone().prop_map(BadInput::OversizedFeatures),
        extra.clone().prop_map(BadInput::OversizedActual),
        extra.prop_map(BadInput::OversizedConfiguration),
        ("[a-z0-9_'-]{1,30}", 0u32..1000).prop_map(|(n, v)| BadInput::UnknownModel(n, v)),
        (100u32..100_000).prop_map(BadInput::UnknownVersion),
        any::<u128>().prop_map(BadInput::UnknownPredictionId),
        (0usize..6).prop_map(BadInput::BatchWithUnknownModel),
        (0usize..6).prop_map(BadInput::BatchWithRepeatedId),
        (0usize..6).prop_map(BadInput::BatchWithStoredId),
        (0usize..6).prop_map(BadInput::LabelsWithUnknownId),
        prop_oneof![Just(0usize), MAX_RECENT_LIMIT + 1..usize::MAX].prop_map(BadInput::RecentLimit),
        prop_oneof![Just(0usize), MAX_WINDOW_LAST + 1..usize::MAX]
            .prop_map(BadInput::AccuracyWindow),
        any::<u8>().prop_map(BadInput::DuplicateRegister),
        (0u8..4).prop_map(BadInput::DuplicatePrediction),
    ]
}

const SEED_NAME: &str = "seed model 'x'; --";

struct Seed {
    name: ModelName,
    version: Version,
    other: Version,
    predictions: Vec<Prediction>,
}

async fn seed(store: &dyn Store) -> Result<Seed> {
    let name = ModelName::new(SEED_NAME)?;
    let version = Version::new("1.0.0")?;
    let other = Version::new("1.1.0-rc.1")?;
    for v in [&version, &other] {
        store
            .register(&ModelMetadata::builder(name.clone(), v.clone(), "seed").build()?)
            .await?;
    }
    store
        .set_alias(&name, &Alias::new("production")?, &version)
        .await?;
    let predictions: Vec<Prediction> = (0..6u8)
        .map(|i| {
            Prediction::builder(name.clone(), version.clone(), json!(i % 2), 0.5)
                .actual((i < 3).then(|| json!(0)))
                .timestamp(at(i64::from(i)))
                .build()
        })
        .collect::<Result<_>>()?;
    store.store_predictions(&predictions).await?;
    store
        .store_baseline(&ConfidenceBaseline::new(
            name.clone(),
            version.clone(),
            0.5,
            0.1,
            6,
        )?)
        .await?;
    Ok(Seed {
        name,
        version,
        other,
        predictions,
    })
}

async fn seed_snapshot(store: &dyn Store, seed: &Seed) -> Vec<Outcome> {
    let aliases = [
        Alias::new("production").expect("valid"),
        Alias::new("ghost").expect("valid"),
    ];
    snapshot(
        store,
        std::slice::from_ref(&seed.name),
        &[seed.version.clone(), seed.other.clone()],
        &aliases,
    )
    .await
}

fn expect_invalid<T: std::fmt::Debug>(
    result: Result<T>,
    field: &str,
) -> std::result::Result<(), TestCaseError> {
    match result {
        Err(Error::InvalidInput { field: f, .. }) if f == field => Ok(()),
        other => Err(TestCaseError::fail(format!(
            "expected InvalidInput on field {field:?}, got {other:?}"
        ))),
    }
}

fn expect_kind<T: std::fmt::Debug>(
    result: Result<T>,
    kind: ErrorKind,
) -> std::result::Result<(), TestCaseError> {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        other => Err(TestCaseError::fail(format!(
            "expected {kind}, got {other:?}"
        ))),
    }
}

async fn try_bad_input(
    store: &dyn Store,
    seed: &Seed,
    bad: &BadInput,
) -> std::result::Result<(), TestCaseError> {
    let (name, version) = (&seed.name, &seed.version);
    let valid_prediction = || Prediction::builder(name.clone(), version.clone(), json!(1), 0.5);
    let oversized = |extra: usize| json!("x".repeat(MAX_JSON_BYTES + extra));
    let fresh_batch = |n: usize| -> Vec<Prediction> {
        (0..n)
            .map(|_| valid_prediction().build().expect("valid"))
            .collect()
    };
    match bad {
        BadInput::Name(s) => expect_invalid(ModelName::new(s.as_str()), "model name")?,
        BadInput::Alias(s) => expect_invalid(Alias::new(s.as_str()), "alias")?,
        BadInput::Version(s) => expect_invalid(Version::new(s), "version")?,
        BadInput::Confidence(c) => {
            expect_invalid(valid_prediction().confidence(*c).build(), "confidence")?
        }
        BadInput::BaselineStatistic(x) => {
            expect_invalid(
                ConfidenceBaseline::new(name.clone(), version.clone(), *x, 0.1, 1),
                "mean",
            )?;
            expect_invalid(
                ConfidenceBaseline::new(name.clone(), version.clone(), 0.5, *x, 1),
                "std_dev",
            )?;
        }
        BadInput::OversizedPrediction(extra) => {
            let p =
                Prediction::builder(name.clone(), version.clone(), oversized(*extra), 0.5).build();
            expect_invalid(p, "prediction")?
        }
        BadInput::OversizedFeatures(extra) => expect_invalid(
            valid_prediction()
                .feature("blob", oversized(*extra))
                .build(),
            "features",
        )?,
        BadInput::OversizedActual(extra) => {
            expect_invalid(
                valid_prediction().actual(Some(oversized(*extra))).build(),
                "actual",
            )?;
            let target = seed.predictions[0].id();
            expect_invalid(
                store.record_actual(target, &oversized(*extra)).await,
                "actual",
            )?;
            expect_invalid(Label::new(target, oversized(*extra)), "actual")?;
        }
        BadInput::OversizedConfiguration(extra) => {
            let mut config = crate::json::JsonObject::new();
            config.insert("blob".into(), oversized(*extra));
            let m =
                ModelMetadata::builder(name.clone(), Version::new("9.9.9").expect("valid"), "t")
                    .configuration(config)
                    .build();
            expect_invalid(m, "configuration")?
        }
        BadInput::UnknownModel(text, minor) => {
            let ghost = ModelName::new(format!("unknown {text}")).map_err(fail)?;
            let v = Version::new(format!("1.{minor}.0")).map_err(fail)?;
            let p = Prediction::builder(ghost.clone(), v.clone(), json!(1), 0.5)
                .build()
                .map_err(fail)?;
            expect_kind(store.store_prediction(&p).await, ErrorKind::NotFound)?;
            let b = ConfidenceBaseline::new(ghost.clone(), v.clone(), 0.5, 0.1, 1).map_err(fail)?;
            expect_kind(store.store_baseline(&b).await, ErrorKind::NotFound)?;
            let m = ModelMetadata::builder(ghost.clone(), v.clone(), "t")
                .build()
                .map_err(fail)?;
            expect_kind(store.update(&m).await, ErrorKind::NotFound)?;
            expect_kind(store.delete(&ghost, &v).await, ErrorKind::NotFound)?;
            let a = Alias::new("production").map_err(fail)?;
            expect_kind(store.set_alias(&ghost, &a, &v).await, ErrorKind::NotFound)?;
            expect_kind(store.remove_alias(&ghost, &a).await, ErrorKind::NotFound)?;
            expect_kind(
                store.recent_predictions(&ghost, &v, Window::last(10)).await,
                ErrorKind::NotFound,
            )?;
            expect_kind(
                store.accuracy(&ghost, &v, Window::last(10)).await,
                ErrorKind::NotFound,
            )?;
        }
        BadInput::UnknownVersion(minor) => {
            let v = Version::new(format!("1.{minor}.0")).map_err(fail)?;
            let p = Prediction::builder(name.clone(), v.clone(), json!(1), 0.5)
                .build()
                .map_err(fail)?;
            expect_kind(store.store_prediction(&p).await, ErrorKind::NotFound)?;
            let a = Alias::new("production").map_err(fail)?;
            expect_kind(store.set_alias(name, &a, &v).await, ErrorKind::NotFound)?;
            expect_kind(store.delete(name, &v).await, ErrorKind::NotFound)?;
        }
        BadInput::UnknownPredictionId(raw) => {
            let unknown = Uuid::from_u128(*raw);
            prop_assume!(seed.predictions.iter().all(|p| p.id() != unknown));
            expect_kind(
                store.record_actual(unknown, &json!(1)).await,
                ErrorKind::NotFound,
            )?;
        }
        BadInput::BatchWithUnknownModel(at_index) => {
            let mut batch = fresh_batch(5);
            let ghost = Prediction::builder(
                name.clone(),
                Version::new("7.7.7").expect("valid"),
                json!(1),
                0.5,
            )
            .build()
            .map_err(fail)?;
            batch.insert((*at_index).min(batch.len()), ghost);
            expect_kind(store.store_predictions(&batch).await, ErrorKind::NotFound)?;
        }
        BadInput::BatchWithRepeatedId(at_index) => {
            let mut batch = fresh_batch(5);
            let copy = batch[0]
                .to_builder()
                .confidence(0.9)
                .build()
                .map_err(fail)?;
            batch.insert((*at_index).clamp(1, batch.len()), copy);
            expect_invalid(store.store_predictions(&batch).await, "id")?;
        }
        BadInput::BatchWithStoredId(at_index) => {
            let mut batch = fresh_batch(5);
            let stored = seed.predictions[*at_index % seed.predictions.len()].clone();
            batch.insert((*at_index).min(batch.len()), stored);
            expect_kind(
                store.store_predictions(&batch).await,
                ErrorKind::AlreadyExists,
            )?;
        }
        BadInput::LabelsWithUnknownId(at_index) => {
            let mut labels: Vec<Label> = seed
                .predictions
                .iter()
                .map(|p| Label::new(p.id(), json!(1)).expect("valid"))
                .collect();
            labels.insert(
                (*at_index).min(labels.len()),
                Label::new(Uuid::new_v4(), json!(1)).map_err(fail)?,
            );
            expect_kind(store.record_actuals(&labels).await, ErrorKind::NotFound)?;
        }
        BadInput::RecentLimit(limit) => expect_invalid(
            store
                .recent_predictions(name, version, Window::last(*limit))
                .await,
            "last",
        )?,
        BadInput::AccuracyWindow(window) => expect_invalid(
            store.accuracy(name, version, Window::last(*window)).await,
            "last",
        )?,
        BadInput::DuplicateRegister(variant) => {
            let m = ModelMetadata::builder(name.clone(), version.clone(), format!("dup {variant}"))
                .build()
                .map_err(fail)?;
            expect_kind(store.register(&m).await, ErrorKind::AlreadyExists)?;
        }
        BadInput::DuplicatePrediction(i) => {
            let stored = &seed.predictions[usize::from(*i) % seed.predictions.len()];
            let again = stored.to_builder().confidence(0.01).build().map_err(fail)?;
            expect_kind(
                store.store_prediction(&again).await,
                ErrorKind::AlreadyExists,
            )?;
        }
    }
    Ok(())
}

/// Feeds random bad input to a seeded store from `make`: every attempt must fail with the right
/// error (InvalidInput naming the field, NotFound, AlreadyExists) and leave everything observable
/// exactly as it was.
///
/// # Panics
/// On the first bad input that is accepted, gets the wrong error, or changes the store.
pub fn bad_input<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Store + 'static,
{
    let rt = runtime();
    let store = rt.block_on(make());
    let seed = rt.block_on(seed(&store)).expect("seeding the store");
    let before = rt.block_on(seed_snapshot(&store, &seed));
    let mut runner = TestRunner::new(config());
    let result = runner.run(&bad_input_strategy(), |bad| {
        rt.block_on(async {
            try_bad_input(&store, &seed, &bad).await?;
            let after = seed_snapshot(&store, &seed).await;
            prop_assert!(after == before, "the store changed after {:?}", bad);
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("bad-input property failed: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Verbatim strings
// ---------------------------------------------------------------------------------------------

/// Valid labels full of awkward text: any NUL-free, control-free Unicode, SQL fragments, quotes.
fn awkward_label() -> impl Strategy<Value = String> {
    let fragments = prop_oneof![
        Just("'; DROP TABLE ml_models; --"),
        Just("\" OR 1=1 --"),
        Just("%_\\"),
        Just("🚀🔥"),
        Just("$1 ?1 :name"),
        Just("Ω≈ç√∫"),
    ];
    prop_oneof![
        "\\PC{1,40}",
        (fragments, "\\PC{0,20}").prop_map(|(f, s)| format!("{f}{s}")),
    ]
    .prop_map(|s| s.trim().to_string())
    .prop_filter("a valid label", |s| {
        !s.is_empty() && s.len() <= MAX_NAME_BYTES
    })
}

/// Registers, aliases and predicts with awkward strings in every text field; each must read back
/// byte for byte.
///
/// # Panics
/// On the first string that does not round-trip.
pub fn strings_round_trip<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Store + 'static,
{
    static CASE: AtomicU64 = AtomicU64::new(0);
    let rt = runtime();
    let store = rt.block_on(make());
    let mut runner = TestRunner::new(config());
    let strategy = (
        awkward_label(),
        awkward_label(),
        awkward_label(),
        "\\PC{0,60}",
    );
    let result = runner.run(&strategy, |(name_text, alias_text, tag_text, json_text)| {
        rt.block_on(async {
            let name = ModelName::new(&name_text).map_err(fail)?;
            let case = CASE.fetch_add(1, Ordering::Relaxed);
            let version = Version::new(format!("0.{case}.0")).map_err(fail)?;
            let m = ModelMetadata::builder(name.clone(), version.clone(), tag_text.clone())
                .tag(tag_text.clone(), json_text.clone())
                .metric(tag_text.clone(), 0.5)
                .description(json_text.clone())
                .environment(alias_text.clone())
                .build()
                .map_err(fail)?;
            store.register(&m).await.map_err(fail)?;
            prop_assert_eq!(store.get(&name, &version).await.map_err(fail)?, Some(m));
            let a = Alias::new(&alias_text).map_err(fail)?;
            store.set_alias(&name, &a, &version).await.map_err(fail)?;
            prop_assert_eq!(
                store.resolve_alias(&name, &a).await.map_err(fail)?,
                Some(version.clone())
            );
            let p = Prediction::builder(
                name.clone(),
                version.clone(),
                json!({ &json_text: [&tag_text] }),
                0.5,
            )
            .actual(Some(json!(json_text)))
            .feature(json_text.clone(), json!(alias_text))
            .build()
            .map_err(fail)?;
            store.store_prediction(&p).await.map_err(fail)?;
            let recent = store
                .recent_predictions(&name, &version, Window::last(1))
                .await
                .map_err(fail)?;
            prop_assert_eq!(recent, vec![p]);
            prop_assert!(store.list_models().await.map_err(fail)?.contains(&name));
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("string round-trip property failed: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bit-exact floats
// ---------------------------------------------------------------------------------------------

/// Every finite double: normal, subnormal, zero of either sign, and the ends.
fn any_finite() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        4 => NORMAL | SUBNORMAL | ZERO | POSITIVE | NEGATIVE,
        4 => 0.0f64..1.0,
        1 => prop_oneof![
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(5e-324),
            Just(f64::MIN_POSITIVE),
            Just(0.014_089_813_668_273_221),
        ],
    ]
}

/// Every confidence: `[0, 1]`, subnormals included (`-0.0` is refused by the builder).
fn any_confidence() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        4 => 0.0f64..=1.0,
        1 => (SUBNORMAL | ZERO | POSITIVE).prop_map(|x| if x > 1.0 { 1.0 / x } else { x }),
        1 => prop_oneof![Just(5e-324), Just(1.0), Just(0.0), Just(1.0 - f64::EPSILON / 2.0)],
    ]
}

/// Whether two JSON values are equal with every float compared by its bits (so `-0.0` differs
/// from `0.0`, and a float from an integer).
pub fn same_bits(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.is_f64(), y.is_f64()) {
            (true, true) => x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits),
            (false, false) => x == y,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_bits(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_bits(v, w)))
        }
        _ => a == b,
    }
}

fn metadata_bits_equal(a: &ModelMetadata, b: &ModelMetadata) -> bool {
    a.metrics().len() == b.metrics().len()
        && a.metrics()
            .iter()
            .zip(b.metrics())
            .all(|((k, x), (l, y))| k == l && x.to_bits() == y.to_bits())
        && same_bits(
            &Value::Object(a.configuration().clone()),
            &Value::Object(b.configuration().clone()),
        )
        && a == b
}

fn prediction_bits_equal(a: &Prediction, b: &Prediction) -> bool {
    a.confidence().to_bits() == b.confidence().to_bits()
        && same_bits(a.prediction(), b.prediction())
        && match (a.actual(), b.actual()) {
            (Some(x), Some(y)) => same_bits(x, y),
            (None, None) => true,
            _ => false,
        }
        && same_bits(
            &Value::Object(a.features().clone()),
            &Value::Object(b.features().clone()),
        )
        && a == b
}

/// Arbitrary finite doubles (subnormals, `-0.0`, `f64::MAX`, `5e-324` among them) in every
/// numeric place (a metric, the configuration, the prediction, its label, its features and its
/// confidence) read back with the same bits, from the store and, read twice, from its cache if
/// it has one.
///
/// # Panics
/// On the first double that comes back changed.
pub fn floats_round_trip<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Store + 'static,
{
    static CASE: AtomicU64 = AtomicU64::new(0);
    let rt = runtime();
    let store = rt.block_on(make());
    let name = ModelName::new(format!("floats {}", Uuid::new_v4().simple())).expect("valid");
    let mut runner = TestRunner::new(config());
    let strategy = (
        any_finite(),
        any_finite(),
        any_finite(),
        any_finite(),
        any_confidence(),
    );
    let result = runner.run(
        &strategy,
        |(metric, config_value, value, label, confidence)| {
            rt.block_on(async {
                let case = CASE.fetch_add(1, Ordering::Relaxed);
                let version = Version::new(format!("0.{case}.0")).map_err(fail)?;
                let mut configuration = crate::json::JsonObject::new();
                configuration.insert("x".into(), json!(config_value));
                configuration.insert("nested".into(), json!([{ "y": value }]));
                let m = ModelMetadata::builder(name.clone(), version.clone(), "floats")
                    .metric("m", metric)
                    .configuration(configuration)
                    .build()
                    .map_err(fail)?;
                store.register(&m).await.map_err(fail)?;
                for read in 0..2 {
                    let got = store.get(&name, &version).await.map_err(fail)?;
                    prop_assert!(
                        got.as_ref().is_some_and(|g| metadata_bits_equal(g, &m)),
                        "read {}: {:?} came back as {:?}",
                        read,
                        m,
                        got
                    );
                }
                let p =
                    Prediction::builder(name.clone(), version.clone(), json!(value), confidence)
                        .actual(Some(json!([label, value])))
                        .feature("f", json!(metric))
                        .build()
                        .map_err(fail)?;
                store.store_prediction(&p).await.map_err(fail)?;
                let got = store
                    .recent_predictions(&name, &version, Window::last(1))
                    .await
                    .map_err(fail)?;
                prop_assert!(
                    got.len() == 1 && prediction_bits_equal(&got[0], &p),
                    "{:?} came back as {:?}",
                    p,
                    got
                );
                Ok(())
            })
        },
    );
    if let Err(e) = result {
        panic!("float round-trip property failed: {e}");
    }
}
