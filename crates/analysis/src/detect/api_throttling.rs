//! API Gateway's own throttling: 429s from a REST or HTTP API while Lambda was not throttled
//! (the stage, method or usage-plan limit rejected requests before Lambda saw them).

use stormwatch_model::analysis::ResourceKind;
use stormwatch_model::{ApiKind, Evidence, Finding, FindingKind};

use super::{Context, plural, severity, status_count};

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    if ctx.api_kind == Some(ApiKind::FunctionUrl) {
        return Vec::new(); // a function URL's 429 is Lambda throttling
    }
    let mut out = Vec::new();
    for phase in ctx.phases {
        let n429 = status_count(phase, "429");
        if n429 == 0 {
            continue;
        }
        // Behind an API, Lambda throttles answer 500, never 429: every 429 is the API's.
        let lambda_throttles = phase
            .server
            .as_ref()
            .and_then(|s| s.total(ResourceKind::Function, |f| f.throttles));
        let api = phase
            .server
            .as_ref()
            .and_then(|s| s.of_kind(ResourceKind::Api).next());
        let severity = severity(n429, phase, ctx.latency_harmed(phase));
        let window = ctx
            .seconds_where(phase, |p| p.errors_4xx > 0)
            .or(Some(phase.window));
        let mut evidence = vec![Evidence {
            label: "client 429 responses".into(),
            value: format!("{n429} of {}", phase.requests),
            source: Some("requests/".into()),
        }];
        if let Some(t) = lambda_throttles {
            evidence.push(Evidence {
                label: "Lambda Throttles (all functions)".into(),
                value: t.to_string(),
                source: Some("AWS/Lambda Throttles (Sum)".into()),
            });
        }
        if let Some(x) = api.and_then(|a| a.client_errors) {
            evidence.push(Evidence {
                label: "API Gateway 4XX".into(),
                value: x.to_string(),
                source: Some("AWS/ApiGateway 4XXError / 4xx (Sum)".into()),
            });
        }
        evidence.push(Evidence {
            label: "achieved rate".into(),
            value: format!("{:.1}/s", phase.achieved_rate_per_sec),
            source: None,
        });
        out.push((
            Finding {
                kind: FindingKind::ApiThrottling,
                severity,
                title: format!(
                    "{} throttled {} with 429 in {}{}",
                    ctx.api_name
                        .as_deref()
                        .map_or_else(|| "API Gateway".to_string(), |a| format!("API Gateway `{a}`")),
                    plural(n429, "request"),
                    phase.name,
                    if lambda_throttles.unwrap_or(0) == 0 {
                        " (Lambda was not throttled)"
                    } else {
                        ""
                    }
                ),
                window,
                phase: Some(phase.name.clone()),
                evidence,
                recommendation: "Raise the stage or method throttling rate and burst (or the usage \
                                 plan's limits) above the offered load, and have clients retry 429s \
                                 with exponential backoff."
                    .into(),
            },
            n429 as f64,
        ));
    }
    out
}
