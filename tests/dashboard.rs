//! The dashboard in a real browser: headless Chromium (the Debian package, which `scripts/test`
//! installs on a fresh machine) loads every page of a server seeded with known data; each page
//! must log nothing to the console and show the figures the JSON API returns for the same data.
//! Screenshots of every page (1280 x 800, light; the version page also dark and phone-width)
//! are written under `docs/` for the README.
#![cfg(all(feature = "server", feature = "sqlite"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use mlstore::server::{Server, ServerConfig, Tokens};
use mlstore::{
    Alias, ModelMetadata, ModelName, ModelRegistry, Prediction, PredictionStore,
    PredictionStoreExt, Version, Window,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "fraud-detector";
/// A name that needs escaping in HTML and percent-encoding in links.
const ODD: &str = "x'; DROP TABLE \"ml_models\"/<b>";

/// The Chromium binary, or why the browser checks cannot run here.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// What one headless page load gave: the DOM after load and the console messages.
struct Load {
    dom: String,
    console: Vec<String>,
}

fn browse(chromium: &Path, url: &str, extra: &[&str]) -> Load {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    Load {
        dom: String::from_utf8_lossy(&output.stdout).into_owned(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Refused to"))
            .map(str::to_owned)
            .collect(),
    }
}

fn dump(chromium: &Path, url: &str) -> String {
    let load = browse(chromium, url, &["--dump-dom"]);
    assert!(
        load.console.is_empty(),
        "{url} logged to the console: {:#?}",
        load.console
    );
    assert!(load.dom.contains("</html>"), "{url}: no page: {}", load.dom);
    load.dom
}

fn screenshot(chromium: &Path, url: &str, file: &str, size: &str, dark: bool) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let shot = format!("--screenshot={}", path.display());
    let size = format!("--window-size={size}");
    let mut args = vec![shot.as_str(), size.as_str(), "--hide-scrollbars"];
    if dark {
        args.push("--force-dark-mode");
    }
    let load = browse(chromium, url, &args);
    assert!(load.console.is_empty(), "{url}: {:#?}", load.console);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} is not a screenshot",
        path.display()
    );
}

/// Percent-encodes a path segment or query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Two versions over the last ten days: 1.0.0 with a baseline from its first days and labels on
/// most predictions, 1.1.0 with other confidences (so it drifts against its own baseline, which
/// comes from 1.0.0's confidences), and aliases with a history.
async fn seed(handle: &mlstore::Handle) {
    let name = ModelName::new(MODEL).unwrap();
    let now = mlstore::time::now();
    for (v, days_ago) in [("1.0.0", 12), ("1.1.0", 6)] {
        let m = ModelMetadata::builder(name.clone(), Version::new(v).unwrap(), "xgboost")
            .description("Card fraud, scored per transaction")
            .created_at(now - chrono::Duration::days(days_ago))
            .build()
            .unwrap();
        handle.register(&m).await.unwrap();
    }
    let odd = ModelName::new(ODD).unwrap();
    let m = ModelMetadata::builder(odd.clone(), Version::new("0.1.0").unwrap(), "sklearn")
        .build()
        .unwrap();
    handle.register(&m).await.unwrap();

    let mut batch = Vec::new();
    for i in 0..2400u32 {
        let (v, shift) = if i % 2 == 0 {
            ("1.0.0", 0.0)
        } else {
            ("1.1.0", 0.25)
        };
        let confidence = (0.45 + f64::from(i % 50) / 100.0 + shift).min(1.0);
        let at = now - chrono::Duration::minutes(i64::from(i) * 6 + 1);
        let predicted = if i % 3 == 0 { "fraud" } else { "ok" };
        let label = match i % 10 {
            0..=6 => Some(json!(predicted)),
            7 | 8 => Some(json!(if predicted == "ok" { "fraud" } else { "ok" })),
            _ => None,
        };
        batch.push(
            Prediction::builder(
                name.clone(),
                Version::new(v).unwrap(),
                json!(predicted),
                confidence,
            )
            .timestamp(at)
            .actual(label)
            .build()
            .unwrap(),
        );
    }
    handle.store_predictions(&batch).await.unwrap();
    handle
        .compute_baseline(&name, &Version::new("1.0.0").unwrap(), Window::all())
        .await
        .unwrap();
    let base = handle
        .baseline(&name, &Version::new("1.0.0").unwrap())
        .await
        .unwrap()
        .unwrap();
    let copy = mlstore::ConfidenceBaseline::from_histogram(
        name.clone(),
        Version::new("1.1.0").unwrap(),
        base.histogram().unwrap(),
    )
    .unwrap();
    handle.store_baseline(&copy).await.unwrap();
    let champion = Alias::new("champion").unwrap();
    for v in ["1.0.0", "1.1.0"] {
        handle
            .set_alias(&name, &champion, &Version::new(v).unwrap())
            .await
            .unwrap();
    }
    handle
        .set_alias(
            &name,
            &Alias::new("fallback").unwrap(),
            &Version::new("1.0.0").unwrap(),
        )
        .await
        .unwrap();
}

/// A server over a seeded SQLite store in `dir`, on a free loopback port: its base URL, and
/// what stops it (awaiting the task checks it stopped cleanly).
async fn serve(
    dir: &Path,
    config: ServerConfig,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<mlstore::Result<()>>,
) {
    let url = format!("sqlite://{}", dir.join("dash.db").display());
    let handle = mlstore::connect(&url).await.unwrap();
    seed(&handle).await;
    let server = Server::bind(handle, config.listen("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async {
        let _ = rx.await;
    }));
    (base, tx, task)
}

async fn api(client: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_a_real_browser_shows_the_api_figures() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser checks: scripts/test installs chromium"
        );
        eprintln!("SKIPPED: no chromium on this machine (scripts/test installs it as root)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (base, tx, task) = serve(dir.path(), ServerConfig::default()).await;
    let client = reqwest::Client::new();
    let m = enc(MODEL);

    // The figures the API gives for the seeded data.
    let accuracy = |v: &str| format!("/v1/models/{m}/versions/{v}/accuracy?last=1000");
    let drift = |v: &str| format!("/v1/models/{m}/versions/{v}/drift?last=1000");
    let acc_old = api(&client, &base, &accuracy("1.0.0")).await["accuracy"]
        .as_f64()
        .unwrap();
    let acc_new = api(&client, &base, &accuracy("1.1.0")).await["accuracy"]
        .as_f64()
        .unwrap();
    let drift_old = api(&client, &base, &drift("1.0.0")).await;
    let drift_new = api(&client, &base, &drift("1.1.0")).await;
    let psi_new = drift_new["psi"].as_f64().unwrap();
    assert_eq!(drift_new["verdict"], "drift", "the seed makes 1.1.0 drift");
    assert_eq!(drift_old["verdict"], "ok");

    // The browser's own console check catches what it is meant to catch.
    let control = browse(
        &chromium,
        "data:text/html,<script>console.error('control')</script>",
        &["--dump-dom"],
    );
    assert_eq!(control.console.len(), 1, "{:?}", control.console);

    // Models.
    let dom = dump(&chromium, &format!("{base}/"));
    assert!(dom.contains(r#"data-latest="1.1.0""#), "{dom}");
    assert!(dom.contains(r#"data-alias="champion">champion</a> → <a href="/models/fraud-detector/versions/1.1.0" data-alias-target="1.1.0""#), "{dom}");
    assert!(dom.contains(
        r#"data-alias="fallback">fallback</a> → <a href="/models/fraud-detector/versions/1.0.0""#
    ));
    assert!(
        dom.contains(&format!(">{acc_old:.4}</td>")),
        "accuracy {acc_old:.4} in {dom}"
    );
    assert!(
        dom.contains(&format!(">{acc_new:.4}</td>")),
        "accuracy {acc_new:.4}"
    );
    assert!(
        dom.contains(&format!(">{psi_new:.4}</td>")),
        "PSI {psi_new:.4}"
    );
    assert!(dom.contains(r#"<span class="badge drift">drift</span>"#));
    assert!(dom.contains(r#"<span class="badge no-baseline">no baseline</span>"#));
    assert!(dom.contains(r#"<span class="badge no-labels">no labels</span>"#));
    assert!(
        dom.contains("x'; DROP TABLE \"ml_models\"/&lt;b&gt;"),
        "escaped name"
    );
    assert!(!dom.contains("<b>"), "a name is never markup");
    screenshot(
        &chromium,
        &format!("{base}/"),
        "dashboard-models.png",
        "1280,800",
        false,
    );

    // A version.
    let page = format!("{base}/models/{m}/versions/1.1.0?since=7d&last=1000");
    let dom = dump(&chromium, &page);
    assert!(
        dom.contains(&format!(r#"data-fact="accuracy">{acc_new:.4}<"#)),
        "{dom}"
    );
    assert!(dom.contains(&format!(r#"data-drift="psi">{psi_new:.4}<"#)));
    let ks = drift_new["ks_statistic"].as_f64().unwrap();
    assert!(dom.contains(&format!(r#"data-drift="ks_statistic">{ks:.4}<"#)));
    let series = api(
        &client,
        &base,
        &format!("/v1/models/{m}/versions/1.1.0/series?since=7d&bucket=day"),
    )
    .await;
    let total: u64 = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["predictions"].as_u64().unwrap())
        .sum();
    assert!(total > 0);
    let shown = total
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        dom.contains(&format!(r#"data-fact="predictions">{shown}<"#)),
        "{shown}"
    );
    assert!(dom.contains("<svg class=\"chart\""));
    assert!(dom.contains("Recent predictions"));
    screenshot(&chromium, &page, "dashboard-version.png", "1280,800", false);
    screenshot(
        &chromium,
        &page,
        "dashboard-version-dark.png",
        "1280,800",
        true,
    );
    screenshot(
        &chromium,
        &page,
        "dashboard-version-phone.png",
        "390,844",
        false,
    );

    // A version without a baseline says what to do.
    let odd_page = format!("{base}/models/{}/versions/0.1.0", enc(ODD));
    let dom = dump(&chromium, &odd_page);
    assert!(
        dom.contains("No baseline: run <code>mlstore baseline compute"),
        "{dom}"
    );

    // Compare.
    let page = format!("{base}/models/{m}/compare?a=1.0.0&b=1.1.0&last=1000");
    let dom = dump(&chromium, &page);
    let cmp = api(
        &client,
        &base,
        &format!("/v1/models/{m}/compare?a=1.0.0&b=1.1.0&last=1000"),
    )
    .await;
    let a_acc = cmp["a"]["accuracy"].as_f64().unwrap();
    let b_acc = cmp["b"]["accuracy"].as_f64().unwrap();
    assert!(
        dom.contains(&format!(r#"data-a="accuracy">{a_acc:.4}<"#)),
        "{dom}"
    );
    assert!(dom.contains(&format!(r#"data-b="accuracy">{b_acc:.4}<"#)));
    let p = cmp["p_value"].as_f64().unwrap();
    assert!(dom.contains(&format!(r#"data-compare="p">{p:.4}<"#)));
    screenshot(&chromium, &page, "dashboard-compare.png", "1280,800", false);

    // An alias's timeline.
    let page = format!("{base}/models/{m}/aliases/champion");
    let dom = dump(&chromium, &page);
    assert!(dom.contains(r#"data-alias-target="1.1.0""#), "{dom}");
    assert_eq!(dom.matches("<td>set</td>").count(), 2, "{dom}");
    screenshot(&chromium, &page, "dashboard-alias.png", "1280,800", false);

    // Unknown things are error pages with the API's status.
    let r = client
        .get(format!("{base}/models/{m}/versions/9.9.9"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("<h1>404 Not Found</h1>"));
    let r = client
        .get(format!("{base}/models/{m}/versions/1.1.0?last=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// With tokens configured, pages need the `read` scope; a browser sends it by HTTP Basic
/// authentication (asked for by the 401), and no page shows a token.
#[tokio::test]
async fn pages_need_a_read_token_sent_as_basic_auth_and_never_show_it() {
    let reader = "reader-secret-0123456789abcdef";
    let writer = "writer-secret-0123456789abcdef";
    let tokens = Tokens::parse(&format!("dash read {reader}\nops write {writer}")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (base, tx, task) = serve(dir.path(), ServerConfig::default().tokens(tokens)).await;
    let client = reqwest::Client::new();
    let r = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic ")),
        "{challenges:?}"
    );
    let r = client
        .get(format!("{base}/"))
        .basic_auth("anyone", Some("wrong-secret-0123456789abcdef"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for path in [
        "/".to_owned(),
        format!("/models/{MODEL}/versions/1.0.0"),
        format!("/models/{MODEL}/compare"),
        format!("/models/{MODEL}/aliases/champion"),
    ] {
        let r = client
            .get(format!("{base}{path}"))
            .basic_auth("anyone", Some(reader))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(r.headers().contains_key("server-timing"));
        let text = r.text().await.unwrap();
        assert!(!text.contains(reader), "{path} shows the token");
        assert!(!text.contains("<script"), "{path} has a script");
    }
    // Basic credentials, which a browser attaches by itself even to a request another site
    // makes it send, open the dashboard's pages only: never the API, never a write.
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/models/{MODEL}/latest")),
        (
            reqwest::Method::POST,
            format!("/v1/models/{MODEL}/aliases/champion/rollback"),
        ),
    ] {
        let r = client
            .request(method.clone(), format!("{base}{path}"))
            .basic_auth("anyone", Some(writer))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(
            r.headers()
                .get_all("www-authenticate")
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("Basic")),
            "the API never asks a browser for credentials"
        );
    }
    // The bearer form works too.
    let r = client
        .get(format!("{base}/"))
        .bearer_auth(reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}
