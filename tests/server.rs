//! The HTTP service against a real HTTP client, on a free loopback port: every endpoint on
//! SQLite and PostgreSQL, every error status, tokens and scopes, `/metrics`, graceful shutdown,
//! and the Python example against `mlstore serve`.
#![cfg(all(feature = "server", feature = "sqlite"))]

use std::time::Duration;

use mlstore::server::{Server, ServerConfig, Tokens};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// A server running in this process, stopped by [`Running::stop`].
struct Running {
    base: String,
    client: Client,
    token: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<mlstore::Result<()>>,
}

async fn start(url: &str, config: ServerConfig) -> Running {
    let handle = mlstore::connect(url).await.unwrap().with_metrics();
    let server = Server::bind(handle, config.listen("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async {
        let _ = rx.await;
    }));
    Running {
        base,
        client: Client::new(),
        token: None,
        stop: Some(tx),
        task,
    }
}

impl Running {
    fn with_token(&self, token: &str) -> Running {
        Running {
            base: self.base.clone(),
            client: self.client.clone(),
            token: Some(token.to_owned()),
            stop: None,
            task: tokio::spawn(async { Ok(()) }),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    async fn raw(&self, method: Method, path: &str, body: &'static str) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("server.db").display())
}

/// A model name that needs percent-encoding: a slash, a quote, a space, SQL.
const NAME: &str = "fraud/x'; DROP TABLE ml_models; --";

fn seg(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn kind(body: &Value) -> &str {
    body["error"]["kind"].as_str().unwrap_or("")
}

/// Every endpoint, in the order a user meets them.
async fn every_endpoint(url: &str) {
    let s = start(url, ServerConfig::default()).await;
    let m = seg(NAME);
    let v1 = format!("/v1/models/{m}/versions/1.0.0");
    let v2 = format!("/v1/models/{m}/versions/1.1.0");

    // Registry.
    let record = json!({"model_type": "xgboost", "metrics": {"auc": 0.014089813668273221}});
    let (status, body) = s.post(&v1, record.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], NAME);
    assert_eq!(s.post(&v2, record.clone()).await.0, StatusCode::CREATED);
    let (status, body) = s.post(&v1, record.clone()).await;
    assert_eq!(
        (status, kind(&body)),
        (StatusCode::CONFLICT, "already_exists")
    );
    let (status, body) = s.get(&v1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["metrics"]["auc"].as_f64().unwrap().to_bits(),
        0.014089813668273221f64.to_bits()
    );
    let (_, body) = s.get(&format!("/v1/models/{m}/latest")).await;
    assert_eq!(body["version"], "1.1.0");
    let (_, body) = s.get("/v1/models?page_size=1").await;
    assert_eq!(body["names"], json!([NAME]));
    let (_, body) = s.get(&format!("/v1/models/{m}/versions?page_size=1")).await;
    assert_eq!(body["versions"][0]["version"], "1.0.0");
    assert_eq!(body["next"], "1.0.0");
    let (status, body) = s
        .put(
            &v1,
            json!({"model_type": "xgboost", "tags": {"team": "risk"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tags"]["team"], "risk");
    let (status, _) = s
        .put(
            &format!("/v1/models/{m}/versions/9.9.9"),
            json!({"model_type": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Aliases and history.
    let alias = format!("/v1/models/{m}/aliases/production");
    assert_eq!(
        s.put(&alias, json!({"version": "1.0.0"})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.put(&alias, json!({"version": "1.1.0"})).await.0,
        StatusCode::OK
    );
    let (status, body) = s.put(&alias, json!({"version": "7.0.0"})).await;
    assert_eq!((status, kind(&body)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(s.get(&alias).await.1["version"], "1.1.0");
    let (_, body) = s.get(&format!("/v1/models/{m}/aliases")).await;
    assert_eq!(body, json!([{"alias": "production", "version": "1.1.0"}]));
    let (_, body) = s.get(&format!("{alias}/history")).await;
    assert_eq!(body.as_array().unwrap().len(), 2);
    let (status, body) = s.post(&format!("{alias}/rollback"), json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], "1.0.0");
    let (_, body) = s.get(&format!("{alias}?at=2000-01-01T00:00:00Z")).await;
    assert_eq!(kind(&body), "not_found");
    let (_, body) = s
        .get(&format!("/v1/events?model={m}&kind=alias_set&limit=10"))
        .await;
    assert_eq!(body["events"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(s.delete(&alias).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&alias).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.delete(&alias).await.0, StatusCode::NOT_FOUND);

    // Predictions.
    let one = |id: &str, confidence: f64| {
        json!({"id": id, "model": NAME, "version": "1.1.0", "prediction": "fraud",
               "confidence": confidence, "features": {"amount": 0.1}})
    };
    let ids: Vec<String> = (0..4).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let (status, body) = s.post("/v1/predictions", one(&ids[0], 0.9)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], ids[0]);
    let (status, _) = s.post("/v1/predictions", one(&ids[0], 0.9)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let count_path = format!("/v1/predictions/count?model={m}&version=1.1.0");
    let batch = json!({"predictions": [one(&ids[0], 0.5), one(&ids[1], 0.6), one(&ids[2], 0.7)]});
    let (status, _) = s.post("/v1/predictions/batch", batch.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        s.get(&count_path).await.1["count"],
        1,
        "an all-or-nothing batch wrote nothing"
    );
    let mut skipping = batch;
    skipping["on_conflict"] = json!("skip");
    let (status, body) = s.post("/v1/predictions/batch", skipping).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stored"], 2);
    assert_eq!(body["skipped"][0]["index"], 0);
    assert_eq!(body["ids"], json!([ids[1], ids[2]]));
    assert_eq!(s.get(&count_path).await.1["count"], 3);
    let (_, body) = s.get(&format!("/v1/predictions/{}", ids[1])).await;
    assert_eq!(body["confidence"], 0.6);
    assert_eq!(body["features"]["amount"], 0.1);
    assert_eq!(
        s.get(&format!("/v1/predictions/{}", ids[3])).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, body) = s.get(&format!("{v2}/predictions?last=2")).await;
    assert_eq!(body.as_array().unwrap().len(), 2);

    // Labels and accuracy.
    let (status, body) = s
        .post("/v1/labels", json!({"id": ids[0], "actual": "fraud"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let labels =
        json!({"labels": [{"id": ids[1], "actual": "ok"}, {"id": ids[3], "actual": "ok"}]});
    let (status, _) = s.post("/v1/labels/batch", labels.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut skipping = labels;
    skipping["on_missing"] = json!("skip");
    let (_, body) = s.post("/v1/labels/batch", skipping).await;
    assert_eq!(body["recorded"], 1, "{body}");
    let (_, body) = s.get(&format!("{v2}/accuracy?last=100")).await;
    assert_eq!(body, json!({"correct": 1, "total": 2, "accuracy": 0.5}));
    let labelled = format!("/v1/predictions/count?model={m}&version=1.1.0&labelled=true");
    assert_eq!(s.get(&labelled).await.1["count"], 2);

    // Baselines and monitoring.
    let (status, body) = s.get(&format!("{v2}/baseline")).await;
    assert_eq!((status, kind(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = s
        .put(
            &format!("{v2}/baseline"),
            json!({"confidences": [0.5, 0.6, 0.7, 0.9]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sample_count"], 4);
    let (status, body) = s
        .post(&format!("{v2}/baseline/compute?last=1000"), json!(null))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.get(&format!("{v2}/baseline")).await.1["sample_count"], 3);
    let (status, body) = s.get(&format!("{v2}/metrics?last=100")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["predictions"], 3, "{body}");
    let (status, body) = s.get(&format!("{v2}/series?since=2h&bucket=hour")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = s.get(&format!("{v2}/drift?since=1h")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["psi"].is_number(), "{body}");
    let (status, body) = s
        .get(&format!("/v1/models/{m}/compare?a=1.0.0&b=1.1.0&last=100"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Metrics name the routes by pattern and count the predictions per version.
    let text = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(
        "mlstore_http_requests_total{method=\"POST\",route=\"/v1/predictions\",status=\"201\"} 1"
    ));
    assert!(text.contains("mlstore_operation_calls_total{operation=\"store_prediction\"} 2"));
    assert!(
        text.contains(&format!(
            "mlstore_predictions{{model=\"{NAME}\",version=\"1.1.0\"}} 3"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "mlstore_labels{{model=\"{NAME}\",version=\"1.1.0\"}} 2"
    )));

    // Deletion.
    assert_eq!(s.delete(&v1).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&v1).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.delete(&v1).await.0, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    every_endpoint(&sqlite_url(dir.path())).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_on_postgres() {
    every_endpoint(&mlstore_testkit::fresh_postgres_url().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_clear_4xx_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &sqlite_url(dir.path()),
        ServerConfig::default().max_body(4096),
    )
    .await;
    let v = "/v1/models/m/versions/1.0.0";
    assert_eq!(
        s.post(v, json!({"model_type": "t"})).await.0,
        StatusCode::CREATED
    );

    let (status, body) = s
        .raw(
            Method::POST,
            "/v1/predictions",
            "{\"model\": \"m\",\n \"version\": ",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("malformed JSON") && message.contains("line 2"),
        "{message}"
    );
    assert_eq!(body["error"]["field"], "body");

    let (status, body) = s
        .post("/v1/predictions", json!({"model": "m", "version": "1.0.0", "prediction": 1, "confidence": 0.5, "colour": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{body}"
    );

    let (status, body) = s
        .post(
            "/v1/predictions",
            json!({"model": "m", "version": "1.0.0", "prediction": 1, "confidence": 1.5}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("confidence"))
    );

    for (path, field) in [
        ("/v1/models/m/versions/1.x", "version"),
        ("/v1/models?colour=1", "query"),
        ("/v1/models?page_size=0", "page_size"),
        (
            "/v1/models/m/versions/1.0.0/metrics?since=yesterday",
            "since",
        ),
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{path}: {body}"
        );
    }
    let (status, _) = s.get("/v1/predictions/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // One bad record fails the whole batch, names its position, and stores nothing.
    let good = json!({"model": "m", "version": "1.0.0", "prediction": 1, "confidence": 0.5});
    let bad = json!({"model": "m", "version": "1.0.0", "prediction": 1, "confidence": -1});
    let (status, body) = s
        .post("/v1/predictions/batch", json!({"predictions": [good, bad]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("record 1:"),
        "{body}"
    );
    assert_eq!(s.get("/v1/predictions/count").await.1["count"], 0);

    let big = json!({"predictions": vec![json!({"model": "m", "version": "1.0.0", "prediction": "x".repeat(100), "confidence": 0.5}); 40]});
    let (status, body) = s.post("/v1/predictions/batch", big).await;
    assert_eq!(
        (status, kind(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert_eq!(s.get("/v1/predictions/count").await.1["count"], 0);

    let (status, body) = s.raw(Method::PATCH, v, "{}").await;
    assert_eq!(
        (status, kind(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let (status, body) = s.get("/v2/nothing").await;
    assert_eq!((status, kind(&body)), (StatusCode::NOT_FOUND, "not_found"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let s = start(
        &format!("sqlite://{}?busy_timeout_ms=200", path.display()),
        ServerConfig::default(),
    )
    .await;
    assert_eq!(
        s.post("/v1/models/m/versions/1.0.0", json!({"model_type": "t"}))
            .await
            .0,
        StatusCode::CREATED
    );
    // Another process holds the write lock.
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let response = s
        .client
        .post(format!("{}/v1/models/m/versions/2.0.0", s.base))
        .json(&json!({"model_type": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(kind(&body), "unavailable");
    lock.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        s.get("/v1/models/m/versions/2.0.0").await.0,
        StatusCode::NOT_FOUND
    );
    s.stop().await;
}

/// A request over the time limit is 504; one waiting for a turn beyond the queue timeout is
/// 503. (PostgreSQL waits for a lock without holding a thread, so the time limit can cut in.)
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_is_504_and_a_full_server_503() {
    use sqlx::Connection;
    let url = mlstore_testkit::fresh_postgres_url().await;
    let config = ServerConfig::default()
        .timeout(Duration::from_millis(1500))
        .max_in_flight(1)
        .queue_timeout(Duration::from_millis(300));
    let s = start(&url, config).await;
    assert_eq!(
        s.post("/v1/models/m/versions/1.0.0", json!({"model_type": "t"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let mut lock = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE ml_models IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    let first = {
        let (client, base) = (s.client.clone(), s.base.clone());
        tokio::spawn(async move {
            let response = client
                .post(format!("{base}/v1/models/m/versions/3.0.0"))
                .json(&json!({"model_type": "t"}))
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = s.get("/healthz").await;
    assert_eq!(
        (status, kind(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    let (status, body) = first.await.unwrap();
    assert_eq!(
        (status, kind(&body)),
        (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        "{body}"
    );
    sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();
    assert_eq!(s.get("/healthz").await.0, StatusCode::OK);
    s.stop().await;
}

const READ: &str = "reader-secret-0123456789";
const WRITE: &str = "writer-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Tokens::parse(&format!(
        "ana read {READ}\nci write {WRITE}\nops admin {ADMIN}"
    ))
    .unwrap();
    let s = start(
        &sqlite_url(dir.path()),
        ServerConfig::default().tokens(tokens),
    )
    .await;
    let v = "/v1/models/m/versions/1.0.0";

    let response = s
        .client
        .get(format!("{}/v1/models", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(
        s.with_token("wrong-secret-0123456789")
            .get("/v1/models")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.get("/healthz").await.0, StatusCode::OK);
    assert_eq!(s.get("/readyz").await.0, StatusCode::OK);
    assert_eq!(s.get("/metrics").await.0, StatusCode::UNAUTHORIZED);

    let reader = s.with_token(READ);
    let writer = s.with_token(WRITE);
    let admin = s.with_token(ADMIN);
    assert_eq!(reader.get("/v1/models").await.0, StatusCode::OK);
    assert_eq!(reader.get("/metrics").await.0, StatusCode::OK);
    let (status, body) = reader.post(v, json!({"model_type": "t"})).await;
    assert_eq!((status, kind(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(
        writer.post(v, json!({"model_type": "t"})).await.0,
        StatusCode::CREATED
    );
    assert_eq!(writer.delete(v).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        reader.get(v).await.0,
        StatusCode::OK,
        "refusals wrote nothing and deleted nothing"
    );

    // The token's name is the actor of the changes made with it.
    let (_, body) = reader.get("/v1/events?model=m").await;
    assert_eq!(body["events"][0]["actor"], "ci", "{body}");
    assert_eq!(admin.delete(v).await.0, StatusCode::NO_CONTENT);
    let (_, body) = reader.get("/v1/events?model=m&kind=version_deleted").await;
    assert_eq!(body["events"][0]["actor"], "ops", "{body}");
    s.stop().await;
}

/// `/openapi.json` is a valid OpenAPI 3.0 document (typed parse), lists every route and method
/// the server answers, and every reference in it resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_valid_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Tokens::parse(&format!("ana read {READ}")).unwrap();
    let s = start(
        &sqlite_url(dir.path()),
        ServerConfig::default().tokens(tokens),
    )
    .await;
    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "no token needed");
    s.stop().await;

    let parsed: openapiv3::OpenAPI = serde_json::from_value(doc.clone()).unwrap();
    assert!(parsed.openapi.starts_with("3.0"));
    for route in mlstore::server::ROUTES {
        let item = match parsed.paths.paths.get(route.path) {
            Some(openapiv3::ReferenceOr::Item(item)) => item,
            _ => panic!("{} is missing", route.path),
        };
        for endpoint in route.endpoints {
            let op = match endpoint.method {
                "GET" => &item.get,
                "POST" => &item.post,
                "PUT" => &item.put,
                "DELETE" => &item.delete,
                other => panic!("method {other}"),
            };
            let op = op
                .as_ref()
                .unwrap_or_else(|| panic!("{} {}", endpoint.method, route.path));
            assert!(op
                .responses
                .responses
                .contains_key(&openapiv3::StatusCode::Code(endpoint.status)));
            assert!(op.responses.default.is_some());
        }
    }
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 30, "{refs:?}");
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    // The schemas are the types': a prediction record, as the handlers read it.
    let record = &doc["components"]["schemas"]["PredictionRecord"];
    let required: Vec<&str> = record["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["model", "version", "prediction", "confidence"]);
    let drift = &doc["paths"]["/v1/models/{name}/versions/{version}/drift"]["get"]["parameters"];
    let names: Vec<&str> = drift
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"psi_warn") && names.contains(&"name"),
        "{names:?}"
    );
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn without_tokens_the_server_stays_on_loopback() {
    let handle = mlstore::connect("sqlite::memory:").await.unwrap();
    let config = ServerConfig::default().listen("0.0.0.0:0".parse().unwrap());
    let err = Server::bind(handle.clone(), config.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback only"), "{err}");
    let server = Server::bind(handle, config.insecure_no_auth(true))
        .await
        .unwrap();
    assert!(server.local_addr().ip().is_unspecified());
}

/// Shutdown while requests are in flight: each one is answered, and every prediction the
/// server acknowledged is in the database afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_requests_in_flight_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let s = start(&url, ServerConfig::default()).await;
    assert_eq!(
        s.post("/v1/models/m/versions/1.0.0", json!({"model_type": "t"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let mut producers = Vec::new();
    for p in 0..8 {
        let (client, base) = (s.client.clone(), s.base.clone());
        producers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..200 {
                let id = uuid::Uuid::new_v4();
                let body = json!({"id": id, "model": "m", "version": "1.0.0",
                                  "prediction": p * 1000 + i, "confidence": 0.5});
                match client
                    .post(format!("{base}/v1/predictions"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::CREATED => acknowledged.push(id),
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => break, // the server stopped accepting
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.stop().await;
    let mut acknowledged = Vec::new();
    for p in producers {
        acknowledged.extend(p.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "some requests were served before the stop"
    );
    let handle = mlstore::connect(&url).await.unwrap();
    use mlstore::PredictionStore;
    for id in &acknowledged {
        assert!(
            handle.prediction(*id).await.unwrap().is_some(),
            "{id} was acknowledged"
        );
    }
    println!(
        "{} predictions acknowledged before the stop, all stored",
        acknowledged.len()
    );
}

/// `mlstore serve` as a user runs it, with the Python example as its client, stopped by SIGTERM.
#[test]
#[cfg(feature = "cli")]
fn python_example_against_mlstore_serve() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let python = ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = python else {
        panic!(
            "python3 is needed to run examples/python_client.py (Debian: apt-get install python3)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_mlstore"))
        .args([
            "--db",
            &sqlite_url(dir.path()),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("MLSTORE_TOKENS", format!("example write {WRITE}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let run = |token: &str| {
        Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/python_client.py"
            ))
            .args([&base, token])
            .output()
            .unwrap()
    };
    let first = run(WRITE);
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(out.contains("registered fraud-detector 1.2.0"), "{out}");
    assert!(
        out.contains("production -> 1.2.0") && out.contains("accuracy 1/1"),
        "{out}"
    );
    let second = run(WRITE);
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success() && out.contains("accuracy 2/2"),
        "{out}"
    );
    let refused = run("not-the-token-0123456789");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("HTTP 401"));

    // SIGTERM: a graceful stop, exit code 0.
    unsafe_kill(server.id());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains("route=/v1/predictions status=201"), "{rest}");
    assert!(!rest.contains(WRITE), "the token never reaches the log");
    assert!(rest.contains("mlstore serve: stopped"), "{rest}");
}

#[cfg(feature = "cli")]
fn unsafe_kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
