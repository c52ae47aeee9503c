//! Function errors: 502 behind a REST API (function error or malformed proxy response), and
//! Lambda `Errors` compared with API Gateway `5XXError` to tell the function's failures from
//! the front's.

use stormwatch_model::{ApiKind, Evidence, Finding, FindingKind, Severity};

use super::{Context, share, status_count};

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let mut out = Vec::new();
    for phase in ctx.phases {
        let n502 = status_count(phase, "502");
        let lambda_errors = phase
            .server
            .as_ref()
            .and_then(|s| s.function_errors)
            .unwrap_or(0.0);
        // Behind an HTTP API every Lambda failure is a 500; only Lambda's Errors metric
        // separates function errors from throttles there.
        let http_500 = if ctx.api_kind == Some(ApiKind::Http) && lambda_errors >= 0.5 {
            status_count(phase, "500")
        } else {
            0
        };
        let client = n502 + http_500;
        if client == 0 && lambda_errors < 0.5 {
            continue;
        }
        let severity = if share(client, phase.requests) >= 0.01 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut evidence = vec![Evidence {
            label: "client 502 responses".into(),
            value: format!("{n502} of {}", phase.requests),
            source: Some("requests/".into()),
        }];
        if let Some(s) = &phase.server {
            evidence.push(Evidence {
                label: "Lambda Errors".into(),
                value: format!("{lambda_errors:.0}"),
                source: Some("AWS/Lambda Errors (Sum)".into()),
            });
            if let Some(x) = s.api_5xx {
                evidence.push(Evidence {
                    label: "API Gateway 5XX".into(),
                    value: format!("{x:.0}"),
                    source: Some("AWS/ApiGateway 5XXError (Sum)".into()),
                });
            }
        }
        let count = client.max(lambda_errors as u64);
        out.push((
            Finding {
                kind: FindingKind::FunctionErrors,
                severity,
                title: format!("The function failed {count} invocations in {}", phase.name),
                window: ctx
                    .seconds_where(phase, |p| p.errors_5xx > 0)
                    .or(Some(phase.window)),
                phase: Some(phase.name.clone()),
                evidence,
                recommendation: "Look up the failing invocations in the function's logs (their \
                                 trace ids are in requests/); a 502 also results from a malformed \
                                 proxy response."
                    .into(),
            },
            count as f64,
        ));
    }
    out
}
