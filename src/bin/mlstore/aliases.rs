//! `alias set`, `alias get`, `alias rm`, `alias list`, `alias at`, `alias rollback`.

use clap::Subcommand;
use mlstore::{Alias, ModelRegistry};
use serde_json::json;

use crate::error::{CliError, Result};
use crate::output;
use crate::registry::{name, version};
use crate::{Access, Global};

#[derive(Debug, Subcommand)]
pub(crate) enum AliasCommand {
    /// Point ALIAS of NAME at VERSION (create or move it).
    #[command(after_long_help = "Example:\n  mlstore alias set fraud production 1.2.0")]
    Set {
        /// Model name.
        name: String,
        /// Alias (production, champion, ...).
        alias: String,
        /// Version it points at.
        version: String,
    },
    /// Show the version ALIAS points at.
    #[command(after_long_help = "Example:\n  mlstore alias get fraud production")]
    Get {
        /// Model name.
        name: String,
        /// Alias.
        alias: String,
    },
    /// List the aliases of NAME with their versions.
    #[command(after_long_help = "Example:\n  mlstore alias list fraud")]
    List {
        /// Model name.
        name: String,
    },
    /// Show the version ALIAS pointed at, at time T (from the registry's history).
    #[command(
        after_long_help = "Examples:\n  mlstore alias at fraud production 2026-11-01T12:00:00Z\n  mlstore alias at fraud production 3d"
    )]
    At {
        /// Model name.
        name: String,
        /// Alias.
        alias: String,
        /// RFC 3339 time or an age (3d = three days ago).
        time: String,
    },
    /// Move ALIAS back to the version it pointed at before its last move.
    #[command(after_long_help = "Example:\n  mlstore alias rollback fraud production")]
    Rollback {
        /// Model name.
        name: String,
        /// Alias.
        alias: String,
    },
    /// Remove ALIAS.
    #[command(after_long_help = "Example:\n  mlstore alias rm fraud canary")]
    Rm {
        /// Model name.
        name: String,
        /// Alias.
        alias: String,
    },
}

pub(crate) async fn run(g: &Global, command: AliasCommand) -> Result<()> {
    match command {
        AliasCommand::Set {
            name: n,
            alias,
            version: v,
        } => {
            let (n, a, v) = (name(&n)?, Alias::new(alias)?, version(&v)?);
            g.open(Access::Read).await?.set_alias(&n, &a, &v).await?;
            if g.json {
                output::json(&json!({"name": n, "alias": a, "version": v}));
            } else {
                println!("{n} {a} -> {v}");
            }
        }
        AliasCommand::Get { name: n, alias } => {
            let (n, a) = (name(&n)?, Alias::new(alias)?);
            let v = g
                .open(Access::Read)
                .await?
                .resolve_alias(&n, &a)
                .await?
                .ok_or_else(|| CliError::not_found(format!("alias {a:?} of model {n:?}")))?;
            if g.json {
                output::json(&json!({"name": n, "alias": a, "version": v}));
            } else {
                println!("{v}");
            }
        }
        AliasCommand::List { name: n } => {
            let n = name(&n)?;
            let aliases = g.open(Access::Read).await?.aliases(&n).await?;
            if g.json {
                let list: Vec<_> = aliases
                    .iter()
                    .map(|(a, v)| json!({"alias": a, "version": v}))
                    .collect();
                output::json(&json!({"name": n, "aliases": list}));
            } else {
                let rows: Vec<Vec<String>> = aliases
                    .iter()
                    .map(|(a, v)| vec![a.to_string(), v.to_string()])
                    .collect();
                output::table(&["ALIAS", "VERSION"], &rows);
            }
        }
        AliasCommand::At {
            name: n,
            alias,
            time,
        } => {
            let (n, a) = (name(&n)?, Alias::new(alias)?);
            let at = crate::instant("TIME", &time, mlstore::time::now())?;
            let v = g
                .open(Access::Read)
                .await?
                .resolve_alias_at(&n, &a, at)
                .await?
                .ok_or_else(|| {
                    CliError::not_found(format!(
                        "alias {a:?} of model {n:?} pointed nowhere at {}",
                        at.to_rfc3339()
                    ))
                })?;
            if g.json {
                output::json(&json!({"name": n, "alias": a, "at": at, "version": v}));
            } else {
                println!("{v}");
            }
        }
        AliasCommand::Rollback { name: n, alias } => {
            let (n, a) = (name(&n)?, Alias::new(alias)?);
            let store = g.open(Access::Read).await?;
            let from = store.resolve_alias(&n, &a).await?;
            let v = store.rollback_alias(&n, &a).await?;
            if g.json {
                output::json(&json!({"name": n, "alias": a, "from": from, "version": v}));
            } else {
                let from = from.map_or("nothing".to_owned(), |f| f.to_string());
                println!("{n} {a} -> {v} (was {from})");
            }
        }
        AliasCommand::Rm { name: n, alias } => {
            let (n, a) = (name(&n)?, Alias::new(alias)?);
            g.open(Access::Read).await?.remove_alias(&n, &a).await?;
            if g.json {
                output::json(&json!({"removed": {"name": n, "alias": a}}));
            } else {
                println!("removed alias {a} of {n}");
            }
        }
    }
    Ok(())
}
