//! Downstream throttling: a DynamoDB table or a Kinesis stream rejected calls (its own
//! metrics, per resource), and the SDK's retries lengthened invocations until they ran out
//! and the function failed. One finding per table or stream and phase, naming it; the
//! functions whose traced calls were throttled are named too.

use std::collections::BTreeSet;

use stormwatch_model::analysis::{PhaseStats, ResourceKind, ResourceStats};
use stormwatch_model::{Evidence, Finding, FindingKind, Millis};

use super::{Context, plural, severity};
use crate::client_events::function_error_status;
use crate::traces::TracedRequest;

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let mut out = Vec::new();
    for phase in ctx.phases {
        let traced: Vec<&TracedRequest> = ctx
            .traced
            .iter()
            .filter(|t| t.phase == phase.index)
            .collect();
        let resources = super::throttled_downstream(phase);
        if resources.is_empty() {
            // Without the resource's metrics, throttle flags on traced calls still tell.
            let throttled = traced
                .iter()
                .filter(|t| t.trace.downstream_throttled)
                .count();
            if throttled > 0 {
                out.push(finding(ctx, phase, None, &traced));
            }
            continue;
        }
        for r in resources {
            out.push(finding(ctx, phase, Some(r), &traced));
        }
    }
    out
}

fn finding(
    ctx: &Context<'_>,
    phase: &PhaseStats,
    resource: Option<&ResourceStats>,
    traced: &[&TracedRequest],
) -> (Finding, f64) {
    let throttled: Vec<&&TracedRequest> = traced
        .iter()
        .filter(|t| t.trace.downstream_throttled)
        .collect();
    let retries: u32 = traced.iter().map(|t| t.trace.retries).sum();
    // The functions whose calls were throttled, from traces.
    let callers: BTreeSet<&str> = throttled
        .iter()
        .filter_map(|t| t.trace.function_name.as_deref())
        .collect();
    let error_status = function_error_status(ctx.api_kind).to_string();
    let (failed, per_function) = if callers.is_empty() {
        (super::status_count(phase, &error_status), false)
    } else {
        (
            callers
                .iter()
                .map(|f| ctx.status_count_for(phase, &error_status, f).0)
                .sum(),
            true,
        )
    };
    let count = resource.map_or(throttled.len() as u64, |r| r.throttles.unwrap_or(0));
    let name = resource.map_or_else(
        || "A downstream table or stream".to_string(),
        ResourceStats::display_name,
    );
    let mut evidence = Vec::new();
    if let Some(r) = resource {
        evidence.push(Evidence {
            label: format!("{name} throttled calls (retries included)"),
            value: count.to_string(),
            source: Some(match r.kind {
                ResourceKind::Stream => format!(
                    "AWS/Kinesis WriteProvisionedThroughputExceeded{{StreamName={}}} (Sum)",
                    r.name
                ),
                _ => format!(
                    "AWS/DynamoDB ThrottledRequests (or Read/WriteThrottleEvents){{TableName={}}} (Sum)",
                    r.name
                ),
            }),
        });
    }
    if !traced.is_empty() {
        evidence.push(Evidence {
            label: "traced requests with a throttled downstream call".into(),
            value: format!(
                "{} of {} (SDK retries: {retries})",
                throttled.len(),
                traced.len()
            ),
            source: Some("telemetry/spans.parquet".into()),
        });
    }
    if !callers.is_empty() {
        evidence.push(Evidence {
            label: "functions whose calls were throttled".into(),
            value: callers
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
            source: Some("traces".into()),
        });
    }
    let duration = |p: &PhaseStats| {
        let fs = p.server.as_ref()?;
        callers
            .iter()
            .filter_map(|c| fs.resource(ResourceKind::Function, c))
            .chain(if callers.is_empty() {
                fs.of_kind(ResourceKind::Function).collect::<Vec<_>>()
            } else {
                Vec::new()
            })
            .filter_map(|f| f.duration_p99.map(|d| (f.name.clone(), d)))
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
    };
    if let (Some((_, base)), Some((f, now))) = (ctx.baseline().and_then(duration), duration(phase))
    {
        evidence.push(Evidence {
            label: format!("`{f}` Duration p99, baseline → this phase"),
            value: format!("{base} → {now}"),
            source: Some("AWS/Lambda Duration (p99)".into()),
        });
    }
    evidence.push(Evidence {
        label: if per_function {
            format!("client {error_status} responses on the callers' endpoints")
        } else {
            format!("client {error_status} responses")
        },
        value: format!("{failed} of {}", phase.requests),
        source: Some("requests/".into()),
    });
    let window = ctx
        .seconds_where(phase, |p| p.downstream_throttles.is_some_and(|t| t > 0.0))
        .or(Some(phase.window));
    let mean_downstream = (!traced.is_empty()).then(|| {
        Millis(
            traced
                .iter()
                .map(|t| t.trace.downstream.as_secs_f64() * 1000.0)
                .sum::<f64>()
                / traced.len() as f64,
        )
    });
    // Throttle metrics count every rejected call, SDK retries included.
    let what = match resource.map(|r| r.kind) {
        Some(ResourceKind::Stream) => "write",
        _ => "call",
    };
    let recommendation = match resource {
        Some(r) if r.kind == ResourceKind::Stream => format!(
            "Add shards to the Kinesis stream `{}` (or switch it to on-demand capacity) and \
             spread partition keys; batch records with PutRecords. SDK retries hide throttles as \
             latency until they run out.",
            r.name
        ),
        Some(r) => format!(
            "Raise the DynamoDB table `{}`'s provisioned capacity (or switch it to on-demand) and \
             enable auto scaling; spread hot partition keys; batch writes. SDK retries hide \
             throttles as latency until they run out.",
            r.name
        ),
        None => "Find the throttled table or stream in the traces (add it to the scenario's \
                 `[aws]` block so its metrics are collected), then raise its capacity. SDK \
                 retries hide throttles as latency until they run out."
            .into(),
    };
    (
        Finding {
            kind: FindingKind::DownstreamThrottling,
            severity: severity(failed, phase, ctx.latency_harmed(phase)),
            title: format!(
                "{name} throttled {} in {}{}{}",
                plural(count, what),
                phase.name,
                if failed > 0 {
                    format!("; {} failed with {error_status}", plural(failed, "request"))
                } else {
                    String::new()
                },
                mean_downstream
                    .map(|m| format!("; downstream calls took {m} on average"))
                    .unwrap_or_default()
            ),
            window,
            phase: Some(phase.name.clone()),
            evidence,
            recommendation,
        },
        count.max(failed) as f64,
    )
}
