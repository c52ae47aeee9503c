//! Thresholds: the pass/fail limits a scenario sets, stored in the manifest so every later
//! stage (the analyzer, JUnit output, CI exit codes) judges the run by the same rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::ThresholdResult;

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

/// The requests a threshold covers within one phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// One endpoint (or workflow metric), by name.
    Endpoint(&'a str),
    /// Every request of the phase; workflow metrics (`workflow …`) are not requests and are
    /// left out.
    AllRequests,
}

impl Scope<'_> {
    /// Whether the endpoint (or metric) named `endpoint` is covered.
    pub fn covers(&self, endpoint: &str) -> bool {
        match self {
            Self::Endpoint(e) => *e == endpoint,
            Self::AllRequests => !endpoint.starts_with("workflow "),
        }
    }
}

/// What was observed for a threshold in one phase: how many requests it covered and the
/// value of its metric (`None` when the metric cannot be measured from the data at hand).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// Requests covered.
    pub requests: u64,
    /// The metric's value.
    pub value: Option<f64>,
}

/// Judges one threshold, the one rule `run` and `analyze` share: a threshold naming a
/// phase is judged on that phase alone; one without a phase is judged on every phase with
/// traffic, one result each. A threshold with nothing to judge (no such phase, no traffic,
/// no data) fails with no observed value. `phases` are (index, name) in run order;
/// `observe` measures the spec's metric over a phase and scope.
pub fn judge(
    spec: &ThresholdSpec,
    phases: &[(u32, &str)],
    mut observe: impl FnMut(u32, Scope<'_>) -> Observation,
) -> Vec<ThresholdResult> {
    let scope = spec
        .endpoint
        .as_deref()
        .map_or(Scope::AllRequests, Scope::Endpoint);
    let result = |phase: Option<&str>, observed: Option<f64>| {
        let name = match (&spec.phase, phase) {
            (None, Some(p)) => format!("{p} {}", spec.describe()),
            _ => spec.describe(),
        };
        ThresholdResult {
            name,
            phase: phase.map(str::to_string).or_else(|| spec.phase.clone()),
            endpoint: spec.endpoint.clone(),
            metric: spec.metric.as_str().into(),
            limit: format!("{} {}", spec.comparison.as_str(), spec.limit_text()),
            observed: observed.map(|v| format_value(spec.metric, v)),
            passed: observed.is_some_and(|v| v.is_finite() && spec.comparison.holds(v, spec.limit)),
        }
    };
    if let Some(name) = &spec.phase {
        let observed = phases
            .iter()
            .find(|(_, n)| n == name)
            .map(|(i, _)| observe(*i, scope))
            .filter(|o| o.requests > 0)
            .and_then(|o| o.value);
        return vec![result(Some(name), observed)];
    }
    let results: Vec<ThresholdResult> = phases
        .iter()
        .filter_map(|(i, name)| {
            let o = observe(*i, scope);
            (o.requests > 0).then(|| result(Some(name), o.value))
        })
        .collect();
    if results.is_empty() {
        vec![result(None, None)]
    } else {
        results
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

    fn p99_below(phase: Option<&str>, limit: f64) -> ThresholdSpec {
        ThresholdSpec {
            phase: phase.map(Into::into),
            endpoint: None,
            metric: ThresholdMetric::P99,
            comparison: Comparison::Less,
            limit,
        }
    }

    #[test]
    fn a_threshold_without_a_phase_is_judged_on_every_phase_with_traffic() {
        let phases = [(0, "warm"), (1, "idle"), (2, "burst")];
        // p99 100 ms in warm, no traffic in idle, 900 ms in burst.
        let observe = |i: u32, scope: Scope<'_>| {
            assert_eq!(scope, Scope::AllRequests);
            match i {
                0 => Observation {
                    requests: 10,
                    value: Some(100.0),
                },
                2 => Observation {
                    requests: 10,
                    value: Some(900.0),
                },
                _ => Observation {
                    requests: 0,
                    value: None,
                },
            }
        };
        let r = judge(&p99_below(None, 500.0), &phases, observe);
        let got: Vec<(Option<&str>, bool, &str)> = r
            .iter()
            .map(|t| (t.phase.as_deref(), t.passed, t.name.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("warm"), true, "warm p99 < 500 ms"),
                (Some("burst"), false, "burst p99 < 500 ms"),
            ]
        );
        // Named phase: that phase only; a phase without traffic or a missing phase fails.
        let r = judge(&p99_below(Some("warm"), 500.0), &phases, observe);
        assert_eq!((r.len(), r[0].passed), (1, true));
        for missing in ["idle", "nope"] {
            let r = judge(&p99_below(Some(missing), 500.0), &phases, observe);
            assert_eq!(r.len(), 1);
            assert!(!r[0].passed && r[0].observed.is_none(), "{r:?}");
        }
        // No phase with traffic at all: one failed result.
        let r = judge(&p99_below(None, 500.0), &phases, |_, _| Observation {
            requests: 0,
            value: None,
        });
        assert_eq!((r.len(), r[0].passed), (1, false));
    }

    #[test]
    fn workflow_metrics_count_only_when_named() {
        assert!(Scope::AllRequests.covers("GET /x"));
        assert!(!Scope::AllRequests.covers("workflow GET /jobs/:id"));
        assert!(Scope::Endpoint("workflow GET /jobs/:id").covers("workflow GET /jobs/:id"));
        assert!(!Scope::Endpoint("GET /y").covers("GET /x"));
    }
}
