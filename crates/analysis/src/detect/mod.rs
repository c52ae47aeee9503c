//! Detectors: pure functions from the aligned data to findings. One module per cause.
//!
//! Every detector sees the same [`Context`] and returns findings with severity, window,
//! evidence (numbers and the series they came from) and a recommendation. `detect` runs
//! them all and orders the findings most severe and most impactful first.

mod api_throttling;
mod cold_starts;
mod downstream;
mod errors;
mod lambda_throttling;
mod recovery;
mod saturation;
mod timeouts;

use std::collections::BTreeMap;

use stormwatch_model::analysis::{
    ColdStartSummary, PhaseStats, ResourceKind, ResourceStats, TimelinePoint,
};
use stormwatch_model::{ApiKind, Evidence, Finding, PhaseWindow, Severity};

use crate::traces::TracedRequest;

/// What every detector sees.
pub struct Context<'a> {
    /// Per-phase statistics (client and server).
    pub phases: &'a [PhaseStats],
    /// Per-second series.
    pub timeline: &'a [TimelinePoint],
    /// Traced requests with their breakdowns.
    pub traced: &'a [TracedRequest],
    /// The API front, when known.
    pub api_kind: Option<ApiKind>,
    /// The API's name as findings show it (`demo-store/prod`), when known.
    pub api_name: Option<String>,
    /// Cold starts, when any source could tell.
    pub cold_starts: Option<&'a ColdStartSummary>,
    /// Which function served each endpoint, from traces or REPORT lines joined by trace id
    /// (the function most of the endpoint's traced requests reached).
    pub endpoint_functions: &'a BTreeMap<String, String>,
    /// Median client latency (raw, ms) per (phase index, outcome label) of failed outcomes:
    /// the limit a timeout ran into.
    pub outcome_latency: &'a BTreeMap<(u32, String), f64>,
}

/// Count of responses with `status` in a phase, over all endpoints.
pub fn status_count(phase: &PhaseStats, status: &str) -> u64 {
    phase
        .endpoints
        .iter()
        .filter_map(|e| e.outcomes.get(status))
        .sum()
}

impl Context<'_> {
    /// The first phase that carried traffic: the baseline everything is compared with.
    pub fn baseline(&self) -> Option<&PhaseStats> {
        self.phases.iter().find(|p| p.requests > 0)
    }

    /// The phase's p99 (corrected, over all its requests).
    pub fn p99(phase: &PhaseStats) -> f64 {
        phase.corrected.p99.0
    }

    /// Whether the phase's p99 rose well above the baseline's: latency harm.
    pub fn latency_harmed(&self, phase: &PhaseStats) -> bool {
        self.baseline()
            .filter(|b| b.index != phase.index)
            .is_some_and(|b| Self::p99(phase) > 1.5 * Self::p99(b).max(1.0))
    }

    /// The endpoints served by `function` (empty when no trace tied them).
    pub fn endpoints_of(&self, function: &str) -> Vec<&str> {
        self.endpoint_functions
            .iter()
            .filter(|(_, f)| f.as_str() == function)
            .map(|(e, _)| e.as_str())
            .collect()
    }

    /// Evidence for a count from [`Self::status_count_for`]: on which endpoints it was
    /// counted, or that it is over all of them.
    pub fn client_status_evidence(
        &self,
        phase: &PhaseStats,
        status: &str,
        function: &str,
        (count, per_function): (u64, bool),
    ) -> Evidence {
        Evidence {
            label: if per_function {
                format!(
                    "client {status} responses on {}",
                    self.endpoints_of(function).join(", ")
                )
            } else {
                format!("client {status} responses (all endpoints)")
            },
            value: format!("{count} of {}", phase.requests),
            source: Some("requests/".into()),
        }
    }

    /// Responses with `status` in a phase: on the endpoints `function` serves when traces
    /// tied any endpoint to it, else over all endpoints. The flag says which.
    pub fn status_count_for(
        &self,
        phase: &PhaseStats,
        status: &str,
        function: &str,
    ) -> (u64, bool) {
        let endpoints = self.endpoints_of(function);
        if endpoints.is_empty() {
            return (status_count(phase, status), false);
        }
        let n = phase
            .endpoints
            .iter()
            .filter(|e| endpoints.contains(&e.endpoint.as_str()))
            .filter_map(|e| e.outcomes.get(status))
            .sum();
        (n, true)
    }

    /// The window of the seconds inside `phase` where `pred` holds, if any.
    pub fn seconds_where(
        &self,
        phase: &PhaseStats,
        pred: impl Fn(&TimelinePoint) -> bool,
    ) -> Option<PhaseWindow> {
        let mut hits = self
            .timeline
            .iter()
            .filter(|p| phase.window.contains(p.t) && pred(p));
        let first = hits.next()?;
        let last = hits.last().unwrap_or(first);
        Some(PhaseWindow {
            start: first.t,
            end: last.t + chrono::Duration::seconds(1),
        })
    }
}

/// Share of a phase's requests, as a severity input.
pub fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Evidence read from one function's `AWS/Lambda` series, its source named the way the
/// collector names series.
pub fn lambda_evidence(
    function: &str,
    metric: &str,
    stat: &str,
    label: &str,
    value: String,
) -> Evidence {
    Evidence {
        label: format!("`{function}` {label}"),
        value,
        source: Some(format!(
            "AWS/Lambda {metric}{{FunctionName={function}}} ({stat})"
        )),
    }
}

/// The tables and streams that throttled calls in the phase.
pub fn throttled_downstream(phase: &PhaseStats) -> Vec<&ResourceStats> {
    phase
        .server
        .iter()
        .flat_map(|s| s.resources.iter())
        .filter(|r| matches!(r.kind, ResourceKind::Table | ResourceKind::Stream))
        .filter(|r| r.throttles.unwrap_or(0) > 0)
        .collect()
}

/// Severity by impact, the one rule every detector uses (docs/analysis.md): `critical` when
/// the cause failed at least 1 % of the phase's requests, `warning` when it failed fewer or
/// only hurt latency, `info` when the run's own requests did not feel it.
pub fn severity(failed: u64, phase: &PhaseStats, latency_harm: bool) -> Severity {
    if failed > 0 && share(failed, phase.requests) >= 0.01 {
        Severity::Critical
    } else if failed > 0 || latency_harm {
        Severity::Warning
    } else {
        Severity::Info
    }
}

/// `1 request`, `2 requests`.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Runs every detector; findings most severe first, then by how many requests they touch.
pub fn detect(ctx: &Context<'_>) -> Vec<Finding> {
    let mut findings: Vec<(Finding, f64)> = Vec::new();
    findings.extend(lambda_throttling::detect(ctx));
    findings.extend(api_throttling::detect(ctx));
    findings.extend(downstream::detect(ctx));
    findings.extend(timeouts::detect(ctx));
    findings.extend(errors::detect(ctx));
    findings.extend(cold_starts::detect(ctx));
    findings.extend(saturation::detect(ctx));
    findings.extend(recovery::detect(ctx));
    findings.sort_by(|a, b| {
        b.0.severity
            .cmp(&a.0.severity)
            .then(b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal))
    });
    findings.into_iter().map(|(f, _)| f).collect()
}

/// A failed threshold makes its phase's leading cause `critical`: the most impactful
/// `warning` of that phase (when the phase has no `critical` finding yet) is raised, and the
/// findings are ordered again.
pub fn escalate_for_failed_thresholds(
    findings: &mut [Finding],
    thresholds: &[stormwatch_model::analysis::ThresholdResult],
) {
    for t in thresholds.iter().filter(|t| !t.passed) {
        let Some(phase) = &t.phase else { continue };
        let in_phase = |f: &Finding| f.phase.as_ref() == Some(phase);
        if findings
            .iter()
            .any(|f| in_phase(f) && f.severity == Severity::Critical)
        {
            continue;
        }
        if let Some(f) = findings
            .iter_mut()
            .find(|f| in_phase(f) && f.severity == Severity::Warning)
        {
            f.severity = Severity::Critical;
        }
    }
    // Stable: keeps the impact order within a severity.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
}
