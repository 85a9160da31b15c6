//! `alias set`, `alias get`, `alias rm`.

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
