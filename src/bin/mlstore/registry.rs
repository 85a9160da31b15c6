//! `models`, `versions`, `get`, `latest`, `register`, `update`, `delete`, `init`.

use std::io::{IsTerminal, Read, Write};

use clap::Args;
use mlstore::{redact_url, ModelMetadata, ModelMetadataBuilder, ModelName, ModelRegistry, Version};
use serde_json::{json, Value};

use crate::error::{CliError, Result};
use crate::output;
use crate::{Access, Global};

#[derive(Debug, Args)]
pub(crate) struct NameArg {
    /// Model name.
    name: String,
}

#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    /// Model name.
    name: String,
    /// Version (SemVer, e.g. 1.2.0).
    version: String,
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    #[command(flatten)]
    target: VersionArgs,
    #[command(flatten)]
    fields: MetadataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    #[command(flatten)]
    target: VersionArgs,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(long, short)]
    yes: bool,
}

#[derive(Debug, Args)]
struct MetadataArgs {
    /// Model type (xgboost, transformer, ...). Required by register.
    #[arg(long = "type", value_name = "TYPE")]
    model_type: Option<String>,
    /// Configuration: a file holding a JSON object, or - for standard input.
    #[arg(long, value_name = "FILE")]
    config: Option<String>,
    /// A performance metric (repeatable).
    #[arg(long = "metric", value_name = "NAME=NUMBER")]
    metrics: Vec<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
    /// Description.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Environment (staging, production, ...).
    #[arg(long, value_name = "NAME")]
    environment: Option<String>,
    /// Where the model's artifact lives (s3://bucket/fraud/1.2.0, ...).
    #[arg(long, value_name = "URI")]
    source: Option<String>,
    /// The training run that produced it (a link or an id).
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// Lifecycle status (ready, staging, archived, ...) [register default: ready].
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
    /// When the version was deployed: RFC 3339 or an age (2h = two hours ago).
    #[arg(long, value_name = "T", conflicts_with = "deployed_now")]
    deployed_at: Option<String>,
    /// Record that the version was deployed now.
    #[arg(long)]
    deployed_now: bool,
}

pub(crate) fn name(text: &str) -> Result<ModelName> {
    Ok(ModelName::new(text)?)
}

pub(crate) fn version(text: &str) -> Result<Version> {
    Ok(Version::new(text)?)
}

impl VersionArgs {
    pub(crate) fn parse(&self) -> Result<(ModelName, Version)> {
        Ok((name(&self.name)?, version(&self.version)?))
    }
}

fn pairs<'a>(items: &'a [String], flag: &str) -> Result<Vec<(&'a str, &'a str)>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .ok_or_else(|| CliError::usage(format!("--{flag} {item:?}: expected KEY=VALUE")))
        })
        .collect()
}

fn read_config(source: &str) -> Result<serde_json::Map<String, Value>> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::failed(format!("standard input: {e}")))?;
    } else {
        text = std::fs::read_to_string(source)
            .map_err(|e| CliError::failed(format!("{source}: {e}")))?;
    }
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CliError::failed(format!(
            "{source}: the configuration must be a JSON object"
        ))),
        Err(e) => Err(CliError::failed(format!("{source}: not valid JSON: {e}"))),
    }
}

impl MetadataArgs {
    fn apply(&self, mut builder: ModelMetadataBuilder) -> Result<ModelMetadata> {
        if let Some(t) = &self.model_type {
            builder = builder.model_type(t);
        }
        if let Some(source) = &self.config {
            builder = builder.configuration(read_config(source)?);
        }
        for (k, v) in pairs(&self.metrics, "metric")? {
            let value: f64 = v
                .parse()
                .map_err(|_| CliError::usage(format!("--metric {k}={v}: not a number")))?;
            builder = builder.metric(k, value);
        }
        for (k, v) in pairs(&self.tags, "tag")? {
            builder = builder.tag(k, v);
        }
        if let Some(d) = &self.description {
            builder = builder.description(d);
        }
        if let Some(e) = &self.environment {
            builder = builder.environment(e);
        }
        if let Some(source) = &self.source {
            builder = builder.source(Some(source.clone()));
        }
        if let Some(run) = &self.run {
            builder = builder.run(Some(run.clone()));
        }
        if let Some(status) = &self.status {
            builder = builder.status(status);
        }
        let now = mlstore::time::now();
        if self.deployed_now {
            builder = builder.deployed_at(Some(now));
        } else if let Some(t) = &self.deployed_at {
            builder = builder.deployed_at(Some(crate::instant("--deployed-at", t, now)?));
        }
        Ok(builder.build()?)
    }
}

fn show_versions(versions: &[ModelMetadata], json: bool) {
    if json {
        return output::json(versions);
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|m| {
            vec![
                m.name().to_string(),
                m.version().to_string(),
                m.model_type().to_owned(),
                m.status().to_owned(),
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
    output::table(
        &[
            "MODEL",
            "VERSION",
            "TYPE",
            "STATUS",
            "ENVIRONMENT",
            "CREATED",
            "METRICS",
        ],
        &rows,
    );
}

fn show_one(m: &ModelMetadata, json: bool) {
    if json {
        return output::json(m);
    }
    let optional = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let mut rows = vec![
        vec!["name".into(), m.name().to_string()],
        vec!["version".into(), m.version().to_string()],
        vec!["type".into(), m.model_type().to_owned()],
        vec!["description".into(), optional(m.description())],
        vec!["environment".into(), optional(m.environment())],
        vec!["status".into(), m.status().to_owned()],
        vec!["source".into(), optional(m.source())],
        vec!["run".into(), optional(m.run())],
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
    output::table(&["FIELD", "VALUE"], &rows);
}

pub(crate) async fn models(g: &Global) -> Result<()> {
    let store = g.open(Access::Read).await?;
    let names = store.list_models().await?;
    if g.json {
        output::json(&names);
    } else {
        for n in names {
            println!("{n}");
        }
    }
    Ok(())
}

pub(crate) async fn versions(g: &Global, a: NameArg) -> Result<()> {
    let n = name(&a.name)?;
    let store = g.open(Access::Read).await?;
    let versions = store.versions(&n).await?;
    if versions.is_empty() {
        return Err(CliError::not_found(format!("model {n:?} has no versions")));
    }
    show_versions(&versions, g.json);
    Ok(())
}

pub(crate) async fn get(g: &Global, a: VersionArgs) -> Result<()> {
    let (n, v) = a.parse()?;
    let store = g.open(Access::Read).await?;
    let m = store
        .get(&n, &v)
        .await?
        .ok_or_else(|| CliError::not_found(format!("model version {n:?} {v}")))?;
    show_one(&m, g.json);
    Ok(())
}

pub(crate) async fn latest(g: &Global, a: NameArg) -> Result<()> {
    let n = name(&a.name)?;
    let store = g.open(Access::Read).await?;
    let m = store
        .latest(&n)
        .await?
        .ok_or_else(|| CliError::not_found(format!("model {n:?} has no versions")))?;
    show_one(&m, g.json);
    Ok(())
}

pub(crate) async fn register(g: &Global, a: RegisterArgs) -> Result<()> {
    let (n, v) = a.target.parse()?;
    let model_type = a
        .fields
        .model_type
        .clone()
        .ok_or_else(|| CliError::usage("register needs --type"))?;
    let m = a.fields.apply(ModelMetadata::builder(n, v, model_type))?;
    let store = g.open(Access::Write).await?;
    store.register(&m).await?;
    if g.json {
        output::json(&json!({ "registered": m }));
    } else {
        println!("registered {} {}", m.name(), m.version());
    }
    Ok(())
}

pub(crate) async fn update(g: &Global, a: RegisterArgs) -> Result<()> {
    let (n, v) = a.target.parse()?;
    let store = g.open(Access::Read).await?;
    let current = store
        .get(&n, &v)
        .await?
        .ok_or_else(|| CliError::not_found(format!("model version {n:?} {v}")))?;
    let m = a.fields.apply(current.to_builder())?;
    store.update(&m).await?;
    if g.json {
        output::json(&json!({ "updated": m }));
    } else {
        println!("updated {n} {v}");
    }
    Ok(())
}

pub(crate) async fn delete(g: &Global, a: DeleteArgs) -> Result<()> {
    let (n, v) = a.target.parse()?;
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage(
                "delete asks for confirmation on a terminal; pass --yes to delete without asking",
            ));
        }
        eprint!("Delete {n} {v} with its predictions, baseline and aliases? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| CliError::failed(e.to_string()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("not deleted");
            return Ok(());
        }
    }
    let store = g.open(Access::Read).await?;
    store.delete(&n, &v).await?;
    if g.json {
        output::json(&json!({"deleted": {"name": n, "version": v}}));
    } else {
        println!("deleted {n} {v}");
    }
    Ok(())
}

pub(crate) async fn init(g: &Global) -> Result<()> {
    let handle = g.open(Access::Write).await?;
    let backend = handle.backend();
    let (applied, known) = (backend.schema_version(), backend.latest_schema_version());
    let database = redact_url(&g.db);
    if g.json {
        output::json(&json!({
            "database": database,
            "backend": backend.name(),
            "schema_version": applied,
            "latest_known": known,
        }));
    } else {
        println!(
            "{database}: schema version {applied} (this build knows up to {known}); nothing pending"
        );
    }
    Ok(())
}
