//! What `run` prints: the dry-run plan, the end-of-run table per phase × endpoint, and
//! the client-side threshold verdicts (cold-start share is left to `analyze`).

use std::fmt::Write;

use stormwatch_model::analysis::ThresholdResult;
use stormwatch_model::pricing::{PRICES_AS_OF, Usage, usd_text};
use stormwatch_model::text_table::{Align, TextTable};
use stormwatch_model::threshold::{Observation, Scope, judge};
use stormwatch_model::{PhaseModel, RunManifest, ThresholdMetric, ThresholdSpec};

use crate::engine::Lateness;
use crate::plan::Plan;
use crate::recorder::{EndpointStats, Stats, new_histogram};

/// The plan as `--dry-run` prints it.
pub fn dry_run_text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "target: {}", plan.target);
    if let Some(s) = &plan.sigv4 {
        // Never the credentials: the dry run resolves none.
        let _ = writeln!(
            out,
            "auth: SigV4 for service {} in {}, credentials from the default AWS chain at run time",
            s.service(),
            s.region()
        );
    }
    let mean_steps = {
        let total: u32 = plan.flows.iter().map(|f| f.weight).sum();
        plan.flows
            .iter()
            .map(|f| f64::from(f.weight) * f.steps.len() as f64)
            .sum::<f64>()
            / f64::from(total.max(1))
    };
    let mut table = TextTable::new(&[
        ("phase", Align::Left),
        ("model", Align::Left),
        ("duration", Align::Right),
        ("load", Align::Right),
        ("expected requests", Align::Right),
    ]);
    let mut total = 0.0;
    let mut traced = 0.0;
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
                let secs = p.duration.as_secs_f64();
                if secs > 0.0 {
                    traced += secs * plan.sampling.traced_rate(r / secs);
                }
                format!("~{r:.0}")
            });
        let kind = match p.model {
            PhaseModel::Open { .. } => "open",
            PhaseModel::Closed { .. } => "closed",
            PhaseModel::Idle => "idle",
        };
        table.row([
            p.name.clone(),
            kind.to_string(),
            format!("{:.1}s", p.duration.as_secs_f64()),
            load,
            expected,
        ]);
    }
    out.push_str(&table.render());
    let _ = writeln!(
        out,
        "total: {:.1}s, ~{total:.0} requests in open phases, peak {peak}/s flow starts",
        plan.total_duration().as_secs_f64(),
    );
    let _ = writeln!(
        out,
        "traces: {}: ~{traced:.0} of the ~{total:.0} requests in open phases{}; X-Ray records them for ~{} ({})",
        plan.sampling.describe(),
        if plan
            .phases
            .iter()
            .any(|p| matches!(p.model, PhaseModel::Closed { .. }))
        {
            "; closed phases by the same rule"
        } else {
            ""
        },
        usd_text(
            Usage {
                traces_recorded: traced,
                ..Usage::default()
            }
            .usd()
        ),
        PRICES_AS_OF
    );
    out
}

fn ms(v: u64) -> f64 {
    v as f64 / 1e3
}

/// Microseconds as milliseconds with one decimal.
fn ms1(v: u64) -> String {
    format!("{:.1}", ms(v))
}

/// The end-of-run table: one row per phase × endpoint (corrected latency).
pub fn summary_table(manifest: &RunManifest, stats: &Stats, lateness: &[Lateness]) -> String {
    let mut table = TextTable::new(&[
        ("phase", Align::Left),
        ("endpoint", Align::Left),
        ("count", Align::Right),
        ("rate/s", Align::Right),
        ("p50 ms", Align::Right),
        ("p95 ms", Align::Right),
        ("p99 ms", Align::Right),
        ("p99.9", Align::Right),
        ("max ms", Align::Right),
        ("2xx", Align::Right),
        ("4xx", Align::Right),
        ("5xx", Align::Right),
        ("xport", Align::Right),
        ("dropped", Align::Right),
    ]);
    for p in &manifest.phases {
        let secs = p.actual.map_or(0.0, |w| w.duration().as_secs_f64());
        for ((phase, endpoint), s) in
            stats.range((p.index, String::new())..(p.index + 1, String::new()))
        {
            debug_assert_eq!(*phase, p.index);
            let h = &s.corrected;
            table.row([
                p.name.clone(),
                endpoint.clone(),
                s.count.to_string(),
                format!("{:.1}", s.count as f64 / secs.max(1e-9)),
                ms1(h.value_at_quantile(0.5)),
                ms1(h.value_at_quantile(0.95)),
                ms1(h.value_at_quantile(0.99)),
                ms1(h.value_at_quantile(0.999)),
                ms1(h.max()),
                s.classes[2].to_string(),
                s.classes[4].to_string(),
                s.classes[5].to_string(),
                s.classes[0].to_string(),
                p.dropped.to_string(),
            ]);
        }
        if let Some(l) = lateness.get(p.index as usize).filter(|l| l.dispatched > 0) {
            table.note(format!(
                "{} scheduling lateness: mean {:.3} ms, max {:.3} ms over {} starts",
                p.name,
                l.mean.as_secs_f64() * 1e3,
                l.max.as_secs_f64() * 1e3,
                l.dispatched
            ));
        }
    }
    table.render()
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
