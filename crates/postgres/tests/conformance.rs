//! The whole conformance suite on PostgreSQL: each store gets a database of its own on the test
//! process's throwaway server (or `MLSTORE_TEST_POSTGRES_URL`).

mlstore_core::conformance_tests!(mlstore_postgres::PostgresStore::connect_url(
    &mlstore_testkit::fresh_postgres_url().await
)
.await
.expect("connect to a fresh PostgreSQL database"));

/// The same suite on a primary with a streaming replica (`?replica=`): reads go to the replica
/// once it has replayed the store's writes, so every check sees its own writes exactly as on a
/// lone primary.
mod replicated {
    mlstore_core::conformance_tests!(mlstore_postgres::PostgresStore::connect_url(
        &mlstore_testkit::fresh_replicated_postgres_url().await
    )
    .await
    .expect("connect to a fresh PostgreSQL database with a replica"));

    /// The suite above exercised the replica, not only the primary.
    #[tokio::test]
    async fn reads_reach_the_replica() {
        use mlstore_core::{ModelMetadata, ModelName, ModelRegistry, Version};
        let store = mlstore_postgres::PostgresStore::connect_url(
            &mlstore_testkit::fresh_replicated_postgres_url().await,
        )
        .await
        .unwrap();
        let name = ModelName::new("routed").unwrap();
        let m = ModelMetadata::builder(name.clone(), Version::new("1.0.0").unwrap(), "t")
            .build()
            .unwrap();
        store.register(&m).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while store.replica_status()[0].1.reads == 0 {
            assert_eq!(store.latest(&name).await.unwrap().unwrap(), m);
            assert!(
                std::time::Instant::now() < deadline,
                "no read reached the replica"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}
