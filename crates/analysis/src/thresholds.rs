//! Judges every threshold of the manifest against the run: latency percentiles, error rate
//! and achieved rate from the request records, cold-start share from the cold-start
//! summary. A threshold that cannot be judged (no data) fails, and says why.

use polars::prelude::*;
use stormwatch_model::analysis::{ColdStartSummary, ThresholdResult};
use stormwatch_model::threshold::format_value;
use stormwatch_model::{ThresholdMetric, ThresholdSpec};

use crate::AnalysisError;
use crate::inputs::RunInputs;

/// Every threshold's result, in manifest order.
pub fn evaluate(
    inputs: &RunInputs,
    cold_starts: Option<&ColdStartSummary>,
) -> Result<Vec<ThresholdResult>, AnalysisError> {
    inputs
        .manifest
        .thresholds
        .iter()
        .map(|t| {
            let observed = observe(inputs, t, cold_starts)?;
            Ok(ThresholdResult {
                name: t.describe(),
                phase: t.phase.clone(),
                endpoint: t.endpoint.clone(),
                metric: t.metric.as_str().into(),
                limit: format!("{} {}", t.comparison.as_str(), t.limit_text()),
                observed: observed.map(|v| format_value(t.metric, v)),
                passed: observed.is_some_and(|v| t.comparison.holds(v, t.limit)),
            })
        })
        .collect()
}

fn observe(
    inputs: &RunInputs,
    t: &ThresholdSpec,
    cold_starts: Option<&ColdStartSummary>,
) -> Result<Option<f64>, AnalysisError> {
    if t.metric == ThresholdMetric::ColdStartShare {
        let Some(c) = cold_starts else {
            return Ok(None);
        };
        return Ok(match &t.phase {
            None => Some(c.share),
            Some(name) => c
                .by_phase
                .iter()
                .find(|b| &b.phase == name)
                .map(|b| b.share),
        });
    }
    let phase_index = match &t.phase {
        None => None,
        Some(name) => match inputs.manifest.phases.iter().find(|p| &p.name == name) {
            Some(p) => Some(p.index),
            None => return Ok(None),
        },
    };
    let mut filter = lit(true);
    if let Some(i) = phase_index {
        filter = filter.and(col("phase").eq(lit(i)));
    }
    if let Some(e) = &t.endpoint {
        let Some(code) = inputs.endpoints.code(e) else {
            return Ok(None);
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
    let n = df
        .column("n")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u64>())
        .unwrap_or(0);
    if n == 0 {
        return Ok(None);
    }
    let v = df
        .column("v")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<f64>());
    if t.metric == ThresholdMetric::AchievedRate {
        let windows = inputs.manifest.phase_windows();
        let secs: f64 = match phase_index {
            Some(i) => windows
                .get(i as usize)
                .map_or(0.0, |w| w.duration().as_secs_f64()),
            None => inputs
                .manifest
                .overall_window()
                .map_or(0.0, |w| w.duration().as_secs_f64()),
        };
        return Ok(v.filter(|_| secs > 0.0).map(|count| count / secs));
    }
    Ok(v)
}
