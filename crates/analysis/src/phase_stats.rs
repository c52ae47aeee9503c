//! Per phase × endpoint statistics from the request records: counts, rates, corrected and
//! raw latency percentiles, outcomes.

use std::collections::BTreeMap;

use polars::prelude::*;
use stormwatch_model::analysis::{EndpointStats, LatencySummary, PhaseStats};
use stormwatch_model::{Millis, PhaseModel};

use crate::inputs::RunInputs;
use crate::{AnalysisError, outcome};

/// Percentiles use the nearest-rank definition (the value at rank ⌈q·n⌉, polars'
/// `Equiprobable`), as HdrHistogram and most load tools do: p50 of 1..=100 ms is 50 ms.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)];

/// Words for a phase's load model: `open 10→200/s`, `closed 20 VUs`, `idle`.
pub fn model_label(model: &PhaseModel) -> String {
    let num = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    match model {
        PhaseModel::Open {
            start_rate_per_sec: a,
            end_rate_per_sec: b,
            ..
        } if (a - b).abs() < f64::EPSILON => format!("open {}/s", num(*a)),
        PhaseModel::Open {
            start_rate_per_sec: a,
            end_rate_per_sec: b,
            ..
        } => format!("open {}→{}/s", num(*a), num(*b)),
        PhaseModel::Closed {
            start_users: a,
            end_users: b,
        } if a == b => format!("closed {a} VUs"),
        PhaseModel::Closed {
            start_users: a,
            end_users: b,
        } => format!("closed {a}→{b} VUs"),
        PhaseModel::Idle => "idle".into(),
    }
}

/// Mean planned arrival rate of an open phase.
fn offered_rate(model: &PhaseModel) -> Option<f64> {
    match model {
        PhaseModel::Open {
            start_rate_per_sec,
            end_rate_per_sec,
            ..
        } => Some((start_rate_per_sec + end_rate_per_sec) / 2.0),
        _ => None,
    }
}

fn latency_aggs(column: &str, prefix: &str) -> Vec<Expr> {
    let mut aggs: Vec<Expr> = QUANTILES
        .iter()
        .map(|(name, q)| {
            col(column)
                .quantile(lit(*q), QuantileMethod::Equiprobable)
                .alias(format!("{prefix}_{name}"))
        })
        .collect();
    aggs.push(col(column).max().alias(format!("{prefix}_max")));
    aggs
}

fn f64_at(df: &DataFrame, name: &str, row: usize) -> f64 {
    df.column(name)
        .ok()
        .and_then(|c| c.get(row).ok())
        .and_then(|v| v.extract::<f64>())
        .unwrap_or(0.0)
}

fn summary(df: &DataFrame, prefix: &str, row: usize) -> LatencySummary {
    let at = |name: &str| Millis(f64_at(df, &format!("{prefix}_{name}"), row));
    LatencySummary {
        p50: at("p50"),
        p95: at("p95"),
        p99: at("p99"),
        p999: at("p999"),
        max: at("max"),
    }
}

/// Outcome label → count, per (phase index, endpoint).
type OutcomeCounts = BTreeMap<(u32, String), BTreeMap<String, u64>>;

/// Outcome counts per (phase, endpoint).
fn outcomes(inputs: &RunInputs) -> Result<OutcomeCounts, AnalysisError> {
    let counts = inputs
        .requests
        .clone()
        .lazy()
        .group_by([col("phase"), col("endpoint"), col("status"), col("error")])
        .agg([len().alias("n")])
        .collect()
        .map_err(AnalysisError::query("counting outcomes"))?;
    let phase = counts.column("phase").and_then(|c| c.u32().cloned());
    let endpoint = counts.column("endpoint").and_then(|c| c.u32().cloned());
    let status = counts.column("status").and_then(|c| c.i32().cloned());
    let error = counts.column("error").and_then(|c| c.u32().cloned());
    let n = counts.column("n").and_then(|c| c.u32().cloned());
    let (Ok(phase), Ok(endpoint), Ok(status), Ok(error), Ok(n)) =
        (phase, endpoint, status, error, n)
    else {
        return Err(AnalysisError::Query {
            what: "counting outcomes",
            message: "unexpected column types".into(),
        });
    };
    let mut out: BTreeMap<(u32, String), BTreeMap<String, u64>> = BTreeMap::new();
    for i in 0..counts.height() {
        let key = (
            phase.get(i).unwrap_or_default(),
            inputs
                .endpoints
                .name(endpoint.get(i).unwrap_or_default())
                .to_owned(),
        );
        let error = error.get(i).map(|e| inputs.errors.name(e));
        let label = outcome::label(status.get(i).unwrap_or_default(), error);
        *out.entry(key).or_default().entry(label).or_default() +=
            u64::from(n.get(i).unwrap_or_default());
    }
    Ok(out)
}

/// Statistics for every phase of the manifest, in order (phases without requests included).
pub fn phase_stats(inputs: &RunInputs) -> Result<Vec<PhaseStats>, AnalysisError> {
    let mut aggs = vec![len().alias("count"), col("failed").sum().alias("errors")];
    aggs.extend(latency_aggs("corrected_ms", "c"));
    aggs.extend(latency_aggs("raw_ms", "r"));
    let grouped = inputs
        .requests
        .clone()
        .lazy()
        .group_by([col("phase"), col("endpoint")])
        .agg(aggs)
        .collect()
        .map_err(AnalysisError::query("per-endpoint statistics"))?;
    let outcomes = outcomes(inputs)?;
    let windows = inputs.manifest.phase_windows();
    let mut phases: Vec<PhaseStats> = inputs
        .manifest
        .phases
        .iter()
        .zip(&windows)
        .map(|(p, w)| PhaseStats {
            index: p.index,
            name: p.name.clone(),
            window: *w,
            model: model_label(&p.model),
            offered_rate_per_sec: offered_rate(&p.model),
            achieved_rate_per_sec: 0.0,
            requests: 0,
            errors: 0,
            dropped: p.dropped,
            corrected: LatencySummary::default(),
            raw: LatencySummary::default(),
            endpoints: Vec::new(),
            server: None,
            waterfall: None,
        })
        .collect();
    let phase_col = grouped
        .column("phase")
        .and_then(|c| c.u32().cloned())
        .map_err(AnalysisError::query("per-endpoint statistics"))?;
    let endpoint_col = grouped
        .column("endpoint")
        .and_then(|c| c.u32().cloned())
        .map_err(AnalysisError::query("per-endpoint statistics"))?;
    for row in 0..grouped.height() {
        let index = phase_col.get(row).unwrap_or_default();
        let endpoint = inputs
            .endpoints
            .name(endpoint_col.get(row).unwrap_or_default())
            .to_owned();
        let Some(phase) = phases.iter_mut().find(|p| p.index == index) else {
            continue;
        };
        let count = f64_at(&grouped, "count", row) as u64;
        let errors = f64_at(&grouped, "errors", row) as u64;
        let secs = phase.window.duration().as_secs_f64().max(1e-9);
        phase.requests += count;
        phase.errors += errors;
        phase.endpoints.push(EndpointStats {
            endpoint: endpoint.clone(),
            count,
            rate_per_sec: count as f64 / secs,
            corrected: summary(&grouped, "c", row),
            raw: summary(&grouped, "r", row),
            outcomes: outcomes
                .get(&(index, endpoint))
                .cloned()
                .unwrap_or_default(),
            error_rate: if count == 0 {
                0.0
            } else {
                errors as f64 / count as f64
            },
        });
    }
    // Phase-wide percentiles over every request of the phase (not the worst endpoint's).
    let mut aggs = latency_aggs("corrected_ms", "c");
    aggs.extend(latency_aggs("raw_ms", "r"));
    let whole = inputs
        .requests
        .clone()
        .lazy()
        .group_by([col("phase")])
        .agg(aggs)
        .collect()
        .map_err(AnalysisError::query("per-phase statistics"))?;
    let whole_phase = whole
        .column("phase")
        .and_then(|c| c.u32().cloned())
        .map_err(AnalysisError::query("per-phase statistics"))?;
    for row in 0..whole.height() {
        let index = whole_phase.get(row).unwrap_or_default();
        if let Some(phase) = phases.iter_mut().find(|p| p.index == index) {
            phase.corrected = summary(&whole, "c", row);
            phase.raw = summary(&whole, "r", row);
        }
    }
    for p in &mut phases {
        p.endpoints.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        p.achieved_rate_per_sec = p.requests as f64 / p.window.duration().as_secs_f64().max(1e-9);
    }
    Ok(phases)
}

/// Median raw latency (ms) of every failed outcome per (phase index, outcome label): how long
/// the client waited before a 504 or its own timeout, which is the limit that was hit.
pub fn outcome_latency(inputs: &RunInputs) -> Result<BTreeMap<(u32, String), f64>, AnalysisError> {
    let df = inputs
        .requests
        .clone()
        .lazy()
        .filter(col("failed"))
        .group_by([col("phase"), col("status"), col("error")])
        .agg([col("raw_ms").median().alias("median")])
        .collect()
        .map_err(AnalysisError::query("latency per outcome"))?;
    let get = || -> PolarsResult<_> {
        Ok((
            df.column("phase")?.u32()?.clone(),
            df.column("status")?.i32()?.clone(),
            df.column("error")?.u32()?.clone(),
            df.column("median")?.f64()?.clone(),
        ))
    };
    let (phase, status, error, median) =
        get().map_err(AnalysisError::query("latency per outcome"))?;
    let mut out = BTreeMap::new();
    for i in 0..df.height() {
        let (Some(p), Some(m)) = (phase.get(i), median.get(i)) else {
            continue;
        };
        let label = outcome::label(
            status.get(i).unwrap_or_default(),
            error.get(i).map(|e| inputs.errors.name(e)),
        );
        let e: &mut f64 = out.entry((p, label)).or_insert(m);
        *e = e.max(m);
    }
    Ok(out)
}
