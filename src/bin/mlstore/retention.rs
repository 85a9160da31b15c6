//! `mlstore predictions prune`, `mlstore retention ...` and `mlstore maintain`: removing old
//! predictions (their hourly sums stay) and the retention policies that do it on a schedule.

use clap::{Args, Subcommand};
use mlstore::retention::{self, Prune, PruneOutcome, Retention};
use mlstore::PredictionStore;
use serde_json::json;

use crate::error::{CliError, Result};
use crate::registry::{name, version};
use crate::{instant, output, Access, Global};

/// `mlstore predictions prune`.
#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Remove predictions made before T: an age (90d, 12w, 36h) or RFC 3339
    /// (2026-01-01T00:00:00Z, 2026-01-01).
    #[arg(long, value_name = "T")]
    older_than: String,
    /// Only this model's predictions (every model when absent).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// Only this version's predictions (needs --model).
    #[arg(long, value_name = "VERSION", requires = "model")]
    version: Option<String>,
    /// Count what would be removed, and remove nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `mlstore retention ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum RetentionCommand {
    /// Keep a model's predictions for a length of time; `mlstore maintain` removes older ones.
    #[command(after_long_help = "Example:\n  mlstore retention set fraud 90d")]
    Set {
        /// Model name.
        model: String,
        /// How long: 90d, 12w, 36h, 30m, 90s.
        keep: String,
    },
    /// Remove a model's policy (its predictions are then kept).
    #[command(after_long_help = "Example:\n  mlstore retention remove fraud")]
    Remove {
        /// Model name.
        model: String,
    },
    /// List every policy.
    #[command(after_long_help = "Example:\n  mlstore retention list --json")]
    List,
}

/// `mlstore maintain`.
#[derive(Debug, Args)]
pub(crate) struct MaintainArgs {
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
}

fn outcome_line(outcome: &PruneOutcome) -> String {
    let verb = if outcome.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut line = format!("{verb} {} predictions", outcome.predictions);
    if outcome.partitions_dropped > 0 {
        line.push_str(&format!(
            " ({} whole monthly partitions dropped)",
            outcome.partitions_dropped
        ));
    }
    line
}

pub(crate) async fn prune(g: &Global, a: PruneArgs) -> Result<()> {
    let now = mlstore::time::now();
    let cutoff = instant("--older-than", &a.older_than, now)?;
    let mut request = Prune::before(cutoff).dry_run(a.dry_run);
    request = match (&a.model, &a.version) {
        (Some(m), Some(v)) => request.version(name(m)?, version(v)?),
        (Some(m), None) => request.model(name(m)?),
        (None, _) => request,
    };
    let store = g.open(Access::Write).await?;
    let started = std::time::Instant::now();
    let outcome = store.prune_predictions(&request).await?;
    if g.json {
        output::json(&json!({
            "before": cutoff,
            "outcome": outcome,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    } else {
        println!(
            "{} made before {} in {:.2} s",
            outcome_line(&outcome),
            cutoff.to_rfc3339(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub(crate) async fn retention(g: &Global, command: RetentionCommand) -> Result<()> {
    let store = g.open(Access::Write).await?;
    match command {
        RetentionCommand::Set { model, keep } => {
            let keep =
                Retention::parse(&keep).map_err(|e| CliError::usage(format!("KEEP: {e}")))?;
            let model = name(&model)?;
            store.set_retention(&model, Some(keep)).await?;
            if !g.json {
                println!("{model}: keep predictions for {keep}");
            }
        }
        RetentionCommand::Remove { model } => {
            let model = name(&model)?;
            store.set_retention(&model, None).await?;
            if !g.json {
                println!("{model}: predictions kept (no policy)");
            }
        }
        RetentionCommand::List => {
            let policies = store.retention_policies().await?;
            if g.json {
                let list: Vec<_> = policies
                    .iter()
                    .map(|(m, k)| json!({"model": m, "keep": k}))
                    .collect();
                output::json(&list);
            } else {
                let rows: Vec<Vec<String>> = policies
                    .iter()
                    .map(|(m, k)| vec![m.to_string(), k.to_string()])
                    .collect();
                output::table(&["MODEL", "KEEP"], &rows);
            }
        }
    }
    Ok(())
}

pub(crate) async fn maintain(g: &Global, a: MaintainArgs) -> Result<()> {
    let store = g.open(Access::Write).await?;
    let now = mlstore::time::now();
    let report = retention::maintain(&store, now, a.dry_run).await?;
    if g.json {
        output::json(&report);
        return Ok(());
    }
    if !a.dry_run {
        println!(
            "storage: {} monthly partitions created ahead",
            report.partitions_created
        );
    }
    if let Some((before, outcome)) = &report.common {
        println!(
            "every model: {} made before {}",
            outcome_line(outcome),
            before.to_rfc3339()
        );
    }
    if report.models.is_empty() {
        println!("no retention policy (set one with `mlstore retention set MODEL 90d`)");
    }
    for m in &report.models {
        println!(
            "{} (keep {}): {} made before {}",
            m.model,
            m.keep,
            outcome_line(&m.outcome),
            m.before.to_rfc3339()
        );
    }
    Ok(())
}
