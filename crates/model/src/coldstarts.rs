//! The records of `stormwatch coldstarts`, which looks at a real account without a load
//! test: one [`Invocation`] per REPORT line (or per traced function segment without Logs)
//! and one [`TracedInvocation`] per X-Ray function segment, for a few functions over a
//! time range. The collector (`stormwatch-telemetry`) reads them; the analysis
//! (`stormwatch-analysis`) summarises them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::PhaseWindow;

/// The version label when neither the log stream nor the ARN names one.
pub const UNKNOWN_VERSION: &str = "unknown";

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
    /// Where `invocations` come from.
    pub counts_from: CountSource,
    /// Every invocation read (from Logs; from X-Ray without Logs).
    pub invocations: Vec<Invocation>,
    /// Traced invocations; `None` when X-Ray was not read.
    pub traced: Option<Vec<TracedInvocation>>,
}
