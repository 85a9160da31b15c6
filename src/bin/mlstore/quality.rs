//! `accuracy` and `baseline get|set|compute`: how good a version is, and the reference its
//! confidence is compared with.

use clap::{Args, Subcommand};
use mlstore::limits::{MAX_RECENT_LIMIT, MAX_WINDOW_LAST};
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
    /// Store a baseline computed elsewhere.
    #[command(
        after_long_help = "Example:\n  mlstore baseline set fraud 1.2.0 --mean 0.81 --std-dev 0.12 --samples 5000"
    )]
    Set {
        #[command(flatten)]
        target: VersionArgs,
        /// Mean confidence, 0 to 1.
        #[arg(long)]
        mean: f64,
        /// Population standard deviation of the confidence, 0 to 1.
        #[arg(long)]
        std_dev: f64,
        /// How many predictions the figures come from.
        #[arg(long)]
        samples: u64,
    },
    /// Compute the baseline from the newest predictions of a version, and store it.
    #[command(after_long_help = "Example:\n  mlstore baseline compute fraud 1.2.0 --last 5000")]
    Compute {
        #[command(flatten)]
        target: VersionArgs,
        /// The newest N predictions (1 to 10,000).
        #[arg(short = 'n', long = "last", default_value_t = 1000, value_name = "N",
              value_parser = clap::value_parser!(u64).range(1..=MAX_RECENT_LIMIT as u64))]
        last: u64,
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
            mean,
            std_dev,
            samples,
        } => {
            let (n, v) = target.parse()?;
            let b = ConfidenceBaseline::new(n, v, mean, std_dev, samples)?;
            g.open(Access::Read).await?.store_baseline(&b).await?;
            show(&b, g.json);
        }
        BaselineCommand::Compute {
            target,
            last,
            window,
        } => {
            let (n, v) = target.parse()?;
            let window = window.window(Some(last))?;
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
