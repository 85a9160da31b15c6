//! Versioned schema migrations, embedded in the binary, checksummed and applied on open.

use mlstore_core::{Error, Result};
use rusqlite::{params, Connection, TransactionBehavior};

use crate::error::map;

/// One embedded migration: `migrations/sqlite/NNNN_description.sql`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The number `NNNN` of the file; migrations apply in this order.
    pub version: i64,
    /// The `description` part of the file name.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

impl Migration {
    /// FNV-1a (64 bit) of the SQL: detects a migration file edited after it was applied.
    pub fn checksum(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.sql.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash as i64
    }
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial",
        sql: include_str!("../../../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        description: "database_id_and_match_keys",
        sql: include_str!("../../../migrations/sqlite/0002_database_id_and_match_keys.sql"),
    },
    Migration {
        version: 3,
        description: "monitoring",
        sql: include_str!("../../../migrations/sqlite/0003_monitoring.sql"),
    },
    Migration {
        version: 4,
        description: "history",
        sql: include_str!("../../../migrations/sqlite/0004_history.sql"),
    },
    Migration {
        version: 5,
        description: "retention",
        sql: include_str!("../../../migrations/sqlite/0005_retention.sql"),
    },
];

/// The schema version this build creates.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS mlstore_migrations (
    version     INTEGER PRIMARY KEY,
    description TEXT    NOT NULL,
    checksum    INTEGER NOT NULL,
    applied_at  INTEGER NOT NULL
)";

/// Applies the pending migrations in one transaction and returns the schema version.
///
/// # Errors
/// [`Error::Configuration`] when the database was migrated by a newer build (a version this build
/// does not know) or a known migration's checksum differs from the applied one.
pub(crate) fn run(conn: &mut Connection) -> Result<i64> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map)?;
    tx.execute(CREATE_TABLE, []).map_err(map)?;
    let applied: Vec<(i64, String, i64)> = {
        let mut stmt = tx
            .prepare(
                "SELECT version, description, checksum FROM mlstore_migrations ORDER BY version",
            )
            .map_err(map)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(map)?;
        rows.collect::<rusqlite::Result<_>>().map_err(map)?
    };
    for (version, description, checksum) in &applied {
        let known = MIGRATIONS
            .iter()
            .find(|m| m.version == *version)
            .ok_or_else(|| {
                Error::configuration(format!(
                    "the database schema is at version {version} ({description}), newer than this \
                 build of mlstore-sqlite knows (up to {}); use a newer mlstore",
                    latest_version()
                ))
            })?;
        if known.checksum() != *checksum {
            return Err(Error::configuration(format!(
                "migration {version} ({description}) was applied with a different checksum: \
                 migrations/sqlite/{version:04}_{description}.sql changed after it ran"
            )));
        }
    }
    let now = mlstore_core::time::to_micros(&mlstore_core::time::now());
    for m in MIGRATIONS
        .iter()
        .filter(|m| applied.iter().all(|a| a.0 != m.version))
    {
        tx.execute_batch(m.sql).map_err(map)?;
        tx.execute(
            "INSERT INTO mlstore_migrations (version, description, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![m.version, m.description, m.checksum(), now],
        )
        .map_err(map)?;
    }
    tx.commit().map_err(map)?;
    Ok(latest_version())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| f.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.description))
            .collect();
        assert_eq!(files, embedded);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "versions are 1, 2, 3, ...");
            let text =
                std::fs::read_to_string(format!("{dir}/{:04}_{}.sql", m.version, m.description))
                    .unwrap();
            assert_eq!(text, m.sql);
        }
    }

    #[test]
    fn applies_once_and_refuses_newer_or_edited() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(run(&mut conn).unwrap(), latest_version());
        assert_eq!(run(&mut conn).unwrap(), latest_version(), "idempotent");

        conn.execute(
            "UPDATE mlstore_migrations SET checksum = checksum + 1 WHERE version = 1",
            [],
        )
        .unwrap();
        let err = run(&mut conn).unwrap_err();
        assert!(err.to_string().contains("different checksum"), "{err}");
        conn.execute(
            "UPDATE mlstore_migrations SET checksum = checksum - 1 WHERE version = 1",
            [],
        )
        .unwrap();

        conn.execute(
            "INSERT INTO mlstore_migrations VALUES (?1, 'from the future', 0, 0)",
            [latest_version() + 1],
        )
        .unwrap();
        let err = run(&mut conn).unwrap_err();
        assert_eq!(err.kind(), mlstore_core::ErrorKind::Configuration);
        assert!(err.to_string().contains("newer than this build"), "{err}");
    }
}
