//! Runs planned GetMetricData calls: paced under the TPS quota, every `NextToken` page
//! followed, throttling absorbed (SDK retries, then our own slower retries), and the
//! answers turned into [`MetricPoint`]s — with the periods AWS left empty filled with a
//! marked 0 for metrics that publish only non-zero values.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use chrono::{DateTime, Utc};
use serde::Serialize;
use stormwatch_model::{MetricPoint, PhaseWindow};

use crate::aws::ApiStats;
use crate::error::{Api, TelemetryError};
use crate::pacing::{Pacer, paced};
use crate::plan::{MAX_DATAPOINTS_PER_CALL, PlannedCall, period_starts};
use crate::queries::{MetricSeries, Missing};

/// What came back for one series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeriesReport {
    /// `Namespace/Metric{dims}:Stat`.
    pub series: String,
    /// Query file it came from.
    pub source: String,
    /// Query id used.
    pub id: String,
    /// Period asked for, seconds.
    pub period_secs: u32,
    /// Periods in the range asked for.
    pub periods: usize,
    /// Datapoints AWS returned.
    pub datapoints: usize,
    /// Periods filled with a marked 0 (`missing = "zero"`).
    pub filled_zero: usize,
    /// Periods left empty (`missing = "gap"`).
    pub missing: usize,
    /// Why periods are missing, when some are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_reason: Option<String>,
    /// AWS's status for the query (`Complete`, `PartialData`...), last page.
    pub status: String,
    /// Messages AWS attached to the query.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
}

/// Everything one round of GetMetricData produced.
#[derive(Clone, Debug, Default)]
pub struct MetricsOutcome {
    /// The datapoints, filled zeros included.
    pub points: Vec<MetricPoint>,
    /// Per series.
    pub series: Vec<SeriesReport>,
    /// GetMetricData requests made (pages included, SDK retries not).
    pub requests: usize,
    /// Metrics requested over those requests (what GetMetricData is billed by).
    pub metrics_requested: usize,
}

fn to_smithy(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(t.timestamp_millis())
}

fn from_smithy(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn query(id: &str, s: &MetricSeries, period: u32) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(&s.namespace)
        .metric_name(&s.metric)
        .set_dimensions(Some(
            s.dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .label(s.name())
        .return_data(true)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(i32::try_from(period).unwrap_or(i32::MAX))
                .stat(&s.stat)
                .build(),
        )
        .build()
}

/// Runs `calls` and converts the answers. `now` bounds zero-filling: a period that has
/// not started yet is never filled.
pub async fn fetch(
    client: &aws_sdk_cloudwatch::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    series: &[MetricSeries],
    calls: &[PlannedCall],
    now: DateTime<Utc>,
) -> Result<MetricsOutcome, TelemetryError> {
    let mut out = MetricsOutcome::default();
    for call in calls {
        let queries: Vec<MetricDataQuery> = call
            .queries
            .iter()
            .filter_map(|q| Some(query(&q.id, series.get(q.series)?, q.period)))
            .collect();
        let mut values: HashMap<String, BTreeMap<DateTime<Utc>, f64>> = HashMap::new();
        let mut status: HashMap<String, (String, Vec<String>)> = HashMap::new();
        let mut token: Option<String> = None;
        // Bounded: a server that keeps sending tokens cannot keep us here forever.
        let max_pages = call.expected_pages.saturating_mul(4).saturating_add(16);
        for _page in 0..max_pages {
            let resp = send_paced(client, pacer, stats, call, &queries, token.clone()).await?;
            out.requests += 1;
            out.metrics_requested += queries.len();
            for r in resp.metric_data_results() {
                let Some(id) = r.id() else { continue };
                let entry = values.entry(id.to_string()).or_default();
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    if let Some(t) = from_smithy(t) {
                        entry.insert(t, *v);
                    }
                }
                let s = status.entry(id.to_string()).or_default();
                s.0 = r
                    .status_code()
                    .map_or_else(String::new, |c| c.as_str().to_string());
                s.1.extend(r.messages().iter().map(|m| {
                    format!(
                        "{}: {}",
                        m.code().unwrap_or_default(),
                        m.value().unwrap_or_default()
                    )
                }));
            }
            token = resp
                .next_token()
                .map(str::to_string)
                .filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        let range = call.range();
        for q in &call.queries {
            let Some(s) = series.get(q.series) else {
                continue;
            };
            let got = values.remove(&q.id).unwrap_or_default();
            let (code, messages) = status.remove(&q.id).unwrap_or_default();
            let (points, report) = to_points(s, q.period, &range, &got, now);
            out.points.extend(points);
            out.series.push(SeriesReport {
                id: q.id.clone(),
                status: code,
                messages,
                ..report
            });
        }
    }
    Ok(out)
}

async fn send_paced(
    client: &aws_sdk_cloudwatch::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    call: &PlannedCall,
    queries: &[MetricDataQuery],
    token: Option<String>,
) -> Result<aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput, TelemetryError> {
    paced(Api::GetMetricData, pacer, stats, || {
        client
            .get_metric_data()
            .set_metric_data_queries(Some(queries.to_vec()))
            .start_time(to_smithy(call.start))
            .end_time(to_smithy(call.end))
            .scan_by(ScanBy::TimestampAscending)
            .max_datapoints(i32::try_from(MAX_DATAPOINTS_PER_CALL).unwrap_or(i32::MAX))
            .set_next_token(token.clone())
            .send()
    })
    .await
}

/// Converts one series' datapoints, filling or counting the empty periods.
pub fn to_points(
    s: &MetricSeries,
    period: u32,
    range: &PhaseWindow,
    got: &BTreeMap<DateTime<Utc>, f64>,
    now: DateTime<Utc>,
) -> (Vec<MetricPoint>, SeriesReport) {
    let point = |timestamp, value, filled_zero| MetricPoint {
        timestamp,
        namespace: s.namespace.clone(),
        metric: s.metric.clone(),
        dimensions: s.dimensions.clone(),
        stat: s.stat.clone(),
        period_secs: period,
        value,
        filled_zero,
    };
    let starts = period_starts(range, period);
    let mut points = Vec::with_capacity(starts.len());
    let mut report = SeriesReport {
        series: s.name(),
        source: s.source.clone(),
        period_secs: period,
        periods: starts.len(),
        datapoints: got.len(),
        ..SeriesReport::default()
    };
    for t in &starts {
        if let Some(v) = got.get(t) {
            points.push(point(*t, *v, false));
        } else if *t >= now {
            report.missing += 1;
        } else if s.missing == Missing::Zero {
            points.push(point(*t, 0.0, true));
            report.filled_zero += 1;
        } else {
            report.missing += 1;
        }
    }
    // Datapoints off the period grid (should not happen with AWS) are kept, not dropped.
    for (t, v) in got {
        if !starts.contains(t) {
            points.push(point(*t, *v, false));
        }
    }
    points.sort_by_key(|p| p.timestamp);
    if report.missing > 0 {
        report.missing_reason = Some(if got.is_empty() {
            "AWS returned no datapoint at all: the metric had no data in the range (wrong name or dimensions, the resource was idle, or the data has not arrived yet)".into()
        } else {
            "no datapoint for some periods: nothing was published for them, or they are still in the future".into()
        });
    }
    (points, report)
}

/// The values of every series inside `window`, for comparing two rounds (`--wait`).
pub fn snapshot(points: &[MetricPoint], window: &PhaseWindow) -> BTreeMap<(String, i64), u64> {
    points
        .iter()
        .filter(|p| window.contains(p.timestamp) && !p.filled_zero)
        .map(|p| {
            (
                (p.series_name(), p.timestamp.timestamp()),
                p.value.to_bits(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::Resolution;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn series(missing: Missing) -> MetricSeries {
        MetricSeries {
            namespace: "AWS/Lambda".into(),
            metric: "Throttles".into(),
            dimensions: BTreeMap::from([("FunctionName".into(), "f".into())]),
            stat: "Sum".into(),
            missing,
            resolution: Resolution::Standard,
            min_period: None,
            source: "queries/lambda.toml".into(),
        }
    }

    #[test]
    fn zero_metrics_fill_gaps_and_mark_them() {
        let range = PhaseWindow::new(t("2026-06-01T14:00:00Z"), t("2026-06-01T14:05:00Z")).unwrap();
        let got = BTreeMap::from([(t("2026-06-01T14:02:00Z"), 7.0)]);
        let now = t("2026-06-01T14:04:30Z");
        let (points, report) = to_points(&series(Missing::Zero), 60, &range, &got, now);
        // 14:00..14:04 exist; 14:04 started before `now` so it is filled too.
        assert_eq!(points.len(), 5);
        assert_eq!(report.filled_zero, 4);
        assert!((points[2].value - 7.0).abs() < f64::EPSILON);
        assert!(!points[2].filled_zero);
        assert!(points[0].filled_zero && points[0].value.abs() < f64::EPSILON);
        // A period in the future is never filled.
        let (points, report) = to_points(
            &series(Missing::Zero),
            60,
            &range,
            &got,
            t("2026-06-01T14:03:00Z"),
        );
        assert_eq!(points.len(), 3);
        assert_eq!(report.missing, 2);
    }

    #[test]
    fn gap_metrics_count_missing_periods() {
        let range = PhaseWindow::new(t("2026-06-01T14:00:00Z"), t("2026-06-01T14:03:00Z")).unwrap();
        let (points, report) = to_points(
            &series(Missing::Gap),
            60,
            &range,
            &BTreeMap::new(),
            t("2026-06-02T00:00:00Z"),
        );
        assert!(points.is_empty());
        assert_eq!(report.missing, 3);
        assert!(
            report
                .missing_reason
                .unwrap()
                .contains("no datapoint at all")
        );
    }

    #[test]
    fn snapshots_compare_real_values_in_a_window() {
        let range = PhaseWindow::new(t("2026-06-01T14:00:00Z"), t("2026-06-01T14:03:00Z")).unwrap();
        let got = BTreeMap::from([(t("2026-06-01T14:01:00Z"), 2.0)]);
        let now = t("2026-06-02T00:00:00Z");
        let (a, _) = to_points(&series(Missing::Zero), 60, &range, &got, now);
        let got2 = BTreeMap::from([(t("2026-06-01T14:01:00Z"), 3.0)]);
        let (b, _) = to_points(&series(Missing::Zero), 60, &range, &got2, now);
        assert_eq!(snapshot(&a, &range), snapshot(&a.clone(), &range));
        assert_ne!(snapshot(&a, &range), snapshot(&b, &range));
        assert_eq!(snapshot(&a, &range).len(), 1);
    }
}
