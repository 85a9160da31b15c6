//! `mlstore`: operate a model registry and its predictions from the shell.
//!
//! This file parses the arguments and dispatches; each command group lives in a module of its
//! own, over the library (`mlstore::transfer` for files). Exit codes: see [`error::EXIT_CODES`].

mod aliases;
mod error;
mod history;
mod monitoring;
mod output;
mod predictions;
mod quality;
mod registry;
mod retention;
#[cfg(feature = "server")]
mod serve;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mlstore::env;
use mlstore::{Handle, StoreConfig, Window, DEFAULT_DATABASE_URL};

use crate::error::{CliError, Result, EXIT_CODES};

/// Operate an mlstore model registry and its predictions.
#[derive(Debug, Parser)]
#[command(name = "mlstore", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct Global {
    /// Database URL: sqlite://PATH, sqlite::memory:, postgres://USER:PASSWORD@HOST/DB.
    #[arg(
        long,
        global = true,
        env = env::DATABASE_URL,
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        value_name = "URL"
    )]
    db: String,
    /// Cache: none, moka, redis://HOST:PORT/DB, moka+redis://HOST:PORT/DB.
    #[arg(
        long,
        global = true,
        env = env::CACHE,
        default_value = "none",
        hide_env_values = true,
        value_name = "CACHE"
    )]
    cache: String,
    /// How long cached reads are served, in seconds [default: 300].
    #[arg(long, global = true, env = env::CACHE_TTL, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    cache_ttl: Option<u64>,
    /// Redis key namespace of the cache [default: bound to the database's identity].
    #[arg(long, global = true, env = env::CACHE_NAMESPACE, value_name = "NAME")]
    cache_namespace: Option<String>,
    /// Who is recorded as the actor of registry changes [default: the USER variable].
    #[arg(long, global = true, env = env::ACTOR, value_name = "NAME")]
    actor: Option<String>,
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the model names.
    #[command(after_long_help = "Example:\n  mlstore models --json")]
    Models,
    /// List the versions of a model, by SemVer precedence.
    #[command(after_long_help = "Example:\n  mlstore versions fraud")]
    Versions(registry::NameArg),
    /// Show one version.
    #[command(after_long_help = "Example:\n  mlstore get fraud 1.2.0 --json")]
    Get(registry::VersionArgs),
    /// Show the latest version (highest SemVer precedence).
    #[command(after_long_help = "Example:\n  mlstore latest fraud")]
    Latest(registry::NameArg),
    /// Register a new version.
    #[command(
        after_long_help = "Example:\n  mlstore register fraud 1.2.0 --type xgboost --config config.json --metric auc=0.93 --tag team=risk"
    )]
    Register(registry::RegisterArgs),
    /// Change the metadata of a version (fields not given keep their value).
    #[command(after_long_help = "Example:\n  mlstore update fraud 1.2.0 --metric auc=0.94")]
    Update(registry::RegisterArgs),
    /// Delete a version with its predictions, baseline and aliases.
    #[command(after_long_help = "Example:\n  mlstore delete fraud 1.0.0 --yes")]
    Delete(registry::DeleteArgs),
    /// Manage aliases ("production") of a model.
    #[command(subcommand)]
    Alias(aliases::AliasCommand),
    /// Create the database if needed and apply pending migrations; show the schema version.
    #[command(
        visible_alias = "migrate",
        after_long_help = "Example:\n  mlstore init --db sqlite://./mlstore.db"
    )]
    Init,
    /// The registry's change log: registrations, updates, deletions, alias moves, baselines.
    #[command(
        after_long_help = "Examples:\n  mlstore history fraud\n  mlstore history fraud --alias production --json\n  mlstore history --since 7d --kind alias_set"
    )]
    History(history::HistoryArgs),
    /// Import, read, count and export predictions.
    #[command(subcommand)]
    Predictions(predictions::PredictionsCommand),
    /// Keep each model's predictions for a length of time (applied by `mlstore maintain`).
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Prepare storage ahead (PostgreSQL: the coming months' partitions) and apply every
    /// retention policy; run it daily (cron, a Kubernetes CronJob).
    #[command(
        after_long_help = "Examples:\n  mlstore maintain --dry-run\n  mlstore maintain --json"
    )]
    Maintain(retention::MaintainArgs),
    /// Import late labels (id + actual).
    #[command(subcommand)]
    Labels(predictions::LabelsCommand),
    /// Accuracy over the newest labelled predictions of a version.
    #[command(after_long_help = "Example:\n  mlstore accuracy fraud 1.2.0 --last 1000 --since 7d")]
    Accuracy(quality::WindowArgs),
    /// Read, set or compute the confidence baseline of a version.
    #[command(subcommand)]
    Baseline(quality::BaselineCommand),
    /// Metrics of a version over a window: accuracy, coverage, label lag, confidence, classes.
    #[command(after_long_help = "Example:\n  mlstore metrics fraud 1.2.0 --since 7d --json")]
    Metrics(monitoring::MetricsArgs),
    /// The metrics of a version per time bucket (minute, hour, day, week; UTC).
    #[command(after_long_help = "Example:\n  mlstore series fraud 1.2.0 --since 30d --bucket day")]
    Series(monitoring::SeriesArgs),
    /// Confidence drift of a window against the version's baseline (exit 4 warn, 5 drift).
    #[command(
        after_long_help = "Example:\n  mlstore drift fraud 1.2.0 --since 24h --psi-warn 0.1 --psi-drift 0.25"
    )]
    Drift(monitoring::DriftArgs),
    /// Two versions over the same window: accuracy, difference, two-proportion z-test.
    #[command(after_long_help = "Example:\n  mlstore compare fraud 1.2.0 1.3.0 --since 7d")]
    Compare(monitoring::CompareArgs),
    /// Serve the store over HTTP: JSON API, health checks, Prometheus metrics, bearer tokens.
    #[cfg(feature = "server")]
    #[command(
        after_long_help = "Examples:\n  mlstore serve --listen 127.0.0.1:8080\n  MLSTORE_TOKENS='ci write 0123456789abcdef0123' mlstore serve --listen 0.0.0.0:8080 --log-format json"
    )]
    Serve(serve::ServeArgs),
}

/// Whether a command changes the database: commands that only read never create a database
/// file (a typo in `--db` is an error, not a new empty database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Global {
    /// Opens the store the options name, behind the cache they name.
    pub(crate) async fn open(&self, access: Access) -> Result<Handle> {
        let config = StoreConfig::from_url(&self.db)?;
        #[cfg(feature = "sqlite")]
        if let (Access::Read, StoreConfig::Sqlite(sqlite)) = (access, &config) {
            if let mlstore::sqlite::Location::File(path) = sqlite.location() {
                if !path.exists() {
                    return Err(CliError::failed(format!(
                        "no database at {}: commands that only read never create one (check \
                         --db or {}); `mlstore init` creates it",
                        path.display(),
                        env::DATABASE_URL
                    )));
                }
            }
        }
        let handle = config.connect().await?;
        self.with_cache(handle)
    }

    #[cfg(feature = "cache")]
    fn with_cache(&self, handle: Handle) -> Result<Handle> {
        let mut cache = mlstore::cache::CacheConfig::from_url(&self.cache)?;
        if let Some(seconds) = self.cache_ttl {
            cache = cache.with_ttl(std::time::Duration::from_secs(seconds))?;
        }
        if let Some(namespace) = &self.cache_namespace {
            cache = cache.with_namespace(namespace.clone())?;
        }
        Ok(handle.with_cache(cache)?)
    }

    #[cfg(not(feature = "cache"))]
    fn with_cache(&self, handle: Handle) -> Result<Handle> {
        if !matches!(self.cache.trim(), "" | "none") {
            return Err(CliError::usage(
                "--cache: this build has no cache (build mlstore with the `cache` feature)",
            ));
        }
        Ok(handle)
    }
}

/// `--since` / `--until` / `--last`: a window of predictions.
#[derive(Debug, Clone, Args)]
pub(crate) struct WindowOptions {
    /// Only predictions made at or after T: RFC 3339 (2026-11-01T00:00:00Z, 2026-11-01) or an
    /// age (90s, 30m, 24h, 7d, 2w).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Only predictions made before T (same forms as --since).
    #[arg(long, value_name = "T")]
    until: Option<String>,
}

impl WindowOptions {
    /// Whether neither bound is given.
    pub(crate) fn is_empty(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// The window, with `last` newest predictions if given.
    pub(crate) fn window(&self, last: Option<u64>) -> Result<Window> {
        let now = mlstore::time::now();
        let mut window = Window::all();
        if let Some(n) = last {
            window = window.with_last(n as usize);
        }
        if let Some(t) = &self.since {
            window = window.with_since(instant("--since", t, now)?);
        }
        if let Some(t) = &self.until {
            window = window.with_until(instant("--until", t, now)?);
        }
        Ok(window)
    }
}

pub(crate) fn instant(
    flag: &str,
    text: &str,
    now: mlstore::Timestamp,
) -> Result<mlstore::Timestamp> {
    mlstore::time::parse_instant(text, now).map_err(|e| CliError::usage(format!("{flag}: {e}")))
}

/// Runs the command, recording `--actor` (or the user) as the actor of its registry changes.
async fn run(cli: Cli) -> Result<()> {
    let actor = cli
        .global
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.is_empty());
    match actor {
        Some(actor) => mlstore::history::acting_as(actor, dispatch(cli)).await,
        None => dispatch(cli).await,
    }
}

async fn dispatch(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Models => registry::models(g).await,
        Command::Versions(a) => registry::versions(g, a).await,
        Command::Get(a) => registry::get(g, a).await,
        Command::Latest(a) => registry::latest(g, a).await,
        Command::Register(a) => registry::register(g, a).await,
        Command::Update(a) => registry::update(g, a).await,
        Command::Delete(a) => registry::delete(g, a).await,
        Command::Init => registry::init(g).await,
        Command::Alias(c) => aliases::run(g, c).await,
        Command::History(a) => history::history(g, a).await,
        Command::Predictions(c) => predictions::run(g, c).await,
        Command::Labels(c) => predictions::labels(g, c).await,
        Command::Retention(c) => retention::retention(g, c).await,
        Command::Maintain(a) => retention::maintain(g, a).await,
        Command::Accuracy(a) => quality::accuracy(g, a).await,
        Command::Baseline(c) => quality::baseline(g, c).await,
        Command::Metrics(a) => monitoring::metrics(g, a).await,
        Command::Series(a) => monitoring::series(g, a).await,
        Command::Drift(a) => monitoring::drift(g, a).await,
        Command::Compare(a) => monitoring::compare(g, a).await,
        #[cfg(feature = "server")]
        Command::Serve(a) => serve::serve(g, a).await,
    }
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
