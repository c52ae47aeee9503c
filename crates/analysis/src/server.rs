//! Server-side series (CloudWatch datapoints) aligned to phase windows and to seconds.
//!
//! CloudWatch data is per period (60 s for AWS/Lambda and AWS/ApiGateway, 1 s in the
//! sandbox's fast mode). Counts (`Sum`) are attributed to a window in proportion to the
//! run's own requests sent in the part of each period inside it — throttles and errors follow
//! traffic, so a period straddling the end of a burst and the start of an idle phase goes to
//! the burst — or, for a period in which the run sent nothing, to the share of the period the
//! window covers; gauges (`Maximum`) take the largest period that overlaps it; for the
//! per-second timeline a count is spread evenly over its period and a gauge is held.

use std::time::Duration;

use chrono::{DateTime, Utc};
use stormwatch_model::analysis::ServerStats;
use stormwatch_model::{MetricPoint, Millis, PhaseWindow, UnixNanos};

/// All datapoints of a run, as read from `telemetry/metrics.parquet`.
#[derive(Debug, Default)]
pub struct ServerSeries {
    points: Vec<MetricPoint>,
    /// Send times (Unix ns) of the run's requests, sorted: the weights of counts.
    traffic: Vec<i64>,
}

/// Downstream throttle metrics, as (namespace, metric).
pub const DOWNSTREAM_THROTTLES: [(&str, &str); 3] = [
    ("AWS/DynamoDB", "ThrottledRequests"),
    ("AWS/DynamoDB", "WriteThrottleEvents"),
    ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
];

impl ServerSeries {
    /// Wraps datapoints.
    pub fn new(points: Vec<MetricPoint>) -> Self {
        Self {
            points,
            traffic: Vec::new(),
        }
    }

    /// Weights counts by the run's own traffic: `sends` are the requests' send times.
    #[must_use]
    pub fn with_traffic(mut self, mut sends: Vec<i64>) -> Self {
        sends.sort_unstable();
        self.traffic = sends;
        self
    }

    /// Requests sent in `[from, to)` (Unix ns).
    fn sent_between(&self, from: i64, to: i64) -> usize {
        let lo = self.traffic.partition_point(|&t| t < from);
        let hi = self.traffic.partition_point(|&t| t < to);
        hi.saturating_sub(lo)
    }

    /// The share of a count in the period starting at `start` that belongs to `window`.
    fn share_of_period(&self, window: &PhaseWindow, start: DateTime<Utc>, period: Duration) -> f64 {
        let ps = UnixNanos::from_datetime(start).0;
        let pe = ps.saturating_add(i64::try_from(period.as_nanos()).unwrap_or(i64::MAX));
        let sent = self.sent_between(ps, pe);
        if sent == 0 {
            return window.period_coverage(start, period);
        }
        let ws = UnixNanos::from_datetime(window.start).0.max(ps);
        let we = UnixNanos::from_datetime(window.end).0.min(pe);
        if we <= ws {
            return 0.0;
        }
        self.sent_between(ws, we) as f64 / sent as f64
    }

    /// Whether there is any datapoint at all.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Number of distinct series.
    pub fn series_count(&self) -> usize {
        let mut names: Vec<String> = self.points.iter().map(MetricPoint::series_name).collect();
        names.sort();
        names.dedup();
        names.len()
    }

    /// Points of one metric and statistic, over every dimension set, that are measured at the
    /// API or function level (the per-`Resource` and per-version duplicates are skipped so
    /// nothing is counted twice).
    pub fn points<'a>(
        &'a self,
        namespace: &'a str,
        metric: &'a str,
        stat: &'a str,
    ) -> impl Iterator<Item = &'a MetricPoint> + 'a {
        self.points.iter().filter(move |p| {
            p.namespace == namespace
                && p.metric == metric
                && p.stat == stat
                && !p.dimensions.contains_key("Resource")
                && !p.dimensions.contains_key("ExecutedVersion")
                && !(namespace == "AWS/ApiGateway" && p.dimensions.contains_key("Method"))
        })
    }

    /// Sum of a count metric over `window`, each period weighted by the share of the run's
    /// requests of that period sent inside the window (by time when it sent none); `None`
    /// when the metric was not collected at all.
    pub fn sum_in(&self, namespace: &str, metric: &str, window: &PhaseWindow) -> Option<f64> {
        let mut any = false;
        let total = self
            .points(namespace, metric, "Sum")
            .inspect(|_| any = true)
            .map(|p| p.value * self.share_of_period(window, p.timestamp, period(p)))
            .sum();
        any.then_some(total)
    }

    /// Largest value of `stat` among periods overlapping `window`.
    pub fn max_in(
        &self,
        namespace: &str,
        metric: &str,
        stat: &str,
        window: &PhaseWindow,
    ) -> Option<f64> {
        self.points(namespace, metric, stat)
            .filter(|p| window.overlap_with_period(p.timestamp, period(p)) > Duration::ZERO)
            .map(|p| p.value)
            .fold(None, |m, v| Some(m.map_or(v, |m: f64| m.max(v))))
    }

    /// Value of a gauge (held) or count (spread evenly over its period) at each second of
    /// `seconds`. The matching points are sorted by time once and each second looks only at
    /// the periods that can overlap it (a 3-hour run has 10,800 seconds and maybe half a
    /// million datapoints).
    pub fn per_second_all(
        &self,
        namespace: &str,
        metric: &str,
        stat: &str,
        seconds: &[DateTime<Utc>],
    ) -> Vec<Option<f64>> {
        let mut points: Vec<&MetricPoint> = self.points(namespace, metric, stat).collect();
        points.sort_by_key(|p| p.timestamp);
        let longest = points.iter().map(|p| period(p)).max().unwrap_or_default();
        let longest = chrono::Duration::from_std(longest).unwrap_or_default();
        seconds
            .iter()
            .map(|&t| {
                let second = PhaseWindow::starting_at(t, Duration::from_secs(1));
                let lo = points.partition_point(|p| p.timestamp + longest <= t);
                let hi = points.partition_point(|p| p.timestamp < second.end);
                let mut found = None;
                for p in &points[lo..hi] {
                    let share = second.overlap_with_period(p.timestamp, period(p));
                    if share.is_zero() {
                        continue;
                    }
                    let v = if stat == "Sum" {
                        p.value * share.as_secs_f64() / period(p).as_secs_f64()
                    } else {
                        p.value
                    };
                    found = Some(match (found, stat) {
                        (None, _) => v,
                        (Some(acc), "Sum") => acc + v,
                        (Some(acc), _) => f64::max(acc, v),
                    });
                }
                found
            })
            .collect()
    }

    /// Sum of every downstream throttle metric over `window`.
    pub fn downstream_throttles_in(&self, window: &PhaseWindow) -> Option<f64> {
        DOWNSTREAM_THROTTLES
            .iter()
            .filter_map(|(ns, m)| self.sum_in(ns, m, window))
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
    }

    /// The server-side numbers of one phase window.
    pub fn phase_stats(&self, window: &PhaseWindow) -> Option<ServerStats> {
        if self.is_empty() {
            return None;
        }
        let lambda = "AWS/Lambda";
        let api_5xx = self
            .sum_in("AWS/ApiGateway", "5XXError", window)
            .or_else(|| self.sum_in("AWS/ApiGateway", "5xx", window));
        let api_4xx = self
            .sum_in("AWS/ApiGateway", "4XXError", window)
            .or_else(|| self.sum_in("AWS/ApiGateway", "4xx", window));
        Some(ServerStats {
            max_concurrency: self.max_in(lambda, "ConcurrentExecutions", "Maximum", window),
            invocations: self.sum_in(lambda, "Invocations", window),
            throttles: self.sum_in(lambda, "Throttles", window),
            function_errors: self.sum_in(lambda, "Errors", window),
            // Percentiles of different periods cannot be merged exactly; the worst period
            // is what a user felt, so that is what is shown.
            duration_p50: self.max_in(lambda, "Duration", "p50", window).map(Millis),
            duration_p99: self.max_in(lambda, "Duration", "p99", window).map(Millis),
            api_5xx,
            api_4xx,
            downstream_throttles: self.downstream_throttles_in(window),
        })
    }
}

fn period(p: &MetricPoint) -> Duration {
    Duration::from_secs(u64::from(p.period_secs.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn point(metric: &str, stat: &str, ts: &str, value: f64, dims: &[(&str, &str)]) -> MetricPoint {
        MetricPoint {
            timestamp: t(ts),
            namespace: "AWS/Lambda".into(),
            metric: metric.into(),
            dimensions: dims
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect::<BTreeMap<_, _>>(),
            stat: stat.into(),
            period_secs: 60,
            value,
            filled_zero: false,
        }
    }

    #[test]
    fn counts_are_weighted_by_coverage_and_gauges_take_the_max() {
        let f = [("FunctionName", "f")];
        let s = ServerSeries::new(vec![
            point("Throttles", "Sum", "2026-11-22T14:00:00Z", 60.0, &f),
            point("Throttles", "Sum", "2026-11-22T14:01:00Z", 120.0, &f),
            // A per-version duplicate must not be counted again.
            point(
                "Throttles",
                "Sum",
                "2026-11-22T14:01:00Z",
                120.0,
                &[("FunctionName", "f"), ("Resource", "f:1")],
            ),
            point(
                "ConcurrentExecutions",
                "Maximum",
                "2026-11-22T14:00:00Z",
                40.0,
                &f,
            ),
            point(
                "ConcurrentExecutions",
                "Maximum",
                "2026-11-22T14:01:00Z",
                100.0,
                &f,
            ),
        ]);
        // 14:00:30 – 14:01:30 covers half of each period.
        let w = PhaseWindow::new(t("2026-11-22T14:00:30Z"), t("2026-11-22T14:01:30Z")).unwrap();
        assert_eq!(s.sum_in("AWS/Lambda", "Throttles", &w), Some(90.0));
        assert_eq!(
            s.max_in("AWS/Lambda", "ConcurrentExecutions", "Maximum", &w),
            Some(100.0)
        );
        assert_eq!(s.sum_in("AWS/Lambda", "Errors", &w), None);
        // Per second: a count is spread, a gauge is held.
        let sec = t("2026-11-22T14:01:10Z");
        assert_eq!(
            s.per_second_all("AWS/Lambda", "Throttles", "Sum", &[sec]),
            [Some(2.0)]
        );
        assert_eq!(
            s.per_second_all("AWS/Lambda", "ConcurrentExecutions", "Maximum", &[sec]),
            [Some(100.0)]
        );
        let stats = s.phase_stats(&w).unwrap();
        assert_eq!(stats.throttles, Some(90.0));
        assert_eq!(stats.max_concurrency, Some(100.0));
    }

    #[test]
    fn counts_follow_the_runs_traffic_across_a_phase_boundary() {
        let f = [("FunctionName", "f")];
        let mut p = point("Throttles", "Sum", "2026-11-22T14:00:00Z", 6.0, &f);
        p.period_secs = 1;
        let ns = |s: &str| UnixNanos::from_datetime(t(s)).0;
        // The burst ends 300 ms into the second and sends every request before that.
        let sends = vec![
            ns("2026-11-22T14:00:00.050Z"),
            ns("2026-11-22T14:00:00.150Z"),
            ns("2026-11-22T14:00:00.250Z"),
        ];
        let burst =
            PhaseWindow::new(t("2026-11-22T13:59:50Z"), t("2026-11-22T14:00:00.300Z")).unwrap();
        let idle =
            PhaseWindow::new(t("2026-11-22T14:00:00.300Z"), t("2026-11-22T14:00:10Z")).unwrap();
        let by_time = ServerSeries::new(vec![p.clone()]);
        assert!((by_time.sum_in("AWS/Lambda", "Throttles", &idle).unwrap() - 4.2).abs() < 1e-9);
        let by_traffic = ServerSeries::new(vec![p.clone()]).with_traffic(sends);
        assert_eq!(
            by_traffic.sum_in("AWS/Lambda", "Throttles", &idle),
            Some(0.0)
        );
        assert_eq!(
            by_traffic.sum_in("AWS/Lambda", "Throttles", &burst),
            Some(6.0)
        );
        // A period in which the run sent nothing falls back to time coverage.
        let mut later = p;
        later.timestamp = t("2026-11-22T14:00:05Z");
        let quiet =
            ServerSeries::new(vec![later]).with_traffic(vec![ns("2026-11-22T14:00:00.050Z")]);
        assert_eq!(quiet.sum_in("AWS/Lambda", "Throttles", &idle), Some(6.0));
    }

    #[test]
    fn per_second_spreads_each_period_over_its_seconds() {
        let f = [("FunctionName", "f")];
        let mut points = Vec::new();
        for (i, v) in [3.0, 0.0, 6.0].iter().enumerate() {
            let mut p = point("Throttles", "Sum", "2026-11-22T14:00:00Z", *v, &f);
            p.timestamp += chrono::Duration::seconds(i64::try_from(i).unwrap() * 60);
            points.push(p);
        }
        // A one-second period inside the second minute.
        let mut fine = point("Throttles", "Sum", "2026-11-22T14:01:30Z", 5.0, &f);
        fine.period_secs = 1;
        points.push(fine);
        let s = ServerSeries::new(points);
        let at = |i: i64| t("2026-11-22T13:59:59Z") + chrono::Duration::seconds(i);
        let seconds: Vec<_> = (0..183).map(at).collect();
        let got = s.per_second_all("AWS/Lambda", "Throttles", "Sum", &seconds);
        assert_eq!(got[0], None, "before the first period");
        assert_eq!(got[1], Some(0.05), "3 over 60 s");
        assert_eq!(got[61], Some(0.0));
        assert_eq!(
            got[91],
            Some(5.0),
            "14:01:30: the fine period on a zero minute"
        );
        assert_eq!(got[121], Some(0.1), "6 over 60 s");
        assert_eq!(got[181], None, "after the last period");
        let total: f64 = got.iter().flatten().sum();
        assert!((total - 14.0).abs() < 1e-9, "{total}");
    }
}
