//! Puts the computed parts together into the report value, with its verdict.

use std::path::Path;

use stormwatch_model::analysis::{
    ColdStartSummary, DataSources, LatencyDistribution, PhaseStats, RunSummary, ThresholdResult,
    TimelinePoint, Verdict,
};
use stormwatch_model::{
    ANALYSIS_SCHEMA_VERSION, AnalysisReport, Finding, ImportSource, Millis, RunStatus, Severity,
    SpanKind,
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
    notes.extend(inputs.skipped.iter().cloned());
    // An imported run: which tool and files, and what an import cannot give (no intended
    // send time, maybe no per-request records).
    if let Some(source) = &m.source {
        notes.extend(source.analysis_notes());
    }
    if let Some(joins) = &inputs.request_id_joins {
        notes.push(joins.note());
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
    let mut verdict = verdict(&phases, &findings, m.source.as_ref());
    let failed: Vec<&ThresholdResult> = thresholds.iter().filter(|t| !t.passed).collect();
    // One verdict for every format: a run that did not complete fails, as JUnit says.
    verdict.passed = failed.is_empty() && m.status == RunStatus::Completed;
    if m.status != RunStatus::Completed {
        let why = match m.status {
            RunStatus::Incomplete => {
                "the run was killed (or is still running): its last phase ends at its last \
                 recorded second and later phases never ran"
            }
            _ => "the run was stopped early (Ctrl-C or SIGTERM); later phases never ran",
        };
        verdict
            .details
            .insert(0, format!("The run did not complete: {why}."));
        notes.push(format!("run status {}: {why}", m.status));
    }
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
            shards: m
                .distribution
                .as_ref()
                .map(|d| d.shards.clone())
                .unwrap_or_default(),
            missing_shards: m
                .distribution
                .as_ref()
                .map(|d| d.missing.clone())
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
/// Whether `f` belongs to phase `w`: by its phase when it names one (a finding labelled
/// with another phase never counts, even when its window runs into `w`), else by its
/// window. The cause of a p99 rise is the most severe finding of the phase where p99 rose.
fn in_phase(f: &Finding, w: &PhaseStats) -> bool {
    match &f.phase {
        Some(p) => *p == w.name,
        None => f.window.is_some_and(|fw| !fw.overlap(&w.window).is_zero()),
    }
}

fn verdict(phases: &[PhaseStats], findings: &[Finding], source: Option<&ImportSource>) -> Verdict {
    // The phase's own p99 over all its requests: the number the phase table shows.
    let p99 = |p: &PhaseStats| p.corrected.p99.0;
    let base = phases.iter().find(|p| p.requests > 0);
    let worst = phases
        .iter()
        .filter(|p| p.requests > 0)
        .max_by(|a, b| p99(a).total_cmp(&p99(b)));
    let movement = match (base, worst) {
        (Some(b), Some(w)) if b.index != w.index && p99(w) > 1.2 * p99(b) => Some((
            format!(
                "p99 rose from {} in {} to {} in {} (at {})",
                Millis(p99(b)),
                b.name,
                Millis(p99(w)),
                w.name,
                w.window.start.format("%H:%M:%S UTC")
            ),
            w,
        )),
        _ => None,
    };
    let serious: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    let headline = match (movement, serious.first()) {
        (Some((m, w)), Some(_)) => match serious.iter().find(|f| in_phase(f, w)) {
            Some(f) => format!("{m} because {}", as_clause(&f.title)),
            None => format!("{m}; no server-side cause was found in that phase"),
        },
        (Some((m, _)), None) => {
            format!("{m}; no server-side cause was found in the collected telemetry")
        }
        (None, Some(f)) => f.title.clone(),
        (None, None) if source.is_some_and(|s| !s.per_request) => {
            // An aggregate-only import has no request records: only the tool's own counts.
            let source = source.expect("checked above");
            match source.tool_totals {
                Some(t) if t.failures > 0 => format!(
                    "{} of {} requests failed by {}'s own count (an aggregate-only import, no \
                     per-request records) and no cause was found in the data at hand",
                    t.failures, t.requests, source.tool
                ),
                Some(t) => format!(
                    "No problem found: {} requests by {}'s own count, none failed (an \
                     aggregate-only import, no per-request records)",
                    t.requests, source.tool
                ),
                None => format!(
                    "No problem found in the server-side telemetry; {}'s file has no request \
                     counts (an aggregate-only import, no per-request records)",
                    source.tool
                ),
            }
        }
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

/// A finding's title continuing a sentence: a leading article is lowercased ("because a
/// downstream table…", "because the function…"); names stay as they are ("Lambda", "API
/// Gateway", "DynamoDB", "41 cold starts").
fn as_clause(s: &str) -> String {
    for article in ["A ", "An ", "The "] {
        if let Some(rest) = s.strip_prefix(article) {
            return format!("{}{rest}", article.to_lowercase());
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use stormwatch_model::analysis::{EndpointStats, LatencySummary};
    use stormwatch_model::{FindingKind, PhaseWindow};

    fn phase(index: u32, name: &str, p99_ms: f64) -> PhaseStats {
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T14:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
            + chrono::Duration::seconds(60 * i64::from(index));
        PhaseStats {
            index,
            name: name.into(),
            window: PhaseWindow::starting_at(start, Duration::from_secs(60)),
            model: "open 10/s".into(),
            offered_rate_per_sec: Some(10.0),
            achieved_rate_per_sec: 10.0,
            requests: 600,
            errors: 0,
            dropped: 0,
            corrected: LatencySummary {
                p99: Millis(p99_ms),
                ..LatencySummary::default()
            },
            raw: LatencySummary::default(),
            endpoints: vec![EndpointStats {
                endpoint: "GET /x".into(),
                count: 600,
                rate_per_sec: 10.0,
                corrected: LatencySummary {
                    p99: Millis(p99_ms),
                    ..LatencySummary::default()
                },
                raw: LatencySummary::default(),
                outcomes: std::collections::BTreeMap::new(),
                error_rate: 0.0,
            }],
            server: None,
            waterfall: None,
        }
    }

    fn finding(p: &PhaseStats, severity: Severity, title: &str) -> Finding {
        Finding {
            kind: FindingKind::LambdaThrottling,
            severity,
            title: title.into(),
            window: Some(p.window),
            phase: Some(p.name.clone()),
            evidence: Vec::new(),
            recommendation: String::new(),
        }
    }

    #[test]
    fn the_cause_of_a_p99_rise_comes_from_the_phase_where_it_rose() {
        let phases = [
            phase(0, "warm", 100.0),
            phase(1, "burst", 400.0),
            phase(2, "write-heavy", 150.0),
        ];
        let mut spilling = finding(
            &phases[2],
            Severity::Critical,
            "A downstream table throttled 499 calls in write-heavy",
        );
        // Its window runs back into burst, but it is labelled write-heavy.
        spilling.window = Some(PhaseWindow {
            start: phases[1].window.start,
            end: phases[2].window.end,
        });
        let findings = [
            spilling,
            finding(
                &phases[1],
                Severity::Critical,
                "Lambda throttled 310 requests at a concurrency ceiling of 21 in burst",
            ),
        ];
        let v = verdict(&phases, &findings, None);
        assert_eq!(
            v.headline,
            "p99 rose from 100 ms in warm to 400 ms in burst (at 14:01:00 UTC) because Lambda \
             throttled 310 requests at a concurrency ceiling of 21 in burst"
        );
        let v = verdict(&phases, &findings[..1], None);
        assert!(
            v.headline
                .ends_with("; no server-side cause was found in that phase"),
            "{}",
            v.headline
        );
    }

    #[test]
    fn only_a_leading_article_is_lowercased() {
        assert_eq!(as_clause("A downstream table"), "a downstream table");
        assert_eq!(as_clause("The function failed"), "the function failed");
        assert_eq!(as_clause("Lambda throttled"), "Lambda throttled");
        assert_eq!(as_clause("API Gateway throttled"), "API Gateway throttled");
        assert_eq!(as_clause("Another thing"), "Another thing");
    }
}
