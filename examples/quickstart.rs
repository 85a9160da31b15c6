//! A tour of mlstore on the embedded default (a SQLite file in a temporary directory), ending
//! with a quick timing of the main operations through the public async API.
//!
//! ```text
//! cargo run --release --example quickstart            # temporary database
//! cargo run --release --example quickstart -- ./ml.db # keep the database
//! ```
//!
//! The timings are a quick look, not the benchmark: each operation runs a few thousand times
//! after a warm-up and the percentiles of those runs are printed.

use std::future::Future;
use std::time::{Duration, Instant};

use mlstore::{
    Alias, ConfidenceBaseline, ModelMetadata, ModelName, ModelRegistryExt, Prediction,
    PredictionStoreExt, Store, Version, Window,
};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let temp = tempfile::tempdir()?;
    let path = match std::env::args().nth(1) {
        Some(path) => path.into(),
        None => temp.path().join("mlstore.db"),
    };
    let url = format!("sqlite://{}", path.display());
    let store = mlstore::connect(&url).await?;
    println!("mlstore quickstart on {url}\n");

    tour(&store).await?;
    timings(&store).await?;
    Ok(())
}

async fn tour(store: &dyn Store) -> Result<(), Error> {
    let name = ModelName::new("fraud-detector")?;
    for v in ["1.9.0", "1.10.0", "1.10.0-rc.1"] {
        let m = ModelMetadata::builder(name.clone(), Version::new(v)?, "xgboost")
            .metric("auc", 0.9)
            .tag("team", "risk")
            .build()?;
        if let Err(e) = store.register(&m).await {
            println!("  register {v}: {e}");
        }
    }
    let latest = store.latest(&name).await?.expect("registered above");
    println!(
        "latest version of {name}: {} (SemVer, not string order)",
        latest.version()
    );

    let production = Alias::new("production")?;
    store
        .set_alias(&name, &production, latest.version())
        .await?;
    let by_alias = store
        .get_by_alias(&name, &production)
        .await?
        .expect("alias set above");
    println!("alias {production} -> {}", by_alias.version());

    let version = latest.version().clone();
    let predictions: Vec<Prediction> = (0..200)
        .map(|i| {
            Prediction::builder(
                name.clone(),
                version.clone(),
                json!(if i % 4 == 0 { "fraud" } else { "ok" }),
                0.6 + f64::from(i % 40) / 100.0,
            )
            .feature("amount", json!(10 * i))
            .build()
        })
        .collect::<Result<_, _>>()?;
    store.store_predictions(&predictions).await?;
    for p in predictions.iter().take(100) {
        store.record_actual(p.id(), &json!("ok")).await?;
    }
    let accuracy = store.accuracy(&name, &version, Window::last(1000)).await?;
    println!(
        "accuracy over the newest labelled predictions: {}/{} = {:.2}",
        accuracy.correct(),
        accuracy.total(),
        accuracy.ratio().unwrap_or(0.0)
    );
    let baseline = store
        .compute_baseline(&name, &version, Window::last(200))
        .await?;
    println!(
        "confidence baseline: mean {:.3}, std dev {:.3} over {} predictions",
        baseline.mean(),
        baseline.std_dev(),
        baseline.sample_count()
    );
    let bad = Prediction::builder(name.clone(), version.clone(), json!("ok"), 1.5).build();
    println!("a confidence of 1.5 is refused: {}\n", bad.unwrap_err());
    Ok(())
}

/// Runs `op` `iterations` times after `iterations / 10` warm-up runs; returns sorted durations.
async fn measure<F, Fut>(iterations: usize, mut op: F) -> Result<Vec<Duration>, Error>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = mlstore::Result<()>>,
{
    for i in 0..iterations / 10 {
        op(usize::MAX - i).await?;
    }
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let start = Instant::now();
        op(i).await?;
        samples.push(start.elapsed());
    }
    samples.sort();
    Ok(samples)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

async fn timings(store: &dyn Store) -> Result<(), Error> {
    let name = ModelName::new("timed-model")?;
    let v = Version::new("1.0.0")?;
    store
        .register(&ModelMetadata::builder(name.clone(), v.clone(), "linear").build()?)
        .await?;
    for minor in 1..10 {
        let m = ModelMetadata::builder(
            name.clone(),
            Version::new(format!("1.{minor}.0"))?,
            "linear",
        )
        .build()?;
        store.register(&m).await?;
    }
    let labelled: Vec<Prediction> = (0..1000)
        .map(|i| {
            Prediction::builder(name.clone(), v.clone(), json!(i % 2), 0.8)
                .actual(Some(json!(0)))
                .build()
        })
        .collect::<Result<_, _>>()?;
    store.store_predictions(&labelled).await?;
    let baseline = ConfidenceBaseline::new(name.clone(), v.clone(), 0.8, 0.1, 1000)?;
    let make =
        |value: usize| Prediction::builder(name.clone(), v.clone(), json!(value), 0.7).build();
    let registered = ModelName::new("timed-registrations")?;

    let (name, v, baseline, registered) = (&name, &v, &baseline, &registered);
    let make = &make;
    let mut rows: Vec<(&str, Vec<Duration>)> = Vec::new();
    rows.push((
        "register",
        measure(2000, move |i| async move {
            let version = Version::new(format!("0.0.{i}"))?;
            let m = ModelMetadata::builder(registered.clone(), version, "linear").build()?;
            store.register(&m).await
        })
        .await?,
    ));
    rows.push((
        "get",
        measure(
            5000,
            move |_| async move { store.get(name, v).await.map(drop) },
        )
        .await?,
    ));
    rows.push((
        "latest",
        measure(
            5000,
            move |_| async move { store.latest(name).await.map(drop) },
        )
        .await?,
    ));
    rows.push((
        "versions (10)",
        measure(2000, move |_| async move {
            store.versions(name).await.map(drop)
        })
        .await?,
    ));
    rows.push((
        "store 1",
        measure(2000, move |i| async move {
            store.store_prediction(&make(i)?).await
        })
        .await?,
    ));
    rows.push((
        "store 100",
        measure(200, move |i| async move {
            let batch = (0..100)
                .map(|j| make(i.wrapping_mul(100).wrapping_add(j)))
                .collect::<mlstore::Result<Vec<_>>>()?;
            store.store_predictions(&batch).await
        })
        .await?,
    ));
    rows.push((
        "recent 100",
        measure(1000, move |_| async move {
            store
                .recent_predictions(name, v, Window::last(100))
                .await
                .map(drop)
        })
        .await?,
    ));
    rows.push((
        "accuracy 1000",
        measure(1000, move |_| async move {
            store.accuracy(name, v, Window::last(1000)).await.map(drop)
        })
        .await?,
    ));
    rows.push((
        "baseline write",
        measure(2000, move |_| async move {
            store.store_baseline(baseline).await
        })
        .await?,
    ));
    rows.push((
        "baseline read",
        measure(5000, move |_| async move {
            store.baseline(name, v).await.map(drop)
        })
        .await?,
    ));

    println!(
        "{:<16} {:>10} {:>10} {:>10}",
        "operation", "p50 µs", "p95 µs", "p99 µs"
    );
    for (op, samples) in &rows {
        println!(
            "{:<16} {:>10.1} {:>10.1} {:>10.1}",
            op,
            percentile(samples, 0.50),
            percentile(samples, 0.95),
            percentile(samples, 0.99)
        );
    }
    Ok(())
}
