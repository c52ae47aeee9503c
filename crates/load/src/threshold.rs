//! Parses a threshold's `check = "METRIC OP LIMIT"` (e.g. `p99 < 800`).

use stormwatch_model::{Comparison, ThresholdMetric};

/// Parses `p99 < 800`.
pub fn parse_check(text: &str) -> Result<(ThresholdMetric, Comparison, f64), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [metric, op, limit] = words.as_slice() else {
        return Err(format!(
            "`{text}`: write `METRIC OP LIMIT`, e.g. `p99 < 800`"
        ));
    };
    let metric = match *metric {
        "p50" => ThresholdMetric::P50,
        "p90" => ThresholdMetric::P90,
        "p95" => ThresholdMetric::P95,
        "p99" => ThresholdMetric::P99,
        "p999" | "p99.9" => ThresholdMetric::P999,
        "max" => ThresholdMetric::Max,
        "error_rate" => ThresholdMetric::ErrorRate,
        "achieved_rate" => ThresholdMetric::AchievedRate,
        "cold_start_share" => ThresholdMetric::ColdStartShare,
        other => {
            return Err(format!(
                "unknown metric `{other}` (p50, p90, p95, p99, p999, max, error_rate, achieved_rate, cold_start_share)"
            ));
        }
    };
    let comparison = match *op {
        "<" => Comparison::Less,
        "<=" => Comparison::LessOrEqual,
        ">" => Comparison::Greater,
        ">=" => Comparison::GreaterOrEqual,
        other => return Err(format!("unknown comparison `{other}` (<, <=, >, >=)")),
    };
    let limit: f64 = limit
        .parse()
        .map_err(|_| format!("`{limit}` is not a number"))?;
    Ok((metric, comparison, limit))
}
