//! `mlstore-bench`: the benchmark report. Which backend and cache to run, with numbers from this
//! machine.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Datelike;
use mlstore_bench::floor::{encode, Floor, RedisFloor};
use mlstore_bench::measure::{measure, peak_rss_bytes, Budget, Summary};
use mlstore_bench::{Backend, Cache, Combo, Fixture, Op, Servers, Target};
use mlstore_core::{Result, Store, Version};
use serde_json::json;

const USAGE: &str = "\
mlstore-bench: p50/p95/p99 of every mlstore operation, per backend x cache, next to the raw
driver cost of the same SQL (the floor) and the figures of the system mlstore replaces.

usage: cargo run --release -p mlstore-bench -- [OPTIONS]

  (no option)       SQLite file (temporary) with no cache and with moka; needs no server
  --all             also start a throwaway PostgreSQL and Redis and run the full matrix
                    {sqlite, postgres} x {none, moka, redis, moka+redis}
  --postgres URL    use this PostgreSQL (rows go under bench-* names: use a scratch database)
  --redis URL       use this Redis (keys go under a namespace of their own)
  --scale           grow the data over 24 months (PostgreSQL 10,000,000 predictions, SQLite
                    1,000,000; 990 more versions), measure the reads again, prune the oldest
                    month and give the database size before and after
  --scale-rows N    grow by N predictions on each backend (implies --scale)
  --clients [LIST]  also run every operation with N concurrent clients on one store handle,
                    for each N of LIST (default 1,8,64), on each backend without cache, and
                    single predictions through a PredictionBatcher; with --all, PostgreSQL for
                    this part is a second throwaway server with fsync and synchronous commit on
  --http [LIST]     also measure get, latest, store_1 and store_100 through `mlstore serve`
                    (SQLite, moka cache) on loopback with keep-alive, for each number of
                    clients in LIST (default 1,32), next to an HTTP floor (a handler that
                    answers a fixed body) and the same operation in process
  --dashboard [N]   also time the dashboard's pages (models, a version, compare, alias
                    history) over a version with N predictions (default 1000000; 100000
                    with --quick) on SQLite, as `mlstore serve` runs them
  --replicas [N]    also start N streaming replicas (default 1) of a throwaway PostgreSQL and
                    measure reads with 1, 8 and 32 clients on the primary alone and with the
                    replicas, and what read-your-writes adds to a write and the read after it
  --quick           a smoke run: a few runs of everything (numbers are not meaningful)
  --no-matrix       skip the one-client tables per backend x cache (run only the sections
                    asked for: --clients, --http, --scale, ...)
  --json FILE       write every figure to FILE as JSON
  --plot FILE.svg   draw p50 per operation per combination (log scale)
  -h, --help        this text
";

#[derive(Debug, Default)]
struct Args {
    all: bool,
    postgres: Option<String>,
    redis: Option<String>,
    scale: bool,
    scale_rows: Option<u64>,
    clients: Vec<usize>,
    http: Vec<usize>,
    dashboard: Option<u64>,
    replicas: Option<usize>,
    quick: bool,
    no_matrix: bool,
    json: Option<PathBuf>,
    plot: Option<PathBuf>,
}

fn parse_args() -> std::result::Result<Option<Args>, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1).peekable();
    while let Some(arg) = it.next() {
        if arg == "--clients" || arg == "--http" {
            let list = match it.next_if(|next| !next.starts_with("--")) {
                None if arg == "--http" => vec![1, 32],
                None => vec![1, 8, 64],
                Some(list) => list
                    .split(',')
                    .map(|n| match n.trim().parse::<usize>() {
                        Ok(n) if (1..=1024).contains(&n) => Ok(n),
                        _ => Err(format!(
                            "{arg} takes numbers from 1 to 1024, comma-separated, not {n:?}"
                        )),
                    })
                    .collect::<std::result::Result<_, _>>()?,
            };
            if arg == "--http" {
                args.http = list;
            } else {
                args.clients = list;
            }
            continue;
        }
        if arg == "--replicas" {
            let n = match it.next_if(|next| !next.starts_with("--")) {
                None => 1,
                Some(n) => match n.parse::<usize>() {
                    Ok(n) if (1..=8).contains(&n) => n,
                    _ => return Err(format!("--replicas takes 1 to 8, not {n:?}")),
                },
            };
            args.replicas = Some(n);
            continue;
        }
        if arg == "--dashboard" {
            let n = match it.next_if(|next| !next.starts_with("--")) {
                None => 0,
                Some(n) => match n.replace(['_', ','], "").parse::<u64>() {
                    Ok(n) if (1..=100_000_000).contains(&n) => n,
                    _ => {
                        return Err(format!(
                            "--dashboard takes a number of predictions, not {n:?}"
                        ))
                    }
                },
            };
            args.dashboard = Some(n);
            continue;
        }
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--all" => args.all = true,
            "--scale" => args.scale = true,
            "--quick" => args.quick = true,
            "--no-matrix" => args.no_matrix = true,
            "--scale-rows" => {
                let text = value("--scale-rows")?;
                match text.replace(['_', ','], "").parse::<u64>() {
                    Ok(n) if (1..=1_000_000_000).contains(&n) => {
                        args.scale_rows = Some(n);
                        args.scale = true;
                    }
                    _ => {
                        return Err(format!(
                            "--scale-rows takes a number of predictions, not {text:?}"
                        ))
                    }
                }
            }
            "--postgres" => args.postgres = Some(value("--postgres")?),
            "--redis" => args.redis = Some(value("--redis")?),
            "--json" => args.json = Some(value("--json")?.into()),
            "--plot" => args.plot = Some(value("--plot")?.into()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(args))
}

/// One measured cell of the report.
struct Row {
    combo: Combo,
    op: Op,
    summary: Summary,
    floor: Option<Summary>,
}

/// Which floor an operation of a combination is compared with.
#[derive(Clone, Copy, PartialEq)]
enum FloorKind {
    None,
    Backend,
    Redis,
}

fn floor_kind(combo: Combo, op: Op) -> FloorKind {
    match (combo.cache, op.is_cached_read()) {
        (Cache::None, _) | (_, false) => FloorKind::Backend,
        (Cache::Redis, true) => FloorKind::Redis,
        (Cache::Moka | Cache::MokaRedis, true) => FloorKind::None,
    }
}

/// The p50 mlstore must reach (issue targets), and how it is stated.
fn target(combo: Combo, op: Op, floor_p50: Option<f64>) -> Option<(f64, String)> {
    if op.is_cached_read() {
        match combo.cache {
            Cache::Moka | Cache::MokaRedis => return Some((1.0, "≤ 1 µs".into())),
            Cache::Redis => return floor_p50.map(|f| (1.5 * f, "≤ 1.5× GET".into())),
            Cache::None => {}
        }
    }
    match combo.backend {
        Backend::Sqlite => {
            let us = match op {
                Op::Get | Op::Latest | Op::BaselineRead | Op::AliasResolve => 8.0,
                Op::AliasAt => 10.0,
                Op::History100 => 150.0,
                Op::Register | Op::Store1 | Op::BaselineWrite | Op::RecordActual => 30.0,
                Op::Versions10 => 25.0,
                Op::Store100 => 350.0,
                Op::Recent100 | Op::Accuracy1000 => 150.0,
                Op::Metrics10000 | Op::Drift10000 => 2000.0,
                Op::Series720 => 5000.0,
            };
            Some((us, format!("≤ {us} µs")))
        }
        Backend::Postgres => floor_p50.map(|f| (1.5 * f, "≤ 1.5× floor".into())),
    }
}

fn status(combo: Combo, op: Op, p50: f64, floor_p50: Option<f64>) -> String {
    let mut notes = Vec::new();
    if let Some((limit, text)) = target(combo, op, floor_p50) {
        if p50 > limit {
            notes.push(format!("SLOW ({text})"));
        }
    }
    if combo.backend == Backend::Sqlite {
        if let Some(ms) = op.original_ms() {
            if ms * 1000.0 / p50 < 100.0 {
                notes.push("< 100× original".into());
            }
        }
    }
    if notes.is_empty() {
        "ok".into()
    } else {
        notes.join(", ")
    }
}

fn us(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.1} ms", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0} µs")
    } else {
        format!("{value:.1} µs")
    }
}

fn thousands(value: f64) -> String {
    let text = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Prints rows as an aligned table: the first column left-aligned, the others right-aligned.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::from("|");
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i == 0 || i == cells.len() - 1 && header[i] == "Status" {
                out.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
            } else {
                out.push_str(&format!(" {}{cell} |", " ".repeat(pad)));
            }
        }
        println!("{out}");
    };
    line(header.iter().map(|h| h.to_string()).collect());
    let mut rule = String::from("|");
    for (i, w) in widths.iter().enumerate() {
        let right = !(i == 0 || i == widths.len() - 1 && header[i] == "Status");
        rule.push_str(&format!(
            "{}{}|",
            "-".repeat(w + 1),
            if right { ":" } else { "-" }
        ));
    }
    println!("{rule}");
    for row in rows {
        line(row.clone());
    }
}

/// A progress line on stderr (redrawn in place on a terminal).
struct Progress {
    total: usize,
    done: usize,
    tty: bool,
    started: Instant,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    fn step(&mut self, what: &str) {
        self.done += 1;
        let width = 30;
        let filled = width * self.done / self.total.max(1);
        let line = format!(
            "[{}{}] {:>3}/{} {:>5.1}s {what}",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

async fn measure_combo(
    combo: Combo,
    servers: &Servers,
    budget: Budget,
    run_tag: &str,
    progress: &mut Progress,
) -> Result<Vec<Row>> {
    let target = Target::build(combo, servers).await?;
    let store = Arc::clone(&target.store);
    let tag = format!(
        "{run_tag}-{}-{}",
        combo.backend.name(),
        combo.cache.name().replace('+', "-")
    );
    let fixture = Fixture::create(store.as_ref(), &tag).await?;
    let mut backend_floor = match combo.backend {
        Backend::Sqlite => Floor::sqlite(target.sqlite_path.as_deref().expect("sqlite path"))?,
        Backend::Postgres => {
            Floor::postgres(servers.postgres.as_deref().expect("postgres url")).await?
        }
    };
    let mut redis_floor = match (combo.cache, &servers.redis) {
        (Cache::Redis, Some(url)) => {
            Some(RedisFloor::connect(url, &fixture, store.as_ref()).await?)
        }
        _ => None,
    };
    let mut rows = Vec::new();
    for op in Op::ALL {
        progress.step(&format!("{combo}: {}", op.label()));
        let floor = match floor_kind(combo, op) {
            FloorKind::None => None,
            FloorKind::Backend => Some(
                measure(budget, async || {
                    let input = encode(&fixture.input(op));
                    backend_floor.run(&fixture, op, &input).await
                })
                .await?,
            ),
            FloorKind::Redis => match redis_floor.as_mut() {
                Some(floor) => Some(measure(budget, async || floor.run().await).await?),
                None => None,
            },
        };
        let summary = measure_op(store.as_ref(), &fixture, op, budget).await?;
        rows.push(Row {
            combo,
            op,
            summary,
            floor,
        });
    }
    Ok(rows)
}

fn print_combo(combo: Combo, rows: &[&Row]) {
    println!("\n### {combo}\n");
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = &r.summary;
            let floor_p50 = r.floor.map(|f| f.p50_us);
            vec![
                r.op.label().to_string(),
                r.op.original_ms()
                    .map_or("-".into(), |ms| format!("{ms:.2} ms")),
                us(s.p50_us),
                us(s.p95_us),
                us(s.p99_us),
                format!("{}/s", thousands(s.ops_per_s)),
                r.op.original_ms().map_or("-".into(), |ms| {
                    format!("{}×", thousands(ms * 1000.0 / s.p50_us))
                }),
                floor_p50.map_or("-".into(), |f| format!("{:.2}×", s.p50_us / f)),
                status(combo, r.op, s.p50_us, floor_p50),
            ]
        })
        .collect();
    table(
        &[
            "Operation",
            "Baseline",
            "p50",
            "p95",
            "p99",
            "Throughput",
            "vs original",
            "vs floor",
            "Status",
        ],
        &body,
    );
}

/// `--scale`: the p50 of the reads at the small size and after growing the data.
struct ScaleRow {
    backend: Backend,
    op: Op,
    small: Summary,
    large: Summary,
}

/// `--scale`: pruning the oldest month, and the database's size around it.
struct PruneRow {
    backend: Backend,
    rows: u64,
    outcome: mlstore_core::retention::PruneOutcome,
    /// PostgreSQL: the detach of the month's partition alone (its rows gone from every read).
    detach: Option<std::time::Duration>,
    elapsed: std::time::Duration,
    size_before: u64,
    size_after: u64,
}

/// How many months `--scale` spreads its predictions over.
const SCALE_MONTHS: u32 = 24;

/// The bytes the database takes: PostgreSQL's `pg_database_size`, or the SQLite file's pages
/// in use (deleted rows' pages are kept for reuse, not returned to the file system).
async fn database_size(backend: Backend, servers: &Servers, target: &Target) -> Result<u64> {
    match backend {
        Backend::Sqlite => {
            let path = target
                .sqlite_path
                .as_ref()
                .expect("a SQLite target has a file");
            let conn = rusqlite::Connection::open(path)
                .map_err(|e| mlstore_core::Error::backend("sqlite", e))?;
            let pages: i64 = conn
                .query_row(
                    "SELECT (SELECT page_count FROM pragma_page_count()) - \
                     (SELECT freelist_count FROM pragma_freelist_count())",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| mlstore_core::Error::backend("sqlite", e))?;
            let page: i64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(|e| mlstore_core::Error::backend("sqlite", e))?;
            Ok((pages * page) as u64)
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let url = servers.postgres.as_deref().expect("checked by the caller");
            let mut conn = sqlx::PgConnection::connect(url)
                .await
                .map_err(|e| mlstore_core::Error::backend("postgres", e))?;
            let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| mlstore_core::Error::backend("postgres", e))?;
            Ok(size as u64)
        }
    }
}

async fn scale(
    backend: Backend,
    servers: &Servers,
    budget: Budget,
    run_tag: &str,
    rows: u64,
) -> Result<(Vec<ScaleRow>, PruneRow)> {
    let target = Target::build(
        Combo {
            backend,
            cache: Cache::None,
        },
        servers,
    )
    .await?;
    let store: &dyn Store = target.store.as_ref();
    let fixture = Fixture::create(store, &format!("{run_tag}-scale-{}", backend.name())).await?;
    let ops = [
        Op::Get,
        Op::Latest,
        Op::Recent100,
        Op::Accuracy1000,
        Op::RecordActual,
        Op::Series720,
    ];
    let mut small = BTreeMap::new();
    for op in ops {
        small.insert(op.name(), measure_op(store, &fixture, op, budget).await?);
    }
    // `rows` predictions of the fixture's version spread over the 24 whole months before this
    // one (oldest first, as traffic arrives), in chunks of 1% for progress.
    let now = mlstore_core::time::now();
    let this_month = chrono::NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .expect("a month start")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let first_month = this_month - chrono::Months::new(SCALE_MONTHS);
    let span = (this_month - first_month)
        .num_microseconds()
        .expect("24 months") as f64;
    let at = |k: u64| {
        first_month + chrono::Duration::microseconds((k as f64 / rows as f64 * span) as i64)
    };
    let started = Instant::now();
    let chunks = 100u64;
    let mut progress = Progress::new(chunks as usize + 10 + 1);
    for c in 0..chunks {
        let (from, to) = (rows * c / chunks, rows * (c + 1) / chunks);
        if to > from {
            Fixture::spread(
                store,
                &fixture.model,
                &fixture.version,
                (at(from), at(to)),
                1_000_000 + from,
                to - from,
            )
            .await?;
        }
        let rate = to as f64 / started.elapsed().as_secs_f64().max(1e-9);
        progress.step(&format!(
            "{}: {to} of {rows} predictions over {SCALE_MONTHS} months ({rate:.0}/s)",
            backend.name()
        ));
    }
    for chunk in 0..10u64 {
        for minor in 0..99u64 {
            let version = Version::new(format!("2.{}.0", chunk * 99 + minor))?;
            let m = mlstore_core::ModelMetadata::builder(fixture.model.clone(), version, "xgboost")
                .build()?;
            store.register(&m).await?;
        }
        progress.step(&format!(
            "{}: {} more versions",
            backend.name(),
            (chunk + 1) * 99
        ));
    }
    // The series version grows to 1,000,000 predictions in the same 30 days.
    Fixture::spread(
        store,
        &fixture.model,
        &fixture.series_version,
        fixture.series_range,
        100_000,
        900_000,
    )
    .await?;
    progress.step(&format!("{}: series version at 1,000,000", backend.name()));
    progress.finish();
    eprintln!(
        "{}: grew by {rows} predictions over {SCALE_MONTHS} months, 990 versions and a series \
         version of 1,000,000 predictions in {:.1}s",
        backend.name(),
        started.elapsed().as_secs_f64()
    );
    let mut out = Vec::new();
    for op in ops {
        out.push(ScaleRow {
            backend,
            op,
            small: small[op.name()],
            large: measure_op(store, &fixture, op, budget).await?,
        });
    }
    // Retention: prune the oldest month (every model), as `mlstore maintain` would.
    let size_before = database_size(backend, servers, &target).await?;
    let cutoff = first_month + chrono::Months::new(1);
    let prune_started = Instant::now();
    // On PostgreSQL, the two steps of the prune timed apart: the detach (the statement
    // `prune_predictions` runs first), then the prune, which finds the detached partition,
    // removes its rows' ids from the id index and drops it.
    let detach = match (backend, servers.postgres.as_deref()) {
        (Backend::Postgres, Some(url)) => {
            use sqlx::Connection;
            let e = |e| mlstore_core::Error::backend("postgres", e);
            let mut conn = sqlx::PgConnection::connect(url).await.map_err(e)?;
            let started = Instant::now();
            let detached: i64 = sqlx::query_scalar("SELECT ml_detach_partitions($1)")
                .bind(cutoff)
                .fetch_one(&mut conn)
                .await
                .map_err(e)?;
            let took = started.elapsed();
            eprintln!(
                "postgres: detached {detached} partition in {:.1} ms",
                took.as_secs_f64() * 1e3
            );
            Some((took, detached as u64))
        }
        _ => None,
    };
    let mut outcome = store
        .prune_predictions(&mlstore_core::retention::Prune::before(cutoff))
        .await?;
    let elapsed = prune_started.elapsed();
    // The partitions it dropped were detached by the statement above.
    let detach = detach.map(|(took, detached)| {
        outcome.partitions_dropped += detached;
        took
    });
    let size_after = database_size(backend, servers, &target).await?;
    eprintln!(
        "{}: pruned {} predictions of the oldest month in {:.1} ms",
        backend.name(),
        outcome.predictions,
        elapsed.as_secs_f64() * 1e3
    );
    Ok((
        out,
        PruneRow {
            backend,
            rows,
            outcome,
            detach,
            elapsed,
            size_before,
            size_after,
        },
    ))
}

/// `--clients`: each number of clients runs an operation in this many windows, in turn with
/// the other numbers, so that their ratios compare the same moments of the machine.
const ROUNDS: u32 = 4;

/// `--clients`: one row per operation (and one for `store_1` through a batcher), one cell per
/// number of clients.
struct ClientsRow {
    backend: Backend,
    label: String,
    op: Op,
    batcher: bool,
    cells: Vec<mlstore_bench::clients::Cell>,
    /// Through the batcher: predictions per batch write, on average, for each cell.
    mean_batch: Vec<f64>,
}

async fn clients_sweep(
    backend: Backend,
    servers: &Servers,
    clients: &[usize],
    quick: bool,
    run_tag: &str,
) -> Result<Vec<ClientsRow>> {
    use mlstore_bench::clients::{op_call, run_in_turns, Via};
    use mlstore_core::batcher::{BatcherConfig, PredictionBatcher};
    let (warmup, duration) = if quick {
        (Duration::from_millis(10), Duration::from_millis(50))
    } else {
        (Duration::from_millis(200), Duration::from_secs(1))
    };
    let target = Target::build(
        Combo {
            backend,
            cache: Cache::None,
        },
        servers,
    )
    .await?;
    let store = Arc::clone(&target.store);
    let fixture = Arc::new(
        Fixture::create(
            store.as_ref(),
            &format!("{run_tag}-clients-{}", backend.name()),
        )
        .await?,
    );
    let mut progress = Progress::new(Op::ALL.len());
    let counts = clients
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut rows = Vec::new();
    let mut batched = None;
    for op in Op::ALL {
        progress.step(&format!(
            "{} {}: {counts} clients, in turns",
            backend.name(),
            op.label(),
        ));
        let direct = op_call(store.clone(), fixture.clone(), op, Via::Store);
        let mut contenders: Vec<_> = clients.iter().map(|&n| (direct.clone(), n)).collect();
        // Single predictions through a batcher (one per number of producers) take turns with
        // the direct writes they are compared with.
        let mut batchers = Vec::new();
        if op == Op::Store1 {
            for &n in clients {
                let batcher = Arc::new(PredictionBatcher::new(
                    store.clone(),
                    BatcherConfig::default(),
                )?);
                let via = Via::Batcher(batcher.clone());
                contenders.push((op_call(store.clone(), fixture.clone(), op, via), n));
                batchers.push(batcher);
            }
        }
        let mut cells = run_in_turns(&contenders, ROUNDS, warmup, duration).await;
        if !batchers.is_empty() {
            let through = cells.split_off(clients.len());
            let mut mean_batch = Vec::new();
            for batcher in batchers {
                let stats = batcher.close().await;
                mean_batch.push(stats.stored as f64 / stats.batches.max(1) as f64);
            }
            batched = Some(ClientsRow {
                backend,
                label: "Store 1 via batcher".into(),
                op,
                batcher: true,
                cells: through,
                mean_batch,
            });
        }
        rows.push(ClientsRow {
            backend,
            label: op.label().to_string(),
            op,
            batcher: false,
            cells,
            mean_batch: Vec::new(),
        });
    }
    rows.extend(batched);
    progress.finish();
    Ok(rows)
}

/// What the PostgreSQL server of a URL does on commit, for the report's header.
async fn commit_settings(url: &str) -> String {
    use sqlx::Connection;
    let settings = async {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let fsync: String = sqlx::query_scalar("SHOW fsync")
            .fetch_one(&mut conn)
            .await?;
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut conn)
            .await?;
        Ok::<_, sqlx::Error>(format!("fsync={fsync}, synchronous_commit={sync}"))
    };
    settings
        .await
        .unwrap_or_else(|e| format!("settings unknown: {e}"))
}

/// The HTTP section: each operation through the server, the HTTP floor and in process.
fn print_replicas(r: &mlstore_bench::replicas::ReplicasReport) {
    println!(
        "\n### Read replicas (PostgreSQL primary + {} streaming replica{}, all on this machine)\n",
        r.replicas,
        if r.replicas == 1 { "" } else { "s" }
    );
    println!(
        "The servers and the clients share this machine's cores: these figures show what \
         routing costs and where reads land, not how replicas scale on machines of their own.\n"
    );
    println!("| read | clients | primary alone p50 | ops/s | with replicas p50 | ops/s | served by replicas |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &r.reads {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0}% |",
            row.op,
            row.clients,
            us(row.primary.latency.p50_us),
            thousands(row.primary.ops_per_s),
            us(row.replicated.latency.p50_us),
            thousands(row.replicated.ops_per_s),
            row.replica_share * 100.0
        );
    }
    println!(
        "\nRead-your-writes: a write, then a read by the same handle ({} pairs):\n",
        r.write_alone.runs
    );
    println!("| | primary alone p50 | with replicas p50 | added |");
    println!("|---|---:|---:|---:|");
    for (what, a, b) in [
        (
            "store_1 (with replicas: + WAL position)",
            &r.write_alone,
            &r.write_replicated,
        ),
        (
            "get right after it (with replicas: + a replay check when due)",
            &r.read_after_write_alone,
            &r.read_after_write_replicated,
        ),
    ] {
        println!(
            "| {what} | {} | {} | {} |",
            us(a.p50_us),
            us(b.p50_us),
            us(b.p50_us - a.p50_us)
        );
    }
    println!(
        "\nReads right after a write that a replica served: {:.0}% (the rest went to the primary: \
         the replica had not replayed the write yet).",
        r.read_after_write_on_replica * 100.0
    );
}

fn print_dashboard(r: &mlstore_bench::dashboard::DashboardReport) {
    println!(
        "\n### Dashboard pages (SQLite, a version with {} predictions over 90 days, seeded in {:.1} s)\n",
        thousands(r.predictions as f64),
        r.seeded_in.as_secs_f64()
    );
    println!(
        "Server time: the page's `Server-Timing` (handler start to page built); client: the \
         whole request on loopback. {} requests per page after one warm-up; target: server \
         time <= 50 ms.\n",
        r.pages.first().map_or(0, |p| p.server.runs)
    );
    println!("| page | path | server p50 | server slowest | client p50 | HTML | target |");
    println!("|---|---|---:|---:|---:|---:|---|");
    for p in &r.pages {
        println!(
            "| {} | `{}` | {:.2} ms | {:.2} ms | {:.2} ms | {} KiB | {} |",
            p.page,
            p.path,
            p.server.p50_us / 1000.0,
            p.server.p99_us / 1000.0,
            p.client.p50_us / 1000.0,
            p.bytes.div_ceil(1024),
            if p.server.p50_us <= 50_000.0 {
                "met"
            } else {
                "missed"
            }
        );
    }
}

fn print_http(rows: &[mlstore_bench::http::HttpRow]) {
    println!("\n### Through `mlstore serve` (HTTP/1.1 on loopback, keep-alive; SQLite + moka)\n");
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let bound = 1.5 * r.floor.latency.p50_us + r.in_process.latency.p50_us;
            let read = matches!(r.op, "get" | "latest");
            let status = if r.http.errors > 0 {
                format!(
                    "{} errors: {}",
                    r.http.errors,
                    r.http.first_error.as_deref().unwrap_or("")
                )
            } else if !read {
                "-".into()
            } else if r.http.latency.p50_us <= bound {
                "ok".into()
            } else {
                "SLOW".into()
            };
            vec![
                r.op.to_string(),
                r.clients.to_string(),
                us(r.http.latency.p50_us),
                us(r.http.latency.p99_us),
                thousands(r.http.ops_per_s),
                us(r.floor.latency.p50_us),
                thousands(r.floor.ops_per_s),
                us(r.in_process.latency.p50_us),
                if read { us(bound) } else { "-".into() },
                status,
            ]
        })
        .collect();
    table(
        &[
            "Operation",
            "Clients",
            "HTTP p50",
            "HTTP p99",
            "HTTP req/s",
            "Floor p50",
            "Floor req/s",
            "In-process p50",
            "Target p50",
            "Status",
        ],
        &body,
    );
    println!(
        "\nTarget p50 of reads: 1.5x the floor's p50 plus the in-process p50. Client and server \
         share this machine's cores."
    );
    if let Some(r) = rows
        .iter()
        .filter(|r| r.op == "latest")
        .max_by_key(|r| r.clients)
    {
        println!(
            "Cached `latest` with {} clients: {} requests/s (target ≥ 20,000 with 32): {}",
            r.clients,
            thousands(r.http.ops_per_s),
            if r.clients >= 32 && r.http.ops_per_s >= 20_000.0 {
                "ok"
            } else if r.clients >= 32 {
                "BELOW"
            } else {
                "not measured with 32 clients"
            }
        );
    }
}

fn print_clients(backend: Backend, clients: &[usize], rows: &[&ClientsRow]) {
    println!(
        "\n### {} with concurrent clients (one store handle, no cache)\n",
        backend.name()
    );
    let mut header = vec!["Operation".to_string()];
    for n in clients {
        header.push(format!("{n}: ops/s"));
        header.push(format!("{n}: p50"));
        header.push(format!("{n}: p99"));
    }
    header.push("Errors".into());
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut line = vec![r.label.clone()];
            for c in &r.cells {
                line.push(thousands(c.ops_per_s));
                line.push(us(c.latency.p50_us));
                line.push(us(c.latency.p99_us));
            }
            let errors: u64 = r.cells.iter().map(|c| c.errors).sum();
            line.push(match r.cells.iter().find_map(|c| c.first_error.clone()) {
                Some(first) => format!("{errors}: {first}"),
                None => "0".into(),
            });
            line
        })
        .collect();
    let refs: Vec<&str> = header.iter().map(String::as_str).collect();
    table(&refs, &body);
    let at = |row: &ClientsRow, n: usize| {
        row.cells
            .iter()
            .find(|c| c.clients == n)
            .map(|c| c.ops_per_s)
    };
    if backend == Backend::Sqlite && clients.contains(&1) && clients.contains(&8) {
        let reads: Vec<String> = rows
            .iter()
            .filter(|r| !r.batcher && !r.op.is_write())
            .filter_map(|r| Some(format!("{} {:.2}×", r.op.name(), at(r, 8)? / at(r, 1)?)))
            .collect();
        println!(
            "\nReads, 8 clients against 1 (target ≥ 1.5×): {}",
            reads.join(", ")
        );
    }
    let most = clients.iter().copied().max().unwrap_or(1);
    let direct = rows.iter().find(|r| !r.batcher && r.op == Op::Store1);
    let batched = rows.iter().find(|r| r.batcher);
    if let (Some(direct), Some(batched)) = (direct, batched) {
        if let (Some(d), Some(b)) = (at(direct, most), at(batched, most)) {
            let mean = batched
                .cells
                .iter()
                .position(|c| c.clients == most)
                .and_then(|i| batched.mean_batch.get(i));
            println!(
                "Single predictions, {most} producers: {}/s through the batcher (mean batch \
                 {}) against {}/s calling store_prediction: {:.1}×",
                thousands(b),
                mean.map_or("-".into(), |m| format!("{m:.1}")),
                thousands(d),
                b / d
            );
        }
    }
}

async fn measure_op(
    store: &dyn Store,
    fixture: &Fixture,
    op: Op,
    budget: Budget,
) -> Result<Summary> {
    measure(budget, async || {
        let input = fixture.input(op);
        let start = Instant::now();
        fixture.run(store, op, &input).await?;
        Ok(start.elapsed())
    })
    .await
}

/// Starts a throwaway PostgreSQL (`durable`: fsync and synchronous commit on) and creates a
/// database in it; returns the server (stopped when dropped) and the database's URL.
async fn throwaway_postgres(durable: bool) -> Result<(mlstore_testkit::PostgresServer, String)> {
    let config =
        |e: mlstore_testkit::TestkitError| mlstore_core::Error::configuration(e.to_string());
    let server = if durable {
        mlstore_testkit::PostgresServer::start_durable()
    } else {
        mlstore_testkit::PostgresServer::start()
    }
    .map_err(config)?;
    let url = server.create_database().await.map_err(config)?;
    Ok((server, url))
}

async fn run(args: Args) -> Result<()> {
    let budget = if args.quick {
        Budget::quick()
    } else {
        Budget::standard()
    };
    let run_tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();

    // Servers: given, or started here with --all (and stopped at the end).
    let mut started_pg = None;
    let mut started_redis = None;
    let mut servers = Servers {
        postgres: args.postgres.clone(),
        redis: args.redis.clone(),
    };
    if args.all && servers.postgres.is_none() {
        eprintln!("starting a throwaway PostgreSQL...");
        let (server, url) = throwaway_postgres(false).await?;
        servers.postgres = Some(url);
        started_pg = Some(server);
    }
    if args.all && servers.redis.is_none() {
        eprintln!("starting a throwaway Redis...");
        let server = mlstore_testkit::RedisServer::start()
            .map_err(|e| mlstore_core::Error::configuration(e.to_string()))?;
        servers.redis = Some(server.url().to_string());
        started_redis = Some(server);
    }

    let mut combos = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if args.no_matrix {
            break;
        }
        if backend == Backend::Postgres && servers.postgres.is_none() {
            continue;
        }
        for cache in [Cache::None, Cache::Moka, Cache::Redis, Cache::MokaRedis] {
            if cache.needs_redis() && servers.redis.is_none() {
                continue;
            }
            combos.push(Combo { backend, cache });
        }
    }

    println!("# mlstore benchmark\n");
    if args.no_matrix {
        println!(
            "{} CPUs, {}{}; only the sections asked for (--no-matrix).",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::env::consts::ARCH,
            if args.quick {
                " (--quick: a smoke run, not meaningful)"
            } else {
                ""
            }
        );
    } else {
        println!(
            "{} CPUs, {}; {} per operation after {} of warm-up{}. Times are per call through the \
             public async API, one client. Baseline: the system mlstore replaces. Floor: the same \
             SQL on a held driver connection (for Redis-cached reads: a raw Redis GET), measured \
             in the same run.",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::env::consts::ARCH,
            format_args!("{:?}", budget.measure),
            format_args!("{:?}", budget.warmup),
            if args.quick {
                " (--quick: a smoke run, not meaningful)"
            } else {
                ""
            }
        );
    }

    let mut progress = Progress::new(combos.len() * Op::ALL.len());
    let mut rows = Vec::new();
    for combo in &combos {
        rows.extend(measure_combo(*combo, &servers, budget, &run_tag, &mut progress).await?);
    }
    progress.finish();

    for combo in &combos {
        let of_combo: Vec<&Row> = rows.iter().filter(|r| r.combo == *combo).collect();
        print_combo(*combo, &of_combo);
    }

    if !combos.is_empty() {
        println!("\n### p50 matrix\n");
    }
    let mut header = vec!["Operation".to_string()];
    header.extend(combos.iter().map(|c| c.to_string()));
    let mut plot_rows = Vec::new();
    let body: Vec<Vec<String>> = Op::ALL
        .iter()
        .map(|op| {
            let values: Vec<Option<f64>> = combos
                .iter()
                .map(|c| {
                    rows.iter()
                        .find(|r| r.combo == *c && r.op == *op)
                        .map(|r| r.summary.p50_us)
                })
                .collect();
            plot_rows.push((op.label().to_string(), values.clone()));
            let mut line = vec![op.label().to_string()];
            line.extend(values.iter().map(|v| v.map_or("-".into(), us)));
            line
        })
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    if !combos.is_empty() {
        table(&header_refs, &body);
    }

    let mut scale_rows = Vec::new();
    let mut prune_rows = Vec::new();
    if args.scale {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if backend == Backend::Postgres && servers.postgres.is_none() {
                continue;
            }
            let rows = match backend {
                Backend::Sqlite => args.scale_rows.unwrap_or(1_000_000),
                Backend::Postgres => args.scale_rows.unwrap_or(10_000_000),
            };
            let (reads, prune) = scale(backend, &servers, budget, &run_tag, rows).await?;
            scale_rows.extend(reads);
            prune_rows.push(prune);
        }
        let grown: Vec<String> = prune_rows
            .iter()
            .map(|p| format!("{} {} predictions", p.backend.name(), p.rows))
            .collect();
        println!(
            "\n### --scale: {} over {SCALE_MONTHS} months, 990 versions (no cache)\n",
            grown.join(", ")
        );
        let body: Vec<Vec<String>> = scale_rows
            .iter()
            .map(|r| {
                let ratio = r.large.p50_us / r.small.p50_us;
                vec![
                    format!("{} {}", r.backend.name(), r.op.label()),
                    us(r.small.p50_us),
                    us(r.large.p50_us),
                    format!("{ratio:.2}×"),
                    if ratio <= 1.5 {
                        "ok".into()
                    } else {
                        "SLOW (≤ 1.5×)".into()
                    },
                ]
            })
            .collect();
        table(
            &[
                "Operation",
                "p50 small",
                "p50 large",
                "large/small",
                "Status",
            ],
            &body,
        );
        println!(
            "\nPruning the oldest month (every model; PostgreSQL drops its partition) and the \
             database's size in use before and after:\n"
        );
        let body: Vec<Vec<String>> = prune_rows
            .iter()
            .map(|p| {
                let ms = p.elapsed.as_secs_f64() * 1e3;
                vec![
                    p.backend.name().to_string(),
                    p.outcome.predictions.to_string(),
                    p.outcome.partitions_dropped.to_string(),
                    p.outcome.batches.to_string(),
                    p.detach
                        .map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3)),
                    format!("{ms:.1} ms"),
                    format!("{:.0} MiB", p.size_before as f64 / 1_048_576.0),
                    format!("{:.0} MiB", p.size_after as f64 / 1_048_576.0),
                ]
            })
            .collect();
        table(
            &[
                "Backend",
                "Pruned",
                "Partitions dropped",
                "Row batches",
                "Detach (rows gone)",
                "Total",
                "Size before",
                "Size after",
            ],
            &body,
        );
    }

    let mut clients_rows = Vec::new();
    if !args.clients.is_empty() {
        // Commit cost decides what batching gains: with --all, the sweep's PostgreSQL is a
        // server that flushes its WAL on every commit, as production servers do.
        let mut durable_pg = None;
        let mut sweep_servers = Servers {
            postgres: servers.postgres.clone(),
            redis: None,
        };
        if args.all && args.postgres.is_none() {
            eprintln!("starting a throwaway PostgreSQL with fsync and synchronous commit on...");
            let (server, url) = throwaway_postgres(true).await?;
            sweep_servers.postgres = Some(url);
            durable_pg = Some(server);
        }
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let Some(url) = (match backend {
                Backend::Sqlite => Some(String::new()),
                Backend::Postgres => sweep_servers.postgres.clone(),
            }) else {
                continue;
            };
            let rows =
                clients_sweep(backend, &sweep_servers, &args.clients, args.quick, &run_tag).await?;
            if backend == Backend::Postgres {
                println!(
                    "\nPostgreSQL of the concurrent runs: {} (pool of 16 connections)",
                    commit_settings(&url).await
                );
            }
            let refs: Vec<&ClientsRow> = rows.iter().collect();
            print_clients(backend, &args.clients, &refs);
            clients_rows.extend(rows);
        }
        drop(durable_pg);
    }

    if !args.http.is_empty() {
        let dir = std::env::temp_dir().join(format!("mlstore-bench-http-{run_tag}"));
        std::fs::create_dir_all(&dir).map_err(|e| {
            mlstore_core::Error::configuration(format!("cannot create {}: {e}", dir.display()))
        })?;
        let mut progress = Progress::new(mlstore_bench::http::OPS.len() * args.http.len());
        let http_rows =
            mlstore_bench::http::sweep(&dir, &args.http, args.quick, |what| progress.step(what))
                .await;
        let _ = std::fs::remove_dir_all(&dir);
        print_http(&http_rows.map_err(|e| mlstore_core::Error::configuration(e.to_string()))?);
    }

    if let Some(n) = args.replicas {
        let clients = [1, 8, 32];
        let mut progress = Progress::new(2 + 2 * clients.len());
        let report =
            mlstore_bench::replicas::run(n, &clients, args.quick, |what| progress.step(what))
                .await?;
        print_replicas(&report);
    }

    if let Some(n) = args.dashboard {
        let n = match n {
            0 if args.quick => 100_000,
            0 => 1_000_000,
            n => n,
        };
        let dir = std::env::temp_dir().join(format!("mlstore-bench-dashboard-{run_tag}"));
        std::fs::create_dir_all(&dir).map_err(|e| {
            mlstore_core::Error::configuration(format!("cannot create {}: {e}", dir.display()))
        })?;
        let mut progress = Progress::new(6 + (n as usize).div_ceil(100_000));
        let report =
            mlstore_bench::dashboard::run(&dir, n, args.quick, |what| progress.step(what)).await;
        let _ = std::fs::remove_dir_all(&dir);
        print_dashboard(&report?);
    }

    let peak = peak_rss_bytes();
    println!(
        "\nPeak memory (RSS) of the benchmark process: {}",
        peak.map_or("unknown".into(), |b| format!(
            "{:.1} MiB",
            b as f64 / 1048576.0
        ))
    );

    if let Some(path) = &args.json {
        let results: Vec<_> = rows
            .iter()
            .map(|r| {
                let floor_p50 = r.floor.map(|f| f.p50_us);
                json!({
                    "backend": r.combo.backend.name(),
                    "cache": r.combo.cache.name(),
                    "op": r.op.name(),
                    "p50_us": r.summary.p50_us,
                    "p95_us": r.summary.p95_us,
                    "p99_us": r.summary.p99_us,
                    "ops_per_s": r.summary.ops_per_s,
                    "runs": r.summary.runs,
                    "floor_p50_us": floor_p50,
                    "original_ms": r.op.original_ms(),
                    "target_p50_us": target(r.combo, r.op, floor_p50).map(|t| t.0),
                    "status": status(r.combo, r.op, r.summary.p50_us, floor_p50),
                })
            })
            .collect();
        let scale: Vec<_> = scale_rows
            .iter()
            .map(|r| json!({"backend": r.backend.name(), "op": r.op.name(), "small_p50_us": r.small.p50_us, "large_p50_us": r.large.p50_us}))
            .collect();
        let prunes: Vec<_> = prune_rows
            .iter()
            .map(|p| {
                json!({
                    "backend": p.backend.name(),
                    "grown_by": p.rows,
                    "outcome": p.outcome,
                    "ms": p.elapsed.as_secs_f64() * 1e3,
                    "detach_ms": p.detach.map(|d| d.as_secs_f64() * 1e3),
                    "size_before": p.size_before,
                    "size_after": p.size_after,
                })
            })
            .collect();
        let clients: Vec<_> = clients_rows
            .iter()
            .flat_map(|r| {
                r.cells.iter().enumerate().map(move |(i, c)| {
                    json!({
                        "backend": r.backend.name(),
                        "op": r.op.name(),
                        "through_batcher": r.batcher,
                        "mean_batch": r.mean_batch.get(i),
                        "clients": c.clients,
                        "ops_per_s": c.ops_per_s,
                        "p50_us": c.latency.p50_us,
                        "p99_us": c.latency.p99_us,
                        "errors": c.errors,
                        "first_error": c.first_error,
                    })
                })
            })
            .collect();
        let doc = json!({
            "quick": args.quick,
            "clients": clients,
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "results": results,
            "scale": scale,
            "prune": prunes,
            "peak_rss_bytes": peak,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap_or_default()).map_err(
            |e| mlstore_core::Error::configuration(format!("cannot write {}: {e}", path.display())),
        )?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        let names: Vec<String> = combos.iter().map(|c| c.to_string()).collect();
        let svg =
            mlstore_bench::plot::svg("mlstore p50 per operation (log scale)", &names, &plot_rows);
        std::fs::write(path, svg).map_err(|e| {
            mlstore_core::Error::configuration(format!("cannot write {}: {e}", path.display()))
        })?;
        eprintln!("wrote {}", path.display());
    }
    drop(started_redis);
    drop(started_pg);
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mlstore-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mlstore-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mlstore-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
