//! API Gateway's own throttling: 429s from a REST or HTTP API while Lambda was not throttled
//! (the stage, method or usage-plan limit rejected requests before Lambda saw them).

use stormwatch_model::{ApiKind, Evidence, Finding, FindingKind, Severity};

use super::{Context, share, status_count};

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
        let lambda_throttles = phase
            .server
            .as_ref()
            .and_then(|s| s.throttles)
            .unwrap_or(0.0);
        if lambda_throttles >= n429 as f64 * 0.5 {
            continue; // explained by Lambda throttling
        }
        let severity = if share(n429, phase.requests) >= 0.01 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let window = ctx
            .seconds_where(phase, |p| p.errors_4xx > 0)
            .or(Some(phase.window));
        let mut evidence = vec![Evidence {
            label: "client 429 responses".into(),
            value: format!("{n429} of {}", phase.requests),
            source: Some("requests/".into()),
        }];
        if let Some(s) = &phase.server {
            evidence.push(Evidence {
                label: "Lambda Throttles".into(),
                value: format!("{:.0}", s.throttles.unwrap_or(0.0)),
                source: Some("AWS/Lambda Throttles (Sum)".into()),
            });
            if let Some(x) = s.api_4xx {
                evidence.push(Evidence {
                    label: "API Gateway 4XX".into(),
                    value: format!("{x:.0}"),
                    source: Some("AWS/ApiGateway 4XXError (Sum)".into()),
                });
            }
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
                    "API Gateway throttled {n429} requests with 429 in {} (Lambda was not throttled)",
                    phase.name
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
