//! Reading a run directory into frames.
//!
//! Request segments are read eagerly, one at a time, from their complete lines only: a run
//! killed mid-write leaves a torn last line, which is dropped here exactly as
//! `stormwatch_model::RequestLog` drops it. Everything after this is lazy.

use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;
use stormwatch_model::request::REQUEST_COLUMNS;
use stormwatch_model::{HistogramFile, RequestLog, RunDir, RunManifest, Span};

use crate::AnalysisError;
use crate::server::ServerSeries;
use stormwatch_model::parquet;

/// Everything the analyzer reads from a run directory.
pub struct RunInputs {
    /// The manifest.
    pub manifest: RunManifest,
    /// One row per request, with the columns of `requests/` plus `corrected_ms`, `raw_ms`
    /// and `failed`.
    pub requests: DataFrame,
    /// Torn trailing lines dropped while reading.
    pub torn_lines: usize,
    /// HDR histograms, when `histograms.json` exists.
    pub histograms: Option<HistogramFile>,
    /// CloudWatch datapoints (empty when `collect` has not run).
    pub server: ServerSeries,
    /// X-Ray spans (empty when `collect` has not run or tracing was off).
    pub spans: Vec<Span>,
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

impl RunInputs {
    /// Reads the manifest, every request segment and the histograms of `run`.
    pub fn read(run: &RunDir) -> Result<Self, AnalysisError> {
        let manifest = run.read_manifest()?;
        let (requests, torn_lines) = read_requests(&run.requests_dir())?;
        let histograms = read_histograms(&run.histograms_path())?;
        let mut inputs = Self::new(manifest, requests, torn_lines, histograms)?;
        let metrics = run.metrics_path();
        if metrics.is_file() {
            let points = parquet::read_metrics(&metrics).map_err(|e| AnalysisError::Data {
                path: metrics.clone(),
                message: e.to_string(),
            })?;
            let sends = inputs
                .requests
                .column("sent_ns")
                .and_then(|c| c.i64().map(|c| c.into_no_null_iter().collect()))
                .unwrap_or_default();
            inputs.server = ServerSeries::new(points).with_traffic(sends);
        }
        let spans = run.spans_path();
        if spans.is_file() {
            inputs.spans = parquet::read_spans(&spans).map_err(|e| AnalysisError::Data {
                path: spans.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(inputs)
    }

    /// Inputs from frames already in memory; derives the latency and failure columns.
    pub fn new(
        manifest: RunManifest,
        requests: DataFrame,
        torn_lines: usize,
        histograms: Option<HistogramFile>,
    ) -> Result<Self, AnalysisError> {
        let requests = requests
            .lazy()
            .with_columns([
                ((col("end_ns") - col("intended_ns")).cast(DataType::Float64) / lit(1e6))
                    .alias("corrected_ms"),
                ((col("end_ns") - col("sent_ns")).cast(DataType::Float64) / lit(1e6))
                    .alias("raw_ms"),
                col("status")
                    .eq(lit(0))
                    .or(col("status").gt_eq(lit(400)))
                    .or(col("error").is_not_null())
                    .alias("failed"),
            ])
            .collect()
            .map_err(AnalysisError::query("deriving latency columns"))?;
        Ok(Self {
            manifest,
            requests,
            torn_lines,
            histograms,
            server: ServerSeries::default(),
            spans: Vec::new(),
        })
    }
}

/// Reads every `part-*.csv` under `dir` into one frame.
pub fn read_requests(dir: &Path) -> Result<(DataFrame, usize), AnalysisError> {
    let schema = Arc::new(request_schema());
    let mut torn = 0;
    let mut frames = Vec::new();
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
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_schema(Some(schema.clone()))
            .into_reader_with_file_handle(std::io::Cursor::new(bytes))
            .finish()
            .map_err(|e| AnalysisError::Data {
                path: path.clone(),
                message: e.to_string(),
            })?;
        frames.push(df);
    }
    let mut frames = frames.into_iter();
    let Some(mut all) = frames.next() else {
        return Ok((DataFrame::empty_with_schema(&schema), torn));
    };
    for df in frames {
        all.vstack_mut_owned(df)
            .map_err(AnalysisError::query("joining request segments"))?;
    }
    all.rechunk_mut();
    Ok((all, torn))
}

fn read_histograms(path: &Path) -> Result<Option<HistogramFile>, AnalysisError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| stormwatch_model::ModelError::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| stormwatch_model::ModelError::json(path, &e).into())
}
