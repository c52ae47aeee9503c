//! The metrics part of collecting: GetMetricData for the planned calls, then, with
//! `--wait`, again every poll interval (re-planned, as the range may grow to the end of the
//! padding) until the last window's values stop changing or the wait is over.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use stormwatch_model::{MetricPoint, PhaseWindow};

use super::output::{MetricsReport, WindowReport};
use super::{CollectOptions, Prepared, SETTLE};
use crate::TelemetryError;
use crate::aws::{ApiStats, AwsClients};
use crate::metrics;
use crate::pacing::Pacer;
use crate::plan::{self, PlanOptions};

/// The last round's datapoints, what the rounds did, and each window marked complete or not.
pub(super) struct Polled {
    /// Datapoints of the last round.
    pub points: Vec<MetricPoint>,
    /// The metrics part of `collect.json`.
    pub report: MetricsReport,
    /// The windows, each marked complete or not.
    pub windows: Vec<WindowReport>,
}

/// Fetches the metrics (nothing when `opts.metrics` is off), polling with `--wait`.
pub(super) async fn poll_metrics(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    prepared: &Prepared,
    windows: &[PhaseWindow],
    opts: &CollectOptions,
) -> Result<Polled, TelemetryError> {
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
        stats,
        &prepared.series,
        &calls,
        Utc::now(),
    )
    .await?;
    report.rounds = 1;
    report.requests_total = outcome.requests;
    report.metrics_requested = outcome.metrics_requested;
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
                windows,
                PlanOptions {
                    pad: opts.pad,
                    now,
                    period: opts.period,
                },
            );
            outcome = metrics::fetch(
                &clients.cloudwatch,
                &metric_pacer,
                stats,
                &prepared.series,
                &calls,
                now,
            )
            .await?;
            report.rounds += 1;
            report.requests_total += outcome.requests;
            report.metrics_requested += outcome.metrics_requested;
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
    let windows = prepared
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
    Ok(Polled {
        points: outcome.points,
        report,
        windows,
    })
}
