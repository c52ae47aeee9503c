//! The X-Ray part of collecting: `GetTraceSummaries` over the windows (the traces we did
//! not start, and which of ours X-Ray flagged; [`scan`], beside the Logs calls), the choice
//! of our traces within `--max-traces`, then `BatchGetTraces` for both ([`fetch`]); and the
//! send-to-segment offsets the clock-skew estimate needs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use stormwatch_model::{PhaseWindow, Span, SpanKind};

use super::{CollectOptions, Prepared};
use crate::TelemetryError;
use crate::aws;
use crate::pacing::Pacer;
use crate::target::SentTrace;
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
/// cold-started) and the others of the windows, as spans.
pub(super) async fn fetch(
    clients: &aws::AwsClients,
    stats: &Arc<aws::ApiStats>,
    prepared: &Prepared,
    opts: &CollectOptions,
    scanned: Scanned,
    cold: &HashSet<String>,
) -> Result<(Vec<Span>, XrayReport), TelemetryError> {
    let Scanned {
        summaries,
        mut report,
        pacer,
    } = scanned;
    let (chosen, selection) = trace_selection::select(
        &prepared.target.sent_traces,
        &summaries.flagged,
        cold,
        opts.max_traces,
    );
    report.selection = selection;
    report.requested = chosen.len();
    let mut spans = xray::fetch_traces(
        &clients.xray,
        &pacer,
        stats,
        &chosen,
        opts.xray_concurrency,
        &mut report,
    )
    .await?;
    if !summaries.others.is_empty() {
        // Counted apart: `found`/`not_found` describe our own traces only.
        let mut other_report = XrayReport::default();
        spans.extend(
            xray::fetch_traces(
                &clients.xray,
                &pacer,
                stats,
                &summaries.others,
                opts.xray_concurrency,
                &mut other_report,
            )
            .await?,
        );
        report.batch_requests += other_report.batch_requests;
        report.parse.documents += other_report.parse.documents;
        report.parse.malformed += other_report.parse.malformed;
        report.parse.malformed_subsegments += other_report.parse.malformed_subsegments;
        report.parse.cold_starts += other_report.parse.cold_starts;
    }
    Ok((spans, report))
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
