//! Server-side series (CloudWatch datapoints) per resource, aligned to phase windows and to
//! seconds.
//!
//! CloudWatch data is per period (60 s for AWS/Lambda and AWS/ApiGateway, 1 s in the
//! sandbox's fast mode), and a period often straddles two phases. A count (`Sum`) is split
//! between the phases by what the client saw in that period, in this order:
//! 1. the client's requests of the matching outcome (throttle statuses for `Throttles`, 5xx
//!    for `Errors`/`5XXError`, 4xx for `4XXError`, requests that reached Lambda for
//!    `Invocations`), sent inside each phase's part of the period;
//! 2. when the client saw no such outcome in that period, all of the run's requests;
//! 3. when the run sent nothing in that period, the share of the period's time.
//!
//! Each period's count is then apportioned in whole numbers (largest remainder, with
//! "outside every phase" as one more bucket), so phase counts are integers that add up to
//! the period's count: nothing is lost or counted twice. Gauges (`Maximum`, percentiles)
//! take the worst period that mostly belongs to the phase. For the per-second timeline a
//! count is spread evenly over its period and a gauge is held.
//!
//! Nothing is summed across resources: every number is per function, API, table or stream.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use stormwatch_model::analysis::{ResourceKind, ResourceStats, ServerStats};
use stormwatch_model::{MetricPoint, Millis, PhaseWindow, UnixNanos};

use crate::client_events::{Class, ClientEvents, apportion, class_of};

/// All datapoints of a run, as read from `telemetry/metrics.parquet`.
#[derive(Debug, Default)]
pub struct ServerSeries {
    points: Vec<MetricPoint>,
    client: ClientEvents,
}

/// The resource a datapoint measures, or `None` for per-version, per-method and
/// account-level duplicates (counted once, at the function or stage level).
fn resource_of(p: &MetricPoint) -> Option<(ResourceKind, String)> {
    let dim = |k: &str| p.dimensions.get(k).cloned();
    match p.namespace.as_str() {
        "AWS/Lambda" => {
            if p.dimensions.contains_key("Resource") || p.dimensions.contains_key("ExecutedVersion")
            {
                return None;
            }
            Some((ResourceKind::Function, dim("FunctionName")?))
        }
        "AWS/ApiGateway" => {
            if p.dimensions.contains_key("Method") || p.dimensions.contains_key("Resource") {
                return None;
            }
            let api = dim("ApiName").or_else(|| dim("ApiId"))?;
            Some((
                ResourceKind::Api,
                match dim("Stage") {
                    Some(stage) => format!("{api}/{stage}"),
                    None => api,
                },
            ))
        }
        "AWS/DynamoDB" => Some((ResourceKind::Table, dim("TableName")?)),
        "AWS/Kinesis" => {
            if p.dimensions.contains_key("ShardId") {
                return None;
            }
            Some((ResourceKind::Stream, dim("StreamName")?))
        }
        _ => None,
    }
}

impl ServerSeries {
    /// Wraps datapoints.
    pub fn new(points: Vec<MetricPoint>) -> Self {
        Self {
            points,
            client: ClientEvents::default(),
        }
    }

    /// Weights counts by what the run's own requests saw.
    #[must_use]
    pub fn with_client(mut self, client: ClientEvents) -> Self {
        self.client = client;
        self
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

    /// Points of one metric and statistic measured at the resource level (the per-version,
    /// per-method and account-level duplicates are skipped so nothing counts twice).
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
                && resource_of(p).is_some()
        })
    }

    /// Each window's share of the period starting at `start` (see the module docs); the
    /// shares add up to at most 1.
    fn shares(
        &self,
        class: Class,
        windows: &[PhaseWindow],
        start: DateTime<Utc>,
        period: Duration,
    ) -> Vec<f64> {
        let ps = UnixNanos::from_datetime(start).0;
        let pe = ps.saturating_add(i64::try_from(period.as_nanos()).unwrap_or(i64::MAX));
        let between = |v: &[i64], from: i64, to: i64| {
            v.partition_point(|&t| t < to)
                .saturating_sub(v.partition_point(|&t| t < from))
        };
        for weights in [self.client.of(class), &self.client.all] {
            let total = between(weights, ps, pe);
            if total == 0 {
                continue;
            }
            return windows
                .iter()
                .map(|w| {
                    let ws = UnixNanos::from_datetime(w.start).0.max(ps);
                    let we = UnixNanos::from_datetime(w.end).0.min(pe);
                    if we <= ws {
                        0.0
                    } else {
                        between(weights, ws, we) as f64 / total as f64
                    }
                })
                .collect();
        }
        windows
            .iter()
            .map(|w| w.period_coverage(start, period))
            .collect()
    }

    /// The window most of the period starting at `start` belongs to (by the run's requests,
    /// or by time when it sent none), if any.
    pub fn phase_of_period(
        &self,
        windows: &[PhaseWindow],
        start: DateTime<Utc>,
        period: Duration,
    ) -> Option<usize> {
        self.shares(Class::All, windows, start, period)
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    /// Whether the period starting at `start` belongs mostly to `window` (by the run's
    /// requests, or by time when it sent none): the periods a gauge is read from.
    fn mostly_in(&self, window: &PhaseWindow, start: DateTime<Utc>, period: Duration) -> bool {
        self.shares(Class::All, std::slice::from_ref(window), start, period)[0] >= 0.5
    }

    /// Per window, the whole-number part of every `Sum` datapoint of `metric` for each
    /// resource; resources without the metric are absent.
    fn counts(
        &self,
        namespace: &str,
        metric: &str,
        windows: &[PhaseWindow],
    ) -> BTreeMap<(ResourceKind, String), Vec<u64>> {
        let class = class_of(namespace, metric);
        let mut out: BTreeMap<(ResourceKind, String), Vec<u64>> = BTreeMap::new();
        for p in self.points(namespace, metric, "Sum") {
            let Some(resource) = resource_of(p) else {
                continue;
            };
            let value = if p.value.is_finite() && p.value > 0.0 {
                p.value.round() as u64
            } else {
                0
            };
            let parts = apportion(value, &self.shares(class, windows, p.timestamp, period(p)));
            let acc = out
                .entry(resource)
                .or_insert_with(|| vec![0; windows.len()]);
            for (a, v) in acc.iter_mut().zip(parts) {
                *a += v;
            }
        }
        out
    }

    /// Per window, the largest value of `stat` among the periods mostly inside it (any
    /// overlapping period when none is), per resource.
    fn worst(
        &self,
        namespace: &str,
        metric: &str,
        stat: &str,
        windows: &[PhaseWindow],
    ) -> BTreeMap<(ResourceKind, String), Vec<Option<f64>>> {
        let mut by_resource: BTreeMap<(ResourceKind, String), Vec<&MetricPoint>> = BTreeMap::new();
        for p in self.points(namespace, metric, stat) {
            if let Some(r) = resource_of(p) {
                by_resource.entry(r).or_default().push(p);
            }
        }
        by_resource
            .into_iter()
            .map(|(r, points)| {
                let per_window = windows
                    .iter()
                    .map(|w| {
                        let overlapping: Vec<&&MetricPoint> = points
                            .iter()
                            .filter(|p| !w.overlap_with_period(p.timestamp, period(p)).is_zero())
                            .collect();
                        let mostly: Vec<&&MetricPoint> = overlapping
                            .iter()
                            .copied()
                            .filter(|p| self.mostly_in(w, p.timestamp, period(p)))
                            .collect();
                        let pick = if mostly.is_empty() {
                            overlapping
                        } else {
                            mostly
                        };
                        pick.iter()
                            .map(|p| p.value)
                            .filter(|v| v.is_finite())
                            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                    })
                    .collect();
                (r, per_window)
            })
            .collect()
    }

    /// The server-side numbers of every window, per resource (`None` for every window when
    /// nothing was collected).
    pub fn phase_stats(&self, windows: &[PhaseWindow]) -> Vec<Option<ServerStats>> {
        if self.is_empty() {
            return vec![None; windows.len()];
        }
        let mut stats: Vec<BTreeMap<(ResourceKind, String), ResourceStats>> =
            vec![BTreeMap::new(); windows.len()];
        let mut set_count =
            |ns: &str, metric: &str, field: fn(&mut ResourceStats) -> &mut Option<u64>| {
                for (r, per_window) in self.counts(ns, metric, windows) {
                    for (i, v) in per_window.into_iter().enumerate() {
                        let e = stats[i]
                            .entry(r.clone())
                            .or_insert_with(|| ResourceStats::new(r.0, &r.1));
                        let slot = field(e);
                        *slot = Some(slot.unwrap_or(0) + v);
                    }
                }
            };
        set_count("AWS/Lambda", "Invocations", |s| &mut s.requests);
        set_count("AWS/Lambda", "Throttles", |s| &mut s.throttles);
        set_count("AWS/Lambda", "Errors", |s| &mut s.errors);
        for (metric, field) in [
            (
                "Count",
                (|s| &mut s.requests) as fn(&mut ResourceStats) -> &mut Option<u64>,
            ),
            ("5XXError", |s| &mut s.errors),
            ("5xx", |s| &mut s.errors),
            ("4XXError", |s| &mut s.client_errors),
            ("4xx", |s| &mut s.client_errors),
        ] {
            set_count("AWS/ApiGateway", metric, field);
        }
        set_count("AWS/Kinesis", "IncomingRecords", |s| &mut s.requests);
        set_count("AWS/Kinesis", "WriteProvisionedThroughputExceeded", |s| {
            &mut s.throttles
        });
        // DynamoDB: `ThrottledRequests` counts rejected requests (one series per operation,
        // summed here); without it, read + write throttle events stand in.
        let requests = self.counts("AWS/DynamoDB", "ThrottledRequests", windows);
        let mut events = self.counts("AWS/DynamoDB", "ReadThrottleEvents", windows);
        for (r, v) in self.counts("AWS/DynamoDB", "WriteThrottleEvents", windows) {
            let acc = events.entry(r).or_insert_with(|| vec![0; windows.len()]);
            for (a, b) in acc.iter_mut().zip(v) {
                *a += b;
            }
        }
        events.retain(|r, _| !requests.contains_key(r));
        for (r, v) in requests.into_iter().chain(events) {
            for (i, n) in v.into_iter().enumerate() {
                let e = stats[i]
                    .entry(r.clone())
                    .or_insert_with(|| ResourceStats::new(r.0, &r.1));
                e.throttles = Some(e.throttles.unwrap_or(0) + n);
            }
        }
        let mut set_gauge =
            |ns: &str, metric: &str, stat: &str, set: fn(&mut ResourceStats, f64)| {
                for (r, per_window) in self.worst(ns, metric, stat, windows) {
                    for (i, v) in per_window.into_iter().enumerate() {
                        if let Some(v) = v {
                            let e = stats[i]
                                .entry(r.clone())
                                .or_insert_with(|| ResourceStats::new(r.0, &r.1));
                            set(e, v);
                        }
                    }
                }
            };
        set_gauge("AWS/Lambda", "ConcurrentExecutions", "Maximum", |s, v| {
            s.peak_concurrency = Some(v.max(0.0).round() as u64);
        });
        // Percentiles of different periods cannot be merged exactly; the worst period is
        // what a user felt, so that is what is shown.
        set_gauge("AWS/Lambda", "Duration", "p99", |s, v| {
            s.duration_p99 = Some(Millis(v));
        });
        set_gauge("AWS/Lambda", "Duration", "Maximum", |s, v| {
            s.duration_max = Some(Millis(v));
        });
        set_gauge("AWS/ApiGateway", "Latency", "p99", |s, v| {
            s.duration_p99 = Some(Millis(v));
        });
        stats
            .into_iter()
            .map(|m| {
                Some(ServerStats {
                    resources: m.into_values().collect(),
                })
            })
            .collect()
    }

    /// Value of a gauge (held) or count at each second of `seconds` (ascending), summed
    /// (counts) or maximised (gauges) over resources: a chart series. A count is apportioned
    /// over the seconds of its period in whole numbers by the same rule as phases (the
    /// client's matching outcomes in each second, else its traffic, else time), so a
    /// 60-second period of 308 throttles lands on the seconds whose requests were throttled.
    /// The matching points are sorted by time once and each looks only at the seconds it
    /// overlaps (a 3-hour run has 10,800 seconds and maybe half a million datapoints).
    pub fn per_second_all(
        &self,
        namespace: &str,
        metric: &str,
        stat: &str,
        seconds: &[DateTime<Utc>],
    ) -> Vec<Option<f64>> {
        let one = Duration::from_secs(1);
        let mut out: Vec<Option<f64>> = vec![None; seconds.len()];
        let class = class_of(namespace, metric);
        for p in self.points(namespace, metric, stat) {
            let end = p.timestamp + chrono::Duration::from_std(period(p)).unwrap_or_default();
            let lo = seconds.partition_point(|t| *t + chrono::Duration::seconds(1) <= p.timestamp);
            let hi = seconds.partition_point(|t| *t < end);
            if lo >= hi || !p.value.is_finite() {
                continue;
            }
            if stat == "Sum" {
                let windows: Vec<PhaseWindow> = seconds[lo..hi]
                    .iter()
                    .map(|t| PhaseWindow::starting_at(*t, one))
                    .collect();
                let value = p.value.max(0.0).round() as u64;
                let parts = apportion(value, &self.shares(class, &windows, p.timestamp, period(p)));
                for (slot, v) in out[lo..hi].iter_mut().zip(parts) {
                    *slot = Some(slot.unwrap_or(0.0) + v as f64);
                }
            } else {
                for slot in &mut out[lo..hi] {
                    *slot = Some(slot.map_or(p.value, |v| v.max(p.value)));
                }
            }
        }
        out
    }
}

/// Downstream throttle metrics drawn in the timeline, as (namespace, metric).
pub const DOWNSTREAM_THROTTLES: [(&str, &str); 3] = [
    ("AWS/DynamoDB", "ReadThrottleEvents"),
    ("AWS/DynamoDB", "WriteThrottleEvents"),
    ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
];

fn period(p: &MetricPoint) -> Duration {
    Duration::from_secs(u64::from(p.period_secs.max(1)))
}

#[cfg(test)]
mod tests;
