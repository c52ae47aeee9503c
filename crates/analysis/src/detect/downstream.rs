//! Downstream throttling: DynamoDB or Kinesis rejected calls (metrics, or throttle flags on
//! traced subsegments), and the SDK's retries lengthened invocations.

use stormwatch_model::{Evidence, Finding, FindingKind, Millis, Severity};

use super::{Context, share};

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let mut out = Vec::new();
    for phase in ctx.phases {
        let metric = phase
            .server
            .as_ref()
            .and_then(|s| s.downstream_throttles)
            .unwrap_or(0.0);
        let traced: Vec<_> = ctx
            .traced
            .iter()
            .filter(|t| t.phase == phase.index)
            .collect();
        let traced_throttled = traced
            .iter()
            .filter(|t| t.trace.downstream_throttled)
            .count();
        let retries: u32 = traced.iter().map(|t| t.trace.retries).sum();
        if metric < 0.5 && traced_throttled == 0 {
            continue;
        }
        let failed_5xx: u64 = phase
            .endpoints
            .iter()
            .flat_map(|e| e.outcomes.iter())
            .filter(|(k, _)| k.starts_with('5'))
            .map(|(_, v)| v)
            .sum();
        let severity = if share(failed_5xx, phase.requests) >= 0.01 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut evidence = Vec::new();
        if metric >= 0.5 {
            evidence.push(Evidence {
                label: "downstream throttle events".into(),
                value: format!("{metric:.0}"),
                source: Some(
                    "AWS/DynamoDB ThrottledRequests, WriteThrottleEvents; AWS/Kinesis WriteProvisionedThroughputExceeded (Sum)"
                        .into(),
                ),
            });
        }
        if !traced.is_empty() {
            evidence.push(Evidence {
                label: "traced requests with a throttled downstream call".into(),
                value: format!(
                    "{traced_throttled} of {} (SDK retries: {retries})",
                    traced.len()
                ),
                source: Some("telemetry/spans.parquet".into()),
            });
        }
        if let (Some(base), Some(now)) = (
            ctx.baseline()
                .and_then(|b| b.server.as_ref())
                .and_then(|s| s.duration_p99),
            phase.server.as_ref().and_then(|s| s.duration_p99),
        ) {
            evidence.push(Evidence {
                label: "Lambda Duration p99, baseline → this phase".into(),
                value: format!("{base} → {now}"),
                source: Some("AWS/Lambda Duration (p99)".into()),
            });
        }
        evidence.push(Evidence {
            label: "client 5xx responses".into(),
            value: format!("{failed_5xx} of {}", phase.requests),
            source: Some("requests/".into()),
        });
        let window = ctx
            .seconds_where(phase, |p| p.downstream_throttles.is_some_and(|t| t > 0.0))
            .or(Some(phase.window));
        let mean_downstream = if traced.is_empty() {
            None
        } else {
            Some(Millis(
                traced
                    .iter()
                    .map(|t| t.trace.downstream.as_secs_f64() * 1000.0)
                    .sum::<f64>()
                    / traced.len() as f64,
            ))
        };
        out.push((
            Finding {
                kind: FindingKind::DownstreamThrottling,
                severity,
                title: format!(
                    "A downstream table or stream throttled {} calls in {}{}",
                    if metric >= 0.5 {
                        metric as u64
                    } else {
                        traced_throttled as u64
                    },
                    phase.name,
                    mean_downstream
                        .map(|m| format!("; downstream calls took {m} on average"))
                        .unwrap_or_default()
                ),
                window,
                phase: Some(phase.name.clone()),
                evidence,
                recommendation:
                    "Raise the table's provisioned capacity (or switch it to on-demand) \
                                 and enable auto scaling; spread hot partition keys; batch writes. \
                                 SDK retries hide throttles as latency until they run out."
                        .into(),
            },
            metric.max(traced_throttled as f64),
        ));
    }
    out
}
