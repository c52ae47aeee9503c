//! Cold starts: per request from X-Ray (`Initialization`/`Init` subsegments); without traces,
//! an estimate from growth in Lambda concurrency (each new concurrent environment started
//! cold). Reports the share, the init durations, the latency a cold start added, and the
//! idle gap after which environments were lost.

use std::collections::HashMap;

use stormwatch_model::analysis::{ColdStartSummary, LatencySummary, PhaseColdStarts, PhaseStats};
use stormwatch_model::{Evidence, Finding, FindingKind, Millis, PhaseModel, Severity};

use super::Context;
use crate::server::ServerSeries;
use crate::traces::TracedRequest;

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn latency_summary(mut v: Vec<f64>) -> LatencySummary {
    v.sort_by(f64::total_cmp);
    LatencySummary {
        p50: Millis(pct(&v, 0.5)),
        p95: Millis(pct(&v, 0.95)),
        p99: Millis(pct(&v, 0.99)),
        p999: Millis(pct(&v, 0.999)),
        max: Millis(v.last().copied().unwrap_or(0.0)),
    }
}

/// Cold-start summary from traces when there are any, else an estimate from metrics.
pub fn summary(
    traced: &[TracedRequest],
    server: &ServerSeries,
    phases: &[PhaseStats],
) -> Option<ColdStartSummary> {
    if traced.is_empty() {
        estimate_from_concurrency(server, phases)
    } else {
        Some(from_traces(traced, phases))
    }
}

fn from_traces(traced: &[TracedRequest], phases: &[PhaseStats]) -> ColdStartSummary {
    let cold: Vec<&TracedRequest> = traced.iter().filter(|t| t.trace.cold).collect();
    // The penalty compares each cold request with the median warm request of its endpoint.
    let mut warm_by_endpoint: HashMap<&str, Vec<f64>> = HashMap::new();
    for t in traced.iter().filter(|t| !t.trace.cold) {
        warm_by_endpoint
            .entry(t.endpoint.as_str())
            .or_default()
            .push(t.raw.as_secs_f64() * 1000.0);
    }
    let warm_median: HashMap<&str, f64> = warm_by_endpoint
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, pct(&v, 0.5))
        })
        .collect();
    let mut penalties: Vec<f64> = cold
        .iter()
        .filter_map(|t| {
            let warm = warm_median.get(t.endpoint.as_str())?;
            Some(t.raw.as_secs_f64() * 1000.0 - warm)
        })
        .collect();
    penalties.sort_by(f64::total_cmp);
    let by_phase = phases
        .iter()
        .filter_map(|p| {
            let in_phase = traced.iter().filter(|t| t.phase == p.index).count();
            let n = cold.iter().filter(|t| t.phase == p.index).count();
            (in_phase > 0).then(|| PhaseColdStarts {
                phase: p.name.clone(),
                count: n as u64,
                share: n as f64 / in_phase as f64,
            })
        })
        .collect();
    ColdStartSummary {
        source: "xray".into(),
        count: cold.len() as u64,
        share: cold.len() as f64 / traced.len() as f64,
        init: latency_summary(
            cold.iter()
                .map(|t| t.trace.init.as_secs_f64() * 1000.0)
                .collect(),
        ),
        penalty: (!penalties.is_empty()).then(|| Millis(pct(&penalties, 0.5))),
        by_phase,
    }
}

/// Each period in which peak concurrency rose above the previous period's peak needed that
/// many new environments, and a new environment starts cold. A lower bound: environments
/// replaced within a period are not seen.
fn estimate_from_concurrency(
    server: &ServerSeries,
    phases: &[PhaseStats],
) -> Option<ColdStartSummary> {
    let mut by_function: HashMap<String, Vec<(chrono::DateTime<chrono::Utc>, f64)>> =
        HashMap::new();
    for p in server.points("AWS/Lambda", "ConcurrentExecutions", "Maximum") {
        let f = p
            .dimensions
            .get("FunctionName")
            .cloned()
            .unwrap_or_default();
        by_function
            .entry(f)
            .or_default()
            .push((p.timestamp, p.value));
    }
    if by_function.is_empty() {
        return None;
    }
    let mut starts: Vec<(chrono::DateTime<chrono::Utc>, f64)> = Vec::new();
    for series in by_function.values_mut() {
        series.sort_by_key(|(t, _)| *t);
        let mut previous = 0.0;
        for (t, v) in series.iter() {
            if *v > previous {
                starts.push((*t, v - previous));
            }
            previous = *v;
        }
    }
    let count: f64 = starts.iter().map(|(_, n)| n).sum();
    let invocations: f64 = server
        .points("AWS/Lambda", "Invocations", "Sum")
        .map(|p| p.value)
        .sum();
    let by_phase = phases
        .iter()
        .map(|p| {
            let n: f64 = starts
                .iter()
                .filter(|(t, _)| p.window.contains(*t))
                .map(|(_, n)| n)
                .sum();
            let inv = p.server.as_ref().and_then(|s| s.invocations).unwrap_or(0.0);
            PhaseColdStarts {
                phase: p.name.clone(),
                count: n.round() as u64,
                share: if inv > 0.0 { n / inv } else { 0.0 },
            }
        })
        .collect();
    Some(ColdStartSummary {
        source: "estimate".into(),
        count: count.round() as u64,
        share: if invocations > 0.0 {
            count / invocations
        } else {
            0.0
        },
        init: LatencySummary::default(),
        penalty: None,
        by_phase,
    })
}

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let Some(c) = ctx.cold_starts.filter(|c| c.count > 0) else {
        return Vec::new();
    };
    let penalty = c.penalty.map_or(0.0, |p| p.0);
    let severity = if penalty >= 100.0 && c.share >= 0.01 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut evidence = vec![Evidence {
        label: "cold starts".into(),
        value: format!("{} ({:.1} % of invocations)", c.count, c.share * 100.0),
        source: Some(match c.source.as_str() {
            "xray" => "X-Ray Initialization/Init subsegments".into(),
            "logs" => "Lambda REPORT lines with Init Duration".into(),
            _ => "estimated from AWS/Lambda ConcurrentExecutions growth".into(),
        }),
    }];
    if c.source != "estimate" {
        evidence.push(Evidence {
            label: "init duration p50 / p99 / max".into(),
            value: format!("{} / {} / {}", c.init.p50, c.init.p99, c.init.max),
            source: None,
        });
    }
    if let Some(p) = c.penalty {
        evidence.push(Evidence {
            label: "added client latency per cold start (median)".into(),
            value: p.to_string(),
            source: Some("cold vs warm requests of the same endpoint".into()),
        });
    }
    // The idle gap after which environments were lost.
    for pair in ctx.phases.windows(2) {
        let (gap, next) = (&pair[0], &pair[1]);
        if gap.model != "idle" {
            continue;
        }
        if let Some(n) = c
            .by_phase
            .iter()
            .find(|b| b.phase == next.name && b.count > 0)
        {
            evidence.push(Evidence {
                label: format!(
                    "after the {:.0} s idle gap `{}`",
                    gap.window.duration().as_secs_f64(),
                    gap.name
                ),
                value: format!("{} cold starts in {}", n.count, next.name),
                source: None,
            });
        }
    }
    let worst = c
        .by_phase
        .iter()
        .max_by_key(|b| b.count)
        .map(|b| b.phase.clone());
    let title = match c.penalty {
        Some(p) => format!(
            "{} cold starts cost {} each ({:.1} % of invocations)",
            c.count,
            p,
            c.share * 100.0
        ),
        None => format!(
            "About {} cold starts ({:.1} % of invocations, {})",
            c.count,
            c.share * 100.0,
            if c.source == "estimate" {
                "estimated from concurrency"
            } else {
                "from logs"
            }
        ),
    };
    let _ = PhaseModel::Idle; // phases are labelled `idle` by phase_stats::model_label
    vec![(
        Finding {
            kind: FindingKind::ColdStarts,
            severity,
            title,
            window: worst
                .as_ref()
                .and_then(|w| ctx.phases.iter().find(|p| &p.name == w))
                .map(|p| p.window),
            phase: worst,
            evidence,
            recommendation: "Add provisioned concurrency sized to the burst, keep traffic from \
                             dropping to zero for longer than the environments' idle lifetime, \
                             and trim init work (lazy SDK clients, smaller packages, SnapStart)."
                .into(),
        },
        c.count as f64 * penalty.max(1.0) / 1000.0,
    )]
}
