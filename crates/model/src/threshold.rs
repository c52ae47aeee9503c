//! Thresholds: the pass/fail limits a scenario sets, stored in the manifest so every later
//! stage (the analyzer, JUnit output, CI exit codes) judges the run by the same rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMetric {
    /// Corrected latency percentile, milliseconds.
    P50,
    /// 90th percentile, ms.
    P90,
    /// 95th percentile, ms.
    P95,
    /// 99th percentile, ms.
    P99,
    /// 99.9th percentile, ms.
    P999,
    /// Maximum, ms.
    Max,
    /// Failed requests / requests (0.0–1.0).
    ErrorRate,
    /// Completed requests per second.
    AchievedRate,
    /// Cold starts / invocations (0.0–1.0); needs telemetry, judged by `analyze`.
    ColdStartShare,
}

impl ThresholdMetric {
    /// The name used in scenarios and reports (`p99`, `error_rate`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::P999 => "p999",
            Self::Max => "max",
            Self::ErrorRate => "error_rate",
            Self::AchievedRate => "achieved_rate",
            Self::ColdStartShare => "cold_start_share",
        }
    }

    /// The latency percentile (0–100) this metric reads, if it is one.
    pub fn percentile(self) -> Option<f64> {
        Some(match self {
            Self::P50 => 50.0,
            Self::P90 => 90.0,
            Self::P95 => 95.0,
            Self::P99 => 99.0,
            Self::P999 => 99.9,
            Self::Max => 100.0,
            _ => return None,
        })
    }
}

/// How the observed value is compared with the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Comparison {
    /// observed < limit
    #[serde(rename = "<")]
    Less,
    /// observed <= limit
    #[serde(rename = "<=")]
    LessOrEqual,
    /// observed > limit
    #[serde(rename = ">")]
    Greater,
    /// observed >= limit
    #[serde(rename = ">=")]
    GreaterOrEqual,
}

impl Comparison {
    /// Whether `observed` satisfies the comparison against `limit`.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Self::Less => observed < limit,
            Self::LessOrEqual => observed <= limit,
            Self::Greater => observed > limit,
            Self::GreaterOrEqual => observed >= limit,
        }
    }

    /// `<`, `<=`, `>` or `>=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
        }
    }
}

/// One threshold of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// Phase name it applies to; every phase with traffic when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Endpoint name it applies to; all endpoints together when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// What is measured.
    pub metric: ThresholdMetric,
    /// How it is compared.
    pub comparison: Comparison,
    /// The limit: milliseconds for latencies, a fraction for shares, per second for rates.
    pub limit: f64,
}

impl ThresholdSpec {
    /// Readable form, e.g. `burst / GET /products/:id p99 < 800 ms`.
    pub fn describe(&self) -> String {
        let scope: Vec<&str> = [self.phase.as_deref(), self.endpoint.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let scope = if scope.is_empty() {
            String::new()
        } else {
            format!("{} ", scope.join(" / "))
        };
        format!(
            "{scope}{} {} {}",
            self.metric.as_str(),
            self.comparison.as_str(),
            self.limit_text()
        )
    }

    /// The limit with its unit.
    pub fn limit_text(&self) -> String {
        format_value(self.metric, self.limit)
    }
}

/// A value of `metric` with its unit (`812 ms`, `1.2 %`, `48.5/s`).
pub fn format_value(metric: ThresholdMetric, v: f64) -> String {
    match metric {
        ThresholdMetric::ErrorRate | ThresholdMetric::ColdStartShare => {
            format!("{} %", trim(v * 100.0))
        }
        ThresholdMetric::AchievedRate => format!("{}/s", trim(v)),
        _ => format!("{} ms", trim(v)),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_scope_metric_and_limit_with_units() {
        let t = ThresholdSpec {
            phase: Some("burst".into()),
            endpoint: Some("GET /p/:id".into()),
            metric: ThresholdMetric::P99,
            comparison: Comparison::Less,
            limit: 800.0,
        };
        assert_eq!(t.describe(), "burst / GET /p/:id p99 < 800 ms");
        let e = ThresholdSpec {
            phase: None,
            endpoint: None,
            metric: ThresholdMetric::ErrorRate,
            comparison: Comparison::LessOrEqual,
            limit: 0.015,
        };
        assert_eq!(e.describe(), "error_rate <= 1.5 %");
        assert!(Comparison::Less.holds(1.0, 2.0) && !Comparison::Less.holds(2.0, 2.0));
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"comparison\":\"<=\""), "{json}");
    }
}
