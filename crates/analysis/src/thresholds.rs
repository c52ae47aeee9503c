//! Judges every threshold of the manifest against the run by the rule `run` also uses
//! ([`stormwatch_model::threshold::judge`]): latency percentiles (exact, nearest rank), error
//! rate and achieved rate from the request records, cold-start share from the cold-start
//! summary. A threshold that cannot be judged (no data) fails, and says why.

use polars::prelude::*;
use stormwatch_model::analysis::{ColdStartSummary, ThresholdResult};
use stormwatch_model::threshold::{Observation, Scope, judge};
use stormwatch_model::{ThresholdMetric, ThresholdSpec};

use crate::AnalysisError;
use crate::inputs::RunInputs;

/// Every threshold's results, in manifest order (one per judged phase).
pub fn evaluate(
    inputs: &RunInputs,
    cold_starts: Option<&ColdStartSummary>,
) -> Result<Vec<ThresholdResult>, AnalysisError> {
    let phases: Vec<(u32, &str)> = inputs
        .manifest
        .phases
        .iter()
        .map(|p| (p.index, p.name.as_str()))
        .collect();
    let mut out = Vec::new();
    for spec in &inputs.manifest.thresholds {
        let mut failure = None;
        let results = judge(spec, &phases, |phase, scope| {
            match observe(inputs, spec, phase, scope, cold_starts) {
                Ok(o) => o,
                Err(e) => {
                    failure.get_or_insert(e);
                    Observation {
                        requests: 0,
                        value: None,
                    }
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        out.extend(results);
    }
    Ok(out)
}

fn observe(
    inputs: &RunInputs,
    t: &ThresholdSpec,
    phase: u32,
    scope: Scope<'_>,
    cold_starts: Option<&ColdStartSummary>,
) -> Result<Observation, AnalysisError> {
    let mut filter = col("phase").eq(lit(phase));
    if let Scope::Endpoint(e) = scope {
        let Some(code) = inputs.endpoints.code(e) else {
            return Ok(Observation {
                requests: 0,
                value: None,
            });
        };
        filter = filter.and(col("endpoint").eq(lit(code)));
    }
    let agg = match t.metric.percentile() {
        Some(100.0) => col("corrected_ms").max(),
        Some(p) => col("corrected_ms").quantile(lit(p / 100.0), QuantileMethod::Equiprobable),
        None if t.metric == ThresholdMetric::ErrorRate => {
            col("failed").cast(DataType::Float64).mean()
        }
        None => len().cast(DataType::Float64),
    };
    let df = inputs
        .requests
        .clone()
        .lazy()
        .filter(filter)
        .select([agg.alias("v"), len().alias("n")])
        .collect()
        .map_err(AnalysisError::query("judging thresholds"))?;
    let requests = df
        .column("n")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u64>())
        .unwrap_or(0);
    let v = df
        .column("v")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<f64>());
    let value = match t.metric {
        ThresholdMetric::ColdStartShare => cold_starts.and_then(|c| {
            let name = &inputs
                .manifest
                .phases
                .iter()
                .find(|p| p.index == phase)?
                .name;
            c.by_phase
                .iter()
                .find(|b| &b.phase == name)
                .map(|b| b.share)
        }),
        ThresholdMetric::AchievedRate => {
            let secs = inputs
                .manifest
                .phase_windows()
                .get(phase as usize)
                .map_or(0.0, |w| w.duration().as_secs_f64());
            v.filter(|_| secs > 0.0).map(|count| count / secs)
        }
        _ => v,
    };
    Ok(Observation { requests, value })
}
