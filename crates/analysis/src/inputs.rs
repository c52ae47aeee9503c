//! Reading a run directory into frames.
//!
//! Request segments are read eagerly, one at a time, from their complete lines only: a run
//! killed mid-write leaves a torn last line, which is dropped here exactly as
//! `stormwatch_model::RequestLog` drops it. Everything after this is lazy.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;
use stormwatch_model::request::REQUEST_COLUMNS;
use stormwatch_model::request_ids::RequestIdKind;
use stormwatch_model::{HistogramFile, RequestLog, RunDir, RunManifest, Span};

use crate::AnalysisError;
use crate::client_events::ClientEvents;
use crate::id_joins::{IdJoins, Joined, RequestIdJoins};
use crate::server::ServerSeries;
use stormwatch_model::parquet;

/// Everything the analyzer reads from a run directory.
pub struct RunInputs {
    /// The manifest.
    pub manifest: RunManifest,
    /// One row per request, with the columns of `requests/` the analysis uses (`endpoint`,
    /// `phase`, `intended_ns`, `sent_ns`, `end_ns`, `status`, `error`, and `trace_id` only
    /// when there are spans to join; `endpoint` and `error` as `u32` codes of
    /// [`Self::endpoints`] and [`Self::errors`]) plus `corrected_ms`, `raw_ms` and `failed`.
    pub requests: DataFrame,
    /// Endpoint names by code.
    pub endpoints: Dictionary,
    /// Transport and check error kinds by code.
    pub errors: Dictionary,
    /// Torn trailing lines dropped while reading.
    pub torn_lines: usize,
    /// What else was skipped while reading (see [`Requests::skipped`]).
    pub skipped: Vec<String>,
    /// HDR histograms, when `histograms.json` exists.
    pub histograms: Option<HistogramFile>,
    /// CloudWatch datapoints (empty when `collect` has not run).
    pub server: ServerSeries,
    /// X-Ray spans (empty when `collect` has not run or tracing was off).
    pub spans: Vec<Span>,
    /// Imported requests known by request id (`request_ids.csv`) and how they joined
    /// their traces (`telemetry/trace_joins.csv`); `None` when the run has none.
    pub request_id_joins: Option<RequestIdJoins>,
}

/// The distinct values of a string column, each replaced in the frame by its code (its index
/// here): grouping 10 million requests on two numbers instead of two strings is what keeps
/// the analysis of such a run within its memory budget.
#[derive(Debug, Default, Clone)]
pub struct Dictionary {
    names: Vec<String>,
    codes: HashMap<String, u32>,
}

impl Dictionary {
    /// The name of `code` ("" for a code not in the dictionary).
    pub fn name(&self, code: u32) -> &str {
        self.names.get(code as usize).map_or("", String::as_str)
    }

    /// The code of `name`, if any request had it.
    pub fn code(&self, name: &str) -> Option<u32> {
        self.codes.get(name).copied()
    }

    /// Replaces the string column `name` of `df` by its codes (nulls stay null).
    fn encode(&mut self, df: &mut DataFrame, name: &str) -> PolarsResult<()> {
        let strings = df.column(name)?.str()?.clone();
        let codes: UInt32Chunked = strings
            .iter()
            .map(|v| {
                v.map(|v| {
                    if let Some(c) = self.codes.get(v) {
                        return *c;
                    }
                    let c = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
                    self.names.push(v.to_owned());
                    self.codes.insert(v.to_owned(), c);
                    c
                })
            })
            .collect();
        df.replace(name, codes.with_name(name.into()).into_column())?;
        Ok(())
    }
}

/// The request records of a run, as read from `requests/`.
pub struct Requests {
    /// See [`RunInputs::requests`].
    pub frame: DataFrame,
    /// Endpoint names by code.
    pub endpoints: Dictionary,
    /// Error kinds by code.
    pub errors: Dictionary,
    /// Torn trailing lines dropped.
    pub torn_lines: usize,
    /// What else was skipped while reading, for the report (malformed lines with their
    /// file and line, duplicated records, a missing header).
    pub skipped: Vec<String>,
}

fn request_schema() -> Schema {
    let types = [
        DataType::UInt64,
        DataType::String,
        DataType::String,
        DataType::UInt32,
        DataType::UInt32,
        DataType::Int64,
        DataType::Int64,
        DataType::Int64,
        DataType::Int32,
        DataType::String,
        DataType::UInt64,
        DataType::String,
        DataType::Boolean,
    ];
    REQUEST_COLUMNS
        .iter()
        .zip(types)
        .map(|(name, dtype)| Field::new((*name).into(), dtype))
        .collect()
}

/// The request columns the analysis keeps (of [`REQUEST_COLUMNS`]); the others (flow,
/// virtual user, bytes, sampled) are left on disk, which keeps a 10-million-request run
/// within its memory budget. `sequence` is read one segment at a time to find duplicated
/// records, then dropped.
pub const ANALYZED_COLUMNS: [&str; 7] = [
    "endpoint",
    "phase",
    "intended_ns",
    "sent_ns",
    "end_ns",
    "status",
    "error",
];

impl RunInputs {
    /// Reads the manifest, every request segment and the histograms of `run`.
    pub fn read(run: &RunDir) -> Result<Self, AnalysisError> {
        let manifest = run.read_manifest()?;
        let spans = run.spans_path();
        let spans = if spans.is_file() {
            parquet::read_spans(&spans).map_err(|e| AnalysisError::Data {
                path: spans.clone(),
                message: e.to_string(),
            })?
        } else {
            Vec::new()
        };
        let ids = IdJoins::read(run)?;
        let (requests, joins) = read_requests_joined(&run.requests_dir(), !spans.is_empty(), &ids)?;
        let histograms = run.read_histograms()?;
        let mut inputs = Self::new(manifest, requests, histograms)?;
        inputs.request_id_joins = joins.map(|(mut j, joined)| {
            let traced: std::collections::HashSet<&str> =
                spans.iter().map(|s| s.trace_id.as_str()).collect();
            j.joined_with_spans = joined
                .iter()
                .filter(|t| traced.contains(t.as_str()))
                .count();
            j
        });
        inputs.spans = spans;
        let metrics = run.metrics_path();
        if metrics.is_file() {
            let points = parquet::read_metrics(&metrics).map_err(|e| AnalysisError::Data {
                path: metrics.clone(),
                message: e.to_string(),
            })?;
            let client = inputs.client_events().map_err(AnalysisError::query(
                "sorting request outcomes for the metric periods",
            ))?;
            inputs.server = ServerSeries::new(points).with_client(client);
        }
        Ok(inputs)
    }

    /// Inputs from records already read; derives the latency and failure columns.
    pub fn new(
        manifest: RunManifest,
        requests: Requests,
        histograms: Option<HistogramFile>,
    ) -> Result<Self, AnalysisError> {
        let Requests {
            frame,
            endpoints,
            errors,
            torn_lines,
            mut skipped,
        } = requests;
        // Records naming a phase the manifest does not have would vanish from every table.
        let phases = u32::try_from(manifest.phases.len()).unwrap_or(u32::MAX);
        let frame = {
            let outside = frame
                .column("phase")
                .and_then(|c| {
                    c.u32()
                        .map(|p| p.iter().flatten().filter(|p| *p >= phases).count())
                })
                .unwrap_or(0);
            if outside == 0 {
                frame
            } else {
                skipped.push(format!(
                    "{outside} request record(s) name a phase index the manifest does not have \
                     (it has {phases}) and were left out"
                ));
                frame
                    .lazy()
                    .filter(col("phase").lt(lit(phases)))
                    .collect()
                    .map_err(AnalysisError::query("dropping records of unknown phases"))?
            }
        };
        let requests = frame
            .lazy()
            .with_columns([
                ((col("end_ns") - col("intended_ns")).cast(DataType::Float64) / lit(1e6))
                    .alias("corrected_ms"),
                ((col("end_ns") - col("sent_ns")).cast(DataType::Float64) / lit(1e6))
                    .alias("raw_ms"),
                // Failed as the load engine judged it: a transport error, or a status the
                // step did not `expect` (2xx/3xx by default). A 500 a step expects is not an
                // error.
                col("status")
                    .eq(lit(0))
                    .or(col("error").is_not_null())
                    .alias("failed"),
            ])
            .collect()
            .map_err(AnalysisError::query("deriving latency columns"))?;
        Ok(Self {
            manifest,
            requests,
            endpoints,
            errors,
            torn_lines,
            skipped,
            histograms,
            server: ServerSeries::default(),
            spans: Vec::new(),
            request_id_joins: None,
        })
    }
}

impl RunInputs {
    /// The API front of the run, when the scenario names one.
    pub fn api_kind(&self) -> Option<stormwatch_model::ApiKind> {
        self.manifest
            .aws
            .as_ref()
            .and_then(|a| a.api.as_ref())
            .map(|a| a.kind)
    }

    /// Send times of the run's requests by outcome.
    fn client_events(&self) -> PolarsResult<ClientEvents> {
        let sent = self.requests.column("sent_ns")?.i64()?;
        let status = self.requests.column("status")?.i32()?;
        Ok(ClientEvents::from_requests(
            sent.iter()
                .zip(status.iter())
                .filter_map(|(t, s)| Some((t?, s.unwrap_or(0)))),
            self.api_kind(),
        ))
    }
}

/// Reads the analyzed columns (`ANALYZED_COLUMNS`, and `trace_id` when `with_trace_ids`) of every
/// `part-*.csv` under `dir` into one frame (one chunk per segment), endpoints and errors
/// encoded.
pub fn read_requests(dir: &Path, with_trace_ids: bool) -> Result<Requests, AnalysisError> {
    read_requests_joined(dir, with_trace_ids, &IdJoins::default()).map(|r| r.0)
}

/// [`read_requests`], with the trace ids `collect` joined by request id filled in where a
/// record has none (when `with_trace_ids`), and what came of the joins (`None` when the run
/// has no request ids): the counts and the joined trace ids.
pub fn read_requests_joined(
    dir: &Path,
    with_trace_ids: bool,
    ids: &IdJoins,
) -> Result<(Requests, Option<Joined>), AnalysisError> {
    let mut joins = (!ids.kinds.is_empty()).then(|| {
        let mut j = RequestIdJoins {
            collected: ids.collected,
            ..RequestIdJoins::default()
        };
        if !with_trace_ids {
            // The log's trace ids are not read: every request with an id counts.
            j.untraced_with_id = ids.kinds.len();
            j.http_api = ids
                .kinds
                .values()
                .filter(|k| **k == RequestIdKind::HttpApi)
                .count();
        }
        (j, Vec::new())
    });
    let schema = Arc::new(request_schema());
    let mut columns: Vec<PlSmallStr> = ANALYZED_COLUMNS.iter().map(|c| (*c).into()).collect();
    if with_trace_ids {
        columns.push("trace_id".into());
    }
    // `sequence` too, to find duplicated records; dropped once checked.
    columns.push("sequence".into());
    let columns: Arc<[PlSmallStr]> = columns.into();
    let header = REQUEST_COLUMNS.join(",");
    let mut torn = 0;
    let mut skipped = Vec::new();
    let mut seen = SeenSequences::default();
    let mut frames = Vec::new();
    let (mut endpoints, mut errors) = (Dictionary::default(), Dictionary::default());
    for path in RequestLog::segment_paths(dir)? {
        let mut bytes =
            std::fs::read(&path).map_err(|e| stormwatch_model::ModelError::io(&path, e))?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            torn += 1;
            bytes.truncate(complete);
        }
        if bytes.is_empty() {
            continue;
        }
        let has_header = bytes.starts_with(header.as_bytes())
            && matches!(bytes.get(header.len()), Some(b'\n' | b'\r'));
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        if !has_header {
            skipped.push(format!(
                "{name} has no header line: its first line was read as a record"
            ));
        }
        let data_err = |e: PolarsError| AnalysisError::Data {
            path: path.clone(),
            message: e.to_string(),
        };
        // Malformed values become nulls (counted and dropped below) instead of failing the
        // whole run on one bad line.
        let read = || {
            CsvReadOptions::default()
                .with_has_header(has_header)
                .with_schema(Some(schema.clone()))
                .with_columns(Some(columns.clone()))
                .with_ignore_errors(true)
                .map_parse_options(|o| o.with_truncate_ragged_lines(true))
                .into_reader_with_file_handle(std::io::Cursor::new(bytes))
                .finish()
        };
        // The CSV reader's integer parsing can panic on an out-of-range number (found by
        // fuzzing: `-9223372036854775808` glued to other text); a panic must not take the
        // whole analysis down without naming the file.
        let df = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
            .map_err(|_| AnalysisError::Data {
                path: path.clone(),
                message: "the CSV reader could not parse this file (an out-of-range number?); \
                          move it out of requests/ to analyze the rest"
                    .into(),
            })?
            .map_err(data_err)?;
        let first_line = 1 + usize::from(has_header);
        let df = keep_good_rows(df, &mut seen, &name, first_line, &mut skipped)
            .and_then(|mut df| {
                if with_trace_ids && let Some((j, joined)) = joins.as_mut() {
                    ids.fill(&mut df, j, joined)?;
                }
                let mut df = df.drop("sequence")?;
                endpoints.encode(&mut df, "endpoint")?;
                errors.encode(&mut df, "error")?;
                Ok(df)
            })
            .map_err(data_err)?;
        frames.push(df);
    }
    let mut frames = frames.into_iter();
    let Some(mut all) = frames.next() else {
        let mut empty = DataFrame::empty_with_schema(&schema)
            .select(columns.iter().cloned())
            .map_err(AnalysisError::query("selecting request columns"))?;
        endpoints
            .encode(&mut empty, "endpoint")
            .and_then(|()| errors.encode(&mut empty, "error"))
            .map_err(AnalysisError::query("encoding request columns"))?;
        let requests = Requests {
            frame: empty.drop("sequence").unwrap_or_default(),
            endpoints,
            errors,
            torn_lines: torn,
            skipped,
        };
        return Ok((requests, joins));
    };
    // Segments stay separate chunks: rechunking would hold every column twice at once.
    for df in frames {
        all.vstack_mut_owned(df)
            .map_err(AnalysisError::query("joining request segments"))?;
    }
    let requests = Requests {
        frame: all,
        endpoints,
        errors,
        torn_lines: torn,
        skipped,
    };
    Ok((requests, joins))
}

/// The sequence numbers read so far: a bitset for the engine's dense numbering, a set for
/// anything far beyond it.
#[derive(Default)]
struct SeenSequences {
    bits: Vec<u64>,
    sparse: std::collections::HashSet<u64>,
}

impl SeenSequences {
    /// Below this, sequences live in the bitset (at most 128 MiB of it).
    const DENSE: u64 = 1 << 30;

    /// Whether `s` is new (and remembers it).
    fn insert(&mut self, s: u64) -> bool {
        if s >= Self::DENSE {
            return self.sparse.insert(s);
        }
        let (word, bit) = ((s / 64) as usize, s % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        let fresh = self.bits[word] & (1 << bit) == 0;
        self.bits[word] |= 1 << bit;
        fresh
    }
}

/// Keeps the rows of one segment that have every field the analysis needs and a sequence
/// number not seen before; says in `skipped` what was dropped, with file and line numbers.
/// `sequence` stays (the caller drops it).
fn keep_good_rows(
    df: DataFrame,
    seen: &mut SeenSequences,
    name: &str,
    first_line: usize,
    skipped: &mut Vec<String>,
) -> PolarsResult<DataFrame> {
    // Every analyzed column but `error` (empty for a success) must have a value.
    let mut complete = df.column("sequence")?.is_not_null();
    for c in ANALYZED_COLUMNS.iter().filter(|c| **c != "error") {
        complete = &complete & &df.column(c)?.is_not_null();
    }
    let sequence = df.column("sequence")?.u64()?.clone();
    let (mut malformed, mut duplicated) = (Vec::new(), 0usize);
    let keep: BooleanChunked = complete
        .iter()
        .zip(sequence.iter())
        .enumerate()
        .map(|(i, (ok, s))| {
            if let (Some(true), Some(s)) = (ok, s) {
                let fresh = seen.insert(s);
                duplicated += usize::from(!fresh);
                Some(fresh)
            } else {
                malformed.push(first_line + i);
                Some(false)
            }
        })
        .collect();
    if !malformed.is_empty() {
        let shown: Vec<String> = malformed.iter().take(5).map(ToString::to_string).collect();
        skipped.push(format!(
            "{name}: {} malformed line(s) skipped (line {}{})",
            malformed.len(),
            shown.join(", "),
            if malformed.len() > 5 { ", …" } else { "" }
        ));
    }
    if duplicated > 0 {
        skipped.push(format!(
            "{name}: {duplicated} record(s) repeat an earlier sequence number and were counted once"
        ));
    }
    if malformed.is_empty() && duplicated == 0 {
        Ok(df)
    } else {
        df.filter(&keep)
    }
}
