//! The Logs part of collecting: each function's REPORT lines over the windows' padded
//! hull (fetched before the traces, so cold starts can claim their share of the trace
//! budget), turned into spans for the invocations X-Ray did not trace.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use stormwatch_model::{PhaseWindow, Span, SpanKind};

use super::{CollectOptions, Prepared};
use crate::TelemetryError;
use crate::aws::{ApiStats, AwsClients};
use crate::logs::{self, LoggedReport, LogsReport};
use crate::pacing::Pacer;

/// Every function's REPORT lines over the windows.
pub(super) async fn fetch_report_lines(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    prepared: &Prepared,
    windows: &[PhaseWindow],
    opts: &CollectOptions,
) -> Result<(Vec<LoggedReport>, LogsReport), TelemetryError> {
    let pacer = Pacer::new(opts.logs_tps);
    let mut r = LogsReport::default();
    let mut lines = Vec::new();
    let range = padded_hull(windows, opts.pad);
    for f in &prepared.target.resources.functions {
        let (reports, g) = logs::fetch_reports(
            &clients.logs,
            &pacer,
            stats,
            f,
            &range,
            &prepared.logs_query,
        )
        .await?;
        lines.extend(reports);
        r.groups.push(g);
    }
    Ok((lines, r))
}

/// The trace ids of the invocations that cold-started (REPORT lines with an `XRAY TraceId`).
pub(super) fn cold_trace_ids(lines: &[LoggedReport]) -> HashSet<String> {
    lines
        .iter()
        .filter(|r| r.line.cold())
        .filter_map(|r| r.line.trace_id.clone())
        .collect()
}

/// Adds to `spans` the spans of every REPORT line whose invocation X-Ray did not trace.
pub(super) fn add_untraced(lines: Vec<LoggedReport>, spans: &mut Vec<Span>) {
    let traced: HashSet<String> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::LambdaFunction)
        .map(|s| s.trace_id.clone())
        .collect();
    for rep in lines {
        // X-Ray already has this invocation: its spans are richer.
        if rep
            .line
            .trace_id
            .as_ref()
            .is_some_and(|t| traced.contains(t))
        {
            continue;
        }
        spans.extend(rep.line.spans(&rep.function, rep.at));
    }
}

fn padded_hull(windows: &[PhaseWindow], pad: Duration) -> PhaseWindow {
    let pad = chrono::Duration::from_std(pad).unwrap_or_default();
    let start = windows.iter().map(|w| w.start).min().unwrap_or_default();
    let end = windows.iter().map(|w| w.end).max().unwrap_or_default();
    PhaseWindow {
        start: start - pad,
        end: end + pad,
    }
}
