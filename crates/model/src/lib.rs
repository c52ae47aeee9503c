//! The run-directory contract shared by every stormwatch stage.
//!
//! Stages never call each other: `load` writes a run directory, `telemetry` adds to it,
//! `analysis` and `report` read it. This crate is the only place that knows what each file
//! holds and how it is laid out on disk, so every stage agrees on it. It does no I/O beyond
//! reading and writing those files.
//!
//! It also holds the few rules every stage must apply the same way: the threshold judge
//! ([`threshold::judge`]), the nearest-rank percentile ([`percentile`]) and the terminal
//! table the commands print ([`text_table`]).

pub mod analysis;
pub mod coldstarts;
pub mod coldstarts_report;
pub mod distribution;
pub mod error;
pub mod finding;
#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod histogram;
pub mod manifest;
pub mod metric;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod parse;
pub mod percentile;
pub mod pricing;
pub mod request;
pub mod request_ids;
pub mod run_dir;
pub mod schema;
pub mod source;
pub mod span;
pub mod text_table;
pub mod threshold;
pub mod time;

pub use analysis::{ANALYSIS_SCHEMA_VERSION, AnalysisReport, Millis};
pub use error::ModelError;
pub use finding::{Evidence, Finding, FindingKind, Severity};
pub use histogram::{EncodedHistogram, HistogramEntry, HistogramFile};
pub use manifest::{
    ApiKind, ApiResource, Arrivals, AwsResources, MANIFEST_SCHEMA_VERSION, Phase, PhaseModel,
    RunManifest, RunStatus, ScenarioCopy,
};
pub use metric::MetricPoint;
pub use request::{ErrorKind, RequestLog, RequestLogWriter, RequestRecord};
pub use run_dir::RunDir;
pub use source::{ImportSource, SourceFile, ToolTotals};
pub use span::{Span, SpanKind};
pub use threshold::{Comparison, ThresholdMetric, ThresholdSpec};
pub use time::{PhaseWindow, UnixNanos};
