//! End-to-end tests of the `mlstore` binary, on SQLite (in every build with the command line)
//! and on PostgreSQL.
#![cfg(all(feature = "cli", feature = "sqlite"))]

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

    // 20,000 predictions from JSON Lines, 20,000 from CSV.
    jsonl(&p("p.jsonl"), "1.0.0", 0..20_000);
    mlstore(db)
        .args(["predictions", "import"])
        .arg(p("p.jsonl"))
        .assert()
        .success()
        .stderr(predicates::str::contains("imported 20000 predictions"));
    csv(&p("p.csv"), "1.10.0", 100_000..120_000);
    mlstore(db)
        .args(["predictions", "import", "--batch-size", "5000"])
        .arg(p("p.csv"))
        .assert()
        .success()
        .stderr(predicates::str::contains("imported 20000 predictions"));
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
        .stderr(predicates::str::contains("stored 2499"))
        .stderr(predicates::str::contains("resume with --skip 2499"));
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
#[cfg(feature = "postgres")]
fn end_to_end_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(kept_postgres_url());
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
    #[cfg(feature = "postgres")]
    {
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
    }
    mlstore("sqlite::memory:")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "Exit codes: 0 ok, 1 error, 2 usage",
        ));
}

/// A SQLite database URL in `dir`, created and migrated.
fn fresh_sqlite(dir: &Path, file: &str) -> String {
    let url = format!("sqlite://{}", dir.join(file).display());
    mlstore(&url).arg("init").assert().success();
    url
}

fn register(db: &str, version: &str) {
    mlstore(db)
        .args(["register", "fraud", version, "--type", "logreg"])
        .assert()
        .success();
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// Re-running an import with `--on-conflict skip` stores nothing new and exits 0; without it,
/// each stop names the line of the stored id, stores what came before, and the hint's `--skip`
/// makes progress until the file is done.
#[test]
fn imports_are_re_runnable_and_their_hints_make_progress() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(dir.path(), "rerun.db");
    register(&db, "1.0.0");
    let file = dir.path().join("p.jsonl");
    jsonl(&file, "1.0.0", 0..10);
    let first = ok_json(mlstore(&db).args(["predictions", "import"]).arg(&file));
    assert_eq!(first["stored"], 10);
    let again = ok_json(
        mlstore(&db)
            .args(["predictions", "import", "--on-conflict", "skip"])
            .arg(&file),
    );
    assert_eq!(
        (again["stored"].as_u64(), again["skipped_existing"].as_u64()),
        (Some(0), Some(10))
    );

    // Lines 3 and 7 are stored already; the rest is new.
    let mut text = String::new();
    for i in 100..110u128 {
        let id = if i == 102 || i == 106 { i - 100 } else { i };
        text.push_str(
            &json!({"id": uuid::Uuid::from_u128(id + 1).to_string(), "model": "fraud",
                    "version": "1.0.0", "prediction": "ok", "confidence": 0.5})
            .to_string(),
        );
        text.push('\n');
    }
    let mixed = dir.path().join("mixed.jsonl");
    std::fs::write(&mixed, text).unwrap();
    let mut skip = 0;
    for expected_line in [3, 7] {
        let out = mlstore(&db)
            .args(["predictions", "import", "--skip", &skip.to_string()])
            .arg(&mixed)
            .assert()
            .code(1);
        let err = stderr_of(&out);
        assert!(err.contains(&format!("line {expected_line}")), "{err}");
        assert!(err.contains("already exists"), "{err}");
        let hint = err
            .split("--skip ")
            .nth(1)
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<usize>().ok())
            .expect("a --skip hint");
        assert!(hint > skip, "the hint makes progress: {hint} after {skip}");
        skip = hint;
    }
    mlstore(&db)
        .args(["predictions", "import", "--skip", &skip.to_string()])
        .arg(&mixed)
        .assert()
        .success();
    let count = ok_json(mlstore(&db).args(["predictions", "count", "fraud", "1.0.0"]));
    assert_eq!(count["count"], 18);
}

/// A labels file with an unknown id: exit 3 naming its line; with `--missing skip` the four
/// good labels are stored and the unknown one counted.
#[test]
fn labels_of_unknown_predictions_are_named_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(dir.path(), "labels.db");
    register(&db, "1.0.0");
    let file = dir.path().join("p.jsonl");
    jsonl(&file, "1.0.0", 0..4);
    mlstore(&db)
        .args(["predictions", "import"])
        .arg(&file)
        .assert()
        .success();
    let labels = dir.path().join("labels.csv");
    let mut text = String::from("id,actual\n");
    for i in [0u128, 1, 999, 2, 3] {
        text.push_str(&format!("{},ok\n", uuid::Uuid::from_u128(i + 1)));
    }
    std::fs::write(&labels, text).unwrap();
    let out = mlstore(&db)
        .args(["labels", "import"])
        .arg(&labels)
        .assert()
        .code(3);
    assert!(stderr_of(&out).contains("line 4"), "{}", stderr_of(&out));
    let summary = ok_json(
        mlstore(&db)
            .args(["labels", "import", "--missing", "skip"])
            .arg(&labels),
    );
    assert_eq!(
        (
            summary["stored"].as_u64(),
            summary["skipped_missing"].as_u64()
        ),
        (Some(4), Some(1))
    );
    let accuracy = ok_json(mlstore(&db).args(["accuracy", "fraud", "1.0.0"]));
    assert_eq!(accuracy["total"], 4);
}

/// One exit-code rule: an unknown model or version is 3 in every command (`versions` too), an
/// out-of-range value is 2, a read-only command never creates a database file.
#[test]
fn one_exit_code_rule_and_no_accidental_databases() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("mlstroe.db");
    let url = format!("sqlite://{}", typo.display());
    let out = mlstore(&url).arg("models").assert().code(1);
    assert!(
        stderr_of(&out).contains("no database at"),
        "{}",
        stderr_of(&out)
    );
    assert!(!typo.exists(), "a read-only command created the file");
    let db = fresh_sqlite(dir.path(), "codes.db");
    register(&db, "1.0.0");
    for args in [
        vec!["versions", "nosuch"],
        vec!["latest", "nosuch"],
        vec!["get", "fraud", "9.9.9"],
        vec!["alias", "get", "fraud", "production"],
        vec!["predictions", "count", "nosuch"],
        vec!["predictions", "recent", "fraud", "9.9.9"],
        vec!["predictions", "get", "00000000-0000-0000-0000-000000000009"],
        vec!["accuracy", "fraud", "9.9.9"],
        vec!["baseline", "get", "fraud", "1.0.0"],
    ] {
        mlstore(&db).args(&args).assert().code(3);
    }
    for args in [
        vec!["accuracy", "fraud", "1.0.0", "-n", "0"],
        vec!["predictions", "recent", "fraud", "1.0.0", "-n", "0"],
        vec!["predictions", "recent", "fraud", "1.0.0", "-n", "10001"],
        vec!["predictions", "import", "x.jsonl", "--batch-size", "0"],
        vec!["accuracy", "fraud", "1.0.0", "--since", "yesterday"],
        vec!["versions", " bad name"],
    ] {
        mlstore(&db).args(&args).assert().code(2);
    }
    mlstore(&db)
        .args(["models"])
        .env("MLSTORE_CACHE", "moka")
        .env("MLSTORE_CACHE_TTL", "soon")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--cache-ttl"));
}

/// Every flag is documented, global options are listed under their own heading, and each
/// subcommand shows an example.
#[test]
fn help_teaches() {
    let out = mlstore("sqlite::memory:")
        .args(["predictions", "recent", "--help"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for wanted in [
        "-n, --last <N>",
        "How many",
        "Global options",
        "--db <URL>",
        "Example",
    ] {
        assert!(text.contains(wanted), "{wanted:?} missing from:\n{text}");
    }
    let out = mlstore("sqlite::memory:")
        .args(["baseline", "set", "--help"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for wanted in ["--mean <MEAN>", "Mean confidence", "--std-dev", "--samples"] {
        assert!(text.contains(wanted), "{wanted:?} missing from:\n{text}");
    }
}

/// Records with awkward content: floats that only round-trip exactly with a correct parser,
/// nested JSON, a CSV cell with a comma, quotes and a newline.
fn awkward_records(path: &Path) -> Vec<Value> {
    let probabilities = [
        0.014_089_813_668_273_221,
        0.985_910_186_331_726_8,
        5e-324,
        0.1,
    ];
    let records: Vec<Value> = (0..40u128)
        .map(|i| {
            let p = probabilities[i as usize % probabilities.len()];
            json!({
                "id": uuid::Uuid::from_u128(0xabc0 + i).to_string(),
                "model": "fraud",
                "version": "1.0.0",
                "prediction": {"proba": [p, 1.0 - p], "class": if i % 3 == 0 { "a,\"b\"\nc" } else { "3" }},
                "actual": if i % 2 == 0 { json!([1, 2.5]) } else { Value::Null },
                "confidence": p,
                "features": {"x": -0.0, "nested": [[{"deep": i as f64 / 7.0}]]},
                "timestamp": format!("2026-11-0{}T10:00:00.{:06}Z", 1 + i % 3, i * 7),
            })
        })
        .map(|mut r| {
            if r["actual"].is_null() {
                r.as_object_mut().unwrap().remove("actual");
            }
            r
        })
        .collect();
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
    records
}

/// Export, import into another database, export again: byte for byte the same file, in JSON
/// Lines and in CSV, SQLite to SQLite (and to PostgreSQL and back, below); `predictions get`
/// returns each record's numbers with the same bits.
#[test]
fn export_then_import_round_trips_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let a = fresh_sqlite(dir.path(), "a.db");
    let b = fresh_sqlite(dir.path(), "b.db");
    round_trip(dir.path(), &a, &b);
}

#[test]
#[cfg(feature = "postgres")]
fn export_then_import_round_trips_byte_exact_through_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let a = fresh_sqlite(dir.path(), "a.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pg = rt.block_on(kept_postgres_url());
    mlstore(&pg).arg("init").assert().success();
    round_trip(dir.path(), &a, &pg);
}

fn round_trip(dir: &Path, a: &str, b: &str) {
    for db in [a, b] {
        register(db, "1.0.0");
    }
    let source = dir.join("source.jsonl");
    let records = awkward_records(&source);
    mlstore(a)
        .args(["predictions", "import"])
        .arg(&source)
        .assert()
        .success();
    let probe = &records[1];
    let got = ok_json(mlstore(a).args(["predictions", "get", probe["id"].as_str().unwrap()]));
    assert_eq!(
        got["prediction"]["proba"][0].as_f64().map(f64::to_bits),
        probe["prediction"]["proba"][0].as_f64().map(f64::to_bits)
    );
    assert_eq!(
        got["confidence"].as_f64().map(f64::to_bits),
        probe["confidence"].as_f64().map(f64::to_bits)
    );
    for format in ["jsonl", "csv"] {
        let first = dir.join(format!("first.{format}"));
        let second = dir.join(format!("second.{format}"));
        mlstore(a)
            .args([
                "predictions",
                "export",
                "fraud",
                "1.0.0",
                "--format",
                format,
                "--output",
            ])
            .arg(&first)
            .assert()
            .success();
        let target = if format == "jsonl" {
            b.to_owned()
        } else {
            fresh_sqlite(dir, &format!("{format}.db"))
        };
        if format == "csv" {
            register(&target, "1.0.0");
        }
        mlstore(&target)
            .args(["predictions", "import", "--format", format])
            .arg(&first)
            .assert()
            .success();
        mlstore(&target)
            .args([
                "predictions",
                "export",
                "fraud",
                "1.0.0",
                "--format",
                format,
                "--output",
            ])
            .arg(&second)
            .assert()
            .success();
        let (x, y) = (
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap(),
        );
        assert!(x == y, "{format} export differs after a round trip");
        assert_eq!(
            x.iter().filter(|b| **b == b'\n').count() > records.len(),
            format == "csv",
            "CSV has a header and quoted newlines"
        );
    }
    let labelled =
        ok_json(mlstore(b).args(["predictions", "count", "fraud", "1.0.0", "--labelled-only"]));
    assert_eq!(labelled["count"], 20);
}

/// CSV is read by a CSV parser: a quoted cell may hold commas, quotes and newlines.
#[test]
fn csv_cells_may_hold_newlines_commas_and_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(dir.path(), "csv.db");
    register(&db, "1.0.0");
    let file = dir.path().join("p.csv");
    let id = uuid::Uuid::from_u128(77);
    std::fs::write(
        &file,
        format!(
            "id,model,version,prediction,confidence\n{id},fraud,1.0.0,\"multi\nline, with \"\"quotes\"\"\",0.5\n"
        ),
    )
    .unwrap();
    let summary = ok_json(mlstore(&db).args(["predictions", "import"]).arg(&file));
    assert_eq!(summary["stored"], 1);
    let got = ok_json(mlstore(&db).args(["predictions", "get", &id.to_string()]));
    assert_eq!(got["prediction"], "multi\nline, with \"quotes\"");
}

/// The README's worked example: compute a baseline, shift the distribution, see `drift` say
/// so (exit 5); metrics, series and compare print JSON documents.
#[test]
fn drift_and_monitoring_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(dir.path(), "monitoring.db");
    register(&db, "1.0.0");
    register(&db, "2.0.0");
    let write = |file: &str, version: &str, from: u128, confidence: &dyn Fn(u128) -> f64| {
        let mut text = String::new();
        for i in from..from + 500 {
            text.push_str(
                &json!({"id": uuid::Uuid::from_u128(i + 1).to_string(), "model": "fraud",
                        "version": version, "prediction": if i % 3 == 0 { "fraud" } else { "ok" },
                        "actual": "ok", "confidence": confidence(i)})
                .to_string(),
            );
            text.push('\n');
        }
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        path
    };
    let calm = write("calm.jsonl", "1.0.0", 0, &|i| 0.6 + (i % 30) as f64 / 100.0);
    mlstore(&db)
        .args(["predictions", "import"])
        .arg(&calm)
        .assert()
        .success();
    let baseline =
        ok_json(mlstore(&db).args(["baseline", "compute", "fraud", "1.0.0", "--last", "500"]));
    assert_eq!(baseline["histogram"].as_array().unwrap().len(), 20);
    mlstore(&db)
        .args(["drift", "fraud", "1.0.0", "--last", "500"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("verdict         ok"));
    let shifted = write("shifted.jsonl", "1.0.0", 1000, &|i| {
        0.1 + (i % 20) as f64 / 100.0
    });
    mlstore(&db)
        .args(["predictions", "import"])
        .arg(&shifted)
        .assert()
        .success();
    let out = mlstore(&db)
        .args(["drift", "fraud", "1.0.0", "--last", "500", "--json"])
        .assert()
        .code(5);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["verdict"], "drift");
    for field in [
        "psi",
        "ks_statistic",
        "ks_pvalue",
        "mean_shift_sigma",
        "window_count",
        "baseline_count",
    ] {
        assert!(!report[field].is_null(), "{field} missing: {report}");
    }
    mlstore(&db)
        .args([
            "drift",
            "fraud",
            "1.0.0",
            "--psi-warn",
            "0.3",
            "--psi-drift",
            "0.2",
        ])
        .assert()
        .code(2);
    mlstore(&db)
        .args(["drift", "fraud", "2.0.0"])
        .assert()
        .code(3);
    let metrics = ok_json(mlstore(&db).args(["metrics", "fraud", "1.0.0", "--last", "1000"]));
    assert_eq!(metrics["predictions"], 1000);
    assert_eq!(
        metrics["confusion_matrix"]["classes"],
        json!(["fraud", "ok"])
    );
    let series = ok_json(mlstore(&db).args([
        "series", "fraud", "1.0.0", "--since", "2d", "--bucket", "hour",
    ]));
    let total: u64 = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["predictions"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1000);
    let two = write("two.jsonl", "2.0.0", 5000, &|_| 0.9);
    mlstore(&db)
        .args(["predictions", "import"])
        .arg(&two)
        .assert()
        .success();
    let compare = ok_json(mlstore(&db).args(["compare", "fraud", "1.0.0", "2.0.0"]));
    assert!(compare["p_value"].as_f64().is_some(), "{compare}");
    let confidences = dir.path().join("validation.txt");
    std::fs::write(&confidences, "0.5\n0.75\n\n1\n").unwrap();
    let set = ok_json(
        mlstore(&db)
            .args(["baseline", "set", "fraud", "2.0.0", "--from-file"])
            .arg(&confidences),
    );
    assert_eq!(set["sample_count"], 3);
    mlstore(&db)
        .args([
            "series", "fraud", "1.0.0", "--since", "30d", "--bucket", "minute",
        ])
        .assert()
        .code(2);
}

/// Who changed what and when: the actor, the changed fields, alias moves, a rollback, an alias
/// resolved as of a past time.
#[test]
fn history_records_changes_with_their_actor() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(dir.path(), "history.db");
    for v in ["1.0.0", "2.0.0"] {
        mlstore(&db)
            .args(["register", "fraud", v, "--type", "xgboost", "--actor", "ci"])
            .args(["--source", "s3://models/fraud", "--run", "run-7"])
            .assert()
            .success();
    }
    mlstore(&db)
        .env("MLSTORE_ACTOR", "alice")
        .args([
            "update",
            "fraud",
            "1.0.0",
            "--status",
            "archived",
            "--deployed-now",
        ])
        .assert()
        .success();
    let shown = ok_json(mlstore(&db).args(["get", "fraud", "1.0.0"]));
    assert_eq!(shown["status"], "archived");
    assert_eq!(shown["source"], "s3://models/fraud");
    assert!(shown["deployed_at"].is_string(), "{shown}");
    mlstore(&db)
        .args([
            "alias",
            "set",
            "fraud",
            "production",
            "1.0.0",
            "--actor",
            "bob",
        ])
        .assert()
        .success();
    let before_move = ok_json(mlstore(&db).args(["history", "fraud", "--limit", "1"]))["events"][0]
        ["at"]
        .as_str()
        .unwrap()
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(5));
    mlstore(&db)
        .args([
            "alias",
            "set",
            "fraud",
            "production",
            "2.0.0",
            "--actor",
            "bob",
        ])
        .assert()
        .success();
    let at = ok_json(mlstore(&db).args(["alias", "at", "fraud", "production", &before_move]));
    assert_eq!(at["version"], "1.0.0");
    let rolled = ok_json(mlstore(&db).args(["alias", "rollback", "fraud", "production"]));
    assert_eq!(
        (&rolled["from"], &rolled["version"]),
        (&json!("2.0.0"), &json!("1.0.0"))
    );
    let list = ok_json(mlstore(&db).args(["alias", "list", "fraud"]));
    assert_eq!(
        list["aliases"],
        json!([{"alias": "production", "version": "1.0.0"}])
    );
    // Nothing earlier to go back to after the first set was rolled back to.
    let refused = mlstore(&db)
        .args(["alias", "rollback", "fraud", "production"])
        .assert()
        .code(3);
    assert!(
        stderr_of(&refused).contains("earlier target"),
        "{}",
        stderr_of(&refused)
    );

    let log = ok_json(mlstore(&db).args(["history", "fraud", "--oldest-first"]));
    let kinds: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "version_registered",
            "version_registered",
            "version_updated",
            "alias_set",
            "alias_set",
            "alias_rolled_back"
        ]
    );
    let events = log["events"].as_array().unwrap();
    let actors: Vec<Option<&str>> = events.iter().map(|e| e["actor"].as_str()).collect();
    assert_eq!(
        actors[..4],
        [Some("ci"), Some("ci"), Some("alice"), Some("bob")]
    );
    // Without --actor: the USER variable, when set.
    assert_eq!(
        actors[5],
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .as_deref()
    );
    assert_eq!(events[2]["fields"], json!(["deployed_at", "status"]));
    assert_eq!(events[4]["from_version"], "1.0.0");
    let alias_only = ok_json(mlstore(&db).args(["history", "fraud", "--alias", "production"]));
    assert_eq!(alias_only["events"].as_array().unwrap().len(), 3);
    let text = mlstore(&db).args(["history", "fraud"]).assert().success();
    let text = String::from_utf8(text.get_output().stdout.clone()).unwrap();
    assert!(text.contains("production: 2.0.0 -> 1.0.0"), "{text}");
    mlstore(&db)
        .args(["history", "--kind", "renamed"])
        .assert()
        .code(2);
}

/// A database of its own that stays until the server stops: the processes this test starts
/// connect and disconnect in turn, so the database may be without a connection for a while, and
/// a test database ([`mlstore_testkit::fresh_postgres_url`]) unused for a while may be dropped.
async fn kept_postgres_url() -> String {
    mlstore_testkit::postgres()
        .create_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Predictions of `fraud` 1.0.0 made `days` days ago, as JSONL records.
fn aged_jsonl(path: &Path, days: &[i64]) {
    let now = chrono::Utc::now();
    let mut text = String::new();
    for (i, d) in days.iter().enumerate() {
        let line = json!({
            "model": "fraud",
            "version": "1.0.0",
            "prediction": "ok",
            "actual": if i % 2 == 0 { json!("ok") } else { Value::Null },
            "confidence": 0.75,
            "timestamp": (now - chrono::Duration::days(*d)).to_rfc3339(),
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn count(db: &str) -> u64 {
    ok_json(mlstore(db).args(["predictions", "count", "fraud"]))["count"]
        .as_u64()
        .unwrap()
}

fn retention_end_to_end(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    register(db, "1.0.0");
    aged_jsonl(
        &dir.path().join("aged.jsonl"),
        &[100, 100, 100, 50, 50, 50, 1, 1, 1],
    );
    mlstore(db)
        .args(["predictions", "import"])
        .arg(dir.path().join("aged.jsonl"))
        .assert()
        .success();
    let dry =
        ok_json(mlstore(db).args(["predictions", "prune", "--older-than", "90d", "--dry-run"]));
    assert_eq!(dry["outcome"]["predictions"], 3, "{dry}");
    assert_eq!(dry["outcome"]["dry_run"], true, "{dry}");
    assert_eq!(count(db), 9);

    mlstore(db)
        .args(["retention", "set", "fraud", "30d"])
        .assert()
        .success()
        .stdout(predicates::str::contains("keep predictions for 30d"));
    let list = ok_json(mlstore(db).args(["retention", "list"]));
    assert_eq!(list, json!([{"model": "fraud", "keep": "30d"}]));
    let planned = ok_json(mlstore(db).args(["maintain", "--dry-run"]));
    assert_eq!(
        planned["models"][0]["outcome"]["predictions"], 6,
        "{planned}"
    );
    assert_eq!(count(db), 9, "a dry run removes nothing");
    mlstore(db)
        .arg("maintain")
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "every model: removed 6 predictions",
        ));
    assert_eq!(count(db), 3);
    let series = ok_json(mlstore(db).args([
        "series", "fraud", "1.0.0", "--since", "120d", "--bucket", "week",
    ]));
    let total: u64 = series["points"]
        .as_array()
        .unwrap_or_else(|| panic!("{series}"))
        .iter()
        .map(|b| b["predictions"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 9, "series keep the pruned predictions' sums");

    mlstore(db)
        .args(["retention", "set", "nobody", "30d"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("no versions"));
    mlstore(db)
        .args(["retention", "set", "fraud", "0d"])
        .assert()
        .code(2);
    mlstore(db)
        .args(["predictions", "prune", "--older-than", "yesterday"])
        .assert()
        .code(2);
    mlstore(db)
        .args(["retention", "remove", "fraud"])
        .assert()
        .success();
    assert_eq!(ok_json(mlstore(db).args(["retention", "list"])), json!([]));
}

#[test]
fn retention_prune_and_maintain_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    retention_end_to_end(&fresh_sqlite(dir.path(), "retention.db"));
}

#[test]
#[cfg(feature = "postgres")]
fn retention_prune_and_maintain_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(kept_postgres_url());
    mlstore(&url).arg("init").assert().success();
    retention_end_to_end(&url);
}

/// `kill -9` of a SQLite prune half-way: the database is consistent (integrity check, no
/// partial batch), the hourly sums are whole, and the next prune removes the rest.
#[test]
fn a_killed_sqlite_prune_is_consistent_and_the_next_one_finishes() {
    use mlstore::{ModelMetadata, ModelRegistry, Prediction, PredictionStore, Version};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.db");
    let db = format!("sqlite://{}", path.display());
    const ROWS: usize = 300_000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = mlstore::connect(&db).await.unwrap();
        let name = mlstore::ModelName::new("fraud").unwrap();
        let version = Version::new("1.0.0").unwrap();
        store
            .register(
                &ModelMetadata::builder(name.clone(), version.clone(), "t")
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        let start = chrono::Utc::now() - chrono::Duration::days(400);
        for chunk in 0..ROWS / 1000 {
            let batch: Vec<Prediction> = (0..1000)
                .map(|i| {
                    let n = (chunk * 1000 + i) as i64;
                    Prediction::builder(name.clone(), version.clone(), json!("ok"), 0.5)
                        .timestamp(start + chrono::Duration::seconds(n * 60))
                        .build()
                        .unwrap()
                })
                .collect();
            store.store_predictions(&batch).await.unwrap();
        }
    });
    let read = rusqlite::Connection::open(&path).unwrap();
    let hours_sum = |c: &rusqlite::Connection| -> i64 {
        c.query_row(
            "SELECT sum(predictions) FROM ml_prediction_hours",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let rows = |c: &rusqlite::Connection| -> i64 {
        c.query_row("SELECT count(*) FROM ml_predictions", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows(&read), ROWS as i64);

    let bin = assert_cmd::cargo::cargo_bin("mlstore");
    let mut child = std::process::Command::new(bin)
        .env("MLSTORE_DATABASE_URL", &db)
        .env_remove("MLSTORE_CACHE")
        .args(["predictions", "prune", "--older-than", "1d"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as its first batches are committed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = rows(&read);
        if left < ROWS as i64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the prune removed nothing"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the prune ended unseen"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = rows(&read);
    println!("killed with {left} of {ROWS} predictions left");
    assert!(
        left > 0,
        "the prune finished before the kill: nothing to check"
    );
    let check: String = read
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(hours_sum(&read), ROWS as i64, "hourly sums are whole");
    let done = ok_json(mlstore(&db).args(["predictions", "prune", "--older-than", "1d"]));
    assert_eq!(done["outcome"]["predictions"], left, "{done}");
    assert_eq!(rows(&read), 0);
    assert_eq!(hours_sum(&read), ROWS as i64);
}
