//! Cold starts: per request from X-Ray (`Initialization`/`Init` subsegments); with X-Ray off,
//! per invocation from the Lambda `REPORT` lines the collector turned into spans (`Init
//! Duration`/`Restore Duration` present = cold); without either, an estimate from growth in
//! Lambda concurrency (each new concurrent environment started cold). Reports the share, the
//! init durations, the latency a cold start added, and the idle gap after which environments
//! were lost.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use stormwatch_model::analysis::{
    ColdStartSummary, LatencySummary, MinuteColdStarts, PhaseColdStarts, PhaseStats,
};
use stormwatch_model::{
    Evidence, Finding, FindingKind, Millis, PhaseModel, Severity, Span, SpanKind, UnixNanos,
};

use super::Context;
use crate::server::ServerSeries;
use crate::traces::{self, TracedRequest};

const NANOS_PER_MINUTE: i64 = 60_000_000_000;

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn latency_summary(mut v: Vec<f64>) -> LatencySummary {
    v.sort_by(f64::total_cmp);
    LatencySummary {
        p50: Millis(pct(&v, 0.5)),
        p95: Millis(pct(&v, 0.95)),
        p99: Millis(pct(&v, 0.99)),
        p999: Millis(pct(&v, 0.999)),
        max: Millis(v.last().copied().unwrap_or(0.0)),
    }
}

/// Cold-start summary, from the best source at hand: X-Ray traces joined to requests, else
/// the REPORT-line spans (`source = "logs"`), else an estimate from metrics.
pub fn summary(
    traced: &[TracedRequest],
    spans: &[Span],
    server: &ServerSeries,
    phases: &[PhaseStats],
) -> Option<ColdStartSummary> {
    if traced.iter().any(|t| t.trace.xray) {
        return Some(from_traces(traced, phases));
    }
    if let Some(s) = from_logs(spans, traced, phases) {
        return Some(s);
    }
    if traced.is_empty() {
        estimate_from_concurrency(server, phases)
    } else {
        Some(from_traces(traced, phases))
    }
}

/// Median extra client latency of a cold request over the median warm request of its
/// endpoint; `None` without a cold request that has warm peers.
fn penalty(traced: &[TracedRequest]) -> Option<Millis> {
    let mut warm_by_endpoint: HashMap<&str, Vec<f64>> = HashMap::new();
    for t in traced.iter().filter(|t| !t.trace.cold) {
        warm_by_endpoint
            .entry(t.endpoint.as_str())
            .or_default()
            .push(t.raw.as_secs_f64() * 1000.0);
    }
    let warm_median: HashMap<&str, f64> = warm_by_endpoint
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, pct(&v, 0.5))
        })
        .collect();
    let mut penalties: Vec<f64> = traced
        .iter()
        .filter(|t| t.trace.cold)
        .filter_map(|t| {
            let warm = warm_median.get(t.endpoint.as_str())?;
            Some(t.raw.as_secs_f64() * 1000.0 - warm)
        })
        .collect();
    penalties.sort_by(f64::total_cmp);
    (!penalties.is_empty()).then(|| Millis(pct(&penalties, 0.5)))
}

fn from_traces(traced: &[TracedRequest], phases: &[PhaseStats]) -> ColdStartSummary {
    let cold: Vec<&TracedRequest> = traced.iter().filter(|t| t.trace.cold).collect();
    let by_phase = phases
        .iter()
        .filter_map(|p| {
            let in_phase = traced.iter().filter(|t| t.phase == p.index).count();
            let n = cold.iter().filter(|t| t.phase == p.index).count();
            (in_phase > 0).then(|| PhaseColdStarts {
                phase: p.name.clone(),
                count: n as u64,
                share: n as f64 / in_phase as f64,
            })
        })
        .collect();
    ColdStartSummary {
        source: "xray".into(),
        count: cold.len() as u64,
        share: cold.len() as f64 / traced.len() as f64,
        init: latency_summary(
            cold.iter()
                .map(|t| t.trace.init.as_secs_f64() * 1000.0)
                .collect(),
        ),
        // The penalty compares each cold request with the median warm request of its endpoint.
        penalty: penalty(traced),
        by_phase,
        by_minute: Vec::new(),
    }
}

/// One invocation as its REPORT line tells it.
struct LoggedInvocation {
    /// When it began: the start of its init when cold (≈ the request's arrival), else the
    /// start of the handler.
    at: UnixNanos,
    cold: bool,
    /// Init + restore.
    init: Duration,
}

/// The invocations the collector made from REPORT lines: each `lambda_function` span with a
/// `report:` id, with its `init`/`restore` children.
fn logged_invocations(spans: &[Span]) -> Vec<LoggedInvocation> {
    // Init/Restore spans by their parent (the function span): summed length, earliest start.
    let mut inits: HashMap<&str, (Duration, UnixNanos)> = HashMap::new();
    for s in spans
        .iter()
        .filter(|s| traces::from_logs(s) && matches!(s.kind, SpanKind::Init | SpanKind::Restore))
    {
        let Some(parent) = s.parent_id.as_deref() else {
            continue;
        };
        let e = inits.entry(parent).or_insert((Duration::ZERO, s.start));
        e.0 += s.duration();
        e.1 = e.1.min(s.start);
    }
    spans
        .iter()
        .filter(|s| s.kind == SpanKind::LambdaFunction && traces::from_logs(s))
        .map(|s| match inits.get(s.id.as_str()) {
            Some(&(init, start)) => LoggedInvocation {
                at: start,
                cold: true,
                init,
            },
            None => LoggedInvocation {
                at: s.start,
                cold: s.cold,
                init: Duration::ZERO,
            },
        })
        .collect()
}

/// Exact counts from REPORT lines: every invocation dated by the start of its init (a cold
/// one) or of its handler (a warm one) and kept when that instant lies in a phase window.
/// The share's denominator is the REPORT lines in the windows, so both sides of it come
/// from the same lines. `penalty` needs requests joined per trace: only REPORT lines that
/// carried an X-Ray trace id join, so without them it stays `None`.
fn from_logs(
    spans: &[Span],
    traced: &[TracedRequest],
    phases: &[PhaseStats],
) -> Option<ColdStartSummary> {
    let mut in_windows: Vec<(&PhaseStats, LoggedInvocation)> = logged_invocations(spans)
        .into_iter()
        .filter_map(|inv| {
            let phase = phases.iter().find(|p| p.window.contains_nanos(inv.at))?;
            Some((phase, inv))
        })
        .collect();
    if in_windows.is_empty() {
        return None;
    }
    in_windows.sort_by_key(|(_, inv)| inv.at);
    let total = in_windows.len();
    let cold: Vec<&(&PhaseStats, LoggedInvocation)> =
        in_windows.iter().filter(|(_, inv)| inv.cold).collect();
    let by_phase = phases
        .iter()
        .filter_map(|p| {
            let in_phase = in_windows
                .iter()
                .filter(|(q, _)| q.index == p.index)
                .count();
            let n = cold.iter().filter(|(q, _)| q.index == p.index).count();
            (in_phase > 0).then(|| PhaseColdStarts {
                phase: p.name.clone(),
                count: n as u64,
                share: n as f64 / in_phase as f64,
            })
        })
        .collect();
    // Every minute the windows touch, zeros included.
    let minute_of = |t: UnixNanos| t.0.div_euclid(NANOS_PER_MINUTE) * NANOS_PER_MINUTE;
    let first = phases
        .iter()
        .map(|p| UnixNanos::from_datetime(p.window.start))
        .min()?;
    let last = phases
        .iter()
        .map(|p| UnixNanos::from_datetime(p.window.end))
        .max()?;
    let mut minutes: BTreeMap<i64, u64> = BTreeMap::new();
    let mut m = minute_of(first);
    while m < last.0 {
        minutes.insert(m, 0);
        m += NANOS_PER_MINUTE;
    }
    for (_, inv) in &cold {
        *minutes.entry(minute_of(inv.at)).or_default() += 1;
    }
    Some(ColdStartSummary {
        source: "logs".into(),
        count: cold.len() as u64,
        share: cold.len() as f64 / total as f64,
        init: latency_summary(
            cold.iter()
                .map(|(_, inv)| inv.init.as_secs_f64() * 1000.0)
                .collect(),
        ),
        penalty: penalty(traced),
        by_phase,
        by_minute: minutes
            .into_iter()
            .map(|(m, count)| MinuteColdStarts {
                minute: UnixNanos(m).to_datetime(),
                count,
            })
            .collect(),
    })
}

/// Each period in which peak concurrency rose above the previous period's peak needed that
/// many new environments, and a new environment starts cold. A lower bound: environments
/// replaced within a period are not seen.
fn estimate_from_concurrency(
    server: &ServerSeries,
    phases: &[PhaseStats],
) -> Option<ColdStartSummary> {
    let mut by_function: HashMap<String, Vec<(chrono::DateTime<chrono::Utc>, f64)>> =
        HashMap::new();
    for p in server.points("AWS/Lambda", "ConcurrentExecutions", "Maximum") {
        let f = p
            .dimensions
            .get("FunctionName")
            .cloned()
            .unwrap_or_default();
        by_function
            .entry(f)
            .or_default()
            .push((p.timestamp, p.value));
    }
    if by_function.is_empty() {
        return None;
    }
    let mut starts: Vec<(chrono::DateTime<chrono::Utc>, f64)> = Vec::new();
    for series in by_function.values_mut() {
        series.sort_by_key(|(t, _)| *t);
        let mut previous = 0.0;
        for (t, v) in series.iter() {
            if *v > previous {
                starts.push((*t, v - previous));
            }
            previous = *v;
        }
    }
    let count: f64 = starts.iter().map(|(_, n)| n).sum();
    let invocations: f64 = server
        .points("AWS/Lambda", "Invocations", "Sum")
        .map(|p| p.value)
        .sum();
    let by_phase = phases
        .iter()
        .map(|p| {
            let n: f64 = starts
                .iter()
                .filter(|(t, _)| p.window.contains(*t))
                .map(|(_, n)| n)
                .sum();
            let inv = p.server.as_ref().and_then(|s| s.invocations).unwrap_or(0.0);
            PhaseColdStarts {
                phase: p.name.clone(),
                count: n.round() as u64,
                share: if inv > 0.0 { n / inv } else { 0.0 },
            }
        })
        .collect();
    Some(ColdStartSummary {
        source: "estimate".into(),
        count: count.round() as u64,
        share: if invocations > 0.0 {
            count / invocations
        } else {
            0.0
        },
        init: LatencySummary::default(),
        penalty: None,
        by_phase,
        by_minute: Vec::new(),
    })
}

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let Some(c) = ctx.cold_starts.filter(|c| c.count > 0) else {
        return Vec::new();
    };
    let penalty = c.penalty.map_or(0.0, |p| p.0);
    let severity = if penalty >= 100.0 && c.share >= 0.01 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut evidence = vec![Evidence {
        label: "cold starts".into(),
        value: format!("{} ({:.1} % of invocations)", c.count, c.share * 100.0),
        source: Some(match c.source.as_str() {
            "xray" => "X-Ray Initialization/Init subsegments".into(),
            "logs" => "Lambda REPORT lines with Init Duration".into(),
            _ => "estimated from AWS/Lambda ConcurrentExecutions growth".into(),
        }),
    }];
    if c.source != "estimate" {
        evidence.push(Evidence {
            label: "init duration p50 / p99 / max".into(),
            value: format!("{} / {} / {}", c.init.p50, c.init.p99, c.init.max),
            source: None,
        });
    }
    if let Some(busiest) = c
        .by_minute
        .iter()
        .max_by_key(|m| (m.count, std::cmp::Reverse(m.minute)))
        && busiest.count > 0
    {
        evidence.push(Evidence {
            label: "busiest minute".into(),
            value: format!(
                "{} cold starts in the minute from {}",
                busiest.count,
                busiest.minute.format("%H:%M UTC")
            ),
            source: None,
        });
    }
    if let Some(p) = c.penalty {
        evidence.push(Evidence {
            label: "added client latency per cold start (median)".into(),
            value: p.to_string(),
            source: Some("cold vs warm requests of the same endpoint".into()),
        });
    }
    // The idle gap after which environments were lost.
    for pair in ctx.phases.windows(2) {
        let (gap, next) = (&pair[0], &pair[1]);
        if gap.model != "idle" {
            continue;
        }
        if let Some(n) = c
            .by_phase
            .iter()
            .find(|b| b.phase == next.name && b.count > 0)
        {
            evidence.push(Evidence {
                label: format!(
                    "after the {:.0} s idle gap `{}`",
                    gap.window.duration().as_secs_f64(),
                    gap.name
                ),
                value: format!("{} cold starts in {}", n.count, next.name),
                source: None,
            });
        }
    }
    let worst = c
        .by_phase
        .iter()
        .max_by_key(|b| b.count)
        .map(|b| b.phase.clone());
    let title = match c.penalty {
        Some(p) => format!(
            "{} cold starts cost {} each ({:.1} % of invocations)",
            c.count,
            p,
            c.share * 100.0
        ),
        None if c.source == "estimate" => format!(
            "About {} cold starts ({:.1} % of invocations, estimated from concurrency)",
            c.count,
            c.share * 100.0
        ),
        None => format!(
            "{} cold starts ({:.1} % of invocations, from {})",
            c.count,
            c.share * 100.0,
            if c.source == "logs" {
                "Lambda REPORT lines"
            } else {
                "traces"
            }
        ),
    };
    let _ = PhaseModel::Idle; // phases are labelled `idle` by phase_stats::model_label
    vec![(
        Finding {
            kind: FindingKind::ColdStarts,
            severity,
            title,
            window: worst
                .as_ref()
                .and_then(|w| ctx.phases.iter().find(|p| &p.name == w))
                .map(|p| p.window),
            phase: worst,
            evidence,
            recommendation: "Add provisioned concurrency sized to the burst, keep traffic from \
                             dropping to zero for longer than the environments' idle lifetime, \
                             and trim init work (lazy SDK clients, smaller packages, SnapStart)."
                .into(),
        },
        c.count as f64 * penalty.max(1.0) / 1000.0,
    )]
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use stormwatch_model::PhaseWindow;

    use super::*;
    use crate::traces::TraceBreakdown;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn phase(index: u32, name: &str, start: &str, secs: u64) -> PhaseStats {
        PhaseStats {
            index,
            name: name.into(),
            window: PhaseWindow::starting_at(at(start), Duration::from_secs(secs)),
            model: "open".into(),
            offered_rate_per_sec: None,
            achieved_rate_per_sec: 0.0,
            requests: 0,
            errors: 0,
            dropped: 0,
            endpoints: Vec::new(),
            server: None,
            waterfall: None,
        }
    }

    fn span(kind: SpanKind, id: &str, parent: Option<&str>, start: UnixNanos, d: Duration) -> Span {
        Span {
            trace_id: "report:x".into(),
            id: id.into(),
            parent_id: parent.map(Into::into),
            kind,
            origin: String::new(),
            name: String::new(),
            start,
            end: start.plus(d),
            http_status: None,
            error: false,
            fault: false,
            throttle: false,
            cold: false,
            retries: 0,
        }
    }

    /// The spans the collector makes of one REPORT line: the handler starting at
    /// `invoked + init`, preceded by an `Init` span from `invoked` when `init` is set.
    fn report(id: &str, invoked: &str, init_ms: Option<u64>) -> Vec<Span> {
        let id = format!("report:{id}");
        let invoked = UnixNanos::from_datetime(at(invoked));
        let init = Duration::from_millis(init_ms.unwrap_or(0));
        let mut f = span(
            SpanKind::LambdaFunction,
            &id,
            None,
            invoked.plus(init),
            Duration::from_millis(20),
        );
        f.cold = init_ms.is_some();
        let mut out = vec![f];
        if init_ms.is_some() {
            let mut i = span(
                SpanKind::Init,
                &format!("{id}/Init"),
                Some(&id),
                invoked,
                init,
            );
            i.cold = true;
            out.push(i);
        }
        out
    }

    fn phases() -> Vec<PhaseStats> {
        vec![
            phase(0, "warm", "2026-11-22T13:59:50Z", 10),
            phase(1, "gap", "2026-11-22T14:00:00Z", 5),
            phase(2, "burst", "2026-11-22T14:00:05Z", 10),
        ]
    }

    #[test]
    fn report_lines_give_exact_counts_per_phase_and_minute_dated_by_init_start() {
        let spans: Vec<Span> = [
            // Init begins on the window's first instant: inside.
            report("a", "2026-11-22T13:59:50Z", Some(100)),
            report("b", "2026-11-22T13:59:51Z", None),
            // Init begins before the minute boundary, the handler after: 13:59.
            report("c", "2026-11-22T13:59:59.990Z", Some(300)),
            report("d", "2026-11-22T14:00:05.000Z", Some(200)),
            report("e", "2026-11-22T14:00:05.010Z", Some(400)),
            report("f", "2026-11-22T14:00:06Z", None),
            report("g", "2026-11-22T14:00:07Z", None),
            // After the last window (half-open): left out, cold or not.
            report("h", "2026-11-22T14:00:15Z", Some(100)),
            report("i", "2026-11-22T13:59:49.999Z", None),
        ]
        .concat();
        let c = summary(&[], &spans, &ServerSeries::default(), &phases()).unwrap();
        assert_eq!(c.source, "logs");
        assert_eq!(c.count, 4);
        assert!((c.share - 4.0 / 7.0).abs() < 1e-9, "{}", c.share);
        assert_eq!(c.init.p50, Millis(200.0));
        assert_eq!(c.init.max, Millis(400.0));
        assert_eq!(c.penalty, None);
        let phases: Vec<(&str, u64)> = c
            .by_phase
            .iter()
            .map(|p| (p.phase.as_str(), p.count))
            .collect();
        assert_eq!(phases, [("warm", 2), ("burst", 2)]);
        assert!((c.by_phase[0].share - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(
            c.by_minute,
            [
                MinuteColdStarts {
                    minute: at("2026-11-22T13:59:00Z"),
                    count: 2
                },
                MinuteColdStarts {
                    minute: at("2026-11-22T14:00:00Z"),
                    count: 2
                },
            ]
        );
    }

    #[test]
    fn xray_joined_requests_win_over_report_lines() {
        let spans = report("a", "2026-11-22T13:59:55Z", Some(100));
        let traced = [TracedRequest {
            phase: 0,
            endpoint: "GET /x".into(),
            raw: Duration::from_millis(30),
            trace: TraceBreakdown {
                xray: true,
                ..TraceBreakdown::default()
            },
        }];
        let c = summary(&traced, &spans, &ServerSeries::default(), &phases()).unwrap();
        assert_eq!(c.source, "xray");
        assert_eq!(c.count, 0);
        assert!(c.by_minute.is_empty());
    }

    #[test]
    fn report_lines_joined_by_trace_id_still_count_as_logs_and_give_a_penalty() {
        let spans = [
            report("a", "2026-11-22T13:59:55Z", Some(100)),
            report("b", "2026-11-22T13:59:56Z", None),
        ]
        .concat();
        let request = |cold, ms| TracedRequest {
            phase: 0,
            endpoint: "GET /x".into(),
            raw: Duration::from_millis(ms),
            trace: TraceBreakdown {
                cold,
                ..TraceBreakdown::default()
            },
        };
        let traced = [request(true, 150), request(false, 30)];
        let c = summary(&traced, &spans, &ServerSeries::default(), &phases()).unwrap();
        assert_eq!(c.source, "logs");
        assert_eq!(c.count, 1);
        assert_eq!(c.penalty, Some(Millis(120.0)));
    }

    #[test]
    fn without_traces_or_report_lines_there_is_no_log_summary() {
        assert_eq!(summary(&[], &[], &ServerSeries::default(), &phases()), None);
    }
}
