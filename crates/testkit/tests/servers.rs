//! The throwaway servers start, answer, stop and come back.

use mlstore_testkit::RedisServer;

#[test]
fn redis_starts_stops_and_restarts_on_the_same_port() {
    let mut redis = RedisServer::start().expect("redis-server starts");
    assert!(redis.is_alive());
    let url = redis.url().to_string();
    redis.stop().unwrap();
    assert!(!redis.is_alive(), "stopped");
    redis.restart().unwrap();
    assert!(redis.is_alive(), "restarted");
    assert_eq!(redis.url(), url);
}

#[tokio::test]
async fn each_test_database_is_new_and_empty() {
    use sqlx::Connection;
    let a = mlstore_testkit::fresh_postgres_url().await;
    let b = mlstore_testkit::fresh_postgres_url().await;
    assert_ne!(a, b);
    let mut conn = sqlx::PgConnection::connect(&a).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0);
}
