//! `accuracy` and `baseline get|set|compute`: how good a version is, and the reference its
//! confidence is compared with.

use clap::{Args, Subcommand};
use mlstore::limits::MAX_WINDOW_LAST;
use mlstore::{ConfidenceBaseline, PredictionStore, PredictionStoreExt};
use serde_json::json;

use crate::error::{CliError, Result};
use crate::output;
use crate::registry::VersionArgs;
use crate::{Access, Global, WindowOptions};

/// A version and a window of its predictions.
#[derive(Debug, Args)]
pub(crate) struct WindowArgs {
    #[command(flatten)]
    target: VersionArgs,
    /// The newest N labelled predictions (1 to 1,000,000) [default: 1000 without --since].
    #[arg(short = 'n', long = "last", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_WINDOW_LAST as u64))]
    last: Option<u64>,
    #[command(flatten)]
    window: WindowOptions,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BaselineCommand {
    /// Show the baseline.
    #[command(after_long_help = "Example:\n  mlstore baseline get fraud 1.2.0 --json")]
    Get {
        #[command(flatten)]
        target: VersionArgs,
    },
    /// Store a baseline computed elsewhere: from a file of confidences (a validation set), a
    /// histogram of 20 counts over [0, 1], or mean, standard deviation and count.
    #[command(
        after_long_help = "Examples:\n  mlstore baseline set fraud 1.2.0 --from-file validation_confidences.txt\n  mlstore baseline set fraud 1.2.0 --histogram 0,0,0,0,0,0,0,0,0,0,5,9,20,40,80,120,90,60,30,10\n  mlstore baseline set fraud 1.2.0 --mean 0.81 --std-dev 0.12 --samples 5000"
    )]
    Set {
        #[command(flatten)]
        target: VersionArgs,
        /// A file with one confidence per line (or - for standard input).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["histogram", "mean"])]
        from_file: Option<String>,
        /// 20 comma-separated counts, one per bin of width 0.05 on [0, 1].
        #[arg(long, value_name = "COUNTS", conflicts_with = "mean")]
        histogram: Option<String>,
        /// Mean confidence, 0 to 1 (with --std-dev and --samples; no histogram: drift checks
        /// need one).
        #[arg(long, requires_all = ["std_dev", "samples"])]
        mean: Option<f64>,
        /// Population standard deviation of the confidence, 0 to 1.
        #[arg(long)]
        std_dev: Option<f64>,
        /// How many predictions the figures come from.
        #[arg(long)]
        samples: Option<u64>,
    },
    /// Compute the baseline from a window of a version's predictions, and store it.
    #[command(
        after_long_help = "Example:\n  mlstore baseline compute fraud 1.2.0 --last 5000\n  mlstore baseline compute fraud 1.2.0 --since 2026-11-01 --until 2026-11-08"
    )]
    Compute {
        #[command(flatten)]
        target: VersionArgs,
        /// The newest N predictions (1 to 1,000,000) [default: 1000 without --since/--until].
        #[arg(short = 'n', long = "last", value_name = "N",
              value_parser = clap::value_parser!(u64).range(1..=MAX_WINDOW_LAST as u64))]
        last: Option<u64>,
        #[command(flatten)]
        window: WindowOptions,
    },
}

pub(crate) async fn accuracy(g: &Global, a: WindowArgs) -> Result<()> {
    let (n, v) = a.target.parse()?;
    let last = match (a.last, &a.window) {
        (Some(n), _) => Some(n),
        (None, w) if w.is_empty() => Some(1000),
        (None, _) => None,
    };
    let window = a.window.window(last)?;
    let store = g.open(Access::Read).await?;
    let accuracy = store.accuracy(&n, &v, window).await?;
    if g.json {
        output::json(&json!({
            "correct": accuracy.correct(),
            "total": accuracy.total(),
            "ratio": accuracy.ratio(),
        }));
    } else {
        match accuracy.ratio() {
            Some(r) => println!(
                "{}/{} correct = {r:.4}",
                accuracy.correct(),
                accuracy.total()
            ),
            None => println!("no labelled predictions"),
        }
    }
    Ok(())
}

fn show(b: &ConfidenceBaseline, json: bool) {
    if json {
        return output::json(b);
    }
    println!(
        "{} {}: mean {:.4}, std dev {:.4} (population), {} samples, updated {}",
        b.model(),
        b.version(),
        b.mean(),
        b.std_dev(),
        b.sample_count(),
        b.updated_at().to_rfc3339()
    );
    if let Some(q) = b.quantiles() {
        println!(
            "quantiles: p05 {:.3} p25 {:.3} p50 {:.3} p75 {:.3} p95 {:.3}",
            q.p05, q.p25, q.p50, q.p75, q.p95
        );
    }
    match b.histogram() {
        Some(h) => println!(
            "histogram (20 bins of 0.05): {}",
            h.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
        ),
        None => println!(
            "no histogram (written before histograms existed): drift checks need \
             `mlstore baseline compute`"
        ),
    }
}

fn read_confidences(source: &str) -> Result<Vec<f64>> {
    let text = if source == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::failed(format!("standard input: {e}")))?
    } else {
        std::fs::read_to_string(source).map_err(|e| CliError::failed(format!("{source}: {e}")))?
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.trim().parse::<f64>().map_err(|_| {
                CliError::failed(format!("{source}: line {}: {l:?} is not a number", i + 1))
            })
        })
        .collect()
}

pub(crate) async fn baseline(g: &Global, command: BaselineCommand) -> Result<()> {
    match command {
        BaselineCommand::Get { target } => {
            let (n, v) = target.parse()?;
            let b = g
                .open(Access::Read)
                .await?
                .baseline(&n, &v)
                .await?
                .ok_or_else(|| {
                    CliError::not_found(format!(
                        "baseline of {n:?} {v} (create one with `mlstore baseline compute {n} {v}`)"
                    ))
                })?;
            show(&b, g.json);
        }
        BaselineCommand::Set {
            target,
            from_file,
            histogram,
            mean,
            std_dev,
            samples,
        } => {
            let (n, v) = target.parse()?;
            let b =
                match (from_file, histogram, mean, std_dev, samples) {
                    (Some(file), _, _, _, _) => {
                        let values = read_confidences(&file)?;
                        ConfidenceBaseline::from_confidences(n, v, values)
                            .map_err(CliError::from_data)?
                    }
                    (None, Some(counts), _, _, _) => {
                        let counts: Vec<u64> = counts
                            .split(',')
                            .map(|c| c.trim().parse())
                            .collect::<std::result::Result<_, _>>()
                            .map_err(|_| {
                                CliError::usage("--histogram: expected 20 comma-separated counts")
                            })?;
                        ConfidenceBaseline::from_histogram(n, v, &counts)?
                    }
                    (None, None, Some(mean), Some(std_dev), Some(samples)) => {
                        ConfidenceBaseline::new(n, v, mean, std_dev, samples)?
                    }
                    _ => return Err(CliError::usage(
                        "baseline set needs --from-file, --histogram, or --mean with --std-dev \
                         and --samples",
                    )),
                };
            g.open(Access::Read).await?.store_baseline(&b).await?;
            show(&b, g.json);
        }
        BaselineCommand::Compute {
            target,
            last,
            window,
        } => {
            let (n, v) = target.parse()?;
            let last = last.or(window.is_empty().then_some(1000));
            let window = window.window(last)?;
            let b = g
                .open(Access::Read)
                .await?
                .compute_baseline(&n, &v, window)
                .await?;
            show(&b, g.json);
        }
    }
    Ok(())
}
