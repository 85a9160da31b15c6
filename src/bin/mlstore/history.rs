//! `history`: the registry's change log.

use clap::Args;
use mlstore::{Alias, EventKind, EventQuery, ModelRegistry};

use crate::error::{CliError, Result};
use crate::output;
use crate::registry::name;
use crate::{Access, Global};

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Model name (every model when omitted).
    name: Option<String>,
    /// Only the events of this alias.
    #[arg(long, value_name = "ALIAS", requires = "name")]
    alias: Option<String>,
    /// Only events of this kind: version_registered, version_updated, version_deleted,
    /// alias_set, alias_removed, alias_rolled_back, baseline_written.
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// Only events at or after T: RFC 3339 or an age (7d).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// At most N events, newest first.
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    limit: u64,
    /// Oldest first.
    #[arg(long)]
    oldest_first: bool,
}

pub(crate) async fn history(g: &Global, a: HistoryArgs) -> Result<()> {
    let mut query = EventQuery::all()
        .limit(a.limit as usize)
        .newest_first(!a.oldest_first);
    if let Some(n) = &a.name {
        query = query.model(name(n)?);
    }
    if let Some(alias) = a.alias {
        query = query.alias(Alias::new(alias)?);
    }
    if let Some(kind) = &a.kind {
        query = query.kind(EventKind::parse(kind).map_err(|e| CliError::usage(e.to_string()))?);
    }
    if let Some(t) = &a.since {
        query = query.since(crate::instant("--since", t, mlstore::time::now())?);
    }
    let page = g.open(Access::Read).await?.events(&query).await?;
    if g.json {
        output::json(&page);
        return Ok(());
    }
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let rows: Vec<Vec<String>> = page
        .events
        .iter()
        .map(|e| {
            let what = match (&e.alias, &e.from_version, &e.version) {
                (Some(alias), from, to) => format!(
                    "{alias}: {} -> {}",
                    dash(from.as_ref().map(|v| v.to_string())),
                    dash(to.as_ref().map(|v| v.to_string()))
                ),
                (None, _, Some(v)) if !e.fields.is_empty() => {
                    format!("{v} ({})", e.fields.join(", "))
                }
                (None, _, v) => dash(v.as_ref().map(|v| v.to_string())),
            };
            vec![
                e.seq.to_string(),
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                e.model.to_string(),
                e.kind.as_str().to_owned(),
                what,
                dash(e.actor.clone()),
            ]
        })
        .collect();
    output::table(&["SEQ", "AT", "MODEL", "EVENT", "CHANGE", "ACTOR"], &rows);
    if let Some(next) = page.next {
        eprintln!("(more: --limit or --since to see past event {next})");
    }
    Ok(())
}
