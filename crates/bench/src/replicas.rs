//! `--replicas N`: reads on PostgreSQL with N streaming replicas (the testkit's, each a
//! `pg_basebackup -R` of a throwaway primary on this machine) next to the primary alone, with
//! 1, 8 and 32 concurrent clients; and what read-your-writes costs: a write (which also reads
//! the primary's WAL position) and the first read after it (which checks a replica's replay
//! position, or goes to the primary), each against the same on a store without replicas.
//!
//! Every server shares this machine's two cores with the clients, so the throughput figures
//! say what routing costs and where reads land, not how replicas scale on separate machines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlstore::{ModelMetadata, ModelName, ModelRegistry, Prediction, PredictionStore, Version};
use mlstore_postgres::PostgresStore;
use mlstore_testkit::{PostgresReplica, PostgresServer};
use serde_json::json;

use crate::clients::{drive, Call, Cell};
use crate::measure::Summary;

const MODEL: &str = "bench-replicas";
const VERSIONS: u64 = 20;

/// One read with N clients, on the primary alone and with the replicas.
#[derive(Debug, Clone)]
pub struct ReadRow {
    /// `get` or `latest`.
    pub op: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// Primary alone.
    pub primary: Cell,
    /// Primary and replicas.
    pub replicated: Cell,
    /// Share of the replicated reads that replicas served.
    pub replica_share: f64,
}

/// What the section measured.
#[derive(Debug, Clone)]
pub struct ReplicasReport {
    /// Replicas started.
    pub replicas: usize,
    /// Reads with N clients.
    pub reads: Vec<ReadRow>,
    /// `store_1` on the primary alone.
    pub write_alone: Summary,
    /// `store_1` with replicas (plus the WAL position read).
    pub write_replicated: Summary,
    /// `get` right after a write, primary alone.
    pub read_after_write_alone: Summary,
    /// `get` right after a write, with replicas (replay position check, then a replica or the
    /// primary).
    pub read_after_write_replicated: Summary,
    /// Of those, how many a replica served.
    pub read_after_write_on_replica: f64,
}

fn err(e: impl std::fmt::Display) -> mlstore::Error {
    mlstore::Error::configuration(e.to_string())
}

fn reads(store: &Arc<PostgresStore>, op: &'static str, calls: &Arc<AtomicU64>) -> Call {
    let store = Arc::clone(store);
    let calls = Arc::clone(calls);
    Arc::new(move |seq| {
        let store = Arc::clone(&store);
        calls.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let name = ModelName::new(MODEL).map_err(|e| e.to_string())?;
            let result = match op {
                "get" => {
                    let v = Version::new(format!("1.0.{}", seq % VERSIONS))
                        .map_err(|e| e.to_string())?;
                    store.get(&name, &v).await.map(drop)
                }
                _ => store.latest(&name).await.map(drop),
            };
            result.map_err(|e| e.to_string())
        })
    })
}

fn served(store: &PostgresStore) -> u64 {
    store.replica_status().iter().map(|(_, s)| s.reads).sum()
}

/// `runs` pairs of a write and a read right after it: their latencies, and the share of the
/// reads a replica served.
async fn pairs(
    store: &PostgresStore,
    name: &ModelName,
    runs: usize,
) -> mlstore::Result<(Summary, Summary, f64)> {
    let (mut writes, mut reads) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    let before = served(store);
    for i in 0..runs as u64 {
        let p = Prediction::builder(name.clone(), Version::new("1.0.0")?, json!(i), 0.5).build()?;
        let start = Instant::now();
        store.store_prediction(&p).await?;
        writes.push(start.elapsed());
        let v = Version::new(format!("1.0.{}", i % VERSIONS))?;
        let start = Instant::now();
        store.get(name, &v).await?;
        reads.push(start.elapsed());
    }
    let share = (served(store) - before) as f64 / runs as f64;
    Ok((Summary::of(writes), Summary::of(reads), share))
}

/// Starts a primary and `n` replicas, then measures.
///
/// # Errors
/// When a server cannot start or an operation fails.
pub async fn run(
    n: usize,
    clients: &[usize],
    quick: bool,
    mut progress: impl FnMut(&str),
) -> mlstore::Result<ReplicasReport> {
    progress("replicas: starting PostgreSQL and its replicas");
    let primary = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .map_err(err)?
        .map_err(err)?;
    let url = primary.create_database().await.map_err(err)?;
    let primary = Arc::new(primary);
    let mut replicas = Vec::new();
    for _ in 0..n {
        let p = Arc::clone(&primary);
        replicas.push(
            tokio::task::spawn_blocking(move || PostgresReplica::start(&p))
                .await
                .map_err(err)?
                .map_err(err)?,
        );
    }
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    for r in &replicas {
        r.wait_for_database(&database, Duration::from_secs(60))
            .await
            .map_err(err)?;
    }
    let mut replicated_url = url.clone();
    for r in &replicas {
        replicated_url = r.replicated_url(&replicated_url);
    }
    let alone = Arc::new(PostgresStore::connect_url(&url).await?);
    let name = ModelName::new(MODEL)?;
    for v in 0..VERSIONS {
        let m = ModelMetadata::builder(name.clone(), Version::new(format!("1.0.{v}"))?, "xgboost")
            .metric("auc", 0.9)
            .build()?;
        alone.register(&m).await?;
    }
    let replicated = Arc::new(PostgresStore::connect_url(&replicated_url).await?);
    // Until every replica has the data, reads of the replicated store go to the primary.
    let deadline = Instant::now() + Duration::from_secs(60);
    while served(&replicated) < n as u64 && Instant::now() < deadline {
        replicated.latest(&name).await?;
    }
    let (warmup, duration) = if quick {
        (Duration::from_millis(50), Duration::from_millis(200))
    } else {
        (Duration::from_millis(500), Duration::from_secs(3))
    };
    let mut rows = Vec::new();
    for op in ["get", "latest"] {
        for &c in clients {
            progress(&format!("replicas: {op}, {c} clients"));
            let calls = Arc::new(AtomicU64::new(0));
            let primary_cell = drive(reads(&alone, op, &calls), c, warmup, duration).await;
            calls.store(0, Ordering::Relaxed);
            let before = served(&replicated);
            let replicated_cell = drive(reads(&replicated, op, &calls), c, warmup, duration).await;
            let on_replicas = served(&replicated) - before;
            let total = calls.load(Ordering::Relaxed).max(1) as f64;
            rows.push(ReadRow {
                op,
                clients: c,
                primary: primary_cell,
                replicated: replicated_cell,
                replica_share: (on_replicas as f64 / total).min(1.0),
            });
        }
    }

    progress("replicas: a write, then a read");
    let runs = if quick { 50 } else { 1000 };
    let (write_alone, read_after_write_alone, _) = pairs(&alone, &name, runs).await?;
    let (write_replicated, read_after_write_replicated, share) =
        pairs(&replicated, &name, runs).await?;
    replicated.close();
    alone.close();
    drop(replicas);
    Ok(ReplicasReport {
        replicas: n,
        reads: rows,
        write_alone,
        write_replicated,
        read_after_write_alone,
        read_after_write_replicated,
        read_after_write_on_replica: share,
    })
}
