//! The collect stage end to end: validate and plan (no network), then fetch metrics
//! (polling with `--wait` until the last window is stable), REPORT lines and traces side
//! by side (the cold starts' REPORT lines first, so the trace choice can count them), and
//! write `telemetry/metrics.parquet`,
//! `telemetry/spans.parquet` and `telemetry/collect.json`.
//!
//! One concept per submodule: `poll` the metrics rounds, `traces` X-Ray, `report_lines` the
//! Logs REPORT lines, `output` the files written ([`CollectSummary`] is `collect.json`),
//! `describe` what is printed.

mod describe;
mod joins;
mod output;
mod poll;
mod report_lines;
mod traces;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use stormwatch_model::Span;
use stormwatch_model::pricing::Usage;

use crate::TelemetryError;
use crate::aws::{self, AwsOptions, OperationStats};
use crate::pacing::Pacer;
use crate::plan::{self, PlanOptions, PlannedCall};
use crate::queries::{self, MetricSeries, Skipped};
use crate::skew;
use crate::target::CollectTarget;

use report_lines::Lines;

pub use crate::trace_selection::TraceSelection;
pub use joins::JoinReport;
pub use output::{CollectSummary, CostReport, MetricsReport, WindowReport, read_metrics};

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
    /// Logs Insights queries run at once (the account's concurrent-query quota).
    pub insights_concurrency: usize,
    /// Fetch CloudWatch metrics.
    pub metrics: bool,
    /// Fetch X-Ray traces.
    pub xray: bool,
    /// Fetch REPORT lines.
    pub logs: bool,
    /// BatchGetTraces calls in flight.
    pub xray_concurrency: usize,
    /// `--max-traces`: most traces of the run's own requests to fetch.
    pub max_traces: usize,
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
            insights_concurrency: 30,
            metrics: true,
            xray: true,
            logs: true,
            xray_concurrency: 8,
            max_traces: 10_000,
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
    /// The Logs Insights query for every REPORT line.
    pub logs_query: String,
    /// The Logs Insights query for the cold starts' REPORT lines, read first when traces
    /// are collected too.
    pub cold_logs_query: String,
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
        cold_logs_query: queries::cold_report_lines_query(),
        now,
    })
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
        // Metrics, REPORT lines and X-Ray side by side (separate APIs, separate quotas). The
        // trace choice needs the cold starts' trace ids: a short Insights read of the cold
        // REPORT lines comes first, and BatchGetTraces runs while the rest is read.
        let with_logs = opts.logs && !prepared.target.resources.functions.is_empty();
        let logs_pacer = Arc::new(Pacer::new(opts.logs_tps));
        // The cold starts' trace ids, and Lambda request id → trace id of every REPORT line
        // when the run has requests known by request id (then the trace choice waits for
        // the full read, so those requests' traces count as the run's own).
        let (cold_tx, cold_rx) =
            tokio::sync::oneshot::channel::<(HashSet<String>, HashMap<String, String>)>();
        let by_request_id = !prepared.target.id_requests.is_empty();
        // Boxed: three futures side by side would make every caller's future large.
        let (polled, logs_got, traced) = tokio::join!(
            Box::pin(poll::poll_metrics(
                &clients, &stats, &prepared, &windows, opts
            )),
            Box::pin(async {
                if !with_logs {
                    let _ = cold_tx.send((HashSet::new(), HashMap::new()));
                    return Ok::<_, TelemetryError>(None);
                }
                let mut lookup = None;
                let mut cold_tx = Some(cold_tx);
                // With requests known by request id the choice waits for every REPORT
                // line anyway (they carry the cold ones too): no read ahead.
                if opts.xray && !by_request_id {
                    let (ids, l) = report_lines::cold_trace_ids_ahead(
                        &clients,
                        &stats,
                        &logs_pacer,
                        &prepared,
                        &windows,
                        opts,
                    )
                    .await;
                    lookup = Some(l);
                    if let (Some(ids), Some(tx)) = (ids, cold_tx.take()) {
                        let _ = tx.send((ids, HashMap::new()));
                    }
                }
                let (lines, mut r) = report_lines::fetch_report_lines(
                    &clients,
                    &stats,
                    &logs_pacer,
                    &prepared,
                    &windows,
                    opts,
                    Lines::All,
                )
                .await?;
                if let Some(tx) = cold_tx {
                    let by_report = if by_request_id {
                        joins::report_line_traces(&lines)
                    } else {
                        HashMap::new()
                    };
                    let _ = tx.send((report_lines::cold_trace_ids(&lines), by_report));
                }
                r.cold_lookup = lookup;
                Ok(Some((lines, r)))
            }),
            Box::pin(async {
                if !opts.xray {
                    return Ok::<_, TelemetryError>(None);
                }
                let scanned = traces::scan(&clients, &stats, &prepared, &windows, opts).await?;
                // The sender is dropped unsent only when reading the logs failed, which
                // fails the collection anyway.
                let (cold, by_report) = cold_rx.await.unwrap_or_default();
                traces::fetch(
                    &clients,
                    &stats,
                    &prepared,
                    opts,
                    scanned,
                    (&cold, &by_report),
                )
                .await
                .map(Some)
            })
        );
        let polled = polled?;
        let (report_lines, logs_report) = match logs_got? {
            Some((lines, r)) => (lines, Some(r)),
            None => (Vec::new(), None),
        };
        let (mut spans, xray_report, by_segment): (Vec<Span>, _, _) = match traced? {
            Some((s, r, j)) => (s, Some(r), j),
            None => (Vec::new(), None, HashMap::new()),
        };
        let trace_joins = by_request_id.then(|| {
            joins::join(
                &prepared.target.id_requests,
                &by_segment,
                &joins::report_line_traces(&report_lines),
            )
        });
        let trace_offsets = traces::trace_start_offsets(&spans, &prepared.target.sent_traces);
        report_lines::add_untraced(report_lines, &mut spans);

        let cost = CostReport::new(Usage {
            traces_recorded: 0.0,
            traces_retrieved_or_scanned: xray_report.as_ref().map_or(0.0, |x| {
                (x.requested + x.other_traces) as f64 + x.traces_scanned as f64
            }),
            metrics_requested: polled.report.metrics_requested as f64,
            logs_bytes_scanned: logs_report.as_ref().map_or(0, |l| {
                l.groups.iter().map(|g| g.bytes_scanned).sum::<u64>()
                    + l.cold_lookup.as_ref().map_or(0, |c| c.bytes_scanned)
            }) as f64,
        });
        let api = stats.operations();
        let summary = CollectSummary {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: prepared.target.run_id.clone(),
            region: clients.region.clone(),
            started_at,
            elapsed_secs: clock.elapsed().as_secs_f64(),
            windows: polled.windows,
            metrics: polled.report,
            xray: xray_report,
            logs: logs_report,
            throttles: api.values().map(|o| o.throttles).sum(),
            retries: api.values().map(OperationStats::retries).sum(),
            api,
            clock_skew: skew::estimate(&stats.skew_samples(), &trace_offsets),
            spans: spans.len(),
            cost,
            trace_joins: trace_joins.as_ref().map(|j| j.1.clone()),
        };
        if let Some((joins, _)) = &trace_joins {
            stormwatch_model::request_ids::write_trace_joins(
                &prepared.target.out.trace_joins_path(),
                joins,
            )?;
        }
        output::write(&prepared.target.out, opts, &polled.points, &spans, &summary)?;
        Ok(summary)
    }
    .await;
    result.map_err(|e| e.at_endpoint(stats.endpoint(), stats.last_failure()))
}
