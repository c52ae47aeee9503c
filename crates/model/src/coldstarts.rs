//! The records of `stormwatch coldstarts`, which looks at a real account without a load
//! test: per function its REPORT lines aggregated server side by Logs Insights
//! ([`FunctionAggregate`]: counts, init percentiles, busy time by configuration and hour),
//! one [`TracedInvocation`] per X-Ray function segment, and without Logs one
//! [`Invocation`] per traced function segment. The collector (`stormwatch-telemetry`)
//! reads them; the analysis (`stormwatch-analysis`) summarises them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::PhaseWindow;

/// The version label when neither the log stream nor the ARN names one.
pub const UNKNOWN_VERSION: &str = "unknown";

/// The order versions are listed in: numbered versions in numeric order, then `$LATEST`,
/// aliases and [`UNKNOWN_VERSION`], by name.
pub fn version_order(v: &str) -> (bool, u64, &str) {
    match v.parse::<u64>() {
        Ok(n) => (false, n, v),
        Err(_) => (true, 0, v),
    }
}

/// Where the invocation counts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountSource {
    /// REPORT lines: every invocation.
    Logs,
    /// X-Ray function segments: sampled invocations only.
    Xray,
}

/// One invocation, from a REPORT line (or from a traced function segment without Logs).
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// Function name (no qualifier).
    pub function: String,
    /// When it was logged (REPORT: the invocation's end; X-Ray: the segment's start).
    pub at: DateTime<Utc>,
    /// True when it started a new execution environment.
    pub cold: bool,
    /// Init duration, or the restore duration of a SnapStart function; cold starts only.
    pub init: Option<Duration>,
    /// True when `init` is a SnapStart restore.
    pub restore: bool,
    /// Handler duration (X-Ray: the function segment's duration).
    pub duration: Duration,
    /// Configured memory, MB (REPORT lines only).
    pub memory_mb: Option<u32>,
    /// Function version (`$LATEST`, `12`, an alias), or [`UNKNOWN_VERSION`].
    pub version: String,
    /// X-Ray root trace id, when traced.
    pub trace_id: Option<String>,
}

/// One traced invocation: an `AWS::Lambda::Function` segment.
#[derive(Clone, Debug, PartialEq)]
pub struct TracedInvocation {
    /// Function name.
    pub function: String,
    /// Trace id.
    pub trace_id: String,
    /// Segment start.
    pub at: DateTime<Utc>,
    /// An `Init`/`Initialization` or `Restore` subsegment was present.
    pub cold: bool,
    /// That subsegment's duration.
    pub init: Option<Duration>,
    /// True when it was a `Restore` (SnapStart).
    pub restore: bool,
    /// The function segment's duration.
    pub segment: Duration,
    /// The qualifier of the segment's `resource_arn`, or [`UNKNOWN_VERSION`].
    pub version: String,
}

impl From<&TracedInvocation> for Invocation {
    fn from(t: &TracedInvocation) -> Self {
        Self {
            function: t.function.clone(),
            at: t.at,
            cold: t.cold,
            init: t.init,
            restore: t.restore,
            duration: t.segment,
            memory_mb: None,
            version: t.version.clone(),
            trace_id: Some(t.trace_id.clone()),
        }
    }
}

/// Everything read for a range: what the analysis summarises.
#[derive(Clone, Debug, PartialEq)]
pub struct ColdStartData {
    /// The range `[from, to)`.
    pub range: PhaseWindow,
    /// Function names asked for, in order, without qualifiers.
    pub functions: Vec<String>,
    /// Where the counts come from: `aggregates` (Logs) or `invocations` (X-Ray).
    pub counts_from: CountSource,
    /// Per function, its REPORT lines aggregated (when Logs were read), in `functions`'
    /// order.
    pub aggregates: Vec<FunctionAggregate>,
    /// Every traced invocation as an invocation (X-Ray without Logs).
    pub invocations: Vec<Invocation>,
    /// Traced invocations; `None` when X-Ray was not read.
    pub traced: Option<Vec<TracedInvocation>>,
    /// Per function, its configuration (when the Lambda API was read).
    pub contexts: std::collections::BTreeMap<String, FunctionContext>,
    /// True when the functions were discovered rather than named: the report ranks them
    /// and adds the fleet view and recommendations.
    pub account_wide: bool,
}

/// One group of REPORT lines aggregated by Logs Insights (server side): a function
/// version × memory size over the whole range, or the whole function.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportAggregate {
    /// Function version (from the log stream name), or [`UNKNOWN_VERSION`]; empty for the
    /// whole function.
    pub version: String,
    /// Configured memory, MB; `None` for the whole function.
    pub memory_mb: Option<u32>,
    /// Invocations (REPORT lines).
    pub invocations: u64,
    /// Of those, with an `Init Duration`.
    pub inits: u64,
    /// Of those, with a `Restore Duration` (SnapStart).
    pub restores: u64,
    /// Sum of the init and restore durations, ms.
    pub init_sum_ms: f64,
    /// Init (or, with no init, restore) duration percentiles 50/95/99 and maximum, ms
    /// (Insights' `pct()` and `max()`).
    pub init_pct_ms: Option<[f64; 4]>,
}

impl ReportAggregate {
    /// Cold starts: inits and restores.
    pub fn cold_starts(&self) -> u64 {
        self.inits + self.restores
    }
}

/// One UTC hour of a function's REPORT lines, aggregated by Logs Insights.
#[derive(Clone, Debug, PartialEq)]
pub struct HourAggregate {
    /// Start of the hour.
    pub hour: DateTime<Utc>,
    /// Invocations.
    pub invocations: u64,
    /// Cold starts (inits and restores).
    pub cold_starts: u64,
    /// Init (or restore) median, ms.
    pub init_p50_ms: Option<f64>,
    /// Sum of the invocations' durations, ms (busy time: over 3,600,000 ms it is the
    /// hour's mean concurrency).
    pub busy_ms: f64,
}

/// A function's REPORT lines over a range, aggregated server side.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionAggregate {
    /// Function name.
    pub function: String,
    /// The whole function.
    pub overall: ReportAggregate,
    /// Per version × memory size.
    pub by_config: Vec<ReportAggregate>,
    /// Per UTC hour with invocations.
    pub by_hour: Vec<HourAggregate>,
}

/// What explains a function's init time: its configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FunctionContext {
    /// AWS region.
    pub region: String,
    /// Runtime identifier (`python3.12`, `nodejs20.x`, `java21`), empty for container
    /// images.
    pub runtime: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Configured memory, MB.
    pub memory_mb: u32,
    /// `Zip` or `Image`.
    pub package_type: String,
    /// Deployment package size, bytes.
    pub code_size_bytes: u64,
    /// SnapStart on published versions.
    pub snap_start: bool,
    /// Provisioned concurrency allocated over all aliases and versions.
    pub provisioned_concurrency: u32,
}
