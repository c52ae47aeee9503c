//! Lambda hit a function's concurrency limit: the function's `Throttles` > 0 while its own
//! `ConcurrentExecutions` sits at a ceiling, and the client saw the front's throttle status
//! (500 behind a REST or HTTP API, 429 from a function URL). One finding per function and
//! phase, naming the function.

use stormwatch_model::analysis::{PhaseStats, ResourceKind, ResourceStats};
use stormwatch_model::{ApiKind, Evidence, Finding, FindingKind, Millis, Severity};

use super::{Context, lambda_evidence, plural, severity, status_count};
use crate::client_events::throttle_status;

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let status = throttle_status(ctx.api_kind).to_string();
    let mut out = Vec::new();
    for phase in ctx.phases {
        let Some(server) = &phase.server else {
            out.extend(inferred(ctx, phase, &status));
            continue;
        };
        let functions: Vec<&ResourceStats> = server.of_kind(ResourceKind::Function).collect();
        if functions.iter().all(|f| f.throttles.is_none()) {
            out.extend(inferred(ctx, phase, &status));
            continue;
        }
        let throttling: Vec<&&ResourceStats> = functions
            .iter()
            .filter(|f| f.throttles.unwrap_or(0) > 0)
            .collect();
        for f in &throttling {
            out.push(finding(ctx, phase, f, &status, throttling.len()));
        }
    }
    out
}

fn finding(
    ctx: &Context<'_>,
    phase: &PhaseStats,
    f: &ResourceStats,
    status: &str,
    throttling_functions: usize,
) -> (Finding, f64) {
    let throttles = f.throttles.unwrap_or(0);
    // The client's throttle statuses on this function's endpoints (all endpoints when no
    // trace tied endpoints to functions and this is the only function throttling).
    let (client, per_function) = ctx.status_count_for(phase, status, &f.name);
    // Behind an HTTP API a 500 is any Lambda failure, so the client's count is only an
    // upper bound there; elsewhere the throttle status is Lambda's alone.
    let client_known =
        (per_function || throttling_functions == 1) && ctx.api_kind != Some(ApiKind::Http);
    let seen_by_client = if client_known {
        client
    } else {
        client.min(throttles)
    };
    let name = f.display_name();
    let ceiling = f.peak_concurrency;
    let ceiling_text =
        ceiling.map_or_else(String::new, |c| format!(" at a peak concurrency of {c}"));
    let mut evidence = vec![lambda_evidence(
        &f.name,
        "Throttles",
        "Sum",
        "Throttles",
        throttles.to_string(),
    )];
    if let Some(c) = ceiling {
        evidence.push(lambda_evidence(
            &f.name,
            "ConcurrentExecutions",
            "Maximum",
            "peak ConcurrentExecutions",
            c.to_string(),
        ));
    }
    evidence.push(ctx.client_status_evidence(phase, status, &f.name, (client, per_function)));
    if client_known && client != throttles {
        evidence.push(Evidence {
            label: "metric vs client".into(),
            value: format!(
                "{throttles} throttles vs {client} client {status}s: {}",
                if throttles > client {
                    "the rest came from other callers, retries inside AWS or requests the \
                     client lost"
                } else {
                    "some of the client's statuses came from other failures or a period \
                     straddling the phase boundary"
                }
            ),
            source: None,
        });
    }
    if let Some(base) = ctx.baseline().filter(|b| b.index != phase.index) {
        evidence.push(Evidence {
            label: format!("p99 {} → {}", base.name, phase.name),
            value: format!(
                "{} → {}",
                Millis(Context::p99(base)),
                Millis(Context::p99(phase))
            ),
            source: Some("requests/ (corrected latency, all requests)".into()),
        });
    }
    let (title, severity) = if seen_by_client == 0 {
        (
            format!(
                "{name} throttled {} in {} that none of the run's requests saw (other callers or \
                 asynchronous invocations)",
                plural(throttles, "invocation"),
                phase.name
            ),
            Severity::Info,
        )
    } else {
        (
            format!(
                "{name} throttled {}{ceiling_text} in {}",
                plural(if client_known { client } else { throttles }, "request"),
                phase.name
            ),
            severity(seen_by_client, phase, ctx.latency_harmed(phase)),
        )
    };
    let window = ctx
        .seconds_where(phase, |p| match status {
            "429" => p.errors_4xx > 0,
            _ => p.errors_5xx > 0,
        })
        .filter(|_| seen_by_client > 0)
        .or_else(|| ctx.seconds_where(phase, |p| p.lambda_throttles.is_some_and(|t| t > 0.0)))
        .or(Some(phase.window));
    (
        Finding {
            kind: FindingKind::LambdaThrottling,
            severity,
            title,
            window,
            phase: Some(phase.name.clone()),
            evidence,
            recommendation: format!(
                "Raise `{}`'s reserved concurrency{} (or the account's concurrency quota when \
                 it is unreserved), add provisioned concurrency for the burst, or shape the \
                 burst below the ceiling (API Gateway stage throttling, a queue in front).",
                f.name,
                ceiling.map_or_else(String::new, |c| format!(" above {c}"))
            ),
        },
        seen_by_client.max(throttles) as f64,
    )
}

/// Without Lambda's `Throttles` metric, the client's statuses alone: behind a REST API or a
/// function URL the throttle status is specific enough to name the likely cause, at
/// `warning` at most and saying what would confirm it. (Behind an HTTP API a 500 is any
/// Lambda failure, so nothing is inferred.)
fn inferred(ctx: &Context<'_>, phase: &PhaseStats, status: &str) -> Option<(Finding, f64)> {
    if !matches!(ctx.api_kind, Some(ApiKind::Rest | ApiKind::FunctionUrl)) {
        return None;
    }
    let client = status_count(phase, status);
    if client == 0 {
        return None;
    }
    let front = if ctx.api_kind == Some(ApiKind::Rest) {
        "a REST API answers 500 when Lambda throttles the integration"
    } else {
        "a function URL answers 429 when Lambda throttles"
    };
    let functions: Vec<&str> = {
        let mut v: Vec<&str> = ctx
            .endpoint_functions
            .values()
            .map(String::as_str)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    Some((
        Finding {
            kind: FindingKind::LambdaThrottling,
            severity: severity(client, phase, false).min(Severity::Warning),
            title: format!(
                "{} in {} got {status}, likely Lambda throttling",
                plural(client, "request"),
                phase.name
            ),
            window: ctx
                .seconds_where(phase, |p| p.errors_5xx > 0 || p.errors_4xx > 0)
                .or(Some(phase.window)),
            phase: Some(phase.name.clone()),
            evidence: vec![Evidence {
                label: format!("client {status} responses"),
                value: format!("{client} of {}", phase.requests),
                source: Some("requests/".into()),
            }],
            recommendation: format!(
                "{front}; run `stormwatch collect` to confirm with AWS/Lambda Throttles and \
                 ConcurrentExecutions per function{}. If confirmed, raise the function's reserved \
                 concurrency, add provisioned concurrency for the burst, or shape the burst below \
                 the ceiling.",
                if functions.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", functions.join(", "))
                }
            ),
        },
        // Ranked below findings backed by server-side metrics.
        client as f64 * 0.5,
    ))
}
