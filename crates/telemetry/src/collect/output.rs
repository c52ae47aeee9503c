//! What the collect stage writes: `telemetry/metrics.parquet`, `telemetry/spans.parquet`
//! and `telemetry/collect.json` (a [`CollectSummary`]), and reading the metrics back.

use std::collections::BTreeMap;
use std::path::Path;
use stormwatch_model::pricing::{PRICES_AS_OF, Usage};

use chrono::{DateTime, Utc};
use serde::Serialize;
use stormwatch_model::{MetricPoint, RunDir, Span};

use super::CollectOptions;
use crate::TelemetryError;
use crate::aws::OperationStats;
use crate::logs::LogsReport;
use crate::metrics::SeriesReport;
use crate::plan::PlannedCall;
use crate::queries::Skipped;
use crate::skew::SkewEstimate;
use crate::xray::XrayReport;

/// One window's state in `collect.json`.
#[derive(Clone, Debug, Serialize)]
pub struct WindowReport {
    /// Phase name.
    pub name: String,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// False when its data may still be arriving.
    pub complete: bool,
}

/// The metrics part of `collect.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MetricsReport {
    /// Per series: what was asked and what came back.
    pub queries: Vec<SeriesReport>,
    /// Metrics not asked for, and why.
    pub skipped: Vec<Skipped>,
    /// The planned calls.
    pub calls: Vec<PlannedCall>,
    /// GetMetricData requests in the last round (pages included).
    pub requests_last_round: usize,
    /// GetMetricData requests over all rounds.
    pub requests_total: usize,
    /// Metrics requested over all rounds and pages (what GetMetricData is billed by).
    pub metrics_requested: usize,
    /// Rows written (filled zeros included).
    pub datapoints: usize,
    /// Rows that are filled zeros.
    pub filled_zero: usize,
    /// Rounds made (more than one with `--wait`).
    pub rounds: usize,
    /// `--wait`: the last window's values stopped changing.
    pub stable: Option<bool>,
}

/// `telemetry/collect.json`.
#[derive(Clone, Debug, Serialize)]
pub struct CollectSummary {
    /// stormwatch version.
    pub tool_version: String,
    /// The run, when there is one.
    pub run_id: Option<String>,
    /// Region queried.
    pub region: String,
    /// When collecting started.
    pub started_at: DateTime<Utc>,
    /// Wall-clock seconds it took.
    pub elapsed_secs: f64,
    /// The windows, each marked complete or not.
    pub windows: Vec<WindowReport>,
    /// CloudWatch metrics.
    pub metrics: MetricsReport,
    /// X-Ray, when enabled.
    pub xray: Option<XrayReport>,
    /// Logs, when enabled.
    pub logs: Option<LogsReport>,
    /// Per AWS operation: calls, attempts, throttles, errors.
    pub api: BTreeMap<String, OperationStats>,
    /// Throttled attempts over all operations.
    pub throttles: u64,
    /// Retries over all operations.
    pub retries: u64,
    /// Clock skew between this machine and AWS.
    pub clock_skew: SkewEstimate,
    /// Spans written.
    pub spans: usize,
    /// What was requested from AWS and what it costs at list prices.
    pub cost: CostReport,
    /// Imported requests known by request id: how many joined their trace, and how
    /// (`telemetry/trace_joins.csv` holds the pairs). Absent when the run has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_joins: Option<super::JoinReport>,
}

/// AWS usage of one collection and its estimated cost.
#[derive(Clone, Debug, Serialize)]
pub struct CostReport {
    /// What was requested.
    pub usage: Usage,
    /// Its cost in US dollars at list prices.
    pub usd: f64,
    /// Which prices.
    pub prices_as_of: &'static str,
}

impl CostReport {
    /// Prices `usage`.
    pub fn new(usage: Usage) -> Self {
        Self {
            usd: usage.usd(),
            usage,
            prices_as_of: PRICES_AS_OF,
        }
    }
}

/// Writes the metrics and the spans of the sources that ran, then `collect.json`.
pub(super) fn write(
    out: &RunDir,
    opts: &CollectOptions,
    points: &[MetricPoint],
    spans: &[Span],
    summary: &CollectSummary,
) -> Result<(), TelemetryError> {
    if opts.metrics {
        let metrics_path = out.metrics_path();
        stormwatch_model::parquet::write_metrics(points, &metrics_path).map_err(|e| {
            TelemetryError::Write {
                path: metrics_path.clone(),
                source: e.into(),
            }
        })?;
    }
    if opts.xray || opts.logs {
        let spans_path = out.spans_path();
        stormwatch_model::parquet::write_spans(spans, &spans_path).map_err(|e| {
            TelemetryError::Write {
                path: spans_path.clone(),
                source: e.into(),
            }
        })?;
    }
    stormwatch_model::run_dir::write_json_atomic(&out.collect_path(), summary)?;
    Ok(())
}

/// Reads the metrics back (for callers that want to print a summary).
pub fn read_metrics(path: &Path) -> Result<Vec<MetricPoint>, TelemetryError> {
    stormwatch_model::parquet::read_metrics(path).map_err(|e| TelemetryError::Write {
        path: path.to_path_buf(),
        source: e.into(),
    })
}
