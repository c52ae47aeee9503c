//! Function errors: a function's `Errors` beyond its timeouts (a timeout is its own cause,
//! see `timeouts`), with the client's function-error status (502 behind a REST API or a
//! function URL, 500 behind an HTTP API). One finding per function and phase, naming it.

use stormwatch_model::analysis::{PhaseStats, ResourceKind, ResourceStats};
use stormwatch_model::{ApiKind, Evidence, Finding, FindingKind, Severity};

use super::{Context, plural, severity, status_count};
use crate::client_events::function_error_status;

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let status = function_error_status(ctx.api_kind).to_string();
    let mut out = Vec::new();
    for phase in ctx.phases {
        let functions: Vec<&ResourceStats> = phase
            .server
            .iter()
            .flat_map(|s| s.of_kind(ResourceKind::Function))
            .filter(|f| f.errors.is_some())
            .collect();
        if functions.is_empty() {
            out.extend(inferred(ctx, phase, &status));
            continue;
        }
        for f in functions {
            let timeouts = super::timeouts::function_timeouts(f).map_or(0, |t| t.count);
            let errors = f.errors.unwrap_or(0).saturating_sub(timeouts);
            if errors == 0 {
                continue;
            }
            out.push(finding(ctx, phase, f, errors, &status));
        }
    }
    out
}

fn finding(
    ctx: &Context<'_>,
    phase: &PhaseStats,
    f: &ResourceStats,
    errors: u64,
    status: &str,
) -> (Finding, f64) {
    let (client, per_function) = ctx.status_count_for(phase, status, &f.name);
    // Behind an HTTP API a 500 is also a throttle: only the function's own errors count.
    let seen = if ctx.api_kind == Some(ApiKind::Http) || !per_function {
        client.min(errors)
    } else {
        client
    };
    let downstream = super::throttled_downstream(phase);
    let mut evidence = vec![super::lambda_evidence(
        &f.name,
        "Errors",
        "Sum",
        "Errors (timeouts excluded)",
        errors.to_string(),
    )];
    evidence.push(ctx.client_status_evidence(phase, status, &f.name, (client, per_function)));
    if let Some(api) = phase
        .server
        .as_ref()
        .and_then(|s| s.of_kind(ResourceKind::Api).next())
        .and_then(|a| a.errors)
    {
        evidence.push(Evidence {
            label: "API Gateway 5XX".into(),
            value: api.to_string(),
            source: Some("AWS/ApiGateway 5XXError / 5xx (Sum)".into()),
        });
    }
    let after = if downstream.is_empty() {
        String::new()
    } else {
        format!(
            ", after {} throttled calls",
            downstream
                .iter()
                .map(|r| r.display_name())
                .collect::<Vec<_>>()
                .join(" and ")
        )
    };
    let (title, severity) = if seen == 0 {
        (
            format!(
                "{} failed {} in {} that none of the run's requests saw (other callers or \
                 asynchronous invocations)",
                f.display_name(),
                plural(errors, "invocation"),
                phase.name
            ),
            Severity::Info,
        )
    } else {
        (
            format!(
                "{} failed {} in {}{after}",
                f.display_name(),
                plural(errors, "invocation"),
                phase.name
            ),
            severity(seen, phase, ctx.latency_harmed(phase)),
        )
    };
    (
        Finding {
            kind: FindingKind::FunctionErrors,
            severity,
            title,
            window: ctx
                .seconds_where(phase, |p| p.errors_5xx > 0)
                .or(Some(phase.window)),
            phase: Some(phase.name.clone()),
            evidence,
            recommendation: if downstream.is_empty() {
                format!(
                    "Look up `{}`'s failing invocations in its logs (their trace ids are in \
                     requests/); a 502 also results from a malformed proxy response.",
                    f.name
                )
            } else {
                format!(
                    "`{}` gave up after its SDK retries against throttled downstream calls: fix \
                     the downstream capacity first (see that finding), then make the handler \
                     degrade gracefully (queue the write, answer 503 with Retry-After).",
                    f.name
                )
            },
        },
        errors as f64,
    )
}

/// Without Lambda's `Errors` metric: the client's 502s behind a REST API or a function URL
/// (a function error or a malformed proxy response), naming the function when traces tie
/// the endpoints to one.
fn inferred(ctx: &Context<'_>, phase: &PhaseStats, status: &str) -> Option<(Finding, f64)> {
    if ctx.api_kind == Some(ApiKind::Http) {
        return None; // a 500 behind an HTTP API is any Lambda failure
    }
    let client = status_count(phase, status);
    if client == 0 {
        return None;
    }
    let failing: Vec<&str> = phase
        .endpoints
        .iter()
        .filter(|e| e.outcomes.get(status).is_some_and(|n| *n > 0))
        .filter_map(|e| ctx.endpoint_functions.get(&e.endpoint).map(String::as_str))
        .collect();
    let subject = match failing.first() {
        Some(f) if failing.iter().all(|g| g == f) => format!("`{f}` (Lambda)"),
        _ => "The function".to_string(),
    };
    Some((
        Finding {
            kind: FindingKind::FunctionErrors,
            severity: severity(client, phase, false),
            title: format!(
                "{subject} failed {} in {} (client {status}s; no Lambda metrics)",
                plural(client, "request"),
                phase.name
            ),
            window: ctx
                .seconds_where(phase, |p| p.errors_5xx > 0)
                .or(Some(phase.window)),
            phase: Some(phase.name.clone()),
            evidence: vec![Evidence {
                label: format!("client {status} responses"),
                value: format!("{client} of {}", phase.requests),
                source: Some("requests/".into()),
            }],
            recommendation: "A 502 is a function error, a function timeout or a malformed proxy \
                             response: run `stormwatch collect` to tell them apart (AWS/Lambda \
                             Errors, REPORT lines), and look the failing trace ids up in the \
                             function's logs."
                .into(),
        },
        client as f64 * 0.5,
    ))
}
