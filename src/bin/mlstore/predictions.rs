//! `predictions import|recent|get|count|export` and `labels import`: arguments and output over
//! `mlstore::transfer` and the store.

use std::io::{IsTerminal, Read, Write};

use clap::{Args, Subcommand, ValueEnum};
use mlstore::limits::{MAX_BATCH_LEN, MAX_RECENT_LIMIT};
use mlstore::records::PredictionRecord;
use mlstore::transfer::{
    self, ExportOptions, Format, ImportError, ImportOptions, ImportSummary, Progress, RecordKind,
};
use mlstore::{OnProblem, PredictionFilter, PredictionStore, Store};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::{CliError, Result};
use crate::output;
use crate::registry::{name, version, VersionArgs};
use crate::{Access, Global, WindowOptions};

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FileFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated with a header row.
    Csv,
}

impl From<FileFormat> for Format {
    fn from(f: FileFormat) -> Self {
        match f {
            FileFormat::Jsonl => Format::Jsonl,
            FileFormat::Csv => Format::Csv,
        }
    }
}

/// What to do with records that cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnProblemArg {
    /// Stop at the first such record (the records before it are stored).
    Fail,
    /// Count it, pass over it, store the rest.
    Skip,
}

impl From<OnProblemArg> for OnProblem {
    fn from(a: OnProblemArg) -> Self {
        match a {
            OnProblemArg::Fail => OnProblem::Fail,
            OnProblemArg::Skip => OnProblem::Skip,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// JSON Lines or CSV file (by extension), or - for standard input (JSON Lines unless
    /// --format csv).
    file: String,
    /// The file's format, when the extension does not say.
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// Records per batch (one transaction each).
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH_LEN as u64))]
    batch_size: u64,
    /// Skip the first N records (to resume an import that stopped; the error message says N).
    #[arg(long, default_value_t = 0, value_name = "N")]
    skip: usize,
    /// All or nothing: check every record first and store them in one transaction (at most
    /// 10,000).
    #[arg(long)]
    atomic: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PredictionsCommand {
    /// Import predictions: fields id (optional UUID), model, version, prediction, actual
    /// (optional), confidence, features (optional object), timestamp (optional RFC 3339).
    #[command(
        after_long_help = "Examples:\n  mlstore predictions import predictions.jsonl\n  mlstore predictions import day.csv --on-conflict skip --json"
    )]
    Import {
        #[command(flatten)]
        args: ImportArgs,
        /// A prediction whose id is already stored: stop there (fail) or pass over it (skip,
        /// so that re-running an import stores nothing new).
        #[arg(long, value_enum, default_value = "fail")]
        on_conflict: OnProblemArg,
        /// A prediction of a version that is not registered: stop there, or pass over it.
        #[arg(long, value_enum, default_value = "fail")]
        missing: OnProblemArg,
    },
    /// The newest predictions of a version, newest first (for every prediction, use export).
    #[command(after_long_help = "Example:\n  mlstore predictions recent fraud 1.2.0 -n 20")]
    Recent {
        #[command(flatten)]
        target: VersionArgs,
        /// How many, 1 to 10,000.
        #[arg(short = 'n', long = "last", default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u64).range(1..=MAX_RECENT_LIMIT as u64))]
        last: u64,
        #[command(flatten)]
        window: WindowOptions,
        /// Print as records (jsonl, csv) instead of a table.
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
    },
    /// Show one prediction by id.
    #[command(
        after_long_help = "Example:\n  mlstore predictions get 0190a1b2-0000-7000-8000-000000000001"
    )]
    Get {
        /// Prediction id (UUID).
        id: Uuid,
    },
    /// Count predictions: of every model, of MODEL, or of MODEL at VERSION.
    #[command(after_long_help = "Example:\n  mlstore predictions count fraud 1.2.0 --since 24h")]
    Count {
        /// Model name (all models when absent).
        model: Option<String>,
        /// Version (all versions when absent).
        version: Option<String>,
        #[command(flatten)]
        window: WindowOptions,
        /// Only labelled predictions.
        #[arg(long)]
        labelled_only: bool,
    },
    /// Remove predictions made before a time (of every model, a model or a version); their
    /// hourly sums stay, so series by hour, day or week keep them.
    #[command(
        after_long_help = "Examples:\n  mlstore predictions prune --older-than 90d --dry-run\n  mlstore predictions prune --older-than 2026-01-01 --model fraud --version 1.2.0"
    )]
    Prune(crate::retention::PruneArgs),
    /// Write every prediction of a version, oldest first, in the record format import reads.
    #[command(
        after_long_help = "Example:\n  mlstore predictions export fraud 1.2.0 --since 7d --format csv --output week.csv"
    )]
    Export {
        #[command(flatten)]
        target: VersionArgs,
        #[command(flatten)]
        window: WindowOptions,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: FileFormat,
        /// Only labelled predictions.
        #[arg(long)]
        labelled_only: bool,
        /// Write to FILE instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LabelsCommand {
    /// Import labels: fields id and actual.
    #[command(after_long_help = "Example:\n  mlstore labels import labels.csv --missing skip")]
    Import {
        #[command(flatten)]
        args: ImportArgs,
        /// A label whose prediction does not exist: stop there, or pass over it.
        #[arg(long, value_enum, default_value = "fail")]
        missing: OnProblemArg,
    },
}

/// Progress on stderr: a bar when stderr is a terminal and the size is known.
struct Bar {
    total: Option<u64>,
    tty: bool,
}

impl Bar {
    fn show(&self, p: Progress) {
        if !self.tty {
            return;
        }
        let rate = p.stored as f64 / p.elapsed.as_secs_f64().max(1e-9);
        let line = match self.total {
            Some(total) if total > 0 => {
                let done = (p.bytes as f64 / total as f64).min(1.0);
                let filled = (done * 30.0) as usize;
                format!(
                    "[{}{}] {:>3.0}% {} rows, {rate:.0} rows/s",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    done * 100.0,
                    p.stored
                )
            }
            _ => format!("{} rows, {rate:.0} rows/s", p.stored),
        };
        let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
    }

    fn clear(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

fn summary_text(kind: RecordKind, s: &ImportSummary) -> String {
    let noun = match kind {
        RecordKind::Predictions => "predictions",
        RecordKind::Labels => "labels",
    };
    let mut text = format!(
        "imported {} {noun} in {:.2} s ({:.0} rows/s): read {}, stored {}",
        s.stored, s.seconds, s.rows_per_second, s.read, s.stored
    );
    for (n, what) in [
        (s.skipped_before_start, "skipped by --skip"),
        (s.skipped_existing, "skipped (already stored)"),
        (s.skipped_missing, "skipped (no such version or prediction)"),
        (s.failed, "failed"),
    ] {
        if n > 0 {
            text.push_str(&format!(", {n} {what}"));
        }
    }
    text
}

async fn import_file(
    g: &Global,
    args: &ImportArgs,
    kind: RecordKind,
    on_conflict: OnProblem,
    on_missing: OnProblem,
) -> Result<()> {
    let format = args
        .format
        .map(Format::from)
        .unwrap_or_else(|| Format::from_path(&args.file));
    let options = ImportOptions::new(format)
        .batch_size(args.batch_size as usize)
        .skip(args.skip)
        .atomic(args.atomic)
        .on_conflict(on_conflict)
        .on_missing(on_missing);
    let (reader, total): (Box<dyn Read>, Option<u64>) = if args.file == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|e| CliError::failed(format!("{}: {e}", args.file)))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let store = g.open(Access::Read).await?;
    let bar = Bar {
        total,
        tty: std::io::stderr().is_terminal(),
    };
    let result = transfer::import(store.store().as_ref(), reader, kind, &options, |p| {
        bar.show(p)
    })
    .await;
    bar.clear();
    match result {
        Ok(summary) => {
            if g.json {
                output::json(&summary);
            } else {
                eprintln!("{}", summary_text(kind, &summary));
            }
            Ok(())
        }
        Err(e) => Err(import_failed(&args.file, g.json, kind, e)),
    }
}

fn import_failed(file: &str, json: bool, kind: RecordKind, e: ImportError) -> CliError {
    if json {
        output::json(&json!({
            "error": e.error.to_string(),
            "line": e.line,
            "resume": e.resume,
            "summary": e.summary,
        }));
    } else {
        eprintln!("{}", summary_text(kind, &e.summary));
    }
    let mut err = CliError::from_data(e.error.clone());
    err.message = match e.line {
        Some(line) => format!("{file}: line {line}: {}\n  {}", err.message, e.resume),
        None => format!("{file}: {}\n  {}", err.message, e.resume),
    };
    err
}

pub(crate) async fn labels(g: &Global, command: LabelsCommand) -> Result<()> {
    let LabelsCommand::Import { args, missing } = command;
    import_file(
        g,
        &args,
        RecordKind::Labels,
        OnProblem::Fail,
        missing.into(),
    )
    .await
}

fn print_records(predictions: &[mlstore::Prediction], format: Format) -> Result<()> {
    let mut text = Vec::new();
    let records: Vec<PredictionRecord> = predictions.iter().map(PredictionRecord::from).collect();
    match format {
        Format::Jsonl => {
            for r in &records {
                serde_json::to_writer(&mut text, r).map_err(|e| CliError::failed(e.to_string()))?;
                text.push(b'\n');
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut text);
            w.write_record(mlstore::records::PREDICTION_FIELDS)
                .map_err(|e| CliError::failed(e.to_string()))?;
            for r in &records {
                w.write_record(transfer::csv_cells(r))
                    .map_err(|e| CliError::failed(e.to_string()))?;
            }
            w.flush().map_err(|e| CliError::failed(e.to_string()))?;
        }
    }
    std::io::stdout()
        .write_all(&text)
        .map_err(|e| CliError::failed(e.to_string()))
}

pub(crate) async fn run(g: &Global, command: PredictionsCommand) -> Result<()> {
    match command {
        PredictionsCommand::Import {
            args,
            on_conflict,
            missing,
        } => {
            import_file(
                g,
                &args,
                RecordKind::Predictions,
                on_conflict.into(),
                missing.into(),
            )
            .await
        }
        PredictionsCommand::Recent {
            target,
            last,
            window,
            format,
        } => {
            let (n, v) = target.parse()?;
            let window = window.window(Some(last))?;
            let store = g.open(Access::Read).await?;
            let recent = store.recent_predictions(&n, &v, window).await?;
            if let Some(format) = format {
                return print_records(&recent, format.into());
            }
            if g.json {
                let records: Vec<PredictionRecord> =
                    recent.iter().map(PredictionRecord::from).collect();
                output::json(&records);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = recent
                .iter()
                .map(|p| {
                    vec![
                        p.timestamp().to_rfc3339(),
                        p.id().to_string(),
                        p.prediction().to_string(),
                        p.actual().map_or("-".into(), Value::to_string),
                        format!("{:.3}", p.confidence()),
                    ]
                })
                .collect();
            output::table(
                &["TIMESTAMP", "ID", "PREDICTION", "ACTUAL", "CONFIDENCE"],
                &rows,
            );
            Ok(())
        }
        PredictionsCommand::Get { id } => {
            let store = g.open(Access::Read).await?;
            let p = store
                .prediction(id)
                .await?
                .ok_or_else(|| CliError::not_found(format!("prediction {id}")))?;
            let record = PredictionRecord::from(&p);
            if g.json {
                output::json(&record);
            } else {
                print_records(std::slice::from_ref(&p), Format::Jsonl)?;
            }
            Ok(())
        }
        PredictionsCommand::Prune(a) => crate::retention::prune(g, a).await,
        PredictionsCommand::Count {
            model,
            version: v,
            window,
            labelled_only,
        } => {
            let filter = match (model, v) {
                (Some(m), Some(v)) => PredictionFilter::version(name(&m)?, version(&v)?),
                (Some(m), None) => PredictionFilter::model(name(&m)?),
                (None, _) => PredictionFilter::all(),
            };
            let filter = filter
                .within(window.window(None)?)
                .labelled_only(labelled_only);
            let store = g.open(Access::Read).await?;
            let count = store.count_predictions(&filter).await?;
            if g.json {
                output::json(&json!({ "count": count }));
            } else {
                println!("{count}");
            }
            Ok(())
        }
        PredictionsCommand::Export {
            target,
            window,
            format,
            labelled_only,
            output: path,
        } => {
            let (n, v) = target.parse()?;
            let options = ExportOptions::new(format.into())
                .within(window.window(None)?)
                .labelled_only(labelled_only);
            let store = g.open(Access::Read).await?;
            let store: &dyn Store = store.store().as_ref();
            let written = match &path {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .map_err(|e| CliError::failed(format!("{path}: {e}")))?;
                    transfer::export(store, &n, &v, &options, file).await?
                }
                None => transfer::export(store, &n, &v, &options, std::io::stdout()).await?,
            };
            if g.json && path.is_some() {
                output::json(&json!({ "exported": written }));
            } else {
                eprintln!("exported {written} predictions");
            }
            Ok(())
        }
    }
}
