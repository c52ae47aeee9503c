//! Puts the computed parts together into the report value, with its verdict.

use std::path::Path;

use stormwatch_model::analysis::{
    ColdStartSummary, DataSources, LatencyDistribution, PhaseStats, RunSummary, ThresholdResult,
    TimelinePoint, Verdict,
};
use stormwatch_model::{
    ANALYSIS_SCHEMA_VERSION, AnalysisReport, Finding, Millis, Severity, SpanKind,
};

use crate::inputs::RunInputs;
use crate::traces;

/// The computed parts of a report.
pub struct Parts {
    pub phases: Vec<PhaseStats>,
    pub timeline: Vec<TimelinePoint>,
    pub distributions: Vec<LatencyDistribution>,
    pub findings: Vec<Finding>,
    pub cold_starts: Option<ColdStartSummary>,
    pub thresholds: Vec<ThresholdResult>,
    pub traced: u64,
}

pub fn assemble(inputs: &RunInputs, parts: Parts) -> AnalysisReport {
    let Parts {
        phases,
        timeline,
        distributions,
        findings,
        cold_starts,
        thresholds,
        traced,
    } = parts;
    let m = &inputs.manifest;
    let mut notes = Vec::new();
    if inputs.torn_lines > 0 {
        notes.push(format!(
            "{} torn request line(s) at the end of a segment were dropped (the run was killed mid-write)",
            inputs.torn_lines
        ));
    }
    if inputs.server.is_empty() {
        notes.push(
            "no CloudWatch metrics (run `stormwatch collect` first for server-side causes)".into(),
        );
    }
    let log_reports = inputs
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::LambdaFunction && traces::from_logs(s))
        .count() as u64;
    if inputs.spans.iter().all(traces::from_logs) {
        notes.push(if log_reports > 0 {
            "no X-Ray traces: cold starts come from Lambda REPORT lines; the per-request latency \
             breakdown is unavailable"
                .into()
        } else {
            "no X-Ray traces: per-request cold starts and latency breakdown are unavailable".into()
        });
    }
    let mut verdict = verdict(&phases, &findings);
    let failed: Vec<&ThresholdResult> = thresholds.iter().filter(|t| !t.passed).collect();
    verdict.passed = failed.is_empty();
    if !failed.is_empty() {
        verdict.details.insert(
            0,
            format!(
                "{} of {} thresholds failed: {}",
                failed.len(),
                thresholds.len(),
                failed
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
    AnalysisReport {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        run: RunSummary {
            run_id: m.run_id.clone(),
            scenario: Path::new(&m.scenario.path).file_name().map_or_else(
                || m.scenario.path.clone(),
                |n| n.to_string_lossy().into_owned(),
            ),
            target: m.target.clone(),
            status: m.status,
            window: m.overall_window(),
            api_kind: m.aws.as_ref().and_then(|a| a.api.as_ref()).map(|a| a.kind),
            functions: m
                .aws
                .as_ref()
                .map(|a| a.functions.clone())
                .unwrap_or_default(),
        },
        verdict,
        findings,
        phases,
        thresholds,
        cold_starts,
        timeline,
        distributions,
        sources: DataSources {
            metric_series: inputs.server.series_count() as u64,
            traces: traced,
            log_reports,
            clock_skew: None,
            notes,
        },
    }
}

/// The answer in one sentence: how p99 moved between the baseline and the worst phase, and
/// the most severe finding as the cause. Thresholds decide `passed` (evaluated by the caller).
fn verdict(phases: &[PhaseStats], findings: &[Finding]) -> Verdict {
    let p99 = |p: &PhaseStats| {
        p.endpoints
            .iter()
            .map(|e| e.corrected.p99.0)
            .fold(0.0, f64::max)
    };
    let base = phases.iter().find(|p| p.requests > 0);
    let worst = phases
        .iter()
        .filter(|p| p.requests > 0)
        .max_by(|a, b| p99(a).total_cmp(&p99(b)));
    let movement = match (base, worst) {
        (Some(b), Some(w)) if b.index != w.index && p99(w) > 1.2 * p99(b) => Some(format!(
            "p99 rose from {} in {} to {} in {} (at {})",
            Millis(p99(b)),
            b.name,
            Millis(p99(w)),
            w.name,
            w.window.start.format("%H:%M:%S UTC")
        )),
        _ => None,
    };
    let serious: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    let headline = match (movement, serious.first()) {
        (Some(m), Some(f)) => format!("{m} because {}", lowercase_first(&f.title)),
        (Some(m), None) => {
            format!("{m}; no server-side cause was found in the collected telemetry")
        }
        (None, Some(f)) => f.title.clone(),
        (None, None) => {
            let requests: u64 = phases.iter().map(|p| p.requests).sum();
            let errors: u64 = phases.iter().map(|p| p.errors).sum();
            if errors == 0 {
                format!("No problem found: {requests} requests, none failed")
            } else {
                format!(
                    "{errors} of {requests} requests failed and no cause was found in the data \
                     at hand"
                )
            }
        }
    };
    Verdict {
        passed: true,
        headline,
        details: serious.iter().skip(1).map(|f| f.title.clone()).collect(),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        // Keep acronyms and numbers as they are ("API Gateway", "41 cold starts").
        Some(f) if f.is_uppercase() && c.clone().next().is_some_and(char::is_lowercase) => {
            f.to_lowercase().chain(c).collect()
        }
        _ => s.to_string(),
    }
}
