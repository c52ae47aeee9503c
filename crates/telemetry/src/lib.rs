//! The collector: for exactly a run's phase windows, pulls CloudWatch metrics
//! (GetMetricData), X-Ray traces (BatchGetTraces, GetTraceSummaries) and Lambda REPORT
//! lines (Logs Insights, FilterLogEvents), and writes them into the run directory as
//! `telemetry/metrics.parquet`, `telemetry/spans.parquet` and `telemetry/collect.json`.
//!
//! Reads the run directory through `stormwatch-model` and talks to AWS only through the
//! official SDK clients built in [`aws`]. The order of work: [`target`] says what to
//! collect for, [`queries`] renders the declarative query files, [`plan`] decides periods,
//! ranges and batches without any I/O, then [`collect()`] runs it.
//!
//! [`coldstarts`] reuses the same parts without a run: the cold starts of a few functions
//! over a time range, from REPORT lines and X-Ray.

pub mod aws;
pub mod coldstarts;
pub mod collect;
pub mod error;
pub mod logs;
pub mod metrics;
pub mod pacing;
pub mod plan;
pub mod queries;
pub mod report_line;
pub mod segments;
pub mod skew;
pub mod target;
pub mod xray;

pub use crate::aws::{AwsOptions, Timeouts};
pub use crate::collect::{CollectOptions, CollectSummary, Prepared, collect, prepare};
pub use crate::error::{Api, TelemetryError};
pub use crate::target::CollectTarget;

/// Runs [`collect()`] on a runtime of its own, for callers without one (the CLI).
pub fn collect_blocking(
    prepared: Prepared,
    opts: &CollectOptions,
) -> Result<CollectSummary, TelemetryError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TelemetryError::io(std::path::Path::new("(tokio runtime)"), e))?;
    runtime.block_on(collect(prepared, opts))
}
