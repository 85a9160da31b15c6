//! mlstore's monitoring figures against the reference implementations: the store computes
//! metrics, drift and a comparison over deterministic data, and `scripts/check_monitoring.py`
//! recomputes each with numpy, scipy and scikit-learn (to 1e-12). Runs when python3 has them;
//! in CI (`CI` set) it installs them first.
#![cfg(feature = "sqlite")]

use mlstore::{
    ConfidenceBaseline, DriftThresholds, MetricsOptions, ModelMetadata, ModelName, ModelRegistry,
    Prediction, PredictionStore, PredictionStoreExt, Version, Window,
};
use serde_json::json;

/// A small deterministic generator (xorshift64*), so the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn python_has_the_references() -> bool {
    let probe = |cmd: &mut std::process::Command| {
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let import = || {
        probe(std::process::Command::new("python3").args(["-c", "import numpy, scipy, sklearn"]))
    };
    if import() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        eprintln!("installing numpy, scipy and scikit-learn for the reference check");
        let installed = probe(std::process::Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "numpy",
            "scipy",
            "scikit-learn",
        ]));
        return installed && import();
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_agree_with_numpy_scipy_and_scikit_learn() {
    if !python_has_the_references() {
        println!(
            "skipped: python3 with numpy, scipy and scikit-learn is not available (pip install \
             numpy scipy scikit-learn, or run with CI=1 to install them)"
        );
        return;
    }
    let store = mlstore::connect("sqlite::memory:").await.unwrap();
    let name = ModelName::new("reference").unwrap();
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        let m = ModelMetadata::builder(name.clone(), Version::new(v).unwrap(), "t")
            .build()
            .unwrap();
        store.register(&m).await.unwrap();
    }
    let (v1, v2, v3) = (
        Version::new("1.0.0").unwrap(),
        Version::new("2.0.0").unwrap(),
        Version::new("3.0.0").unwrap(),
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let classes = ["cat", "dog", "eel"];
    let base = mlstore::time::now() - chrono::Duration::days(1);
    let mut predictions = Vec::new();
    let (mut y_pred, mut y_true, mut confidences) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..3000i64 {
        let p = classes[(rng.next() % 3) as usize];
        let a = if rng.unit() < 0.7 {
            p
        } else {
            classes[(rng.next() % 3) as usize]
        };
        let c = rng.unit().powf(0.5);
        predictions.push(
            Prediction::builder(name.clone(), v1.clone(), json!(p), c)
                .actual(Some(json!(a)))
                .timestamp(base + chrono::Duration::milliseconds(i))
                .build()
                .unwrap(),
        );
        y_pred.push(p);
        y_true.push(a);
        confidences.push(c);
    }
    // Regression on version 2: numbers with numeric labels.
    let (mut r_pred, mut r_true) = (Vec::new(), Vec::new());
    for i in 0..2000i64 {
        let truth = rng.unit() * 100.0;
        let guess = truth + (rng.unit() - 0.5) * 7.0;
        predictions.push(
            Prediction::builder(name.clone(), v2.clone(), json!(guess), 0.5)
                .actual(Some(json!(truth)))
                .timestamp(base + chrono::Duration::milliseconds(i))
                .build()
                .unwrap(),
        );
        r_pred.push(guess);
        r_true.push(truth);
    }
    for chunk in predictions.chunks(1000) {
        store.store_predictions(chunk).await.unwrap();
    }
    let metrics = store
        .metrics(&name, &v1, MetricsOptions::new(Window::all()))
        .await
        .unwrap();
    let regression = store
        .metrics(&name, &v2, MetricsOptions::new(Window::all()))
        .await
        .unwrap();

    // Drift on version 3: a baseline from one distribution, a window from a shifted one.
    let baseline_values: Vec<f64> = (0..4000).map(|_| rng.unit() * 0.6 + 0.3).collect();
    let baseline =
        ConfidenceBaseline::from_confidences(name.clone(), v3.clone(), baseline_values.clone())
            .unwrap();
    assert!(baseline.samples().is_some());
    store.store_baseline(&baseline).await.unwrap();
    let window_values: Vec<f64> = (0..2500)
        .map(|_| rng.unit().powf(0.7) * 0.8 + 0.1)
        .collect();
    let window_predictions: Vec<Prediction> = window_values
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Prediction::builder(name.clone(), v3.clone(), json!(1), *c)
                .timestamp(base + chrono::Duration::milliseconds(i as i64))
                .build()
                .unwrap()
        })
        .collect();
    for chunk in window_predictions.chunks(1000) {
        store.store_predictions(chunk).await.unwrap();
    }
    let drift = store
        .drift(&name, &v3, Window::all(), DriftThresholds::default())
        .await
        .unwrap();
    let compare = store
        .compare(
            &name,
            &v1,
            &v2,
            MetricsOptions::new(Window::all()).classes(false),
        )
        .await
        .unwrap();
    let counts = [
        compare.a.correct,
        compare.a.labelled,
        compare.b.correct,
        compare.b.labelled,
    ];
    let document = json!({
        "classification": {
            "metrics": metrics,
            "confidences": confidences,
            "y_pred": y_pred,
            "y_true": y_true,
        },
        "regression": {"metrics": regression, "y_pred": r_pred, "y_true": r_true},
        "drift": {"drift": drift, "window": window_values, "baseline": baseline_values},
        "compare": {"compare": compare, "counts": counts},
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("figures.json");
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_monitoring.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{said}");
    assert!(output.status.success(), "{said}");
}
