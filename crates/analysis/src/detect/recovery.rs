//! Recovery: after the worst phase (a burst or incident), how long until p99 is back near
//! the baseline phase's level — or that it never came back before the run ended.

use chrono::Duration as ChronoDuration;
use stormwatch_model::{Evidence, Finding, FindingKind, Millis, PhaseWindow, Severity};

use super::Context;

/// p99 counts as recovered when it stays within this factor of the baseline...
const RECOVERED_FACTOR: f64 = 1.5;
/// ...for this many consecutive seconds with traffic.
const RECOVERED_SECONDS: usize = 3;

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let Some(base) = ctx.baseline() else {
        return Vec::new();
    };
    let base_p99 = Context::p99(base);
    let Some(worst) = ctx
        .phases
        .iter()
        .filter(|p| p.index > base.index && p.requests > 0)
        .max_by(|a, b| Context::p99(a).total_cmp(&Context::p99(b)))
    else {
        return Vec::new();
    };
    let worst_p99 = Context::p99(worst);
    if base_p99 <= 0.0 || worst_p99 < 2.0 * base_p99 {
        return Vec::new();
    }
    let limit = base_p99 * RECOVERED_FACTOR;
    let after: Vec<_> = ctx
        .timeline
        .iter()
        .filter(|p| p.t >= worst.window.end && p.completed > 0)
        .collect();
    if after.is_empty() {
        return Vec::new(); // nothing ran after it: nothing to say about recovery
    }
    let recovered_at = after
        .windows(RECOVERED_SECONDS)
        .find(|w| w.iter().all(|p| p.p99.is_some_and(|m| m.0 <= limit)))
        .map(|w| w[0].t);
    let evidence = vec![
        Evidence {
            label: format!("p99 in {} (baseline) / {}", base.name, worst.name),
            value: format!("{} / {}", Millis(base_p99), Millis(worst_p99)),
            source: Some("requests/ (corrected latency)".into()),
        },
        Evidence {
            label: "recovered means".into(),
            value: format!("p99 ≤ {} for {RECOVERED_SECONDS} s", Millis(limit)),
            source: None,
        },
    ];
    let (severity, title, window) = match recovered_at {
        Some(t) => {
            let secs = (t - worst.window.end).num_milliseconds() as f64 / 1000.0;
            (
                if secs <= 10.0 {
                    Severity::Info
                } else {
                    Severity::Warning
                },
                format!(
                    "p99 returned to the baseline level {secs:.0} s after {} ended",
                    worst.name
                ),
                PhaseWindow {
                    start: worst.window.end,
                    end: t + ChronoDuration::seconds(1),
                },
            )
        }
        None => (
            Severity::Warning,
            format!(
                "p99 did not return to the baseline level after {} before the run ended",
                worst.name
            ),
            PhaseWindow {
                start: worst.window.end,
                end: after
                    .last()
                    .map_or(worst.window.end, |p| p.t + ChronoDuration::seconds(1)),
            },
        ),
    };
    vec![(
        Finding {
            kind: FindingKind::Recovery,
            severity,
            title,
            window: Some(window),
            phase: Some(worst.name.clone()),
            evidence,
            recommendation: "A slow recovery points at a backlog (queue, retries) or at capacity \
                             that is released slowly; check the other findings for this window."
                .into(),
        },
        0.0,
    )]
}
