//! The X-Ray part of collecting: `GetTraceSummaries` over the windows (the traces we did
//! not start, and which of ours X-Ray flagged; [`scan`], beside the Logs calls), the choice
//! of our traces within `--max-traces`, then `BatchGetTraces` for both ([`fetch`]); and the
//! send-to-segment offsets the clock-skew estimate needs.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use stormwatch_model::request_ids::RequestIdKind;

use stormwatch_model::{PhaseWindow, Span, SpanKind};

use super::{CollectOptions, Prepared};
use crate::TelemetryError;
use crate::aws;
use crate::pacing::Pacer;
use crate::target::{CollectTarget, SentTrace};
use crate::trace_selection;
use crate::xray::{self, XrayOptions, XrayReport};

/// What `GetTraceSummaries` said about the windows, with the pacer and the report the
/// fetch goes on with.
pub(super) struct Scanned {
    summaries: xray::Summaries,
    report: XrayReport,
    pacer: Arc<Pacer>,
}

/// `GetTraceSummaries` over the windows: the traces we did not start and which of ours
/// X-Ray flagged. Independent of the Logs calls, so it runs beside them.
pub(super) async fn scan(
    clients: &aws::AwsClients,
    stats: &Arc<aws::ApiStats>,
    prepared: &Prepared,
    windows: &[PhaseWindow],
    opts: &CollectOptions,
) -> Result<Scanned, TelemetryError> {
    let pacer = Arc::new(Pacer::new(opts.xray_tps));
    let mut report = XrayReport::default();
    let ours: HashSet<String> = prepared.target.sent_traces.keys().cloned().collect();
    let xopts = XrayOptions {
        concurrency: opts.xray_concurrency,
        max_other_traces: opts.max_other_traces,
        filter: xray::service_filter(&prepared.target.resources.functions),
    };
    let summaries = xray::trace_summaries(
        &clients.xray,
        &pacer,
        stats,
        windows,
        &ours,
        &xopts,
        &mut report,
    )
    .await?;
    Ok(Scanned {
        summaries,
        report,
        pacer,
    })
}

/// Our traces chosen within `--max-traces` (`cold`: the trace ids REPORT lines say
/// cold-started; `by_report`: Lambda request id → trace id from REPORT lines, which makes
/// the traces of requests known by a function URL's request id ours too) and the others of
/// the windows, as spans; with the API Gateway request id → trace id of every stage segment
/// fetched when the run has requests known by request id.
pub(super) async fn fetch(
    clients: &aws::AwsClients,
    stats: &Arc<aws::ApiStats>,
    prepared: &Prepared,
    opts: &CollectOptions,
    scanned: Scanned,
    (cold, by_report): (&HashSet<String>, &HashMap<String, String>),
) -> Result<(Vec<Span>, XrayReport, HashMap<String, String>), TelemetryError> {
    let Scanned {
        summaries,
        mut report,
        pacer,
    } = scanned;
    let target = &prepared.target;
    let joined = joined_by_report(target, by_report);
    let sent = if joined.is_empty() {
        Cow::Borrowed(&target.sent_traces)
    } else {
        let mut all = target.sent_traces.clone();
        for (trace, t) in joined {
            all.entry(trace).or_insert(t);
        }
        Cow::Owned(all)
    };
    let (chosen, selection) =
        trace_selection::select(&sent, &summaries.flagged, cold, opts.max_traces);
    report.selection = selection;
    report.requested = chosen.len();
    let mut by_segment = HashMap::new();
    let note = !target.id_requests.is_empty();
    let mut spans = xray::fetch_traces(
        &clients.xray,
        &pacer,
        stats,
        &chosen,
        opts.xray_concurrency,
        &mut report,
        note.then_some(&mut by_segment),
    )
    .await?;
    // Traces made ours by a REPORT line are not fetched twice.
    let others: Vec<String> = summaries
        .others
        .into_iter()
        .filter(|id| !sent.contains_key(id))
        .collect();
    report.other_traces = others.len();
    if !others.is_empty() {
        // Counted apart: `found`/`not_found` describe our own traces only.
        let mut other_report = XrayReport::default();
        spans.extend(
            xray::fetch_traces(
                &clients.xray,
                &pacer,
                stats,
                &others,
                opts.xray_concurrency,
                &mut other_report,
                note.then_some(&mut by_segment),
            )
            .await?,
        );
        report.batch_requests += other_report.batch_requests;
        report.parse.documents += other_report.parse.documents;
        report.parse.malformed += other_report.parse.malformed;
        report.parse.malformed_subsegments += other_report.parse.malformed_subsegments;
        report.parse.cold_starts += other_report.parse.cold_starts;
    }
    Ok((spans, report, by_segment))
}

/// The requests known by an `x-amzn-RequestId` that a REPORT line pairs with a trace id,
/// as traced requests of the run (trace id → what the request was).
fn joined_by_report(
    target: &CollectTarget,
    by_report: &HashMap<String, String>,
) -> Vec<(String, SentTrace)> {
    target
        .id_requests
        .iter()
        .filter(|r| r.kind == RequestIdKind::Amzn)
        .filter_map(|r| Some((by_report.get(&r.request_id)?.clone(), r.sent.clone())))
        .collect()
}

/// API Gateway segment start − our send time (ms), per traced request of ours.
pub(super) fn trace_start_offsets(spans: &[Span], sent: &HashMap<String, SentTrace>) -> Vec<f64> {
    spans
        .iter()
        .filter(|s| s.kind == SpanKind::ApiGateway)
        .filter_map(|s| {
            let at = sent.get(&s.trace_id)?.sent;
            Some((s.start.0 - at.0) as f64 / 1e6)
        })
        .collect()
}
