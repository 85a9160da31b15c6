//! End-to-end tests of the `mlstore` binary, on SQLite and on PostgreSQL.
#![cfg(all(feature = "cli", feature = "sqlite", feature = "postgres"))]

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};

fn mlstore(db: &str) -> Command {
    let mut cmd = Command::cargo_bin("mlstore").expect("the mlstore binary");
    cmd.env("MLSTORE_DATABASE_URL", db)
        .env_remove("MLSTORE_CACHE");
    cmd
}

fn ok_json(cmd: &mut Command) -> Value {
    let out = cmd
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("JSON output")
}

fn jsonl(path: &Path, version: &str, range: std::ops::Range<u128>) {
    let mut text = String::new();
    for i in range {
        let line = json!({
            "id": uuid::Uuid::from_u128(i + 1).to_string(),
            "model": "fraud",
            "version": version,
            "prediction": if i % 4 == 0 { "fraud" } else { "ok" },
            "confidence": 0.5 + (i % 50) as f64 / 100.0,
            "features": {"amount": i as f64, "country": "NO"},
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn csv(path: &Path, version: &str, range: std::ops::Range<u128>) {
    let mut text = String::from("id,model,version,prediction,confidence,features\n");
    for i in range {
        let features = format!("\"{{\"\"amount\"\":{i}}}\"");
        let label = if i % 2 == 0 { "fraud" } else { "ok" };
        text.push_str(&format!(
            "{},fraud,{version},{label},0.75,{features}\n",
            uuid::Uuid::from_u128(i + 1)
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn end_to_end(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    std::fs::write(p("config.json"), r#"{"threshold": 0.7}"#).unwrap();
    mlstore(db)
        .args([
            "register",
            "fraud",
            "1.0.0",
            "--type",
            "xgboost",
            "--metric",
            "auc=0.91",
            "--tag",
            "team=risk",
        ])
        .arg("--config")
        .arg(p("config.json"))
        .assert()
        .success();
    mlstore(db)
        .args(["register", "fraud", "1.10.0", "--type", "xgboost"])
        .assert()
        .success();
    let latest = ok_json(mlstore(db).args(["latest", "fraud"]));
    assert_eq!(latest["version"], "1.10.0");
    let v1 = ok_json(mlstore(db).args(["get", "fraud", "1.0.0"]));
    assert_eq!(v1["configuration"]["threshold"], 0.7);
    assert_eq!(v1["metrics"]["auc"], 0.91);
    mlstore(db)
        .args(["alias", "set", "fraud", "production", "1.0.0"])
        .assert()
        .success();
    mlstore(db)
        .args(["alias", "get", "fraud", "production"])
        .assert()
        .success()
        .stdout("1.0.0\n");

    // 100,000 predictions from JSON Lines, 100,000 from CSV.
    jsonl(&p("p.jsonl"), "1.0.0", 0..100_000);
    mlstore(db)
        .args(["predictions", "import"])
        .arg(p("p.jsonl"))
        .assert()
        .success()
        .stderr(predicates::str::contains("imported 100000 predictions"));
    csv(&p("p.csv"), "1.10.0", 100_000..200_000);
    mlstore(db)
        .args(["predictions", "import", "--batch-size", "5000"])
        .arg(p("p.csv"))
        .assert()
        .success()
        .stderr(predicates::str::contains("imported 100000 predictions"));
    let recent = ok_json(mlstore(db).args(["predictions", "recent", "fraud", "1.10.0", "-n", "5"]));
    assert_eq!(recent.as_array().unwrap().len(), 5);

    // Labels: the first 1000 predictions were "ok" three times in four.
    let mut labels = String::new();
    for i in 0..1000u128 {
        labels.push_str(
            &json!({"id": uuid::Uuid::from_u128(i + 1).to_string(), "actual": "ok"}).to_string(),
        );
        labels.push('\n');
    }
    std::fs::write(p("labels.jsonl"), labels).unwrap();
    mlstore(db)
        .args(["labels", "import"])
        .arg(p("labels.jsonl"))
        .assert()
        .success();
    let accuracy = ok_json(mlstore(db).args(["accuracy", "fraud", "1.0.0", "-n", "1000"]));
    assert_eq!(
        (accuracy["correct"].as_u64(), accuracy["total"].as_u64()),
        (Some(750), Some(1000))
    );
    let baseline =
        ok_json(mlstore(db).args(["baseline", "compute", "fraud", "1.0.0", "-n", "1000"]));
    assert_eq!(baseline["sample_count"], 1000);
    let read = ok_json(mlstore(db).args(["baseline", "get", "fraud", "1.0.0"]));
    assert_eq!(read["mean"], baseline["mean"]);

    // A truncated file: the batches before the bad line are stored, and the message says how
    // to resume.
    jsonl(&p("more.jsonl"), "1.0.0", 200_000..202_500);
    let full = std::fs::read_to_string(p("more.jsonl")).unwrap();
    let cut = full.len() - 40;
    std::fs::write(p("truncated.jsonl"), &full[..cut]).unwrap();
    mlstore(db)
        .args(["predictions", "import"])
        .arg(p("truncated.jsonl"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("line 2500"))
        .stderr(predicates::str::contains(
            "2499 predictions before it were stored",
        ))
        .stderr(predicates::str::contains("--skip 2499"));
    mlstore(db)
        .args(["predictions", "import", "--skip", "2499"])
        .arg(p("more.jsonl"))
        .assert()
        .success()
        .stderr(predicates::str::contains("imported 1 predictions"));

    // A wrong column.
    std::fs::write(
        p("wrong.csv"),
        "id,model,version,prediction,confidance\nx,fraud,1.0.0,ok,0.5\n",
    )
    .unwrap();
    mlstore(db)
        .args(["predictions", "import"])
        .arg(p("wrong.csv"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown column \"confidance\""));

    // An unknown model: not found, exit code 3, nothing stored.
    std::fs::write(
        p("ghost.jsonl"),
        "{\"model\":\"ghost\",\"version\":\"1.0.0\",\"prediction\":1,\"confidence\":0.5}\n",
    )
    .unwrap();
    mlstore(db)
        .args(["predictions", "import"])
        .arg(p("ghost.jsonl"))
        .assert()
        .code(3)
        .stderr(predicates::str::contains("not found"));

    // --atomic: a bad record anywhere stores nothing.
    mlstore(db)
        .args(["register", "fraud", "2.0.0", "--type", "xgboost"])
        .assert()
        .success();
    let mut atomic = String::new();
    for i in 0..10u128 {
        let confidence = if i == 7 { 1.5 } else { 0.5 };
        atomic.push_str(&json!({"model": "fraud", "version": "2.0.0", "prediction": 1, "confidence": confidence}).to_string());
        atomic.push('\n');
    }
    std::fs::write(p("atomic.jsonl"), atomic).unwrap();
    mlstore(db)
        .args(["predictions", "import", "--atomic"])
        .arg(p("atomic.jsonl"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("line 8"))
        .stderr(predicates::str::contains("nothing was stored"));
    let stored =
        ok_json(mlstore(db).args(["predictions", "recent", "fraud", "2.0.0", "-n", "100"]));
    assert_eq!(stored.as_array().unwrap().len(), 0);

    // Delete needs --yes when not on a terminal.
    mlstore(db)
        .args(["delete", "fraud", "2.0.0"])
        .write_stdin("y\n")
        .assert()
        .code(2);
    mlstore(db)
        .args(["delete", "fraud", "2.0.0", "--yes"])
        .assert()
        .success();
    mlstore(db).args(["get", "fraud", "2.0.0"]).assert().code(3);
    mlstore(db)
        .args(["migrate"])
        .assert()
        .success()
        .stdout(predicates::str::contains("schema version"));
}

#[test]
fn end_to_end_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    end_to_end(&format!("sqlite://{}", dir.path().join("cli.db").display()));
}

#[test]
fn end_to_end_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(mlstore_testkit::fresh_postgres_url());
    end_to_end(&url);
}

#[test]
fn usage_errors_exit_2_and_passwords_never_show() {
    mlstore("sqlite::memory:")
        .arg("frobnicate")
        .assert()
        .code(2);
    mlstore("sqlite::memory:")
        .args(["register", "m", "1.0.0"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--type"));
    let out = mlstore("postgres://app:hunter2@127.0.0.1:1/ml")
        .args(["models"])
        .assert()
        .failure();
    let output = out.get_output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
    mlstore("sqlite::memory:")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "Exit codes: 0 ok, 1 error, 2 usage, 3 not found",
        ));
}
