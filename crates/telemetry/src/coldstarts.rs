//! Cold starts of a real account without a load test, for named functions or every
//! function of one or more regions: [`lambda::discover`] lists them and reads what explains
//! their init time; [`report_aggregates::aggregate`] has Logs Insights count their REPORT
//! lines server side (every invocation has one; `Init Duration` or `Restore Duration` marks
//! a cold start); X-Ray function segments (sampled; an `Init`/`Initialization` or `Restore`
//! subsegment marks a cold start) add the traced cold-vs-warm comparison for up to
//! [`MAX_TRACED_FUNCTIONS`] functions. The records are `stormwatch-model`'s
//! (`coldstarts`); the analysis crate turns them into the report.
//!
//! Built from the collector's parts: [`aws::connect`], [`crate::logs::run_query`],
//! [`xray::trace_summaries`] + [`xray::fetch_documents`] (GetTraceSummaries filtered by the
//! functions' service, then BatchGetTraces) and [`segments::parse_document`]. Nothing is
//! written here.
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
use crate::lambda::{self, Selection};
use crate::pacing::Pacer;
use crate::report_aggregates::{self, AggregateReport};
use crate::segments::{self, ParseStats};
use crate::xray::{self, XrayOptions, XrayReport};

/// X-Ray is read for at most this many functions (its filter names each; traces of a
/// whole account are a sample too thin to compare per function).
pub const MAX_TRACED_FUNCTIONS: usize = 20;

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
    /// Our pace for Lambda control-plane calls.
    pub lambda_tps: f64,
    /// Logs Insights queries running at once (the account's concurrent-query quota).
    pub insights_concurrency: usize,
    /// Regions to cover; empty: the region the AWS configuration chain chooses.
    pub regions: Vec<String>,
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
            lambda_tps: 10.0,
            insights_concurrency: 30,
            regions: Vec::new(),
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
    /// Regions queried.
    pub regions: Vec<String>,
    /// Functions covered.
    pub functions: usize,
    /// CloudWatch Logs Insights, when read (all regions together).
    pub logs: Option<AggregateReport>,
    /// X-Ray, when read.
    pub xray: Option<TracesRead>,
    /// Why X-Ray was not read although asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xray_skipped: Option<String>,
    /// What reading cost at list prices (Logs Insights bytes scanned, traces retrieved).
    pub cost: stormwatch_model::pricing::Usage,
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

/// Reads the cold starts of the functions `selection` covers in `range`, in every region
/// of `opts.regions`. Functions of several regions are named `region/function`.
///
/// # Errors
/// Bad options, a named function that does not exist, or a failed AWS call (naming the
/// endpoint).
pub async fn fetch(
    selection: &Selection,
    range: PhaseWindow,
    opts: &ColdStartOptions,
) -> Result<Fetched, TelemetryError> {
    if !opts.logs && !opts.xray {
        return Err(TelemetryError::Usage(
            "--no-logs and --no-xray together leave nothing to read".into(),
        ));
    }
    let mut selection = selection.clone();
    let mut names: Vec<String> = Vec::new();
    for f in &selection.names {
        let n = base_name(f).trim();
        if !n.is_empty() && !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    }
    selection.names = names;
    let regions: Vec<Option<String>> = if opts.regions.is_empty() {
        vec![opts.aws.region.clone()]
    } else {
        opts.regions.iter().cloned().map(Some).collect()
    };
    let several = regions.len() > 1;
    let mut all = Fetched {
        data: ColdStartData {
            range,
            functions: Vec::new(),
            counts_from: if opts.logs {
                CountSource::Logs
            } else {
                CountSource::Xray
            },
            aggregates: Vec::new(),
            invocations: Vec::new(),
            traced: opts.xray.then(Vec::new),
            contexts: std::collections::BTreeMap::new(),
            account_wide: selection.names.is_empty(),
        },
        sources: Sources::default(),
    };
    for region in regions {
        let mut aws_opts = opts.aws.clone();
        aws_opts.region = region;
        let clients = aws::connect(&aws_opts).await?;
        let stats = Arc::clone(&clients.stats);
        let got = fetch_region(&clients, &stats, &selection, range, opts, several, &mut all).await;
        got.map_err(|e| e.at_endpoint(stats.endpoint(), stats.last_failure()))?;
    }
    if all.data.functions.is_empty() && !all.data.account_wide {
        return Err(TelemetryError::Usage("name at least one --function".into()));
    }
    Ok(all)
}

/// One region's part of [`fetch`], added to `all`.
async fn fetch_region(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    selection: &Selection,
    range: PhaseWindow,
    opts: &ColdStartOptions,
    several_regions: bool,
    all: &mut Fetched,
) -> Result<(), TelemetryError> {
    let label = |name: &str| {
        if several_regions {
            format!("{}/{name}", clients.region)
        } else {
            name.to_string()
        }
    };
    all.sources.regions.push(clients.region.clone());
    let lambda_pacer = Pacer::new(opts.lambda_tps);
    let found = lambda::discover(clients, stats, &lambda_pacer, selection).await?;
    all.sources.functions += found.len();
    let names: Vec<String> = found.iter().map(|f| f.name.clone()).collect();
    for f in &found {
        all.data.functions.push(label(&f.name));
        all.data.contexts.insert(label(&f.name), f.context.clone());
    }
    if opts.xray {
        if names.len() <= MAX_TRACED_FUNCTIONS {
            let (t, read) = fetch_traced(clients, stats, &names, &range, opts).await?;
            let traced = all.data.traced.get_or_insert_with(Vec::new);
            traced.extend(t.into_iter().map(|mut t| {
                t.function = label(&t.function);
                t
            }));
            let x = all.sources.xray.get_or_insert_with(TracesRead::default);
            x.add(&read);
            all.sources.cost.traces_retrieved_or_scanned += (read.traces * 2) as f64;
        } else {
            all.data.traced = None;
            all.sources.xray_skipped = Some(format!(
                "{} functions: X-Ray is read for at most {MAX_TRACED_FUNCTIONS} (name them with --function)",
                names.len()
            ));
        }
    }
    if opts.logs {
        let pacer = Arc::new(Pacer::new(opts.logs_tps));
        let (aggregates, report) = report_aggregates::aggregate(
            clients,
            stats,
            &pacer,
            &found,
            range,
            opts.insights_concurrency,
        )
        .await?;
        all.sources.cost.logs_bytes_scanned += report.bytes_scanned as f64;
        let logs = all
            .sources
            .logs
            .get_or_insert_with(AggregateReport::default);
        logs.log_groups += report.log_groups;
        logs.missing_groups.extend(report.missing_groups);
        logs.queries += report.queries;
        logs.splits += report.splits;
        logs.bytes_scanned += report.bytes_scanned;
        all.data
            .aggregates
            .extend(aggregates.into_iter().map(|mut a| {
                a.function = label(&a.function);
                a
            }));
    } else if let Some(traced) = &all.data.traced {
        all.data.invocations = traced.iter().map(Invocation::from).collect();
    }
    Ok(())
}

impl TracesRead {
    /// Adds another region's reading.
    fn add(&mut self, o: &Self) {
        self.traces += o.traces;
        self.truncated |= o.truncated;
        self.function_segments += o.function_segments;
        self.cold_starts += o.cold_starts;
        self.summary_requests += o.summary_requests;
        self.batch_requests += o.batch_requests;
        self.parse.add(&o.parse);
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
