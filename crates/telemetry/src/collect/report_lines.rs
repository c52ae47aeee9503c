//! The Logs part of collecting: first the cold starts' REPORT lines (a short read, so cold
//! starts claim their share of the trace budget while the rest is read), then each
//! function's REPORT lines over the windows' padded hull, turned into spans for the
//! invocations X-Ray did not trace.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use stormwatch_model::{PhaseWindow, Span, SpanKind};

use super::{CollectOptions, Prepared};
use crate::TelemetryError;
use crate::aws::{ApiStats, AwsClients};
use crate::logs::{self, ColdLookup, InsightsPlan, LoggedReport, LogsReport};
use crate::pacing::Pacer;

/// Which REPORT lines to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lines {
    /// Every invocation's (`Prepared::logs_query`), read with FilterLogEvents where
    /// Insights fails.
    All,
    /// Only the cold starts' (`Prepared::cold_logs_query`), by Insights alone: a group
    /// Insights cannot answer comes back with `fallback_reason` set.
    Cold,
}

/// Every function's REPORT lines (or only its cold starts') over the windows: the
/// functions' log groups are queried side by side, each with its share of
/// `insights_concurrency` queries in flight (Logs Insights' concurrent-query quota is per
/// account), every call paced by `pacer` (one Logs bucket for all of collect's calls).
pub(super) async fn fetch_report_lines(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    pacer: &Arc<Pacer>,
    prepared: &Prepared,
    windows: &[PhaseWindow],
    opts: &CollectOptions,
    which: Lines,
) -> Result<(Vec<LoggedReport>, LogsReport), TelemetryError> {
    let range = padded_hull(windows, opts.pad);
    let functions = &prepared.target.resources.functions;
    let quota = opts.insights_concurrency.max(1);
    let (query, chunk) = match which {
        Lines::All => (
            prepared.logs_query.clone(),
            logs::chunk_for(prepared.target.answered_requests, &range),
        ),
        // Cold starts are a small share of invocations: long chunks, split on the row limit.
        Lines::Cold => (prepared.cold_logs_query.clone(), logs::CHUNK),
    };
    let plan = InsightsPlan {
        chunk,
        concurrency: (quota / functions.len().max(1)).max(1),
        filter_fallback: which == Lines::All,
    };
    // More log groups than the quota: at most `quota` of them queried at once.
    let groups_at_once = Arc::new(Semaphore::new((quota / plan.concurrency).max(1)));
    let mut tasks = JoinSet::new();
    for (i, f) in functions.iter().enumerate() {
        let (client, pacer, stats) = (clients.logs.clone(), Arc::clone(pacer), Arc::clone(stats));
        let (function, query) = (f.clone(), query.clone());
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

/// The cold starts' trace ids read ahead of every REPORT line, so the trace choice and
/// `BatchGetTraces` run beside the long read: `None` when Insights could not answer for
/// every log group (the ids then come from the full read). Its queries and bytes go into
/// `report`.
pub(super) async fn cold_trace_ids_ahead(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    pacer: &Arc<Pacer>,
    prepared: &Prepared,
    windows: &[PhaseWindow],
    opts: &CollectOptions,
) -> (Option<HashSet<String>>, ColdLookup) {
    let got = fetch_report_lines(clients, stats, pacer, prepared, windows, opts, Lines::Cold).await;
    let mut lookup = ColdLookup::default();
    match got {
        Ok((lines, r)) => {
            lookup.queries = r.groups.iter().map(|g| g.queries).sum();
            lookup.bytes_scanned = r.groups.iter().map(|g| g.bytes_scanned).sum();
            lookup.cold_starts = lines.len();
            let complete = r.groups.iter().all(|g| g.fallback_reason.is_none());
            lookup.answered = complete;
            (complete.then(|| cold_trace_ids(&lines)), lookup)
        }
        // The full read meets (and reports) the same error.
        Err(_) => (None, lookup),
    }
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

pub(super) fn padded_hull(windows: &[PhaseWindow], pad: Duration) -> PhaseWindow {
    let pad = chrono::Duration::from_std(pad).unwrap_or_default();
    let start = windows.iter().map(|w| w.start).min().unwrap_or_default();
    let end = windows.iter().map(|w| w.end).max().unwrap_or_default();
    PhaseWindow {
        start: start - pad,
        end: end + pad,
    }
}
