//! The cold-start finding: how many cold starts, what they cost the client, which
//! functions and which idle gap lost the environments. The counts come from the summary
//! (`crate::cold_starts`).

use stormwatch_model::analysis::ColdStartSummary;
use stormwatch_model::{Evidence, Finding, FindingKind, Severity};

use super::Context;

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
    if !c.by_function.is_empty() {
        evidence.push(Evidence {
            label: "per function".into(),
            value: c
                .by_function
                .iter()
                .filter(|f| f.count > 0 || f.high.is_some_and(|h| h > 0))
                .map(|f| match (f.low, f.high) {
                    (Some(lo), Some(hi)) => {
                        format!("`{}` about {} ({lo}–{hi})", f.function, f.count)
                    }
                    _ => format!("`{}` {}", f.function, f.count),
                })
                .collect::<Vec<_>>()
                .join(", "),
            source: None,
        });
    }
    if let Some(e) = &c.estimate {
        evidence.push(Evidence {
            label: "range (assumptions)".into(),
            value: format!("{}–{} ({})", e.low, e.high, e.assumptions),
            source: None,
        });
    }
    if c.source != "estimate" {
        evidence.push(Evidence {
            label: "init duration p50 / p99 / max".into(),
            value: format!("{} / {} / {}", c.init.p50, c.init.p99, c.init.max),
            source: None,
        });
    }
    if let Some(busiest) = c
        .by_minute
        .iter()
        .max_by_key(|m| (m.count, std::cmp::Reverse(m.minute)))
        && busiest.count > 0
    {
        evidence.push(Evidence {
            label: "busiest minute".into(),
            value: format!(
                "{} cold starts in the minute from {}",
                busiest.count,
                busiest.minute.format("%H:%M UTC")
            ),
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
            "{} cold starts cost {} each ({:.1} % of invocations{})",
            c.count,
            p,
            c.share * 100.0,
            named(c)
        ),
        None if c.source == "estimate" => format!(
            "About {} cold starts ({}, {:.1} % of invocations, estimated from concurrency{})",
            c.count,
            c.estimate
                .as_ref()
                .map_or_else(String::new, |e| format!("between {} and {}", e.low, e.high)),
            c.share * 100.0,
            named(c)
        ),
        None => format!(
            "{} cold starts ({:.1} % of invocations, from {}{})",
            c.count,
            c.share * 100.0,
            if c.source == "logs" {
                "Lambda REPORT lines"
            } else {
                "traces"
            },
            named(c)
        ),
    };
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

/// `; most in `products` (30)` when the summary tells functions apart.
fn named(c: &ColdStartSummary) -> String {
    match c
        .by_function
        .iter()
        .filter(|f| f.count > 0)
        .max_by_key(|f| f.count)
    {
        Some(f) if c.by_function.len() > 1 => format!("; most in `{}` ({})", f.function, f.count),
        Some(f) => format!("; `{}`", f.function),
        None => String::new(),
    }
}
