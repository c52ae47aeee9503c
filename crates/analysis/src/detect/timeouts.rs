//! Timeouts, each its own cause with the limit that was hit in the title:
//! - a function's own timeout: REPORT `Status: timeout` or the X-Ray cause (exact), else
//!   `Errors` with `Duration` Maximum and p99 pinned at a whole second (inferred); the
//!   client sees 502 (REST, function URL) or 500 (HTTP API);
//! - API Gateway's integration timeout: 504 (REST) or 503/504 (HTTP API), after about the
//!   same client latency every time;
//! - the client's own timeout (transport error `timeout`).

use stormwatch_model::analysis::{PhaseStats, ResourceKind, ResourceStats};
use stormwatch_model::{ApiKind, Evidence, Finding, FindingKind, Millis, Severity};

use super::{Context, plural, severity, status_count};
use crate::client_events::function_error_status;

/// A function's timeouts in a phase and how they were recognised.
pub struct FunctionTimeouts {
    /// Invocations that ran into the timeout.
    pub count: u64,
    /// From REPORT lines or X-Ray (exact), or inferred from metrics.
    pub exact: bool,
    /// The timeout, as `Duration` Maximum shows it.
    pub limit: Option<Millis>,
}

/// Whether a `Duration` Maximum sits at a whole number of seconds (Lambda timeouts are
/// whole seconds, and a timed-out invocation's duration is the timeout plus a few ms).
fn pinned(d: Millis) -> Option<f64> {
    let secs = (d.0 / 1000.0).round();
    (secs >= 1.0 && (d.0 - secs * 1000.0).abs() <= (d.0 * 0.003).max(5.0)).then_some(secs)
}

/// The function's timeouts in the phase its stats cover: exact when logs or traces were
/// collected, else inferred from `Errors` with `Duration` Maximum *and* p99 pinned at the
/// same whole second (at least 1 % of invocations ran to the limit: a handler that merely
/// once took a round number of seconds does not qualify).
pub fn function_timeouts(f: &ResourceStats) -> Option<FunctionTimeouts> {
    if let Some(count) = f.timeouts {
        return (count > 0).then_some(FunctionTimeouts {
            count,
            exact: true,
            limit: f.duration_max,
        });
    }
    let errors = f.errors.unwrap_or(0);
    let max = f.duration_max?;
    let limit = pinned(max)?;
    let p99_at_limit = f.duration_p99.and_then(pinned) == Some(limit);
    (errors > 0 && p99_at_limit).then_some(FunctionTimeouts {
        count: errors,
        exact: false,
        limit: Some(max),
    })
}

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let mut out = Vec::new();
    for phase in ctx.phases {
        for f in phase
            .server
            .iter()
            .flat_map(|s| s.of_kind(ResourceKind::Function))
        {
            if let Some(t) = function_timeouts(f) {
                out.push(function_timeout(ctx, phase, f, &t));
            }
        }
        out.extend(integration_timeout(ctx, phase));
        out.extend(client_timeout(ctx, phase));
    }
    out
}

fn function_timeout(
    ctx: &Context<'_>,
    phase: &PhaseStats,
    f: &ResourceStats,
    t: &FunctionTimeouts,
) -> (Finding, f64) {
    let status = function_error_status(ctx.api_kind).to_string();
    let (client, _) = ctx.status_count_for(phase, &status, &f.name);
    let seen = client.min(t.count);
    let limit = t
        .limit
        .map(|m| {
            format!(
                " at its {} timeout",
                Millis(pinned(m).map_or(m.0, |s| s * 1000.0))
            )
        })
        .unwrap_or_default();
    let mut evidence = vec![Evidence {
        label: format!("`{}` invocations that timed out", f.name),
        value: t.count.to_string(),
        source: Some(if t.exact {
            "REPORT `Status: timeout` / X-Ray cause `Task timed out`".into()
        } else {
            "inferred: AWS/Lambda Errors with Duration Maximum at a whole second".into()
        }),
    }];
    if let Some(m) = t.limit {
        evidence.push(super::lambda_evidence(
            &f.name,
            "Duration",
            "Maximum",
            "Duration Maximum",
            m.to_string(),
        ));
    }
    evidence.push(Evidence {
        label: format!("client {status} responses"),
        value: format!("{client} of {}", phase.requests),
        source: Some("requests/".into()),
    });
    (
        Finding {
            kind: FindingKind::Timeouts,
            severity: if seen == 0 {
                Severity::Info
            } else {
                severity(seen, phase, true)
            },
            title: format!(
                "{} timed out {}{limit} in {}{}",
                f.display_name(),
                plural(t.count, "invocation"),
                phase.name,
                if t.exact {
                    ""
                } else {
                    " (inferred from metrics)"
                }
            ),
            window: ctx
                .seconds_where(phase, |p| p.errors_5xx > 0)
                .or(Some(phase.window)),
            phase: Some(phase.name.clone()),
            evidence,
            recommendation: format!(
                "`{}` ran into its own timeout: find what makes the handler slow (downstream \
                 calls, cold starts, CPU at this memory size), or raise the function's timeout \
                 if the work is legitimately long (keep it below API Gateway's 29 s integration \
                 timeout); move long work to an asynchronous job.",
                f.name
            ),
        },
        t.count as f64,
    )
}

fn integration_timeout(ctx: &Context<'_>, phase: &PhaseStats) -> Option<(Finding, f64)> {
    if ctx.api_kind == Some(ApiKind::FunctionUrl) {
        return None;
    }
    let statuses: &[&str] = if ctx.api_kind == Some(ApiKind::Http) {
        &["503", "504"]
    } else {
        &["504"]
    };
    let n: u64 = statuses.iter().map(|s| status_count(phase, s)).sum();
    if n == 0 {
        return None;
    }
    let after = statuses
        .iter()
        .filter_map(|s| ctx.outcome_latency.get(&(phase.index, (*s).to_string())))
        .copied()
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let api = ctx.api_name.as_deref().map_or_else(
        || "API Gateway".to_string(),
        |a| format!("API Gateway `{a}`"),
    );
    let label = statuses.join("/");
    Some((
        Finding {
            kind: FindingKind::Timeouts,
            severity: severity(n, phase, true),
            title: format!(
                "{api}'s integration timeout cut off {} with {label}{} in {}",
                plural(n, "request"),
                after.map_or_else(String::new, |ms| format!(" after {}", Millis(ms))),
                phase.name
            ),
            window: ctx
                .seconds_where(phase, |p| p.errors_5xx > 0)
                .or(Some(phase.window)),
            phase: Some(phase.name.clone()),
            evidence: vec![Evidence {
                label: format!("client {label} responses (median latency)"),
                value: format!(
                    "{n} of {}{}",
                    phase.requests,
                    after.map_or_else(String::new, |ms| format!(" ({})", Millis(ms)))
                ),
                source: Some("requests/".into()),
            }],
            recommendation: "The function answered after API Gateway stopped waiting (29 s at \
                             most for REST, 30 s for HTTP APIs): make the handler faster, lower \
                             the function's timeout below the integration timeout so failures \
                             are the function's and visible in its logs, or move long work to \
                             an asynchronous job."
                .into(),
        },
        n as f64,
    ))
}

fn client_timeout(ctx: &Context<'_>, phase: &PhaseStats) -> Option<(Finding, f64)> {
    let n = status_count(phase, "timeout");
    if n == 0 {
        return None;
    }
    let after = ctx
        .outcome_latency
        .get(&(phase.index, "timeout".to_string()))
        .copied();
    Some((
        Finding {
            kind: FindingKind::Timeouts,
            severity: severity(n, phase, true),
            title: format!(
                "{} hit the client's own timeout{} in {}",
                plural(n, "request"),
                after.map_or_else(String::new, |ms| format!(" of about {}", Millis(ms))),
                phase.name
            ),
            window: ctx
                .seconds_where(phase, |p| p.errors_transport > 0)
                .or(Some(phase.window)),
            phase: Some(phase.name.clone()),
            evidence: vec![Evidence {
                label: "client-side timeouts".into(),
                value: format!("{n} of {}", phase.requests),
                source: Some("requests/ (error = timeout)".into()),
            }],
            recommendation: "The scenario's `[target] timeout` ran out before the API answered: \
                             find what made the server slow in the other findings, or raise the \
                             timeout if the API is allowed to take that long."
                .into(),
        },
        n as f64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stormwatch_model::analysis::ResourceKind;

    fn function(errors: u64, p99: f64, max: f64, timeouts: Option<u64>) -> ResourceStats {
        ResourceStats {
            errors: Some(errors),
            duration_p99: Some(Millis(p99)),
            duration_max: Some(Millis(max)),
            timeouts,
            ..ResourceStats::new(ResourceKind::Function, "f")
        }
    }

    #[test]
    fn timeouts_are_exact_from_logs_and_inferred_only_when_pinned() {
        // From REPORT lines or X-Ray: exact, whatever the durations.
        let t = function_timeouts(&function(9, 40.0, 90.0, Some(4))).unwrap();
        assert_eq!((t.count, t.exact), (4, true));
        assert!(function_timeouts(&function(9, 40.0, 90.0, Some(0))).is_none());
        // Metrics only: Maximum and p99 at the same whole second (Lambda's 3 s timeout
        // reports a few ms more).
        let t = function_timeouts(&function(12, 3002.1, 3003.5, None)).unwrap();
        assert_eq!((t.count, t.exact), (12, false));
        // A round maximum alone, or no errors, is no timeout.
        assert!(function_timeouts(&function(12, 250.0, 2000.0, None)).is_none());
        assert!(function_timeouts(&function(0, 3001.0, 3002.0, None)).is_none());
        assert!(function_timeouts(&function(5, 1480.0, 1480.0, None)).is_none());
    }
}
