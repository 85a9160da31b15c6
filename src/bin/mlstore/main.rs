//! `mlstore`: operate a model registry and its predictions from the shell.
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 3 not found.

mod import;

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mlstore::{
    redact_url, Alias, ConfidenceBaseline, Error, ErrorKind, ModelMetadata, ModelName,
    PredictionStoreExt, Store, Version, Window,
};
use serde_json::{json, Value};

/// Operate an mlstore model registry and its predictions.
///
/// Exit codes: 0 ok, 1 error, 2 usage, 3 not found.
#[derive(Debug, Parser)]
#[command(
    name = "mlstore",
    version,
    about,
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 not found.\n\nThe database URL and the cache can also come from MLSTORE_DATABASE_URL and MLSTORE_CACHE."
)]
struct Cli {
    /// Database URL: sqlite://PATH, sqlite::memory:, postgres://USER:PASSWORD@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "MLSTORE_DATABASE_URL",
        default_value = "sqlite://./mlstore.db",
        hide_env_values = true
    )]
    db: String,
    /// Cache: none, moka, redis://HOST:PORT/DB, moka+redis://HOST:PORT/DB.
    #[arg(
        long,
        global = true,
        env = "MLSTORE_CACHE",
        default_value = "none",
        hide_env_values = true
    )]
    cache: String,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the model names.
    Models,
    /// List the versions of a model, by SemVer precedence.
    Versions { name: String },
    /// Show one version.
    Get { name: String, version: String },
    /// Show the latest version (highest SemVer precedence).
    Latest { name: String },
    /// Register a new version.
    Register {
        name: String,
        version: String,
        #[command(flatten)]
        fields: MetadataArgs,
    },
    /// Change the metadata of a version (fields not given keep their value).
    Update {
        name: String,
        version: String,
        #[command(flatten)]
        fields: MetadataArgs,
    },
    /// Delete a version with its predictions, baseline and aliases.
    Delete {
        name: String,
        version: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Manage aliases ("production") of a model.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Show the schema version and apply pending migrations.
    Migrate,
    /// Import or read predictions.
    #[command(subcommand)]
    Predictions(PredictionsCommand),
    /// Import late labels (id + actual).
    #[command(subcommand)]
    Labels(LabelsCommand),
    /// Accuracy over the newest N labelled predictions of a version.
    Accuracy {
        name: String,
        version: String,
        /// How many of the newest labelled predictions.
        #[arg(short = 'n', long, default_value_t = 1000)]
        window: usize,
    },
    /// Read, set or compute the confidence baseline of a version.
    #[command(subcommand)]
    Baseline(BaselineCommand),
}

#[derive(Debug, Args)]
struct MetadataArgs {
    /// Model type (xgboost, transformer, ...). Required by register.
    #[arg(long = "type")]
    model_type: Option<String>,
    /// Configuration: a file holding a JSON object, or - for standard input.
    #[arg(long)]
    config: Option<String>,
    /// A performance metric, NAME=NUMBER (repeatable).
    #[arg(long = "metric", value_name = "NAME=NUMBER")]
    metrics: Vec<String>,
    /// A tag, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Environment (staging, production, ...).
    #[arg(long)]
    environment: Option<String>,
}

#[derive(Debug, Subcommand)]
enum AliasCommand {
    /// Point ALIAS of NAME at VERSION (create or move it).
    Set {
        name: String,
        alias: String,
        version: String,
    },
    /// Show the version ALIAS points at.
    Get { name: String, alias: String },
    /// Remove ALIAS.
    Rm { name: String, alias: String },
}

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated with a header row.
    Csv,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// JSON Lines or CSV file (by extension), or - for standard input (JSON Lines unless --format csv).
    file: String,
    /// The file's format, when the extension does not say.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Records per batch (one transaction each).
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Skip the first N records (to resume an import that stopped).
    #[arg(long, default_value_t = 0)]
    skip: usize,
    /// All or nothing: check every record first and store them in one transaction (at most 10,000).
    #[arg(long)]
    atomic: bool,
}

#[derive(Debug, Subcommand)]
enum PredictionsCommand {
    /// Import predictions: fields id (optional UUID), model, version, prediction, actual
    /// (optional), confidence, features (optional object), timestamp (optional RFC 3339).
    Import(ImportArgs),
    /// The newest predictions of a version, newest first.
    Recent {
        name: String,
        version: String,
        #[arg(short = 'n', long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum LabelsCommand {
    /// Import labels: fields id and actual.
    Import(ImportArgs),
}

#[derive(Debug, Subcommand)]
enum BaselineCommand {
    /// Show the baseline.
    Get { name: String, version: String },
    /// Store a baseline.
    Set {
        name: String,
        version: String,
        #[arg(long)]
        mean: f64,
        #[arg(long)]
        std_dev: f64,
        #[arg(long)]
        samples: u64,
    },
    /// Compute mean and standard deviation of the confidence of the newest N predictions, and store it.
    Compute {
        name: String,
        version: String,
        #[arg(short = 'n', long, default_value_t = 1000)]
        window: usize,
    },
}

/// An error with the exit code it maps to and an optional hint.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
    pub(crate) fn store(err: Error, hint: String) -> Self {
        Self::from(err).with_hint(hint)
    }
    pub(crate) fn with_hint(mut self, hint: String) -> Self {
        self.message = format!("{}\n  {hint}", self.message);
        self
    }
}

impl From<Error> for CliError {
    fn from(err: Error) -> Self {
        let code = match err.kind() {
            ErrorKind::NotFound => 3,
            _ => 1,
        };
        Self {
            message: redact_url(&err.to_string()),
            code,
        }
    }
}

type Result<T> = std::result::Result<T, CliError>;

fn name(text: &str) -> Result<ModelName> {
    Ok(ModelName::new(text)?)
}

fn version(text: &str) -> Result<Version> {
    Ok(Version::new(text)?)
}

fn pairs(items: &[String], what: &str) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| CliError::usage(format!("--{what} {item:?}: expected KEY=VALUE")))
        })
        .collect()
}

fn read_config(source: &str) -> Result<serde_json::Map<String, Value>> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::input(format!("standard input: {e}")))?;
    } else {
        text = std::fs::read_to_string(source)
            .map_err(|e| CliError::input(format!("{source}: {e}")))?;
    }
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CliError::input(format!(
            "{source}: the configuration must be a JSON object"
        ))),
        Err(e) => Err(CliError::input(format!("{source}: not valid JSON: {e}"))),
    }
}

fn apply(
    mut builder: mlstore::ModelMetadataBuilder,
    fields: &MetadataArgs,
) -> Result<ModelMetadata> {
    if let Some(t) = &fields.model_type {
        builder = builder.model_type(t);
    }
    if let Some(source) = &fields.config {
        builder = builder.configuration(read_config(source)?);
    }
    for (k, v) in pairs(&fields.metrics, "metric")? {
        let value: f64 = v
            .parse()
            .map_err(|_| CliError::usage(format!("--metric {k}={v}: not a number")))?;
        builder = builder.metric(k, value);
    }
    for (k, v) in pairs(&fields.tags, "tag")? {
        builder = builder.tag(k, v);
    }
    if let Some(d) = &fields.description {
        builder = builder.description(d);
    }
    if let Some(e) = &fields.environment {
        builder = builder.environment(e);
    }
    Ok(builder.build()?)
}

/// Prints rows as an aligned table.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let print = |cells: Vec<String>| {
        let line: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    print(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        print(row.clone());
    }
}

fn show_versions(versions: &[ModelMetadata], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(versions).unwrap_or_default()
        );
        return;
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|m| {
            vec![
                m.name().to_string(),
                m.version().to_string(),
                m.model_type().to_owned(),
                m.environment().unwrap_or("-").to_owned(),
                m.created_at().to_rfc3339(),
                m.metrics()
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    table(
        &[
            "MODEL",
            "VERSION",
            "TYPE",
            "ENVIRONMENT",
            "CREATED",
            "METRICS",
        ],
        &rows,
    );
}

fn show_one(m: &ModelMetadata, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(m).unwrap_or_default());
        return;
    }
    let mut rows = vec![
        vec!["name".into(), m.name().to_string()],
        vec!["version".into(), m.version().to_string()],
        vec!["type".into(), m.model_type().to_owned()],
        vec![
            "description".into(),
            m.description().unwrap_or("-").to_owned(),
        ],
        vec![
            "environment".into(),
            m.environment().unwrap_or("-").to_owned(),
        ],
        vec!["created".into(), m.created_at().to_rfc3339()],
        vec![
            "deployed".into(),
            m.deployed_at().map_or("-".into(), |t| t.to_rfc3339()),
        ],
        vec![
            "configuration".into(),
            Value::Object(m.configuration().clone()).to_string(),
        ],
    ];
    for (k, v) in m.metrics() {
        rows.push(vec![format!("metric {k}"), v.to_string()]);
    }
    for (k, v) in m.tags() {
        rows.push(vec![format!("tag {k}"), v.clone()]);
    }
    table(&["FIELD", "VALUE"], &rows);
}

fn print_json(value: Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}

fn not_found(what: String) -> CliError {
    CliError {
        message: format!("not found: {what}"),
        code: 3,
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Migrate = cli.command {
        return migrate(&cli.db, cli.json).await;
    }
    let handle = mlstore::connect_with_cache(&cli.db, &cli.cache).await?;
    let store: &Arc<dyn Store> = handle.store();
    let json = cli.json;
    match cli.command {
        Command::Models => {
            let names = store.list_models().await?;
            if json {
                print_json(json!(names));
            } else {
                for n in names {
                    println!("{n}");
                }
            }
        }
        Command::Versions { name: n } => show_versions(&store.versions(&name(&n)?).await?, json),
        Command::Get {
            name: n,
            version: v,
        } => {
            let (n, v) = (name(&n)?, version(&v)?);
            let m = store
                .get(&n, &v)
                .await?
                .ok_or_else(|| not_found(format!("model version {n:?} {v}")))?;
            show_one(&m, json);
        }
        Command::Latest { name: n } => {
            let n = name(&n)?;
            let m = store
                .latest(&n)
                .await?
                .ok_or_else(|| not_found(format!("model {n:?} has no versions")))?;
            show_one(&m, json);
        }
        Command::Register {
            name: n,
            version: v,
            fields,
        } => {
            let model_type = fields
                .model_type
                .clone()
                .ok_or_else(|| CliError::usage("register needs --type"))?;
            let m = apply(
                ModelMetadata::builder(name(&n)?, version(&v)?, model_type),
                &fields,
            )?;
            store.register(&m).await?;
            if json {
                print_json(json!({"registered": m}))
            } else {
                println!("registered {} {}", m.name(), m.version())
            }
        }
        Command::Update {
            name: n,
            version: v,
            fields,
        } => {
            let (n, v) = (name(&n)?, version(&v)?);
            let current = store
                .get(&n, &v)
                .await?
                .ok_or_else(|| not_found(format!("model version {n:?} {v}")))?;
            let m = apply(current.to_builder(), &fields)?;
            store.update(&m).await?;
            if json {
                print_json(json!({"updated": m}))
            } else {
                println!("updated {n} {v}")
            }
        }
        Command::Delete {
            name: n,
            version: v,
            yes,
        } => {
            let (n, v) = (name(&n)?, version(&v)?);
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::usage("delete asks for confirmation on a terminal; pass --yes to delete without asking"));
                }
                eprint!("Delete {n} {v} with its predictions, baseline and aliases? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin()
                    .read_line(&mut answer)
                    .map_err(|e| CliError::input(e.to_string()))?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    println!("not deleted");
                    return Ok(());
                }
            }
            store.delete(&n, &v).await?;
            if json {
                print_json(json!({"deleted": {"name": n, "version": v}}))
            } else {
                println!("deleted {n} {v}")
            }
        }
        Command::Alias(AliasCommand::Set {
            name: n,
            alias,
            version: v,
        }) => {
            let (n, a, v) = (name(&n)?, Alias::new(alias)?, version(&v)?);
            store.set_alias(&n, &a, &v).await?;
            if json {
                print_json(json!({"name": n, "alias": a, "version": v}))
            } else {
                println!("{n} {a} -> {v}")
            }
        }
        Command::Alias(AliasCommand::Get { name: n, alias }) => {
            let (n, a) = (name(&n)?, Alias::new(alias)?);
            let v = store
                .resolve_alias(&n, &a)
                .await?
                .ok_or_else(|| not_found(format!("alias {a:?} of model {n:?}")))?;
            if json {
                print_json(json!({"name": n, "alias": a, "version": v}))
            } else {
                println!("{v}")
            }
        }
        Command::Alias(AliasCommand::Rm { name: n, alias }) => {
            let (n, a) = (name(&n)?, Alias::new(alias)?);
            store.remove_alias(&n, &a).await?;
            if json {
                print_json(json!({"removed": {"name": n, "alias": a}}))
            } else {
                println!("removed alias {a} of {n}")
            }
        }
        Command::Migrate => unreachable!("handled above"),
        Command::Predictions(PredictionsCommand::Import(args)) => {
            import_file(store.as_ref(), &args, import::Kind::Predictions).await?
        }
        Command::Labels(LabelsCommand::Import(args)) => {
            import_file(store.as_ref(), &args, import::Kind::Labels).await?
        }
        Command::Predictions(PredictionsCommand::Recent {
            name: n,
            version: v,
            limit,
        }) => {
            let recent = store
                .recent_predictions(&name(&n)?, &version(&v)?, Window::last(limit))
                .await?;
            if json {
                print_json(json!(recent));
            } else {
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
                table(
                    &["TIMESTAMP", "ID", "PREDICTION", "ACTUAL", "CONFIDENCE"],
                    &rows,
                );
            }
        }
        Command::Accuracy {
            name: n,
            version: v,
            window,
        } => {
            let a = store
                .accuracy(&name(&n)?, &version(&v)?, Window::last(window))
                .await?;
            if json {
                print_json(json!({"correct": a.correct(), "total": a.total(), "ratio": a.ratio()}));
            } else {
                match a.ratio() {
                    Some(r) => println!("{}/{} correct = {:.4}", a.correct(), a.total(), r),
                    None => println!("no labelled predictions"),
                }
            }
        }
        Command::Baseline(BaselineCommand::Get {
            name: n,
            version: v,
        }) => {
            let (n, v) = (name(&n)?, version(&v)?);
            let b = store
                .baseline(&n, &v)
                .await?
                .ok_or_else(|| not_found(format!("baseline of {n:?} {v}")))?;
            show_baseline(&b, json);
        }
        Command::Baseline(BaselineCommand::Set {
            name: n,
            version: v,
            mean,
            std_dev,
            samples,
        }) => {
            let b = ConfidenceBaseline::new(name(&n)?, version(&v)?, mean, std_dev, samples)?;
            store.store_baseline(&b).await?;
            show_baseline(&b, json);
        }
        Command::Baseline(BaselineCommand::Compute {
            name: n,
            version: v,
            window,
        }) => {
            let b = store
                .compute_baseline(&name(&n)?, &version(&v)?, Window::last(window))
                .await?;
            show_baseline(&b, json);
        }
    }
    Ok(())
}

fn show_baseline(b: &ConfidenceBaseline, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(b).unwrap_or_default());
    } else {
        println!(
            "{} {}: mean {:.4}, std dev {:.4}, {} samples, updated {}",
            b.model(),
            b.version(),
            b.mean(),
            b.std_dev(),
            b.sample_count(),
            b.updated_at().to_rfc3339()
        );
    }
}

/// Runs an import and prints its summary on stderr (stdout stays free for `--json` output).
async fn import_file(store: &dyn Store, args: &ImportArgs, kind: import::Kind) -> Result<()> {
    let options = import::Options {
        format: args.format,
        batch_size: args.batch_size,
        skip: args.skip,
        atomic: args.atomic,
    };
    let summary = import::import(store, &args.file, kind, &options).await?;
    eprintln!("{summary}");
    Ok(())
}

async fn migrate(url: &str, json: bool) -> Result<()> {
    let handle = mlstore::connect(url).await?;
    let (applied, known) = (
        handle.backend().schema_version(),
        handle.backend().latest_schema_version(),
    );
    if json {
        print_json(
            json!({"schema_version": applied, "latest_known": known, "database": redact_url(url)}),
        );
    } else {
        println!(
            "{}: schema version {applied} (this build knows up to {known}); nothing pending",
            redact_url(url)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
