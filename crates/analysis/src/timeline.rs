//! Per-second series of the run (offered and achieved load, latency, errors) and the HDR
//! percentile curves of each phase.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use polars::prelude::*;
use stormwatch_model::analysis::{LatencyDistribution, PercentilePoint, TimelinePoint};
use stormwatch_model::{Millis, UnixNanos};

use crate::AnalysisError;
use crate::inputs::RunInputs;
use crate::server::{DOWNSTREAM_THROTTLES, ServerSeries};
use crate::traces::TraceBreakdown;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Percentiles drawn on the distribution chart.
const CURVE: [f64; 10] = [
    50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

fn second_of(column: &str) -> Expr {
    col(column).floor_div(lit(NANOS_PER_SEC)).alias("sec")
}

fn column_i64(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    df.column(name)
        .ok()
        .and_then(|c| c.cast(&DataType::Int64).ok())
        .and_then(|c| c.i64().ok().map(|ca| ca.iter().collect()))
        .unwrap_or_default()
}

fn column_f64(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    df.column(name)
        .ok()
        .and_then(|c| c.cast(&DataType::Float64).ok())
        .and_then(|c| c.f64().ok().map(|ca| ca.iter().collect()))
        .unwrap_or_default()
}

/// The longest run the per-second timeline covers: 31 days.
pub const MAX_TIMELINE_SECS: i64 = 31 * 86_400;

/// One point per second from the run's start to its end.
pub fn timeline(inputs: &RunInputs) -> Result<Vec<TimelinePoint>, AnalysisError> {
    let requests = inputs.requests.clone().lazy();
    let offered = requests
        .clone()
        .group_by([second_of("intended_ns")])
        .agg([len().alias("offered")])
        .collect()
        .map_err(AnalysisError::query("offered load per second"))?;
    let completed = requests
        .group_by([second_of("end_ns")])
        .agg([
            len().alias("completed"),
            col("corrected_ms")
                .quantile(lit(0.5), QuantileMethod::Equiprobable)
                .alias("p50"),
            col("corrected_ms")
                .quantile(lit(0.99), QuantileMethod::Equiprobable)
                .alias("p99"),
            col("status")
                .gt_eq(lit(400))
                .and(col("status").lt(lit(500)))
                .sum()
                .alias("e4"),
            col("status").gt_eq(lit(500)).sum().alias("e5"),
            col("status").eq(lit(0)).sum().alias("et"),
        ])
        .collect()
        .map_err(AnalysisError::query("completed load per second"))?;

    let mut by_sec: BTreeMap<i64, TimelinePoint> = BTreeMap::new();
    let window = inputs.manifest.overall_window();
    if let Some(w) = window {
        let first = UnixNanos::from_datetime(w.start)
            .0
            .div_euclid(NANOS_PER_SEC);
        let last =
            (UnixNanos::from_datetime(w.end).0 + NANOS_PER_SEC - 1).div_euclid(NANOS_PER_SEC);
        // One point per second: a manifest whose phases span years (a corrupt or hand-edited
        // start) would allocate until the process dies.
        if last - first > MAX_TIMELINE_SECS {
            return Err(AnalysisError::Data {
                path: "manifest.json".into(),
                message: format!(
                    "the phases span {:.1} days ({} to {}); runs longer than {} days are not \
                     analyzed: check the phases' actual windows",
                    (last - first) as f64 / 86_400.0,
                    w.start,
                    w.end,
                    MAX_TIMELINE_SECS / 86_400
                ),
            });
        }
        for s in first..last {
            by_sec.insert(s, point(inputs, s));
        }
    }
    for (sec, n) in column_i64(&offered, "sec")
        .into_iter()
        .zip(column_i64(&offered, "offered"))
    {
        if let (Some(sec), Some(n)) = (sec, n) {
            by_sec
                .entry(sec)
                .or_insert_with(|| point(inputs, sec))
                .offered = n as u64;
        }
    }
    let secs = column_i64(&completed, "sec");
    let counts = column_i64(&completed, "completed");
    let p50 = column_f64(&completed, "p50");
    let p99 = column_f64(&completed, "p99");
    let e4 = column_i64(&completed, "e4");
    let e5 = column_i64(&completed, "e5");
    let et = column_i64(&completed, "et");
    for i in 0..secs.len() {
        let Some(sec) = secs[i] else { continue };
        let p = by_sec.entry(sec).or_insert_with(|| point(inputs, sec));
        p.completed = counts[i].unwrap_or(0) as u64;
        p.p50 = p50[i].map(Millis);
        p.p99 = p99[i].map(Millis);
        p.errors_4xx = e4[i].unwrap_or(0) as u64;
        p.errors_5xx = e5[i].unwrap_or(0) as u64;
        p.errors_transport = et[i].unwrap_or(0) as u64;
    }
    Ok(by_sec.into_values().collect())
}

fn point(inputs: &RunInputs, sec: i64) -> TimelinePoint {
    let t: DateTime<Utc> = DateTime::UNIX_EPOCH + ChronoDuration::seconds(sec);
    TimelinePoint {
        t,
        phase: inputs
            .manifest
            .phase_at(t)
            .and_then(|i| u32::try_from(i).ok()),
        ..TimelinePoint::default()
    }
}

/// HDR percentile curves of corrected latency per phase (all endpoints merged).
pub fn distributions(inputs: &RunInputs) -> Result<Vec<LatencyDistribution>, AnalysisError> {
    let Some(file) = &inputs.histograms else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for phase in &inputs.manifest.phases {
        let mut merged: Option<hdrhistogram::Histogram<u64>> = None;
        for entry in file.entries.iter().filter(|e| e.phase == phase.index) {
            let h = entry.corrected.decode().map_err(|message| {
                AnalysisError::from(stormwatch_model::ModelError::Histogram {
                    phase: entry.phase,
                    endpoint: entry.endpoint.clone(),
                    message,
                })
            })?;
            match &mut merged {
                None => merged = Some(h),
                Some(m) => {
                    let _ = m.add(&h);
                }
            }
        }
        let Some(h) = merged.filter(|h| !h.is_empty()) else {
            continue;
        };
        out.push(LatencyDistribution {
            phase: phase.name.clone(),
            points: CURVE
                .iter()
                .map(|p| PercentilePoint {
                    percentile: *p,
                    // Histograms are in microseconds.
                    latency: Millis(h.value_at_percentile(*p) as f64 / 1000.0),
                })
                .collect(),
        });
    }
    Ok(out)
}

/// Adds Lambda concurrency, Lambda throttles and downstream throttles to each second.
pub fn add_server_series(timeline: &mut [TimelinePoint], server: &ServerSeries) {
    if server.is_empty() {
        return;
    }
    let seconds: Vec<_> = timeline.iter().map(|p| p.t).collect();
    let concurrency =
        server.per_second_all("AWS/Lambda", "ConcurrentExecutions", "Maximum", &seconds);
    let throttles = server.per_second_all("AWS/Lambda", "Throttles", "Sum", &seconds);
    let downstream: Vec<Vec<Option<f64>>> = DOWNSTREAM_THROTTLES
        .iter()
        .map(|(ns, m)| server.per_second_all(ns, m, "Sum", &seconds))
        .collect();
    for (i, p) in timeline.iter_mut().enumerate() {
        p.concurrency = concurrency[i];
        p.lambda_throttles = throttles[i];
        p.downstream_throttles = downstream
            .iter()
            .filter_map(|series| series[i])
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v));
    }
}

/// Counts the cold starts (traced inits) beginning in each second.
pub fn add_cold_starts<'a>(
    timeline: &mut [TimelinePoint],
    traces: impl Iterator<Item = &'a TraceBreakdown>,
) {
    let Some(first) = timeline.first().map(|p| UnixNanos::from_datetime(p.t).0) else {
        return;
    };
    for t in traces {
        let Some(start) = t.init_start else { continue };
        let i = (start.0 - first).div_euclid(NANOS_PER_SEC);
        if let Some(p) = usize::try_from(i).ok().and_then(|i| timeline.get_mut(i)) {
            p.cold_starts += 1;
        }
    }
}
