//! Lambda hit its concurrency limit: `Throttles` > 0 while `ConcurrentExecutions` sits at a
//! ceiling, and the client saw the front's throttle status (500 behind a REST or HTTP API,
//! 429 from a function URL).

use stormwatch_model::{ApiKind, Evidence, Finding, FindingKind, Severity};

use super::{Context, share, status_count};

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let client_status = if ctx.api_kind == Some(ApiKind::FunctionUrl) {
        "429"
    } else {
        "500"
    };
    let mut out = Vec::new();
    for phase in ctx.phases {
        let Some(throttles) = phase.server.as_ref().and_then(|s| s.throttles) else {
            out.extend(inferred(ctx, phase, client_status));
            continue;
        };
        if throttles < 0.5 {
            continue;
        }
        let client = status_count(phase, client_status);
        let ceiling = phase.server.as_ref().and_then(|s| s.max_concurrency);
        let severity = if client > 0 || share(throttles as u64, phase.requests) >= 0.01 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let window = ctx
            .seconds_where(phase, |p| p.lambda_throttles.is_some_and(|t| t > 0.0))
            .or(Some(phase.window));
        let ceiling_text = ceiling.map_or_else(String::new, |c| {
            format!(" at a concurrency ceiling of {c:.0}")
        });
        let mut evidence = vec![Evidence {
            label: "Lambda Throttles".into(),
            value: format!("{throttles:.0}"),
            source: Some("AWS/Lambda Throttles (Sum)".into()),
        }];
        if let Some(c) = ceiling {
            evidence.push(Evidence {
                label: "peak ConcurrentExecutions".into(),
                value: format!("{c:.0}"),
                source: Some("AWS/Lambda ConcurrentExecutions (Maximum)".into()),
            });
        }
        evidence.push(Evidence {
            label: format!("client {client_status} responses"),
            value: format!("{client} of {}", phase.requests),
            source: Some("requests/".into()),
        });
        if let Some(base) = ctx.baseline().filter(|b| b.index != phase.index) {
            evidence.push(Evidence {
                label: format!("p99 {} → {}", base.name, phase.name),
                value: format!(
                    "{} → {}",
                    stormwatch_model::Millis(Context::p99(base)),
                    stormwatch_model::Millis(Context::p99(phase))
                ),
                source: Some("requests/ (corrected latency)".into()),
            });
        }
        out.push((
            Finding {
                kind: FindingKind::LambdaThrottling,
                severity,
                title: format!(
                    "Lambda throttled {throttles:.0} requests{ceiling_text} in {}",
                    phase.name
                ),
                window,
                phase: Some(phase.name.clone()),
                evidence,
                recommendation: format!(
                    "Raise the function's reserved concurrency (or the account's concurrency quota){}, \
                     add provisioned concurrency for the burst, or shape the burst below the ceiling \
                     (API Gateway stage throttling, a queue in front).",
                    ceiling.map_or_else(String::new, |c| format!(" above {c:.0}"))
                ),
            },
            throttles,
        ));
    }
    out
}

/// Without Lambda's `Throttles` metric, the client's statuses alone: behind a REST API or a
/// function URL the throttle status is specific enough to name the likely cause, at
/// `warning` and saying what would confirm it. (Behind an HTTP API a 500 is any Lambda
/// failure, so nothing is inferred.)
fn inferred(
    ctx: &Context<'_>,
    phase: &stormwatch_model::analysis::PhaseStats,
    client_status: &str,
) -> Option<(Finding, f64)> {
    if !matches!(ctx.api_kind, Some(ApiKind::Rest | ApiKind::FunctionUrl)) {
        return None;
    }
    let client = status_count(phase, client_status);
    if client == 0 {
        return None;
    }
    let front = if ctx.api_kind == Some(ApiKind::Rest) {
        "a REST API answers 500 when Lambda throttles the integration"
    } else {
        "a function URL answers 429 when Lambda throttles"
    };
    Some((
        Finding {
            kind: FindingKind::LambdaThrottling,
            severity: Severity::Warning,
            title: format!(
                "{client} request{} in {} got {client_status}, likely Lambda throttling",
                if client == 1 { "" } else { "s" },
                phase.name
            ),
            window: ctx
                .seconds_where(phase, |p| p.errors_5xx > 0 || p.errors_4xx > 0)
                .or(Some(phase.window)),
            phase: Some(phase.name.clone()),
            evidence: vec![Evidence {
                label: format!("client {client_status} responses"),
                value: format!("{client} of {}", phase.requests),
                source: Some("requests/".into()),
            }],
            recommendation: format!(
                "{front}; run `stormwatch collect` to confirm with AWS/Lambda Throttles and \
                 ConcurrentExecutions. If confirmed, raise the function's reserved concurrency, \
                 add provisioned concurrency for the burst, or shape the burst below the ceiling."
            ),
        },
        // Ranked below findings backed by server-side metrics.
        client as f64 * 0.5,
    ))
}
