//! The Logs part of collecting: each function's REPORT lines over the windows' padded
//! hull (fetched before the traces, so cold starts can claim their share of the trace
//! budget), turned into spans for the invocations X-Ray did not trace.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use stormwatch_model::{PhaseWindow, Span, SpanKind};

use super::{CollectOptions, Prepared};
use crate::TelemetryError;
use crate::aws::{ApiStats, AwsClients};
use crate::logs::{self, InsightsPlan, LoggedReport, LogsReport};
use crate::pacing::Pacer;

/// Every function's REPORT lines over the windows: the functions' log groups are queried
/// side by side, each with its share of `insights_concurrency` queries in flight (Logs
/// Insights' concurrent-query quota is per account), every call paced at `logs_tps`.
pub(super) async fn fetch_report_lines(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    prepared: &Prepared,
    windows: &[PhaseWindow],
    opts: &CollectOptions,
) -> Result<(Vec<LoggedReport>, LogsReport), TelemetryError> {
    let pacer = Arc::new(Pacer::new(opts.logs_tps));
    let range = padded_hull(windows, opts.pad);
    let functions = &prepared.target.resources.functions;
    let quota = opts.insights_concurrency.max(1);
    let plan = InsightsPlan {
        chunk: logs::chunk_for(prepared.target.answered_requests, &range),
        concurrency: (quota / functions.len().max(1)).max(1),
    };
    // More log groups than the quota: at most `quota` of them queried at once.
    let groups_at_once = Arc::new(Semaphore::new((quota / plan.concurrency).max(1)));
    let mut tasks = JoinSet::new();
    for (i, f) in functions.iter().enumerate() {
        let (client, pacer, stats) = (clients.logs.clone(), Arc::clone(&pacer), Arc::clone(stats));
        let (function, query) = (f.clone(), prepared.logs_query.clone());
        let groups_at_once = Arc::clone(&groups_at_once);
        tasks.spawn(async move {
            let _turn = groups_at_once.acquire_owned().await;
            let got =
                logs::fetch_reports(&client, &pacer, &stats, &function, &range, &query, plan).await;
            (i, got)
        });
    }
    let mut by_function = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        // A task only fails by panicking (none is aborted): pass the panic on.
        let (i, got) = joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        by_function.push((i, got?));
    }
    // In the order the functions were named, whatever order they finished in.
    by_function.sort_by_key(|(i, _)| *i);
    let mut r = LogsReport::default();
    let mut lines = Vec::new();
    for (_, (reports, g)) in by_function {
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
