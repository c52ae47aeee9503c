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
//! [`coldstarts`] reuses the same parts without a run: the cold starts of named functions,
//! or of every function of one or more regions ([`lambda`] discovery), over a time range,
//! from REPORT lines aggregated server side ([`report_aggregates`]) and X-Ray.

pub mod aws;
pub mod coldstarts;
pub mod collect;
pub mod error;
pub mod lambda;
pub mod logs;
pub mod metrics;
pub mod pacing;
pub mod plan;
pub mod queries;
pub mod report_aggregates;
pub mod report_line;
pub mod s3;
pub mod segments;
pub mod skew;
pub mod target;
pub mod trace_selection;
pub mod xray;

pub use crate::aws::{AwsOptions, ChainCredentials, CredentialChain, Timeouts};
pub use crate::collect::{CollectOptions, CollectSummary, Prepared, collect, prepare};
pub use crate::error::{Api, TelemetryError};
pub use crate::target::CollectTarget;
