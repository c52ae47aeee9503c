//! GetMetricData planning, as pure functions (no I/O, testable without a server).
//!
//! The rules come from AWS (see `AWS-FACTS.md`): the smallest period that returns data
//! depends on the metric's resolution and on how old the data is (a wrong period silently
//! returns nothing); StartTime is inclusive and EndTime exclusive, datapoints are stamped
//! with period starts, so ranges are padded and aligned to period boundaries; one call takes
//! at most 500 queries and returns at most 100,800 datapoints before `NextToken`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use stormwatch_model::PhaseWindow;

use crate::queries::{MetricSeries, Resolution};

/// Most queries one GetMetricData call accepts.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// Most datapoints one GetMetricData response holds before `NextToken`.
pub const MAX_DATAPOINTS_PER_CALL: usize = 100_800;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// The smallest period (seconds) CloudWatch still has data at for data starting
/// `age` before now: < 3 h: 1 s (high resolution only), < 15 days: 60 s,
/// < 63 days: 300 s, older: 3600 s.
pub fn min_period_for_age(resolution: Resolution, age: Duration) -> u32 {
    let age = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
    let by_age = if age < 3 * HOUR {
        1
    } else if age < 15 * DAY {
        60
    } else if age < 63 * DAY {
        300
    } else {
        3600
    };
    match resolution {
        Resolution::High => by_age,
        Resolution::Standard => by_age.max(60),
    }
}

/// The period to ask for: at least what the data's age allows, at least what the query
/// file asks for, and a value CloudWatch accepts (1, 5, 10, 20, 30 or a multiple of 60).
pub fn choose_period(resolution: Resolution, requested: Option<u32>, age: Duration) -> u32 {
    let floor = min_period_for_age(resolution, age);
    let wanted = requested.unwrap_or(floor).max(floor).max(1);
    if wanted < 60 {
        [1, 5, 10, 20, 30]
            .into_iter()
            .find(|&p| p >= wanted)
            .unwrap_or(60)
    } else {
        // Round up to a multiple of 60 that is also a multiple of the age floor.
        let step = floor.max(60);
        wanted.div_ceil(step) * step
    }
}

/// The range to ask for: the hull of `windows`, padded by `pad` on each side, aligned to
/// whole periods (epoch-aligned, as CloudWatch stamps datapoints), and never reaching past
/// the period containing `now`. `None` when there is no window.
pub fn padded_range(
    windows: &[PhaseWindow],
    period: u32,
    pad: Duration,
    now: DateTime<Utc>,
) -> Option<PhaseWindow> {
    let start = windows.iter().map(|w| w.start).min()?;
    let end = windows.iter().map(|w| w.end).max()?;
    let pad = chrono::Duration::from_std(pad).unwrap_or_default();
    let hull = PhaseWindow {
        start: start - pad,
        end: (end + pad).min(now).max(start - pad),
    };
    let p = Duration::from_secs(u64::from(period.max(1)));
    let mut aligned = hull.align_to_period(p);
    // `now` itself may lie inside the last period: keep it, the period is partial but real.
    if aligned.end <= aligned.start {
        aligned.end = aligned.start + chrono::Duration::seconds(i64::from(period.max(1)));
    }
    Some(aligned)
}

/// One query inside a planned call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedQuery {
    /// The query id sent to AWS (`m0`, `m1`...: `^[a-z][a-zA-Z0-9_]*$`).
    pub id: String,
    /// Index into the series list.
    pub series: usize,
    /// Period in seconds.
    pub period: u32,
}

/// One GetMetricData call (possibly several pages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedCall {
    /// StartTime (inclusive, period-aligned).
    pub start: DateTime<Utc>,
    /// EndTime (exclusive, period-aligned).
    pub end: DateTime<Utc>,
    /// The queries, at most [`MAX_QUERIES_PER_CALL`].
    pub queries: Vec<PlannedQuery>,
    /// Datapoints the call can return at most (periods × queries).
    pub max_datapoints: usize,
    /// Pages expected at `MaxDatapoints` = 100,800.
    pub expected_pages: usize,
}

impl PlannedCall {
    /// The aligned range as a window.
    pub fn range(&self) -> PhaseWindow {
        PhaseWindow {
            start: self.start,
            end: self.end,
        }
    }
}

/// Options for planning.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions {
    /// Padding around the run's windows (context before and after).
    pub pad: Duration,
    /// "Now", for the data-age rule and to never ask for the future.
    pub now: DateTime<Utc>,
    /// Ask every series at this period instead of choosing one (`--period`; e.g. 1 s
    /// against the sandbox at 1-second resolution, where AWS itself would return nothing).
    pub period: Option<u32>,
}

/// Groups the series into calls: one range per period (all series with the same period
/// share it), at most 500 queries per call.
pub fn plan_calls(
    series: &[MetricSeries],
    windows: &[PhaseWindow],
    opts: PlanOptions,
) -> Vec<PlannedCall> {
    let Some(first) = windows.iter().map(|w| w.start).min() else {
        return Vec::new();
    };
    // The oldest datapoint asked for decides the period: it includes the padding.
    let pad = chrono::Duration::from_std(opts.pad).unwrap_or_default();
    let age = (opts.now - (first - pad)).to_std().unwrap_or_default();
    let mut by_period: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, s) in series.iter().enumerate() {
        by_period
            .entry(
                opts.period
                    .unwrap_or_else(|| choose_period(s.resolution, s.min_period, age)),
            )
            .or_default()
            .push(i);
    }
    let mut calls = Vec::new();
    let mut next_id = 0usize;
    for (period, members) in by_period {
        let Some(range) = padded_range(windows, period, opts.pad, opts.now) else {
            continue;
        };
        let periods = usize::try_from(range.duration().as_secs() / u64::from(period.max(1)))
            .unwrap_or(usize::MAX);
        for chunk in members.chunks(MAX_QUERIES_PER_CALL) {
            let queries: Vec<PlannedQuery> = chunk
                .iter()
                .map(|&series| {
                    let id = format!("m{next_id}");
                    next_id += 1;
                    PlannedQuery { id, series, period }
                })
                .collect();
            let max_datapoints = periods.saturating_mul(queries.len());
            calls.push(PlannedCall {
                start: range.start,
                end: range.end,
                expected_pages: max_datapoints.div_ceil(MAX_DATAPOINTS_PER_CALL).max(1),
                max_datapoints,
                queries,
            });
        }
    }
    calls
}

/// Every period start in `range` at `period` seconds.
pub fn period_starts(range: &PhaseWindow, period: u32) -> Vec<DateTime<Utc>> {
    range.period_starts(Duration::from_secs(u64::from(period.max(1))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::Missing;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn series(n: usize, resolution: Resolution) -> Vec<MetricSeries> {
        (0..n)
            .map(|i| MetricSeries {
                namespace: "AWS/Lambda".into(),
                metric: "Invocations".into(),
                dimensions: BTreeMap::from([("FunctionName".into(), format!("f{i}"))]),
                stat: "Sum".into(),
                missing: Missing::Zero,
                resolution,
                min_period: None,
                source: "test".into(),
            })
            .collect()
    }

    #[test]
    fn period_follows_resolution_and_age() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(choose_period(Resolution::High, None, h(2)), 1);
        assert_eq!(choose_period(Resolution::Standard, None, h(2)), 60);
        assert_eq!(choose_period(Resolution::High, None, h(4)), 60);
        assert_eq!(choose_period(Resolution::Standard, None, h(24 * 14)), 60);
        assert_eq!(choose_period(Resolution::Standard, None, h(24 * 16)), 300);
        assert_eq!(choose_period(Resolution::Standard, None, h(24 * 64)), 3600);
        // A file's coarser period wins; a finer one is raised to what still has data.
        assert_eq!(choose_period(Resolution::Standard, Some(300), h(1)), 300);
        assert_eq!(
            choose_period(Resolution::Standard, Some(60), h(24 * 20)),
            300
        );
        assert_eq!(choose_period(Resolution::Standard, Some(90), h(1)), 120);
        assert_eq!(choose_period(Resolution::High, Some(7), h(1)), 10);
        assert_eq!(choose_period(Resolution::High, Some(45), h(1)), 60);
        // Boundary: exactly 3 h old is no longer high resolution.
        assert_eq!(choose_period(Resolution::High, None, h(3)), 60);
    }

    #[test]
    fn range_is_padded_aligned_and_never_in_the_future() {
        let w = [
            PhaseWindow::new(t("2026-06-01T14:01:30Z"), t("2026-06-01T14:03:15Z")).unwrap(),
            PhaseWindow::new(t("2026-06-01T14:03:15Z"), t("2026-06-01T14:05:10Z")).unwrap(),
        ];
        let now = t("2026-06-01T15:00:00Z");
        let r = padded_range(&w, 60, Duration::from_secs(60), now).unwrap();
        assert_eq!(r.start, t("2026-06-01T14:00:00Z"));
        assert_eq!(r.end, t("2026-06-01T14:07:00Z"));
        // Collected right after the run: the range stops at the period holding `now`.
        let r = padded_range(&w, 60, Duration::from_secs(60), t("2026-06-01T14:05:20Z")).unwrap();
        assert_eq!(r.end, t("2026-06-01T14:06:00Z"));
        // One-second periods align to seconds.
        let r = padded_range(&w, 1, Duration::ZERO, now).unwrap();
        assert_eq!(r.start, t("2026-06-01T14:01:30Z"));
        assert_eq!(r.end, t("2026-06-01T14:05:10Z"));
        assert!(padded_range(&[], 60, Duration::ZERO, now).is_none());
    }

    #[test]
    fn three_hours_of_fifty_series_is_one_call() {
        let start = t("2026-06-01T10:00:00Z");
        let w = [PhaseWindow::starting_at(
            start,
            Duration::from_secs(3 * 3600),
        )];
        let calls = plan_calls(
            &series(50, Resolution::Standard),
            &w,
            PlanOptions {
                pad: Duration::ZERO,
                now: t("2026-06-01T14:00:00Z"),
                period: None,
            },
        );
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].max_datapoints, 50 * 180);
        assert_eq!(calls[0].expected_pages, 1);
        assert!(calls[0].queries.iter().all(|q| q.period == 60));
    }

    #[test]
    fn more_than_500_queries_split_and_ids_are_unique() {
        let start = t("2026-06-01T10:00:00Z");
        let w = [PhaseWindow::starting_at(start, Duration::from_secs(600))];
        let calls = plan_calls(
            &series(1201, Resolution::Standard),
            &w,
            PlanOptions {
                pad: Duration::from_secs(60),
                now: t("2026-06-01T11:00:00Z"),
                period: None,
            },
        );
        assert_eq!(
            calls.iter().map(|c| c.queries.len()).collect::<Vec<_>>(),
            [500, 500, 201]
        );
        let mut ids: Vec<&str> = calls
            .iter()
            .flat_map(|c| c.queries.iter().map(|q| q.id.as_str()))
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(ids.iter().all(|id| id.starts_with('m')));
    }

    #[test]
    fn high_resolution_recent_data_pages() {
        let now = t("2026-06-01T13:30:00Z");
        let w = [PhaseWindow::starting_at(
            t("2026-06-01T11:00:00Z"),
            Duration::from_secs(2 * 3600),
        )];
        let mut s = series(50, Resolution::High);
        s.extend(series(2, Resolution::Standard));
        let calls = plan_calls(
            &s,
            &w,
            PlanOptions {
                pad: Duration::ZERO,
                now,
                period: None,
            },
        );
        assert_eq!(calls.len(), 2);
        let hi = calls.iter().find(|c| c.queries[0].period == 1).unwrap();
        assert_eq!(hi.max_datapoints, 50 * 7200);
        assert_eq!(hi.expected_pages, 4);
        let std = calls.iter().find(|c| c.queries[0].period == 60).unwrap();
        assert_eq!(std.queries.len(), 2);
    }

    #[test]
    fn a_forced_period_applies_to_every_series() {
        let now = t("2026-06-01T10:02:00Z");
        let w = [PhaseWindow::starting_at(
            t("2026-06-01T10:00:00Z"),
            Duration::from_secs(45),
        )];
        let mut s = series(3, Resolution::Standard);
        s.extend(series(2, Resolution::High));
        let calls = plan_calls(
            &s,
            &w,
            PlanOptions {
                pad: Duration::ZERO,
                now,
                period: Some(1),
            },
        );
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].queries.len(), 5);
        assert!(calls[0].queries.iter().all(|q| q.period == 1));
        assert_eq!(calls[0].max_datapoints, 5 * 45);
    }
}
