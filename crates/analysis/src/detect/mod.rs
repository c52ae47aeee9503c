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

use stormwatch_model::analysis::{ColdStartSummary, PhaseStats, TimelinePoint};
use stormwatch_model::{ApiKind, Finding, PhaseWindow};

use crate::traces::TracedRequest;

pub use cold_starts::summary as cold_start_summary;

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
    /// Cold starts, when any source could tell.
    pub cold_starts: Option<&'a ColdStartSummary>,
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

    /// Worst p99 (corrected) over a phase's endpoints.
    pub fn p99(phase: &PhaseStats) -> f64 {
        phase
            .endpoints
            .iter()
            .map(|e| e.corrected.p99.0)
            .fold(0.0, f64::max)
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
