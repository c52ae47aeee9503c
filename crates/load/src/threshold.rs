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
    // NaN compares false with everything and serialises as null: refuse it (and infinity)
    // here rather than write a manifest no later stage can judge.
    if !limit.is_finite() {
        return Err(format!("`{limit}` is not a finite number"));
    }
    Ok((metric, comparison, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_must_be_finite_numbers() {
        assert_eq!(
            parse_check("p99 < 800").unwrap(),
            (ThresholdMetric::P99, Comparison::Less, 800.0)
        );
        for bad in ["p99 < NaN", "p99 < nan", "p99 < inf", "error_rate <= -inf"] {
            let e = parse_check(bad).unwrap_err();
            assert!(e.contains("not a finite number"), "{bad}: {e}");
        }
        assert!(parse_check("p99 < x").unwrap_err().contains("not a number"));
    }
}
