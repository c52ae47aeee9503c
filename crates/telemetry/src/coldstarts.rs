//! Cold starts of a real account without a load test: for a time range and a few
//! functions, one record per invocation — from the REPORT lines of CloudWatch Logs (every
//! invocation has one; `Init Duration` or `Restore Duration` marks a cold start) and from
//! X-Ray function segments (sampled; an `Init`/`Initialization` or `Restore` subsegment
//! marks a cold start). The records are `stormwatch-model`'s (`coldstarts`); the analysis
//! crate turns them into counts, rates, init percentiles, breakdowns and the latency cold
//! starts added.
//!
//! Built from the collector's parts: [`aws::connect`], [`logs::fetch_reports`] (Logs
//! Insights, FilterLogEvents as the fallback), [`xray::trace_summaries`] +
//! [`xray::fetch_documents`] (GetTraceSummaries filtered by the functions' service, then
//! BatchGetTraces) and [`segments::parse_document`]. Nothing is written here.
//!
//! The function version is not on a REPORT line; the log stream names it
//! (`2026/11/23/[$LATEST]<hex>`, `2026/11/23/[12]<hex>`), and on X-Ray the function
//! segment's `resource_arn` may carry it as a qualifier.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use stormwatch_model::coldstarts::{
    ColdStartData, CountSource, Invocation, TracedInvocation, UNKNOWN_VERSION,
};
use stormwatch_model::{PhaseWindow, Span, SpanKind};

use crate::TelemetryError;
use crate::aws::{self, ApiStats, AwsClients, AwsOptions};
use crate::logs::{self, LoggedReport, LogsReport};
use crate::pacing::Pacer;
use crate::queries;
use crate::segments::{self, ParseStats};
use crate::xray::{self, XrayOptions, XrayReport};

/// How to read cold starts.
#[derive(Clone, Debug)]
pub struct ColdStartOptions {
    /// AWS connection.
    pub aws: AwsOptions,
    /// Read REPORT lines from CloudWatch Logs.
    pub logs: bool,
    /// Read X-Ray traces.
    pub xray: bool,
    /// Our pace for Logs calls.
    pub logs_tps: f64,
    /// Our pace for X-Ray calls.
    pub xray_tps: f64,
    /// BatchGetTraces calls in flight.
    pub xray_concurrency: usize,
    /// Most traces read from `GetTraceSummaries`.
    pub max_traces: usize,
}

impl Default for ColdStartOptions {
    fn default() -> Self {
        Self {
            aws: AwsOptions {
                max_attempts: 8,
                initial_backoff: Duration::from_millis(500),
                ..AwsOptions::default()
            },
            logs: true,
            xray: true,
            logs_tps: 5.0,
            xray_tps: 25.0,
            xray_concurrency: 8,
            max_traces: 10_000,
        }
    }
}

/// What X-Ray gave.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TracesRead {
    /// Traces `GetTraceSummaries` listed for the functions.
    pub traces: usize,
    /// It listed more than the limit; the rest were not read.
    pub truncated: bool,
    /// Function segments of the functions inside the range.
    pub function_segments: usize,
    /// Of those, cold starts.
    pub cold_starts: usize,
    /// `GetTraceSummaries` requests.
    pub summary_requests: usize,
    /// `BatchGetTraces` requests.
    pub batch_requests: usize,
    /// Segment documents parsed, and those skipped as malformed.
    pub parse: ParseStats,
}

/// What [`fetch`] read: the records, and what they were read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    /// The invocations and traced invocations.
    pub data: ColdStartData,
    /// What was read, for the report's `sources`.
    pub sources: Sources,
}

/// What was read, for the report's `sources`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sources {
    /// Region queried.
    pub region: String,
    /// CloudWatch Logs, when read.
    pub logs: Option<LogsReport>,
    /// X-Ray, when read.
    pub xray: Option<TracesRead>,
}

/// The version in a Lambda log stream name: `2026/11/23/[$LATEST]abc…` → `$LATEST`,
/// `2026/11/23/[12]abc…` → `12`.
pub fn version_of_stream(stream: &str) -> Option<&str> {
    let open = stream.find('[')?;
    let rest = &stream[open + 1..];
    let close = rest.find(']')?;
    Some(&rest[..close]).filter(|v| !v.is_empty())
}

/// The qualifier of a function ARN: `arn:aws:lambda:R:A:function:name:7` → `7`; `None`
/// for an unqualified ARN.
pub fn version_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(8, ':');
    let resource_type = parts.nth(5)?;
    if resource_type != "function" {
        return None;
    }
    parts.nth(1).filter(|q| !q.is_empty())
}

/// `checkout:live` → `checkout`.
fn base_name(function: &str) -> &str {
    function.split(':').next().unwrap_or(function)
}

/// Reads the invocations of `functions` in `range`.
pub async fn fetch(
    functions: &[String],
    range: PhaseWindow,
    opts: &ColdStartOptions,
) -> Result<Fetched, TelemetryError> {
    let mut names: Vec<String> = Vec::new();
    for f in functions {
        let n = base_name(f).trim();
        if !n.is_empty() && !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    }
    if names.is_empty() {
        return Err(TelemetryError::Usage("name at least one --function".into()));
    }
    if !opts.logs && !opts.xray {
        return Err(TelemetryError::Usage(
            "--no-logs and --no-xray together leave nothing to read".into(),
        ));
    }
    let clients = aws::connect(&opts.aws).await?;
    let stats = Arc::clone(&clients.stats);
    // Every failure names the endpoint it came from.
    let result: Result<Fetched, TelemetryError> = async {
        let mut sources = Sources {
            region: clients.region.clone(),
            ..Sources::default()
        };

        let mut traced = None;
        if opts.xray {
            let (t, read) = fetch_traced(&clients, &stats, &names, &range, opts).await?;
            traced = Some(t);
            sources.xray = Some(read);
        }

        let (counts_from, invocations) = if opts.logs {
            let pacer = Pacer::new(opts.logs_tps);
            let query = queries::report_lines_query();
            let mut report = LogsReport::default();
            let mut invocations = Vec::new();
            for f in &names {
                let (lines, group) = logs::fetch_reports(
                    &clients.logs,
                    &pacer,
                    &stats,
                    f,
                    &range,
                    &query,
                    logs::InsightsPlan::default(),
                )
                .await?;
                invocations.extend(lines.into_iter().map(from_report));
                report.groups.push(group);
            }
            sources.logs = Some(report);
            (CountSource::Logs, invocations)
        } else {
            (
                CountSource::Xray,
                traced.iter().flatten().map(Invocation::from).collect(),
            )
        };
        Ok(Fetched {
            data: ColdStartData {
                range,
                functions: names,
                counts_from,
                invocations,
                traced,
            },
            sources,
        })
    }
    .await;
    result.map_err(|e| e.at_endpoint(stats.endpoint(), stats.last_failure()))
}

fn from_report(r: LoggedReport) -> Invocation {
    let version = r
        .stream
        .as_deref()
        .and_then(version_of_stream)
        .unwrap_or(UNKNOWN_VERSION)
        .to_string();
    Invocation {
        cold: r.line.cold(),
        init: r.line.restore.or(r.line.init),
        restore: r.line.restore.is_some(),
        at: r.at.to_datetime(),
        function: r.function,
        duration: r.line.duration,
        memory_mb: r.line.memory_mb,
        version,
        trace_id: r.line.trace_id,
    }
}

async fn fetch_traced(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    functions: &[String],
    range: &PhaseWindow,
    opts: &ColdStartOptions,
) -> Result<(Vec<TracedInvocation>, TracesRead), TelemetryError> {
    let pacer = Arc::new(Pacer::new(opts.xray_tps));
    let mut report = XrayReport::default();
    let xopts = XrayOptions {
        concurrency: opts.xray_concurrency,
        max_other_traces: opts.max_traces,
        filter: xray::service_filter(functions),
    };
    let ids = xray::trace_summaries(
        &clients.xray,
        &pacer,
        stats,
        &[*range],
        &HashSet::<String>::new(),
        &xopts,
        &mut report,
    )
    .await?
    .others;
    let documents = xray::fetch_documents(
        &clients.xray,
        &pacer,
        stats,
        &ids,
        opts.xray_concurrency,
        &mut report,
    )
    .await?;
    let mut out = Vec::new();
    let mut parse = ParseStats::default();
    for (trace, docs) in &documents {
        for doc in docs {
            let mut spans = Vec::new();
            segments::parse_document(trace, doc, &mut spans, &mut parse);
            if let Some(t) = traced_invocation(&spans, doc, functions, range) {
                out.push(t);
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.trace_id.cmp(&b.trace_id)));
    let read = TracesRead {
        traces: ids.len(),
        truncated: report.other_traces_truncated,
        function_segments: out.len(),
        cold_starts: out.iter().filter(|t| t.cold).count(),
        summary_requests: report.summary_requests,
        batch_requests: report.batch_requests,
        parse,
    };
    Ok((out, read))
}

/// The traced invocation one document's spans stand for, when the document is a function
/// segment of one of `functions` that started inside `range`.
fn traced_invocation(
    spans: &[Span],
    document: &str,
    functions: &[String],
    range: &PhaseWindow,
) -> Option<TracedInvocation> {
    let segment = spans.first()?;
    if segment.kind != SpanKind::LambdaFunction || !functions.contains(&segment.name) {
        return None;
    }
    let at = segment.start.to_datetime();
    if !range.contains(at) {
        return None;
    }
    let restore = spans.iter().find(|s| s.kind == SpanKind::Restore);
    let init = spans.iter().find(|s| s.kind == SpanKind::Init);
    let version = segments::function_resource_arn(document)
        .as_deref()
        .and_then(version_of_arn)
        .unwrap_or(UNKNOWN_VERSION)
        .to_string();
    Some(TracedInvocation {
        function: segment.name.clone(),
        trace_id: segment.trace_id.clone(),
        at,
        cold: segment.cold,
        init: restore.or(init).map(Span::duration),
        restore: restore.is_some(),
        segment: segment.duration(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    #[test]
    fn versions_come_from_stream_names() {
        assert_eq!(
            version_of_stream("2026/11/23/[$LATEST]0123456789abcdef0123456789abcdef"),
            Some("$LATEST")
        );
        assert_eq!(
            version_of_stream("2026/11/23/[12]0123456789abcdef"),
            Some("12")
        );
        assert_eq!(version_of_stream("2026/11/23/[]abc"), None);
        assert_eq!(version_of_stream("some-stream"), None);
        assert_eq!(version_of_stream("2026/11/23/[12"), None);
    }

    #[test]
    fn versions_come_from_qualified_arns() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:checkout";
        assert_eq!(version_of_arn(arn), None);
        assert_eq!(version_of_arn(&format!("{arn}:7")), Some("7"));
        assert_eq!(version_of_arn(&format!("{arn}:$LATEST")), Some("$LATEST"));
        assert_eq!(version_of_arn(&format!("{arn}:live")), Some("live"));
        assert_eq!(
            version_of_arn("arn:aws:apigateway:us-east-1::/restapis/x"),
            None
        );
        assert_eq!(version_of_arn("nonsense"), None);
    }

    fn doc(arn: &str, init: bool, start: f64) -> String {
        let mut subs = vec![serde_json::json!({"id": "c2", "name": "Invocation",
            "start_time": start + 0.1, "end_time": start + 0.15})];
        if init {
            subs.insert(
                0,
                serde_json::json!({"id": "c1", "name": "Init", "start_time": start,
                    "end_time": start + 0.095}),
            );
        }
        serde_json::json!({"id": "b1", "trace_id": "1-a-b", "name": "checkout",
            "origin": "AWS::Lambda::Function", "start_time": start, "end_time": start + 0.2,
            "resource_arn": arn, "subsegments": subs})
        .to_string()
    }

    #[test]
    fn function_segments_become_traced_invocations() {
        let range = PhaseWindow {
            start: DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
            end: DateTime::from_timestamp(1_780_003_600, 0).unwrap(),
        };
        let functions = vec!["checkout".to_string()];
        let parse = |d: &str| {
            let mut spans = Vec::new();
            segments::parse_document("1-a-b", d, &mut spans, &mut ParseStats::default());
            traced_invocation(&spans, d, &functions, &range)
        };
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:checkout";
        let cold = parse(&doc(&format!("{arn}:3"), true, 1_780_000_010.0)).unwrap();
        assert!(cold.cold && !cold.restore);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        assert!((ms(cold.init.unwrap()) - 95.0).abs() < 0.01, "{cold:?}");
        assert!((ms(cold.segment) - 200.0).abs() < 0.01, "{cold:?}");
        assert_eq!(cold.version, "3");
        let warm = parse(&doc(arn, false, 1_780_000_020.0)).unwrap();
        assert!(!warm.cold && warm.init.is_none());
        assert_eq!(warm.version, UNKNOWN_VERSION);
        assert!(
            parse(&doc(arn, false, 1_780_009_000.0)).is_none(),
            "outside"
        );
        let other = doc(arn, false, 1_780_000_020.0).replace("\"checkout\"", "\"other\"");
        assert!(parse(&other).is_none(), "another function");
    }
}
