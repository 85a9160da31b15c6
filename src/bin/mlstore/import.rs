//! `predictions import` and `labels import`: JSON Lines or CSV, in batches, with progress.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::Path;
use std::time::Instant;

use mlstore::limits::MAX_BATCH_LEN;
use mlstore::{Label, ModelName, Prediction, Store, Timestamp, Version};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{CliError, Format};

/// One prediction as a line or row gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictionRecord {
    id: Option<Uuid>,
    model: String,
    version: String,
    prediction: Value,
    actual: Option<Value>,
    confidence: f64,
    features: Option<Map<String, Value>>,
    timestamp: Option<Timestamp>,
}

/// One label as a line or row gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelRecord {
    id: Uuid,
    actual: Value,
}

const PREDICTION_COLUMNS: [&str; 8] = [
    "id",
    "model",
    "version",
    "prediction",
    "actual",
    "confidence",
    "features",
    "timestamp",
];
const LABEL_COLUMNS: [&str; 2] = ["id", "actual"];

/// How an import ran.
pub(crate) struct Options {
    pub format: Option<Format>,
    pub batch_size: usize,
    pub skip: usize,
    pub atomic: bool,
}

/// What kind of record the file holds.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Predictions,
    Labels,
}

/// A record as a JSON object, with the line it starts on.
type NumberedRecord = (usize, Map<String, Value>);

enum Item {
    Prediction(Prediction),
    Label(Label),
}

/// A record source: its rows as JSON objects (CSV cells converted), with line numbers.
struct Rows {
    format: Format,
    lines: Box<dyn BufRead>,
    csv_header: Option<Vec<String>>,
    line: usize,
    bytes: u64,
}

/// A CSV cell as JSON: valid JSON is taken as such (`{"a":1}`, `3`, `true`, `"x"`), anything
/// else is a string; an empty cell is absent.
fn cell(text: &str) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

impl Rows {
    fn open(path: &str, format: Option<Format>) -> Result<Self, CliError> {
        let (reader, guessed): (Box<dyn Read>, Format) = if path == "-" {
            (Box::new(std::io::stdin()), Format::Jsonl)
        } else {
            let file = File::open(path).map_err(|e| CliError::input(format!("{path}: {e}")))?;
            let guessed = if Path::new(path)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            {
                Format::Csv
            } else {
                Format::Jsonl
            };
            (Box::new(file), guessed)
        };
        Ok(Self {
            format: format.unwrap_or(guessed),
            lines: Box::new(BufReader::with_capacity(1 << 16, reader)),
            csv_header: None,
            line: 0,
            bytes: 0,
        })
    }

    /// The next record as a JSON object, with its line number; `None` at the end.
    fn next(&mut self, columns: &[&str], path: &str) -> Result<Option<NumberedRecord>, CliError> {
        loop {
            let mut text = String::new();
            let read = self
                .lines
                .read_line(&mut text)
                .map_err(|e| CliError::input(format!("{path}: line {}: {e}", self.line + 1)))?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.bytes += read as u64;
            let complete = text.ends_with('\n');
            let trimmed = text.trim_end_matches(['\n', '\r']);
            if trimmed.trim().is_empty() {
                continue;
            }
            let at =
                |reason: String| CliError::input(format!("{path}: line {}: {reason}", self.line));
            match self.format {
                Format::Jsonl => {
                    return match serde_json::from_str::<Value>(trimmed) {
                        Ok(Value::Object(map)) => Ok(Some((self.line, map))),
                        Ok(_) => Err(at("expected a JSON object".into())),
                        Err(e) if !complete && e.is_eof() => {
                            Err(at(format!("the file ends in the middle of a record ({e})")))
                        }
                        Err(e) => Err(at(format!("not valid JSON: {e}"))),
                    };
                }
                Format::Csv => {
                    let mut reader = csv::ReaderBuilder::new()
                        .has_headers(false)
                        .from_reader(trimmed.as_bytes());
                    let record = match reader.records().next() {
                        Some(Ok(r)) => r,
                        Some(Err(e)) => return Err(at(format!("not a CSV row: {e}"))),
                        None => continue,
                    };
                    let cells: Vec<String> = record.iter().map(str::to_owned).collect();
                    let Some(header) = &self.csv_header else {
                        for name in &cells {
                            if !columns.contains(&name.as_str()) {
                                return Err(at(format!(
                                    "unknown column {name:?}; the columns are {}",
                                    columns.join(", ")
                                )));
                            }
                        }
                        self.csv_header = Some(cells);
                        continue;
                    };
                    if cells.len() != header.len() {
                        return Err(at(format!(
                            "{} cells, the header has {} columns{}",
                            cells.len(),
                            header.len(),
                            if complete {
                                ""
                            } else {
                                " (the file ends in the middle of a row)"
                            }
                        )));
                    }
                    let mut map = Map::new();
                    for (name, text) in header.iter().zip(&cells) {
                        if let Some(value) = cell(text) {
                            let value = match (name.as_str(), value) {
                                // Ids, names and versions stay text even when they look like JSON.
                                ("id" | "model" | "version" | "timestamp", _) => {
                                    Value::String(text.clone())
                                }
                                (_, v) => v,
                            };
                            map.insert(name.clone(), value);
                        }
                    }
                    return Ok(Some((self.line, map)));
                }
            }
        }
    }
}

fn to_prediction(map: Map<String, Value>) -> Result<Prediction, String> {
    let r: PredictionRecord =
        serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
    let mut builder = Prediction::builder(
        ModelName::new(r.model).map_err(|e| e.to_string())?,
        Version::new(&r.version).map_err(|e| e.to_string())?,
        r.prediction,
        r.confidence,
    )
    .actual(r.actual)
    .features(r.features.unwrap_or_default());
    if let Some(id) = r.id {
        builder = builder.id(id);
    }
    if let Some(ts) = r.timestamp {
        builder = builder.timestamp(ts);
    }
    builder.build().map_err(|e| e.to_string())
}

fn to_label(map: Map<String, Value>) -> Result<Label, String> {
    let r: LabelRecord = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
    Label::new(r.id, r.actual).map_err(|e| e.to_string())
}

/// Progress on stderr: a bar when stderr is a terminal and the size is known.
struct Progress {
    total: Option<u64>,
    tty: bool,
    last: Instant,
}

impl Progress {
    fn show(&mut self, bytes: u64, rows: usize, started: Instant) {
        if !self.tty || self.last.elapsed().as_millis() < 100 {
            return;
        }
        self.last = Instant::now();
        let rate = rows as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let line = match self.total {
            Some(total) if total > 0 => {
                let done = (bytes as f64 / total as f64).min(1.0);
                let filled = (done * 30.0) as usize;
                format!(
                    "[{}{}] {:>3.0}% {rows} rows, {rate:.0} rows/s",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    done * 100.0
                )
            }
            _ => format!("{rows} rows, {rate:.0} rows/s"),
        };
        let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
    }

    fn clear(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

async fn flush(store: &dyn Store, batch: &mut Vec<Item>) -> mlstore::Result<usize> {
    let n = batch.len();
    if n == 0 {
        return Ok(0);
    }
    let (mut predictions, mut labels) = (Vec::new(), Vec::new());
    for item in batch.drain(..) {
        match item {
            Item::Prediction(p) => predictions.push(p),
            Item::Label(l) => labels.push(l),
        }
    }
    if !predictions.is_empty() {
        store.store_predictions(&predictions).await?;
    }
    if !labels.is_empty() {
        store.record_actuals(&labels).await?;
    }
    Ok(n)
}

/// Imports `path`; returns the summary line.
pub(crate) async fn import(
    store: &dyn Store,
    path: &str,
    kind: Kind,
    options: &Options,
) -> Result<String, CliError> {
    if options.batch_size == 0 || options.batch_size > MAX_BATCH_LEN {
        return Err(CliError::usage(format!(
            "--batch-size must be from 1 to {MAX_BATCH_LEN}"
        )));
    }
    let mut rows = Rows::open(path, options.format)?;
    let columns: &[&str] = match kind {
        Kind::Predictions => &PREDICTION_COLUMNS,
        Kind::Labels => &LABEL_COLUMNS,
    };
    let noun = match kind {
        Kind::Predictions => "predictions",
        Kind::Labels => "labels",
    };
    let mut progress = Progress {
        total: (path != "-")
            .then(|| std::fs::metadata(path).map(|m| m.len()).ok())
            .flatten(),
        tty: std::io::stderr().is_terminal(),
        last: Instant::now(),
    };
    let started = Instant::now();
    let batch_size = if options.atomic {
        MAX_BATCH_LEN
    } else {
        options.batch_size
    };
    let mut batch: Vec<Item> = Vec::with_capacity(batch_size);
    let (mut seen, mut stored) = (0usize, 0usize);
    let resume = |stored: usize| {
        if options.atomic {
            "nothing was stored (--atomic)".to_string()
        } else {
            format!(
                "{stored} {noun} before it were stored; fix it and resume with --skip {}",
                options.skip + stored
            )
        }
    };
    loop {
        // A record that cannot be read or is not valid stops the import; what came before it
        // is stored (unless --atomic) so that the message can say where to resume.
        let record = match rows.next(columns, path) {
            Ok(None) => break,
            Ok(Some((line, map))) => {
                seen += 1;
                if seen <= options.skip {
                    continue;
                }
                match kind {
                    Kind::Predictions => to_prediction(map).map(Item::Prediction),
                    Kind::Labels => to_label(map).map(Item::Label),
                }
                .map_err(|reason| CliError::input(format!("{path}: line {line}: {reason}")))
            }
            Err(e) => Err(e),
        };
        let item = match record {
            Ok(item) => item,
            Err(e) => {
                if !options.atomic {
                    stored += flush(store, &mut batch)
                        .await
                        .map_err(|s| CliError::store(s, resume(stored)))?;
                }
                progress.clear();
                return Err(e.with_hint(resume(stored)));
            }
        };
        batch.push(item);
        if batch.len() == batch_size {
            if options.atomic {
                progress.clear();
                return Err(CliError::usage(format!(
                    "--atomic imports at most {MAX_BATCH_LEN} records (one transaction); nothing was stored"
                )));
            }
            let first = options.skip + stored + 1;
            match flush(store, &mut batch).await {
                Ok(n) => stored += n,
                Err(e) => {
                    progress.clear();
                    return Err(CliError::store(
                        e,
                        format!(
                            "records {first}..{} were not stored; {}",
                            first + batch_size - 1,
                            resume(stored)
                        ),
                    ));
                }
            }
        }
        progress.show(rows.bytes, stored + batch.len(), started);
    }
    let first = options.skip + stored + 1;
    let pending = batch.len();
    if let Err(e) = flush(store, &mut batch).await {
        progress.clear();
        return Err(CliError::store(
            e,
            format!(
                "records {first}..{} were not stored; {}",
                first + pending.saturating_sub(1),
                resume(stored)
            ),
        ));
    }
    stored += pending;
    progress.clear();
    let secs = started.elapsed().as_secs_f64();
    Ok(format!(
        "imported {stored} {noun} in {secs:.2} s ({:.0} rows/s){}",
        stored as f64 / secs.max(1e-9),
        if options.skip > 0 {
            format!(", after skipping {}", options.skip.min(seen))
        } else {
            String::new()
        }
    ))
}
