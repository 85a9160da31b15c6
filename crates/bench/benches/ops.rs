//! criterion benches of every operation, on the same stores the report builds
//! (`mlstore_bench::Target`), so that a regression shows with criterion's statistics.
//!
//! SQLite with no cache and with moka always run. The PostgreSQL and Redis combinations run when
//! `MLSTORE_TEST_POSTGRES_URL` / `MLSTORE_TEST_REDIS_URL` name servers (`scripts/test` and
//! `mlstore-testkit run -- cargo bench -p mlstore-bench` set them); otherwise they are skipped,
//! and the bench says so.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mlstore_bench::{Backend, Cache, Combo, Fixture, Op, Servers, Target};

fn servers() -> Servers {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let postgres = env(mlstore_testkit::POSTGRES_URL_ENV).map(|admin| {
        rt.block_on(mlstore_testkit::PostgresServer::existing(admin).create_database())
            .expect("a database for the benches")
    });
    Servers {
        postgres,
        redis: env(mlstore_testkit::REDIS_URL_ENV),
    }
}

fn ops(c: &mut Criterion) {
    let servers = servers();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for cache in [Cache::None, Cache::Moka, Cache::Redis, Cache::MokaRedis] {
            let combo = Combo { backend, cache };
            if (backend == Backend::Postgres && servers.postgres.is_none())
                || (cache.needs_redis() && servers.redis.is_none())
            {
                eprintln!(
                    "skipping {combo}: set {} / {} to include it",
                    mlstore_testkit::POSTGRES_URL_ENV,
                    mlstore_testkit::REDIS_URL_ENV
                );
                continue;
            }
            let (target, fixture) = rt.block_on(async {
                let target = Target::build(combo, &servers).await.expect("store");
                let tag = format!(
                    "criterion-{}-{}",
                    backend.name(),
                    cache.name().replace('+', "-")
                );
                let fixture = Fixture::create(
                    target.store.as_ref(),
                    &format!("{tag}-{}", uuid::Uuid::new_v4().simple()),
                )
                .await
                .expect("fixture");
                (target, fixture)
            });
            let mut group = c.benchmark_group(combo.to_string());
            group
                .measurement_time(Duration::from_secs(2))
                .warm_up_time(Duration::from_millis(500));
            for op in Op::ALL {
                group.bench_function(op.name(), |b| {
                    b.to_async(&rt).iter_custom(|iters| {
                        let (store, fixture) = (&target.store, &fixture);
                        async move {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let input = fixture.input(op);
                                let start = Instant::now();
                                fixture
                                    .run(store.as_ref(), op, &input)
                                    .await
                                    .expect("operation");
                                total += start.elapsed();
                            }
                            total
                        }
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, ops);
criterion_main!(benches);
