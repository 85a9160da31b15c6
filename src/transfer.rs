//! Moving predictions and labels in and out of a store as files: JSON Lines or CSV records
//! ([`mlstore_core::records`]), imported in batches with a resume position and precise
//! per-line errors, and exported in the same format, streaming, in constant memory.
//!
//! The command line's `predictions import`, `labels import` and `predictions export` are thin
//! wrappers around [`import`] and [`export`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mlstore::transfer::{import, Format, ImportOptions, RecordKind};
//! use mlstore::{ModelMetadata, ModelName, ModelRegistry, OnProblem, Version};
//!
//! let store = mlstore::connect("sqlite::memory:").await.unwrap();
//! let name = ModelName::new("fraud").unwrap();
//! let m = ModelMetadata::builder(name, Version::new("1.0.0").unwrap(), "xgboost").build().unwrap();
//! store.register(&m).await.unwrap();
//! let file = r#"{"id":"0190a1b2-0000-7000-8000-000000000001","model":"fraud","version":"1.0.0","prediction":"ok","confidence":0.9}"#;
//! let options = ImportOptions::new(Format::Jsonl).on_conflict(OnProblem::Skip);
//! let first = import(store.store().as_ref(), file.as_bytes(), RecordKind::Predictions, &options, |_| {}).await.unwrap();
//! assert_eq!(first.stored, 1);
//! // Re-running the same import stores nothing new and succeeds.
//! let again = import(store.store().as_ref(), file.as_bytes(), RecordKind::Predictions, &options, |_| {}).await.unwrap();
//! assert_eq!((again.stored, again.skipped_existing), (0, 1));
//! # });
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use mlstore_core::limits::MAX_BATCH_LEN;
use mlstore_core::records::{LabelRecord, PredictionRecord, LABEL_FIELDS, PREDICTION_FIELDS};
use mlstore_core::{
    BatchOptions, Error, ErrorKind, Label, ModelName, OnProblem, Prediction, ScanOptions,
    SkipReason, Store, Version, Window,
};
use serde::Serialize;
use serde_json::{Map, Value};

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row; cells that are valid JSON are taken as JSON,
    /// anything else as text (`id`, `model`, `version`, `timestamp` are always text).
    Csv,
}

impl Format {
    /// The format a file name's extension says (`.csv` is CSV; anything else JSON Lines).
    pub fn from_path(path: &str) -> Self {
        let csv = std::path::Path::new(path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv {
            Format::Csv
        } else {
            Format::Jsonl
        }
    }
}

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Prediction records.
    Predictions,
    /// Label records (`id`, `actual`).
    Labels,
}

impl RecordKind {
    fn fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::Predictions => &PREDICTION_FIELDS,
            RecordKind::Labels => &LABEL_FIELDS,
        }
    }
}

/// Options of [`import`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    format: Format,
    batch_size: usize,
    skip: usize,
    atomic: bool,
    on_conflict: OnProblem,
    on_missing: OnProblem,
}

impl ImportOptions {
    /// Defaults: batches of 1,000, nothing skipped, not atomic, a stored id or a missing
    /// version (or prediction, for labels) stops the import.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            batch_size: 1000,
            skip: 0,
            atomic: false,
            on_conflict: OnProblem::Fail,
            on_missing: OnProblem::Fail,
        }
    }

    /// Records per batch (one transaction each), 1 to [`MAX_BATCH_LEN`].
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Skips the first `n` records (to resume an import that stopped).
    #[must_use]
    pub fn skip(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }

    /// All or nothing: every record checked first and stored in one transaction (at most
    /// [`MAX_BATCH_LEN`] records).
    #[must_use]
    pub fn atomic(mut self, atomic: bool) -> Self {
        self.atomic = atomic;
        self
    }

    /// What to do with a prediction whose id is already stored (default: stop).
    #[must_use]
    pub fn on_conflict(mut self, what: OnProblem) -> Self {
        self.on_conflict = what;
        self
    }

    /// What to do with a prediction of an unregistered version, or a label of an unknown
    /// prediction (default: stop).
    #[must_use]
    pub fn on_missing(mut self, what: OnProblem) -> Self {
        self.on_missing = what;
        self
    }

    fn batch_options(&self) -> BatchOptions {
        BatchOptions::default()
            .on_conflict(self.on_conflict)
            .on_missing(self.on_missing)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    /// Records read (those skipped with `skip` included).
    pub read: usize,
    /// Records stored.
    pub stored: usize,
    /// Records passed over because of `skip`.
    pub skipped_before_start: usize,
    /// Predictions whose id was already stored (with `on_conflict(Skip)`).
    pub skipped_existing: usize,
    /// Predictions of unregistered versions, or labels of unknown predictions (with
    /// `on_missing(Skip)`).
    pub skipped_missing: usize,
    /// Records that stopped the import (0 or 1).
    pub failed: usize,
    /// How long the import took, in seconds.
    pub seconds: f64,
    /// Stored records per second.
    pub rows_per_second: f64,
}

impl ImportSummary {
    fn finish(&mut self, started: Instant) {
        self.seconds = started.elapsed().as_secs_f64();
        self.rows_per_second = self.stored as f64 / self.seconds.max(1e-9);
    }
}

/// Why an import stopped, where, what was stored before, and how to resume.
#[derive(Debug)]
pub struct ImportError {
    /// The error (its kind says whether the input, the database or a missing version is at
    /// fault).
    pub error: Error,
    /// The line the offending record starts on, when one record is at fault.
    pub line: Option<usize>,
    /// What was done before the import stopped.
    pub summary: ImportSummary,
    /// How to go on: the option that resumes the import past what was done.
    pub resume: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.error)?,
            None => write!(f, "{}", self.error)?,
        }
        write!(f, "\n  {}", self.resume)
    }
}

impl std::error::Error for ImportError {}

/// How far an import is, for progress displays.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Bytes of the input read so far.
    pub bytes: u64,
    /// Records stored so far.
    pub stored: usize,
    /// Time since the import started.
    pub elapsed: Duration,
}

/// A record of the input: its line, and its fields as a JSON object.
struct Numbered {
    line: usize,
    fields: Map<String, Value>,
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

enum Source<R: Read> {
    Jsonl {
        lines: BufReader<Counting<R>>,
        line: usize,
    },
    Csv {
        reader: Box<csv::Reader<Counting<R>>>,
        header: Vec<String>,
    },
}

/// A CSV cell as JSON: valid JSON is taken as such (`{"a":1}`, `3`, `true`, `"x"`), anything
/// else is a string; an empty cell is absent.
fn cell(column: &str, text: &str) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    if matches!(column, "id" | "model" | "version" | "timestamp") {
        return Some(Value::String(text.to_owned()));
    }
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

fn input_error(line: Option<usize>, reason: impl Into<String>) -> (Option<usize>, Error) {
    (line, Error::invalid("record", reason))
}

impl<R: Read> Source<R> {
    fn open(reader: R, format: Format, fields: &[&str]) -> Result<Self, (Option<usize>, Error)> {
        let counting = Counting {
            inner: reader,
            bytes: 0,
        };
        match format {
            Format::Jsonl => Ok(Source::Jsonl {
                lines: BufReader::with_capacity(1 << 16, counting),
                line: 0,
            }),
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .from_reader(counting);
                let header: Vec<String> = reader
                    .headers()
                    .map_err(|e| input_error(Some(1), format!("not a CSV header: {e}")))?
                    .iter()
                    .map(str::to_owned)
                    .collect();
                for name in &header {
                    if !fields.contains(&name.as_str()) {
                        return Err(input_error(
                            Some(1),
                            format!(
                                "unknown column {name:?}; the columns are {}",
                                fields.join(", ")
                            ),
                        ));
                    }
                }
                Ok(Source::Csv {
                    reader: Box::new(reader),
                    header,
                })
            }
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            Source::Jsonl { lines, .. } => lines.get_ref().bytes,
            Source::Csv { reader, .. } => reader.get_ref().bytes,
        }
    }

    /// The next record; `None` at the end.
    fn next(&mut self) -> Result<Option<Numbered>, (Option<usize>, Error)> {
        match self {
            Source::Jsonl { lines, line } => loop {
                let mut text = String::new();
                let read = lines
                    .read_line(&mut text)
                    .map_err(|e| input_error(Some(*line + 1), e.to_string()))?;
                if read == 0 {
                    return Ok(None);
                }
                *line += 1;
                let complete = text.ends_with('\n');
                let trimmed = text.trim_end_matches(['\n', '\r']);
                if trimmed.trim().is_empty() {
                    continue;
                }
                let at = Some(*line);
                return match serde_json::from_str::<Value>(trimmed) {
                    Ok(Value::Object(fields)) => Ok(Some(Numbered {
                        line: *line,
                        fields,
                    })),
                    Ok(_) => Err(input_error(at, "expected a JSON object")),
                    Err(e) if !complete && e.is_eof() => Err(input_error(
                        at,
                        format!("the file ends in the middle of a record ({e})"),
                    )),
                    Err(e) => Err(input_error(at, format!("not valid JSON: {e}"))),
                };
            },
            Source::Csv { reader, header } => {
                let mut record = csv::StringRecord::new();
                let more = reader.read_record(&mut record).map_err(|e| {
                    let line = e.position().map(|p| p.line() as usize);
                    input_error(line, format!("not a CSV row: {e}"))
                })?;
                if !more {
                    return Ok(None);
                }
                let line = record.position().map_or(0, |p| p.line() as usize);
                let mut fields = Map::new();
                for (name, text) in header.iter().zip(record.iter()) {
                    if let Some(value) = cell(name, text) {
                        fields.insert(name.clone(), value);
                    }
                }
                Ok(Some(Numbered { line, fields }))
            }
        }
    }
}

enum Item {
    Prediction(Prediction),
    Label(Label),
}

fn parse(kind: RecordKind, fields: Map<String, Value>) -> Result<Item, String> {
    let value = Value::Object(fields);
    match kind {
        RecordKind::Predictions => serde_json::from_value::<PredictionRecord>(value)
            .map_err(|e| e.to_string())?
            .into_prediction()
            .map(Item::Prediction)
            .map_err(|e| e.to_string()),
        RecordKind::Labels => serde_json::from_value::<LabelRecord>(value)
            .map_err(|e| e.to_string())?
            .into_label()
            .map(Item::Label)
            .map_err(|e| e.to_string()),
    }
}

/// A batch of records of one kind, with the line and record number of each.
#[derive(Default)]
struct Batch {
    predictions: Vec<Prediction>,
    labels: Vec<Label>,
    lines: Vec<usize>,
    /// The number (1-based, counting from the start of the input) of the batch's first record.
    first: usize,
}

impl Batch {
    fn len(&self) -> usize {
        self.lines.len()
    }

    fn push(&mut self, item: Item, line: usize, number: usize) {
        if self.lines.is_empty() {
            self.first = number;
        }
        self.lines.push(line);
        match item {
            Item::Prediction(p) => self.predictions.push(p),
            Item::Label(l) => self.labels.push(l),
        }
    }

    fn clear(&mut self) {
        self.predictions.clear();
        self.labels.clear();
        self.lines.clear();
    }
}

/// The first record of a batch that a plain (failing) batch write refused, and why: a version
/// that is not registered, an id already stored, a label of an unknown prediction. Reads only.
async fn culprit(store: &dyn Store, batch: &Batch) -> mlstore_core::Result<Option<(usize, Error)>> {
    if !batch.predictions.is_empty() {
        let mut unknown: BTreeSet<(ModelName, Version)> = BTreeSet::new();
        let mut checked: BTreeSet<(ModelName, Version)> = BTreeSet::new();
        for p in &batch.predictions {
            let key = (p.model().clone(), p.version().clone());
            if checked.insert(key.clone()) && store.get(p.model(), p.version()).await?.is_none() {
                unknown.insert(key);
            }
        }
        // A missing version is reported first, as the batch write does.
        for (i, p) in batch.predictions.iter().enumerate() {
            if unknown.contains(&(p.model().clone(), p.version().clone())) {
                return Ok(Some((i, Error::version_not_found(p.model(), p.version()))));
            }
        }
        for (i, p) in batch.predictions.iter().enumerate() {
            if store.prediction(p.id()).await?.is_some() {
                return Ok(Some((
                    i,
                    Error::already_exists(format!("prediction {}", p.id())),
                )));
            }
        }
    }
    for (i, l) in batch.labels.iter().enumerate() {
        if store.prediction(l.id()).await?.is_none() {
            return Ok(Some((
                i,
                Error::not_found(format!("prediction {}", l.id())),
            )));
        }
    }
    Ok(None)
}

/// Writes a batch with the import's options; returns how many were stored and counts what was
/// skipped. A refused batch becomes an [`ImportError`] naming the record at fault, after the
/// records before it are stored (unless atomic).
async fn write(
    store: &dyn Store,
    batch: &mut Batch,
    options: &ImportOptions,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    if batch.len() == 0 {
        return Ok(());
    }
    let result = if batch.labels.is_empty() {
        store
            .store_predictions_with(&batch.predictions, options.batch_options())
            .await
    } else {
        store
            .record_actuals_with(&batch.labels, options.batch_options())
            .await
    };
    match result {
        Ok(outcome) => {
            summary.stored += outcome.stored;
            summary.skipped_existing += outcome.skipped_for(SkipReason::AlreadyExists);
            summary.skipped_missing += outcome.skipped_for(SkipReason::NotFound);
            batch.clear();
            Ok(())
        }
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::AlreadyExists) => {
            refused(store, batch, options, summary, e).await
        }
        Err(e) => Err(ImportError {
            line: None,
            resume: format!(
                "records {}..{} were not stored; {}",
                batch.first,
                batch.first + batch.len() - 1,
                resume_hint(options, batch.first - 1, None)
            ),
            error: e,
            summary: summary.clone(),
        }),
    }
}

async fn refused(
    store: &dyn Store,
    batch: &mut Batch,
    options: &ImportOptions,
    summary: &mut ImportSummary,
    error: Error,
) -> Result<(), ImportError> {
    let fault = culprit(store, batch).await.map_err(|e| ImportError {
        error: e,
        line: None,
        summary: summary.clone(),
        resume: resume_hint(options, batch.first - 1, None),
    })?;
    let (index, error) = fault.unwrap_or((0, error));
    // The records before the culprit are good: store them, so that the import makes progress.
    if !options.atomic && index > 0 {
        let before = Batch {
            predictions: batch.predictions.iter().take(index).cloned().collect(),
            labels: batch.labels.iter().take(index).cloned().collect(),
            lines: batch.lines[..index].to_vec(),
            first: batch.first,
        };
        let written = if before.labels.is_empty() {
            store
                .store_predictions_with(&before.predictions, options.batch_options())
                .await
        } else {
            store
                .record_actuals_with(&before.labels, options.batch_options())
                .await
        };
        if let Ok(outcome) = written {
            summary.stored += outcome.stored;
        }
    }
    summary.failed = 1;
    let number = batch.first + index;
    Err(ImportError {
        line: Some(batch.lines[index]),
        resume: resume_hint(options, number - 1, Some(&error)),
        error,
        summary: summary.clone(),
    })
}

/// How to resume after `done` records (counted from the start of the input) were handled.
fn resume_hint(options: &ImportOptions, done: usize, fault: Option<&Error>) -> String {
    if options.atomic {
        return "nothing was stored (--atomic)".to_string();
    }
    match fault.map(Error::kind) {
        Some(ErrorKind::AlreadyExists) => format!(
            "the records before it are stored; resume after it with --skip {}, or re-run \
             with --on-conflict skip to pass over stored ids",
            done + 1
        ),
        Some(ErrorKind::NotFound) => format!(
            "the records before it are stored; register the missing version (or pass \
             --missing skip), then resume at it with --skip {done}"
        ),
        _ => format!("the records before it are stored; fix it and resume with --skip {done}"),
    }
}

/// Imports the records `reader` holds into `store`, in batches; calls `progress` after each
/// batch. Returns what was done.
///
/// A record that cannot be read or is invalid stops the import: the records before it are
/// stored (unless atomic), and the error names its line, why, and the `skip` that resumes
/// after what was done. With the default options a stored id or a missing version stops it the
/// same way, naming the first record at fault; with `on_conflict(Skip)` / `on_missing(Skip)`
/// such records are counted and passed over, so that re-running an import stores nothing new.
///
/// # Errors
/// [`ImportError`], as above; its error is [`Error::InvalidInput`] for bad options or records.
pub async fn import<R: Read>(
    store: &dyn Store,
    reader: R,
    kind: RecordKind,
    options: &ImportOptions,
    mut progress: impl FnMut(Progress),
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let mut summary = ImportSummary::default();
    let early =
        |error: Error, line: Option<usize>, summary: &ImportSummary, resume: String| ImportError {
            error,
            line,
            summary: summary.clone(),
            resume,
        };
    if options.batch_size == 0 || options.batch_size > MAX_BATCH_LEN {
        return Err(early(
            Error::invalid(
                "batch_size",
                format!(
                    "is {}, it must be from 1 to {MAX_BATCH_LEN}",
                    options.batch_size
                ),
            ),
            None,
            &summary,
            "nothing was read".into(),
        ));
    }
    let mut source = Source::open(reader, options.format, kind.fields())
        .map_err(|(line, e)| early(e, line, &summary, "nothing was stored".into()))?;
    let batch_size = if options.atomic {
        MAX_BATCH_LEN
    } else {
        options.batch_size
    };
    let mut batch = Batch::default();
    loop {
        let next = match source.next() {
            Ok(Some(record)) => {
                summary.read += 1;
                if summary.read <= options.skip {
                    summary.skipped_before_start += 1;
                    continue;
                }
                // The record was counted as read: the ones before it are done.
                parse(kind, record.fields)
                    .map(|item| (item, record.line))
                    .map_err(|reason| {
                        let error = Error::invalid("record", reason);
                        (Some(record.line), error, summary.read - 1)
                    })
            }
            Ok(None) => break,
            // A record that cannot even be read was not counted.
            Err((line, error)) => Err((line, error, summary.read)),
        };
        let (item, line) = match next {
            Ok(found) => found,
            Err((line, error, done)) => {
                if !options.atomic {
                    write(store, &mut batch, options, &mut summary).await?;
                }
                summary.failed = 1;
                summary.finish(started);
                return Err(early(
                    error,
                    line,
                    &summary,
                    resume_hint(options, done, None),
                ));
            }
        };
        if options.atomic && batch.len() == MAX_BATCH_LEN {
            return Err(early(
                Error::invalid(
                    "atomic",
                    format!(
                        "an atomic import holds at most {MAX_BATCH_LEN} records (one \
                         transaction)"
                    ),
                ),
                Some(line),
                &summary,
                "nothing was stored (--atomic)".into(),
            ));
        }
        batch.push(item, line, summary.read);
        if batch.len() == batch_size && !options.atomic {
            write(store, &mut batch, options, &mut summary).await?;
            progress(Progress {
                bytes: source.bytes(),
                stored: summary.stored,
                elapsed: started.elapsed(),
            });
        }
    }
    write(store, &mut batch, options, &mut summary).await?;
    summary.finish(started);
    progress(Progress {
        bytes: source.bytes(),
        stored: summary.stored,
        elapsed: started.elapsed(),
    });
    Ok(summary)
}

/// Options of [`export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    format: Format,
    window: Window,
    labelled_only: bool,
}

impl ExportOptions {
    /// Every prediction, in `format`.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            window: Window::all(),
            labelled_only: false,
        }
    }

    /// Only predictions made in the window's range.
    #[must_use]
    pub fn within(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// Only labelled predictions.
    #[must_use]
    pub fn labelled_only(mut self, labelled_only: bool) -> Self {
        self.labelled_only = labelled_only;
        self
    }
}

/// Writes every prediction of a model version that `options` selects to `writer`, oldest
/// first, as records [`import`] reads back to the same predictions; reads pages of 5,000, so
/// memory stays constant whatever the count. Returns how many were written.
///
/// # Errors
/// What the store returns ([`Error::NotFound`] for an unregistered version), or
/// [`Error::Backend`] (backend `export`) when writing fails.
pub async fn export<W: Write>(
    store: &dyn Store,
    model: &ModelName,
    version: &Version,
    options: &ExportOptions,
    writer: W,
) -> mlstore_core::Result<u64> {
    let io = |e: &dyn fmt::Display| Error::backend("export", e.to_string());
    let scan = ScanOptions::default()
        .within(options.window)
        .labelled_only(options.labelled_only)
        .page_size(5000);
    let out = std::io::BufWriter::with_capacity(1 << 16, writer);
    let mut sink: Sink<W> = match options.format {
        Format::Jsonl => Sink::Jsonl(out),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(PREDICTION_FIELDS).map_err(|e| io(&e))?;
            Sink::Csv(Box::new(w))
        }
    };
    let mut written = 0u64;
    let mut from = None;
    loop {
        let page = store
            .scan_predictions(model, version, scan.from(from))
            .await?;
        for p in &page.predictions {
            let record = PredictionRecord::from(p);
            match &mut sink {
                Sink::Jsonl(out) => {
                    serde_json::to_writer(&mut *out, &record).map_err(|e| io(&e))?;
                    out.write_all(b"\n").map_err(|e| io(&e))?;
                }
                Sink::Csv(w) => w.write_record(csv_cells(&record)).map_err(|e| io(&e))?,
            }
            written += 1;
        }
        from = page.next;
        if from.is_none() {
            break;
        }
    }
    match sink {
        Sink::Jsonl(mut out) => out.flush().map_err(|e| io(&e))?,
        Sink::Csv(mut w) => w.flush().map_err(|e| io(&e))?,
    }
    Ok(written)
}

/// Where [`export`] writes.
enum Sink<W: Write> {
    Jsonl(std::io::BufWriter<W>),
    Csv(Box<csv::Writer<std::io::BufWriter<W>>>),
}

/// A record's cells in [`PREDICTION_FIELDS`] order: JSON columns as JSON text (so that a string
/// that looks like a number stays a string), the rest as text.
pub fn csv_cells(r: &PredictionRecord) -> [String; 8] {
    let json = |v: &Value| serde_json::to_string(v).expect("a JSON value serializes");
    [
        r.id.map(|id| id.to_string()).unwrap_or_default(),
        r.model.clone(),
        r.version.clone(),
        json(&r.prediction),
        r.actual.as_ref().map(json).unwrap_or_default(),
        serde_json::to_string(&r.confidence).expect("a finite number serializes"),
        r.features
            .as_ref()
            .map(|f| serde_json::to_string(f).expect("an object serializes"))
            .unwrap_or_default(),
        r.timestamp
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default(),
    ]
}
