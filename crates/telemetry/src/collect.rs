//! The collect stage end to end: validate and plan (no network), then fetch metrics
//! (polling with `--wait` until the last window is stable), traces and REPORT lines, and
//! write `telemetry/metrics.parquet`, `telemetry/spans.parquet` and `telemetry/collect.json`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use stormwatch_model::{MetricPoint, PhaseWindow, Span, SpanKind, UnixNanos};

use crate::TelemetryError;
use crate::aws::{self, AwsOptions, OperationStats};
use crate::logs::{self, LogsReport};
use crate::metrics::{self, SeriesReport};
use crate::pacing::Pacer;
use crate::plan::{self, PlanOptions, PlannedCall};
use crate::queries::{self, MetricSeries, Skipped};
use crate::skew::{self, SkewEstimate};
use crate::target::CollectTarget;
use crate::xray::{self, XrayOptions, XrayReport};

/// Data for a window that ended less than this long ago may still be arriving.
pub const SETTLE: Duration = Duration::from_secs(5 * 60);

/// How to collect.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// AWS connection.
    pub aws: AwsOptions,
    /// `--queries DIR`: extra query files.
    pub extra_queries: Option<PathBuf>,
    /// `--wait`: poll until the last window's values stop changing, at most this long.
    pub wait: Option<Duration>,
    /// Time between polls while waiting.
    pub poll_interval: Duration,
    /// Context before and after the run's windows.
    pub pad: Duration,
    /// Our pace for GetMetricData (quota: 50 TPS).
    pub metrics_tps: f64,
    /// Our pace for X-Ray calls.
    pub xray_tps: f64,
    /// Our pace for Logs calls.
    pub logs_tps: f64,
    /// Fetch CloudWatch metrics.
    pub metrics: bool,
    /// Fetch X-Ray traces.
    pub xray: bool,
    /// Fetch REPORT lines.
    pub logs: bool,
    /// BatchGetTraces calls in flight.
    pub xray_concurrency: usize,
    /// Most traces we did not start to fetch.
    pub max_other_traces: usize,
    /// "Now" for planning; `None` is the wall clock (tests pin it).
    pub now: Option<DateTime<Utc>>,
    /// `--period`: one GetMetricData period for every series instead of the chosen one.
    pub period: Option<u32>,
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self {
            aws: AwsOptions {
                max_attempts: 8,
                initial_backoff: Duration::from_millis(500),
                ..AwsOptions::default()
            },
            extra_queries: None,
            wait: None,
            poll_interval: Duration::from_secs(60),
            pad: Duration::from_secs(60),
            metrics_tps: 40.0,
            xray_tps: 25.0,
            logs_tps: 5.0,
            metrics: true,
            xray: true,
            logs: true,
            xray_concurrency: 8,
            max_other_traces: 10_000,
            now: None,
            period: None,
        }
    }
}

/// A checked plan: everything decided before any network I/O.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The target.
    pub target: CollectTarget,
    /// Series to fetch.
    pub series: Vec<MetricSeries>,
    /// Metrics not rendered, and why.
    pub skipped: Vec<Skipped>,
    /// GetMetricData calls.
    pub calls: Vec<PlannedCall>,
    /// The Logs Insights query.
    pub logs_query: String,
    /// The planning time.
    pub now: DateTime<Utc>,
}

/// Parses the query files, renders them and plans the calls.
pub fn prepare(target: CollectTarget, opts: &CollectOptions) -> Result<Prepared, TelemetryError> {
    let mut files = queries::builtin()?;
    if let Some(dir) = &opts.extra_queries {
        files.extend(queries::load_dir(dir)?);
    }
    let (series, skipped) = queries::render(&files, &target.resources);
    let now = opts.now.unwrap_or_else(Utc::now);
    let calls = plan::plan_calls(
        &series,
        &target.phase_windows(),
        PlanOptions {
            pad: opts.pad,
            now,
            period: opts.period,
        },
    );
    Ok(Prepared {
        target,
        series,
        skipped,
        calls,
        logs_query: queries::report_lines_query(),
        now,
    })
}

impl Prepared {
    /// What `--dry-run` prints: the rendered queries and the planned API calls.
    pub fn describe(&self, opts: &CollectOptions) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "windows:");
        for w in &self.target.windows {
            let _ = writeln!(
                s,
                "  {:<12} {} .. {}",
                w.name,
                w.window.start.to_rfc3339(),
                w.window.end.to_rfc3339()
            );
        }
        let _ = writeln!(s, "metric queries ({}):", self.series.len());
        for c in &self.calls {
            for q in &c.queries {
                if let Some(series) = self.series.get(q.series) {
                    let _ = writeln!(s, "  {:<6} {:>5}s  {}", q.id, q.period, series.name());
                }
            }
        }
        for k in &self.skipped {
            let _ = writeln!(s, "  skipped {} ({}): {}", k.metric, k.source, k.reason);
        }
        let _ = writeln!(s, "planned API calls:");
        for (i, c) in self.calls.iter().enumerate() {
            let _ = writeln!(
                s,
                "  GetMetricData #{}: {} queries, {} .. {}, up to {} datapoints, {} page(s)",
                i + 1,
                c.queries.len(),
                c.start.to_rfc3339(),
                c.end.to_rfc3339(),
                c.max_datapoints,
                c.expected_pages
            );
        }
        if opts.xray {
            let n = self.target.sent_traces.len();
            let _ = writeln!(
                s,
                "  BatchGetTraces: {} sampled trace ids in {} call(s) of <= {}, {} in flight",
                n,
                n.div_ceil(xray::IDS_PER_CALL),
                xray::IDS_PER_CALL,
                opts.xray_concurrency
            );
            let _ = writeln!(
                s,
                "  GetTraceSummaries: {} chunk(s) of <= 1 h, then BatchGetTraces for traces we did not start (<= {})",
                xray::summary_chunks(&self.target.phase_windows(), xray::SUMMARY_CHUNK).len(),
                opts.max_other_traces
            );
        }
        if opts.logs {
            for f in &self.target.resources.functions {
                let _ = writeln!(
                    s,
                    "  Logs Insights on /aws/lambda/{} in chunks of 15 min (FilterLogEvents as fallback):",
                    f.split(':').next().unwrap_or(f)
                );
            }
            if !self.target.resources.functions.is_empty() {
                for line in self.logs_query.lines() {
                    let _ = writeln!(s, "      {line}");
                }
            }
        }
        s
    }
}

/// One window's state in `collect.json`.
#[derive(Clone, Debug, Serialize)]
pub struct WindowReport {
    /// Phase name.
    pub name: String,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// False when its data may still be arriving.
    pub complete: bool,
}

/// The metrics part of `collect.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MetricsReport {
    /// Per series: what was asked and what came back.
    pub queries: Vec<SeriesReport>,
    /// Metrics not asked for, and why.
    pub skipped: Vec<Skipped>,
    /// The planned calls.
    pub calls: Vec<PlannedCall>,
    /// GetMetricData requests in the last round (pages included).
    pub requests_last_round: usize,
    /// GetMetricData requests over all rounds.
    pub requests_total: usize,
    /// Rows written (filled zeros included).
    pub datapoints: usize,
    /// Rows that are filled zeros.
    pub filled_zero: usize,
    /// Rounds made (more than one with `--wait`).
    pub rounds: usize,
    /// `--wait`: the last window's values stopped changing.
    pub stable: Option<bool>,
}

/// `telemetry/collect.json`.
#[derive(Clone, Debug, Serialize)]
pub struct CollectSummary {
    /// stormwatch version.
    pub tool_version: String,
    /// The run, when there is one.
    pub run_id: Option<String>,
    /// Region queried.
    pub region: String,
    /// When collecting started.
    pub started_at: DateTime<Utc>,
    /// Wall-clock seconds it took.
    pub elapsed_secs: f64,
    /// The windows, each marked complete or not.
    pub windows: Vec<WindowReport>,
    /// CloudWatch metrics.
    pub metrics: MetricsReport,
    /// X-Ray, when enabled.
    pub xray: Option<XrayReport>,
    /// Logs, when enabled.
    pub logs: Option<LogsReport>,
    /// Per AWS operation: calls, attempts, throttles, errors.
    pub api: BTreeMap<String, OperationStats>,
    /// Throttled attempts over all operations.
    pub throttles: u64,
    /// Retries over all operations.
    pub retries: u64,
    /// Clock skew between this machine and AWS.
    pub clock_skew: SkewEstimate,
    /// Spans written.
    pub spans: usize,
}

impl CollectSummary {
    /// What was collected, a line per source, for a terminal.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "metrics: {} series, {} datapoints ({} filled zeros) in {} GetMetricData request(s)",
            self.metrics.queries.len(),
            self.metrics.datapoints,
            self.metrics.filled_zero,
            self.metrics.requests_total
        );
        if let Some(x) = &self.xray {
            let _ = writeln!(
                s,
                "traces: {} of {} sampled found, {} other, {} cold starts, {} malformed documents skipped",
                x.found, x.requested, x.other_traces, x.parse.cold_starts, x.parse.malformed
            );
        }
        if let Some(l) = &self.logs {
            for g in &l.groups {
                let _ = writeln!(
                    s,
                    "logs: {} REPORT lines, {} cold starts from {} ({})",
                    g.reports, g.cold_starts, g.log_group, g.source
                );
            }
        }
        let _ = writeln!(
            s,
            "api: {} throttled attempts, {} retries; clock skew {}",
            self.throttles,
            self.retries,
            self.clock_skew
                .skew_ms
                .map_or_else(|| "unknown".to_string(), |ms| format!("{ms:+.0} ms"))
        );
        let incomplete: Vec<&str> = self
            .windows
            .iter()
            .filter(|w| !w.complete)
            .map(|w| w.name.as_str())
            .collect();
        if !incomplete.is_empty() {
            let _ = writeln!(
                s,
                "may be incomplete (data arrives minutes late; try --wait 10m): {}",
                incomplete.join(", ")
            );
        }
        s
    }
}

/// Runs the whole stage and writes the files.
pub async fn collect(
    prepared: Prepared,
    opts: &CollectOptions,
) -> Result<CollectSummary, TelemetryError> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let mut aws_opts = opts.aws.clone();
    if aws_opts.region.is_none() {
        aws_opts
            .region
            .clone_from(&prepared.target.resources.region);
    }
    let clients = aws::connect(&aws_opts).await?;
    let stats = Arc::clone(&clients.stats);
    // Every failure names the endpoint it came from.
    let result: Result<CollectSummary, TelemetryError> = async {
        let windows = prepared.target.phase_windows();

        // --- metrics, polled with --wait ---
        let metric_pacer = Pacer::new(opts.metrics_tps);
        let mut report = MetricsReport {
            skipped: prepared.skipped.clone(),
            ..MetricsReport::default()
        };
        let mut calls = if opts.metrics {
            prepared.calls.clone()
        } else {
            Vec::new()
        };
        let mut outcome = metrics::fetch(
            &clients.cloudwatch,
            &metric_pacer,
            &stats,
            &prepared.series,
            &calls,
            Utc::now(),
        )
        .await?;
        report.rounds = 1;
        report.requests_total = outcome.requests;
        let last = windows.last().copied().filter(|_| opts.metrics);
        let mut stable_windows = false;
        if let (Some(wait), Some(last)) = (opts.wait, last) {
            let deadline = Instant::now() + wait;
            let mut previous = metrics::snapshot(&outcome.points, &last);
            let mut stable = false;
            while Instant::now() < deadline {
                let pause = opts
                    .poll_interval
                    .min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
                let now = Utc::now();
                // Re-plan: as time passes the range may grow to the end of the padding.
                calls = plan::plan_calls(
                    &prepared.series,
                    &windows,
                    PlanOptions {
                        pad: opts.pad,
                        now,
                        period: opts.period,
                    },
                );
                outcome = metrics::fetch(
                    &clients.cloudwatch,
                    &metric_pacer,
                    &stats,
                    &prepared.series,
                    &calls,
                    now,
                )
                .await?;
                report.rounds += 1;
                report.requests_total += outcome.requests;
                let current = metrics::snapshot(&outcome.points, &last);
                let settled_by_age =
                    now - last.end > chrono::Duration::from_std(SETTLE).unwrap_or_default();
                if current == previous && (!current.is_empty() || settled_by_age) {
                    stable = true;
                    break;
                }
                previous = current;
            }
            report.stable = Some(stable);
            stable_windows = stable;
        }
        let fetched_at = Utc::now();
        report.requests_last_round = outcome.requests;
        report.calls = calls;
        report.queries = outcome.series;
        report.datapoints = outcome.points.len();
        report.filled_zero = outcome.points.iter().filter(|p| p.filled_zero).count();
        let window_reports = prepared
            .target
            .windows
            .iter()
            .map(|w| WindowReport {
                name: w.name.clone(),
                start: w.window.start,
                end: w.window.end,
                complete: stable_windows
                    || fetched_at - w.window.end
                        >= chrono::Duration::from_std(SETTLE).unwrap_or_default(),
            })
            .collect();

        // --- X-Ray ---
        let mut spans: Vec<Span> = Vec::new();
        let mut xray_report = None;
        if opts.xray {
            let (s, r) = collect_traces(&clients, &stats, &prepared, &windows, opts).await?;
            spans = s;
            xray_report = Some(r);
        }
        let trace_offsets = trace_start_offsets(&spans, &prepared.target.sent_traces);

        // --- Logs ---
        let mut logs_report = None;
        if opts.logs && !prepared.target.resources.functions.is_empty() {
            let pacer = Pacer::new(opts.logs_tps);
            let mut r = LogsReport::default();
            let traced: HashSet<String> = spans
                .iter()
                .filter(|s| s.kind == SpanKind::LambdaFunction)
                .map(|s| s.trace_id.clone())
                .collect();
            let range = padded_hull(&windows, opts.pad);
            for f in &prepared.target.resources.functions {
                let (reports, g) = logs::fetch_reports(
                    &clients.logs,
                    &pacer,
                    &stats,
                    f,
                    &range,
                    &prepared.logs_query,
                )
                .await?;
                for rep in reports {
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
                r.groups.push(g);
            }
            logs_report = Some(r);
        }

        // --- write ---
        let out = &prepared.target.out;
        if opts.metrics {
            let metrics_path = out.metrics_path();
            stormwatch_model::parquet::write_metrics(&outcome.points, &metrics_path).map_err(
                |e| TelemetryError::Write {
                    path: metrics_path.clone(),
                    message: e.to_string(),
                },
            )?;
        }
        if opts.xray || opts.logs {
            let spans_path = out.spans_path();
            stormwatch_model::parquet::write_spans(&spans, &spans_path).map_err(|e| {
                TelemetryError::Write {
                    path: spans_path.clone(),
                    message: e.to_string(),
                }
            })?;
        }
        let api = stats.operations();
        let summary = CollectSummary {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: prepared.target.run_id.clone(),
            region: clients.region.clone(),
            started_at,
            elapsed_secs: clock.elapsed().as_secs_f64(),
            windows: window_reports,
            metrics: report,
            xray: xray_report,
            logs: logs_report,
            throttles: api.values().map(|o| o.throttles).sum(),
            retries: api.values().map(OperationStats::retries).sum(),
            api,
            clock_skew: skew::estimate(&stats.skew_samples(), &trace_offsets),
            spans: spans.len(),
        };
        let collect_path = out.collect_path();
        stormwatch_model::run_dir::write_json_atomic(&collect_path, &summary)?;
        Ok(summary)
    }
    .await;
    result.map_err(|e| e.at_endpoint(stats.endpoint(), stats.last_failure()))
}

async fn collect_traces(
    clients: &aws::AwsClients,
    stats: &Arc<aws::ApiStats>,
    prepared: &Prepared,
    windows: &[PhaseWindow],
    opts: &CollectOptions,
) -> Result<(Vec<Span>, XrayReport), TelemetryError> {
    let pacer = Arc::new(Pacer::new(opts.xray_tps));
    let mut report = XrayReport::default();
    let ours: Vec<String> = prepared.target.sent_traces.keys().cloned().collect();
    report.requested = ours.len();
    let mut spans = xray::fetch_traces(
        &clients.xray,
        &pacer,
        stats,
        &ours,
        opts.xray_concurrency,
        &mut report,
    )
    .await?;
    let ours: HashSet<String> = ours.into_iter().collect();
    let xopts = XrayOptions {
        concurrency: opts.xray_concurrency,
        max_other_traces: opts.max_other_traces,
        filter: xray::service_filter(&prepared.target.resources.functions),
    };
    let others = xray::other_trace_ids(
        &clients.xray,
        &pacer,
        stats,
        windows,
        &ours,
        &xopts,
        &mut report,
    )
    .await?;
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
fn trace_start_offsets(
    spans: &[Span],
    sent: &std::collections::HashMap<String, UnixNanos>,
) -> Vec<f64> {
    spans
        .iter()
        .filter(|s| s.kind == SpanKind::ApiGateway)
        .filter_map(|s| {
            let at = sent.get(&s.trace_id)?;
            Some((s.start.0 - at.0) as f64 / 1e6)
        })
        .collect()
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

/// Reads the metrics back (for callers that want to print a summary).
pub fn read_metrics(path: &std::path::Path) -> Result<Vec<MetricPoint>, TelemetryError> {
    stormwatch_model::parquet::read_metrics(path).map_err(|e| TelemetryError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
