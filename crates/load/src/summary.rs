//! What `run` prints: the dry-run plan, the end-of-run table per phase × endpoint, and
//! the client-side threshold verdicts (cold-start share is left to `analyze`).

use std::fmt::Write;

use stormwatch_model::analysis::ThresholdResult;
use stormwatch_model::threshold::{Observation, Scope, judge};
use stormwatch_model::{PhaseModel, RunManifest, ThresholdMetric, ThresholdSpec};

use crate::engine::Lateness;
use crate::plan::Plan;
use crate::recorder::{EndpointStats, Stats, new_histogram};

/// The plan as `--dry-run` prints it.
pub fn dry_run_text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "target: {}", plan.target);
    let mean_steps = {
        let total: u32 = plan.flows.iter().map(|f| f.weight).sum();
        plan.flows
            .iter()
            .map(|f| f64::from(f.weight) * f.steps.len() as f64)
            .sum::<f64>()
            / f64::from(total.max(1))
    };
    let _ = writeln!(
        out,
        "{:<16} {:<8} {:>9} {:>26} {:>18}",
        "phase", "model", "duration", "load", "expected requests"
    );
    let mut total = 0.0;
    let mut peak: f64 = 0.0;
    for p in &plan.phases {
        let load = match &p.model {
            PhaseModel::Open {
                start_rate_per_sec: a,
                end_rate_per_sec: b,
                arrivals,
                max_in_flight,
            } => {
                peak = peak.max(*a).max(*b);
                let cap = max_in_flight.map_or(String::new(), |m| format!(", cap {m}"));
                if (a - b).abs() < f64::EPSILON {
                    format!("{a}/s {arrivals:?}{cap}")
                } else {
                    format!("{a}->{b}/s {arrivals:?}{cap}")
                }
            }
            PhaseModel::Closed {
                start_users: a,
                end_users: b,
            } if a == b => format!("{a} users"),
            PhaseModel::Closed {
                start_users: a,
                end_users: b,
            } => format!("{a}->{b} users"),
            PhaseModel::Idle => "no traffic".into(),
        };
        let expected = p
            .expected_iterations()
            .map_or("depends on server".to_string(), |n| {
                let r = n * mean_steps;
                total += r;
                format!("~{r:.0}")
            });
        let kind = match p.model {
            PhaseModel::Open { .. } => "open",
            PhaseModel::Closed { .. } => "closed",
            PhaseModel::Idle => "idle",
        };
        let _ = writeln!(
            out,
            "{:<16} {kind:<8} {:>8.1}s {load:>26} {expected:>18}",
            p.name,
            p.duration.as_secs_f64()
        );
    }
    let _ = writeln!(
        out,
        "total: {:.1}s, ~{total:.0} requests in open phases, peak {peak}/s flow starts, trace sampling {}",
        plan.total_duration().as_secs_f64(),
        plan.sampling
    );
    out
}

fn ms(v: u64) -> f64 {
    v as f64 / 1e3
}

/// The end-of-run table: one row per phase × endpoint (corrected latency).
pub fn summary_table(manifest: &RunManifest, stats: &Stats, lateness: &[Lateness]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<32} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>5} {:>5} {:>6} {:>7}",
        "phase",
        "endpoint",
        "count",
        "rate/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "p99.9",
        "max ms",
        "2xx",
        "4xx",
        "5xx",
        "xport",
        "dropped"
    );
    for p in &manifest.phases {
        let secs = p.actual.map_or(0.0, |w| w.duration().as_secs_f64());
        for ((phase, endpoint), s) in
            stats.range((p.index, String::new())..(p.index + 1, String::new()))
        {
            debug_assert_eq!(*phase, p.index);
            let h = &s.corrected;
            let _ = writeln!(
                out,
                "{:<12} {:<32} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>6} {:>5} {:>5} {:>6} {:>7}",
                p.name,
                endpoint,
                s.count,
                s.count as f64 / secs.max(1e-9),
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.95)),
                ms(h.value_at_quantile(0.99)),
                ms(h.value_at_quantile(0.999)),
                ms(h.max()),
                s.classes[2],
                s.classes[4],
                s.classes[5],
                s.classes[0],
                p.dropped
            );
        }
        if let Some(l) = lateness.get(p.index as usize).filter(|l| l.dispatched > 0) {
            let _ = writeln!(
                out,
                "{:<12} scheduling lateness: mean {:.3} ms, max {:.3} ms over {} starts",
                p.name,
                l.mean.as_secs_f64() * 1e3,
                l.max.as_secs_f64() * 1e3,
                l.dispatched
            );
        }
    }
    out
}

/// Judges the client-side thresholds by the rule `analyze` uses
/// ([`stormwatch_model::threshold::judge`]), on the HDR histograms of the run. Cold-start
/// share needs telemetry and is left to `analyze`.
pub fn evaluate_thresholds(manifest: &RunManifest, stats: &Stats) -> Vec<ThresholdResult> {
    let phases: Vec<(u32, &str)> = manifest
        .phases
        .iter()
        .map(|p| (p.index, p.name.as_str()))
        .collect();
    let mut results = Vec::new();
    for spec in &manifest.thresholds {
        if spec.metric == ThresholdMetric::ColdStartShare {
            continue;
        }
        results.extend(judge(spec, &phases, |index, scope| {
            observe(manifest, stats, spec, index, scope)
        }));
    }
    results
}

/// The threshold's metric over the requests of one phase that `scope` covers.
fn observe(
    manifest: &RunManifest,
    stats: &Stats,
    spec: &ThresholdSpec,
    index: u32,
    scope: Scope<'_>,
) -> Observation {
    let mut merged = EndpointStats {
        corrected: new_histogram(),
        raw: new_histogram(),
        count: 0,
        errors: 0,
        classes: [0; 6],
    };
    for ((_, endpoint), s) in stats.range((index, String::new())..(index + 1, String::new())) {
        if scope.covers(endpoint) {
            let _ = merged.corrected.add(&s.corrected);
            merged.count += s.count;
            merged.errors += s.errors;
        }
    }
    let secs = manifest
        .phases
        .iter()
        .find(|p| p.index == index)
        .and_then(|p| p.actual)
        .map_or(0.0, |w| w.duration().as_secs_f64());
    let value = if merged.count == 0 {
        None
    } else {
        Some(match spec.metric {
            ThresholdMetric::ErrorRate => merged.errors as f64 / merged.count as f64,
            ThresholdMetric::AchievedRate => merged.count as f64 / secs.max(1e-9),
            m => {
                let q = m.percentile().unwrap_or(100.0) / 100.0;
                if q >= 1.0 {
                    ms(merged.corrected.max())
                } else {
                    ms(merged.corrected.value_at_quantile(q))
                }
            }
        })
    };
    Observation {
        requests: merged.count,
        value,
    }
}
