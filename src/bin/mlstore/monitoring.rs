//! `metrics`, `series`, `drift`, `compare`: how a version does, over a window or per bucket,
//! against its baseline or against another version.

use clap::Args;
use mlstore::limits::MAX_WINDOW_LAST;
use mlstore::monitoring::{DriftReport, WindowMetrics};
use mlstore::{Bucket, DriftThresholds, MetricsOptions, PredictionStoreExt, SeriesQuery, Verdict};

use crate::error::{CliError, Result};
use crate::output;
use crate::registry::{name, version, VersionArgs};
use crate::{instant, Access, Global, WindowOptions};

/// Exit code of `drift` when a warn threshold is reached.
pub(crate) const EXIT_WARN: u8 = 4;
/// Exit code of `drift` when a drift threshold is reached.
pub(crate) const EXIT_DRIFT: u8 = 5;

/// A window: the newest N, a time range, or both.
#[derive(Debug, Args)]
pub(crate) struct LastAndRange {
    /// The newest N predictions (1 to 1,000,000) [default: every prediction of the range, or
    /// the newest 10,000 without one].
    #[arg(long, short = 'n', value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_WINDOW_LAST as u64))]
    last: Option<u64>,
    #[command(flatten)]
    range: WindowOptions,
}

impl LastAndRange {
    fn window(&self) -> Result<mlstore::Window> {
        let last = match (self.last, self.range.is_empty()) {
            (Some(n), _) => Some(n),
            (None, true) => Some(10_000),
            (None, false) => None,
        };
        self.range.window(last)
    }
}

#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    #[command(flatten)]
    target: VersionArgs,
    #[command(flatten)]
    window: LastAndRange,
    /// Skip per-class metrics and the confusion matrix (for predictions with many values).
    #[arg(long)]
    no_classes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SeriesArgs {
    #[command(flatten)]
    target: VersionArgs,
    /// Start: RFC 3339 or an age (7d, 24h).
    #[arg(long, value_name = "T")]
    since: String,
    /// End [default: now].
    #[arg(long, value_name = "T")]
    until: Option<String>,
    /// Bucket width: minute, hour, day, week (aligned to UTC).
    #[arg(long, value_parser = ["minute", "hour", "day", "week"], default_value = "day")]
    bucket: String,
}

#[derive(Debug, Args)]
pub(crate) struct DriftArgs {
    #[command(flatten)]
    target: VersionArgs,
    #[command(flatten)]
    window: LastAndRange,
    /// PSI at or above which the verdict is warn [default: 0.1].
    #[arg(long, value_name = "X")]
    psi_warn: Option<f64>,
    /// PSI at or above which the verdict is drift [default: 0.25].
    #[arg(long, value_name = "Y")]
    psi_drift: Option<f64>,
    /// Mean shift (in baseline standard deviations) for warn [default: 2].
    #[arg(long, value_name = "X")]
    shift_warn: Option<f64>,
    /// Mean shift for drift [default: 3].
    #[arg(long, value_name = "Y")]
    shift_drift: Option<f64>,
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// Model name.
    model: String,
    /// The first version (the champion).
    a: String,
    /// The second version (the challenger).
    b: String,
    #[command(flatten)]
    range: WindowOptions,
}

fn show_metrics(m: &WindowMetrics) {
    let pct = |x: Option<f64>| x.map_or("-".into(), |v| format!("{:.2}%", v * 100.0));
    println!("predictions     {}", m.predictions);
    println!(
        "labelled        {} (coverage {})",
        m.labelled,
        pct(m.label_coverage)
    );
    println!(
        "accuracy        {} ({} of {})",
        pct(m.accuracy),
        m.correct,
        m.labelled
    );
    if let Some(lag) = &m.label_lag {
        println!(
            "label lag       p50 {:.1} s, p95 {:.1} s ({} labels)",
            lag.p50_seconds, lag.p95_seconds, lag.count
        );
    }
    if let Some(c) = &m.confidence {
        let q = &c.quantiles;
        println!(
            "confidence      mean {:.4}, std dev {:.4} (population), p05 {:.3} p25 {:.3} p50 {:.3} p75 {:.3} p95 {:.3}",
            c.mean, c.std_dev, q.p05, q.p25, q.p50, q.p75, q.p95
        );
    }
    if let Some(r) = &m.regression {
        println!(
            "errors          MAE {:.6}, RMSE {:.6}, mean error {:.6} ({} pairs)",
            r.mae, r.rmse, r.mean_error, r.count
        );
    }
    if let Some(classes) = &m.classes {
        let f = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.4}"));
        let rows: Vec<Vec<String>> = classes
            .iter()
            .map(|c| {
                vec![
                    c.class.to_string(),
                    c.support.to_string(),
                    f(c.precision),
                    f(c.recall),
                    f(c.f1),
                ]
            })
            .collect();
        println!();
        output::table(&["CLASS", "SUPPORT", "PRECISION", "RECALL", "F1"], &rows);
    }
}

pub(crate) async fn metrics(g: &Global, a: MetricsArgs) -> Result<()> {
    let (n, v) = a.target.parse()?;
    let options = MetricsOptions::new(a.window.window()?).classes(!a.no_classes);
    let store = g.open(Access::Read).await?;
    let m = store.metrics(&n, &v, options).await?;
    if g.json {
        output::json(&m);
    } else {
        show_metrics(&m);
    }
    Ok(())
}

pub(crate) async fn series(g: &Global, a: SeriesArgs) -> Result<()> {
    let (n, v) = a.target.parse()?;
    let now = mlstore::time::now();
    let since = instant("--since", &a.since, now)?;
    let until = match &a.until {
        Some(t) => instant("--until", t, now)?,
        None => now,
    };
    let query = SeriesQuery::new(since, until, Bucket::parse(&a.bucket)?);
    let store = g.open(Access::Read).await?;
    let s = store.series(&n, &v, &query).await?;
    if g.json {
        output::json(&s);
        return Ok(());
    }
    let opt = |x: Option<f64>, digits: usize| x.map_or("-".into(), |v| format!("{v:.digits$}"));
    let rows: Vec<Vec<String>> = s
        .points
        .iter()
        .map(|p| {
            vec![
                p.start.to_rfc3339(),
                p.predictions.to_string(),
                p.labelled.to_string(),
                opt(p.accuracy, 4),
                opt(p.label_coverage, 4),
                opt(p.confidence_mean, 4),
                opt(p.label_lag_mean_seconds, 1),
            ]
        })
        .collect();
    output::table(
        &[
            "START",
            "PREDICTIONS",
            "LABELLED",
            "ACCURACY",
            "COVERAGE",
            "CONFIDENCE",
            "LAG_S",
        ],
        &rows,
    );
    Ok(())
}

fn thresholds(a: &DriftArgs) -> Result<DriftThresholds> {
    Ok(DriftThresholds::from_parts(
        [a.psi_warn, a.psi_drift],
        [a.shift_warn, a.shift_drift],
        [None, None],
    )?)
}

fn show_drift(r: &DriftReport) {
    println!(
        "verdict         {}",
        match r.verdict {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Drift => "drift",
        }
    );
    println!("psi             {:.6}", r.psi);
    println!(
        "ks              D {:.6}, p-value {:.6} ({})",
        r.ks_statistic, r.ks_pvalue, r.ks_method
    );
    println!(
        "mean shift      {}",
        r.mean_shift_sigma
            .map_or("- (baseline std dev is 0)".into(), |z| format!("{z:.3} σ"))
    );
    println!(
        "predictions     window {}, baseline {}",
        r.window_count, r.baseline_count
    );
}

pub(crate) async fn drift(g: &Global, a: DriftArgs) -> Result<()> {
    let (n, v) = a.target.parse()?;
    let t = thresholds(&a)?;
    let store = g.open(Access::Read).await?;
    let r = store.drift(&n, &v, a.window.window()?, t).await?;
    if g.json {
        output::json(&r);
    } else {
        show_drift(&r);
    }
    match r.verdict {
        Verdict::Ok => Ok(()),
        Verdict::Warn => Err(CliError {
            message: format!("drift check of {n} {v}: warn"),
            code: EXIT_WARN,
        }),
        Verdict::Drift => Err(CliError {
            message: format!("drift check of {n} {v}: drift"),
            code: EXIT_DRIFT,
        }),
    }
}

pub(crate) async fn compare(g: &Global, a: CompareArgs) -> Result<()> {
    let (n, va, vb) = (name(&a.model)?, version(&a.a)?, version(&a.b)?);
    let window = a.range.window(None)?;
    let store = g.open(Access::Read).await?;
    let c = store
        .compare(&n, &va, &vb, MetricsOptions::new(window).classes(false))
        .await?;
    if g.json {
        output::json(&c);
        return Ok(());
    }
    let pct = |x: Option<f64>| x.map_or("-".into(), |v| format!("{:.2}%", v * 100.0));
    let rows = vec![
        vec![
            va.to_string(),
            c.a.predictions.to_string(),
            c.a.labelled.to_string(),
            pct(c.a.accuracy),
        ],
        vec![
            vb.to_string(),
            c.b.predictions.to_string(),
            c.b.labelled.to_string(),
            pct(c.b.accuracy),
        ],
    ];
    output::table(&["VERSION", "PREDICTIONS", "LABELLED", "ACCURACY"], &rows);
    println!(
        "\naccuracy difference {} ({} minus {}), z {}, p-value {}",
        c.accuracy_difference
            .map_or("-".into(), |d| format!("{:+.2} points", d * 100.0)),
        vb,
        va,
        c.z.map_or("-".into(), |z| format!("{z:.4}")),
        c.p_value.map_or("-".into(), |p| format!("{p:.6}"))
    );
    Ok(())
}
