//! Timeouts: 504 (REST integration timeout), 503 (HTTP API), client-side timeouts.

use stormwatch_model::{Evidence, Finding, FindingKind, Severity};

use super::{Context, share, status_count};

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let mut out = Vec::new();
    for phase in ctx.phases {
        let n504 = status_count(phase, "504");
        let n503 = status_count(phase, "503");
        let client = status_count(phase, "timeout");
        let total = n504 + n503 + client;
        if total == 0 {
            continue;
        }
        let severity = if share(total, phase.requests) >= 0.01 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut evidence = vec![Evidence {
            label: "504 / 503 / client timeouts".into(),
            value: format!("{n504} / {n503} / {client} of {}", phase.requests),
            source: Some("requests/".into()),
        }];
        if let Some(d) = phase.server.as_ref().and_then(|s| s.duration_p99) {
            evidence.push(Evidence {
                label: "Lambda Duration p99".into(),
                value: d.to_string(),
                source: Some("AWS/Lambda Duration (p99)".into()),
            });
        }
        out.push((
            Finding {
                kind: FindingKind::Timeouts,
                severity,
                title: format!("{total} requests timed out in {}", phase.name),
                window: ctx
                    .seconds_where(phase, |p| p.errors_5xx > 0 || p.errors_transport > 0)
                    .or(Some(phase.window)),
                phase: Some(phase.name.clone()),
                evidence,
                recommendation: "Find what makes the handler slow (downstream calls, cold starts, \
                                 CPU at this memory size); keep the function timeout below the \
                                 integration timeout (29 s for REST APIs); move long work to an \
                                 asynchronous job."
                    .into(),
            },
            total as f64,
        ));
    }
    out
}
