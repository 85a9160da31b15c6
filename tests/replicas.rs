//! Read replicas through the facade: `mlstore::connect` with `?replica=` routes reads to a real
//! streaming replica (the testkit's) and keeps read-your-writes.
#![cfg(feature = "postgres")]

use std::time::{Duration, Instant};

use mlstore::{Backend, ModelMetadata, ModelName, ModelRegistry, Version};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_replica_urls_routes_reads_and_reads_its_writes() {
    let url = mlstore_testkit::fresh_replicated_postgres_url().await;
    let handle = mlstore::connect(&url).await.unwrap();
    let Backend::Postgres(store) = handle.backend() else {
        panic!("a PostgreSQL URL opens the PostgreSQL store");
    };
    assert_eq!(store.config().replicas().len(), 1);
    let name = ModelName::new("facade").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    while store.replica_status()[0].1.reads < 20 {
        let v = Version::new(format!("1.0.{i}")).unwrap();
        let m = ModelMetadata::builder(name.clone(), v.clone(), "t")
            .build()
            .unwrap();
        handle.register(&m).await.unwrap();
        // Read-your-writes, through the facade.
        assert_eq!(handle.latest(&name).await.unwrap().unwrap().version(), &v);
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            assert_eq!(handle.get(&name, &v).await.unwrap().as_ref(), Some(&m));
        }
        i += 1;
        assert!(Instant::now() < deadline, "{:?}", store.replica_status());
    }
}
