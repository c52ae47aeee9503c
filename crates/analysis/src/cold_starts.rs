//! The cold-start summary: per request from X-Ray (`Initialization`/`Init` subsegments); with X-Ray off,
//! per invocation from the Lambda `REPORT` lines the collector turned into spans (`Init
//! Duration`/`Restore Duration` present = cold); without either, an estimate from growth in
//! Lambda concurrency (each new concurrent environment started cold). Reports the share, the
//! init durations, the latency a cold start added, and the idle gap after which environments
//! were lost.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use stormwatch_model::analysis::{
    ColdStartEstimate, ColdStartSummary, FunctionColdStarts, LatencySummary, MinuteColdStarts,
    PhaseColdStarts, PhaseStats, ResourceKind,
};
use stormwatch_model::percentile::percentile_of_sorted;
use stormwatch_model::{Millis, PhaseWindow, Span, SpanKind, UnixNanos};

use crate::server::ServerSeries;
use crate::traces::{self, TracedRequest};

const NANOS_PER_MINUTE: i64 = 60_000_000_000;

/// Nearest-rank percentile (`q` in 0..=1) of sorted values; 0 when there are none.
fn pct(sorted: &[f64], q: f64) -> f64 {
    percentile_of_sorted(sorted, q * 100.0).unwrap_or(0.0)
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

/// Cold-start summary, from the best source at hand: every invocation when REPORT lines
/// were collected (`source = "logs"`: their spans plus X-Ray's for the invocations X-Ray
/// traced, so exact however few requests were traced), else X-Ray traces joined to requests
/// (exact only when every request was traced), else an estimate from metrics.
pub fn summary(
    traced: &[TracedRequest],
    spans: &[Span],
    server: &ServerSeries,
    phases: &[PhaseStats],
) -> Option<ColdStartSummary> {
    if spans.iter().any(traces::from_logs)
        && let Some(s) = from_logs(spans, traced, phases)
    {
        return Some(s);
    }
    if traced.iter().any(|t| t.trace.xray) {
        return Some(from_traces(traced, phases));
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
        by_function: by_function(
            traced
                .iter()
                .map(|t| (t.trace.function_name.as_deref(), t.trace.cold)),
        ),
        estimate: None,
        by_minute: Vec::new(),
    }
}

/// The init time every invocation starting in `window` spent (REPORT lines and X-Ray's
/// function segments, each invocation once), spread over the window's `requests`, in ms; `None`
/// without REPORT lines (X-Ray alone holds only the traced invocations) or requests.
pub fn init_ms_per_request(spans: &[Span], window: &PhaseWindow, requests: u64) -> Option<f64> {
    if requests == 0 || !spans.iter().any(traces::from_logs) {
        return None;
    }
    let at = |t: UnixNanos| window.contains_nanos(t);
    let total: Duration = logged_invocations(spans)
        .iter()
        .filter(|inv| at(inv.at))
        .map(|inv| inv.init)
        .sum();
    Some(total.as_secs_f64() * 1000.0 / requests as f64)
}

/// One invocation, from its REPORT line or its X-Ray function segment.
struct LoggedInvocation<'a> {
    /// The function (its log group).
    function: &'a str,
    /// When it began: the start of its init when cold (≈ the request's arrival), else the
    /// start of the handler.
    at: UnixNanos,
    cold: bool,
    /// Init + restore.
    init: Duration,
}

/// Every invocation the spans hold: each `lambda_function` span, the ones the collector made
/// from REPORT lines (`report:` ids) and X-Ray's (the collector keeps a REPORT line only when
/// X-Ray did not trace its invocation, so none is counted twice), with its `init`/`restore`
/// children.
fn logged_invocations(spans: &[Span]) -> Vec<LoggedInvocation<'_>> {
    // Init/Restore spans by their parent (the function span): summed length, earliest start.
    let mut inits: HashMap<&str, (Duration, UnixNanos)> = HashMap::new();
    for s in spans
        .iter()
        .filter(|s| matches!(s.kind, SpanKind::Init | SpanKind::Restore))
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
        .filter(|s| s.kind == SpanKind::LambdaFunction)
        .map(|s| match inits.get(s.id.as_str()) {
            Some(&(init, start)) => LoggedInvocation {
                function: &s.name,
                at: start,
                cold: true,
                init,
            },
            None => LoggedInvocation {
                function: &s.name,
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
        by_function: by_function(
            in_windows
                .iter()
                .map(|(_, inv)| (Some(inv.function), inv.cold)),
        ),
        estimate: None,
        by_minute: minutes
            .into_iter()
            .map(|(m, count)| MinuteColdStarts {
                minute: UnixNanos(m).to_datetime(),
                count,
            })
            .collect(),
    })
}

/// Cold starts per function from `ConcurrentExecutions` alone (no traces, no logs): a new
/// environment starts cold, so each rise of a function's peak concurrency above the
/// environments it still holds is that many cold starts. Reported as a point estimate inside
/// an honest range:
/// - *low*: environments are never lost during the run, so only rises above the function's
///   running peak count (assumes none was warm when the run began);
/// - *high*: every rise above the previous period counts (environments lost at every dip);
/// - *estimate*: environments survive dips inside busy phases and are lost across each idle
///   phase (`model = "idle"`, the gap a scenario puts in to provoke cold starts) — a rise
///   back to a level the function held since the last idle phase is reuse, not new
///   environments.
///
/// Environments replaced within one period are not seen by any of the three.
fn estimate_from_concurrency(
    server: &ServerSeries,
    phases: &[PhaseStats],
) -> Option<ColdStartSummary> {
    let mut by_function: BTreeMap<String, Vec<(chrono::DateTime<chrono::Utc>, u32, f64)>> =
        BTreeMap::new();
    for p in server.points("AWS/Lambda", "ConcurrentExecutions", "Maximum") {
        let Some(f) = p.dimensions.get("FunctionName") else {
            continue;
        };
        by_function.entry(f.clone()).or_default().push((
            p.timestamp,
            p.period_secs.max(1),
            p.value.max(0.0).round(),
        ));
    }
    if by_function.is_empty() {
        return None;
    }
    let windows: Vec<_> = phases.iter().map(|p| p.window).collect();
    let idle_starts: Vec<chrono::DateTime<chrono::Utc>> = phases
        .iter()
        .filter(|p| p.model == "idle")
        .map(|p| p.window.start)
        .collect();
    let mut per_phase = vec![0u64; phases.len()];
    let mut functions = Vec::new();
    let (mut low_total, mut high_total) = (0u64, 0u64);
    for (name, series) in &mut by_function {
        series.sort_by_key(|(t, _, _)| *t);
        let (mut low, mut high, mut point) = (0u64, 0u64, 0u64);
        let (mut peak, mut previous, mut held) = (0.0f64, 0.0f64, 0.0f64);
        let mut next_idle = idle_starts.iter().peekable();
        for &(t, period, v) in series.iter() {
            // Held environments are lost once an idle phase has passed before this period.
            while next_idle.peek().is_some_and(|s| **s <= t) {
                next_idle.next();
                held = 0.0;
            }
            high += (v - previous).max(0.0) as u64;
            low += (v - peak).max(0.0) as u64;
            let new = (v - held).max(0.0) as u64;
            point += new;
            if new > 0
                && let Some(i) = server.phase_of_period(
                    &windows,
                    t,
                    std::time::Duration::from_secs(u64::from(period)),
                )
            {
                per_phase[i] += new;
            }
            peak = peak.max(v);
            held = held.max(v);
            previous = v;
        }
        low_total += low;
        high_total += high;
        let invocations = phases
            .iter()
            .filter_map(|p| {
                p.server
                    .as_ref()?
                    .resource(ResourceKind::Function, name)?
                    .requests
            })
            .fold(None, |acc: Option<u64>, v| Some(acc.unwrap_or(0) + v));
        functions.push(FunctionColdStarts {
            function: name.clone(),
            count: point,
            low: Some(low),
            high: Some(high),
            invocations,
        });
    }
    let count: u64 = functions.iter().map(|f| f.count).sum();
    let invocations: u64 = functions.iter().filter_map(|f| f.invocations).sum();
    let share = |n: u64, of: u64| if of > 0 { n as f64 / of as f64 } else { 0.0 };
    let by_phase = phases
        .iter()
        .zip(&per_phase)
        .map(|(p, n)| {
            let inv = p
                .server
                .as_ref()
                .and_then(|s| s.total(ResourceKind::Function, |f| f.requests))
                .unwrap_or(0);
            PhaseColdStarts {
                phase: p.name.clone(),
                count: *n,
                share: share(*n, inv),
            }
        })
        .collect();
    Some(ColdStartSummary {
        source: "estimate".into(),
        count,
        share: share(count, invocations),
        init: LatencySummary::default(),
        penalty: None,
        by_phase,
        by_minute: Vec::new(),
        by_function: functions,
        estimate: Some(ColdStartEstimate {
            low: low_total,
            high: high_total,
            assumptions: "from AWS/Lambda ConcurrentExecutions per function: each environment \
                          beyond those a function held since the last idle phase started cold; \
                          low assumes no environment was ever lost, high that every dip lost \
                          them; environments replaced within one metric period are not seen"
                .into(),
        }),
    })
}

/// Cold starts per function from per-invocation records (`function`, `cold`).
fn by_function<'a>(
    invocations: impl Iterator<Item = (Option<&'a str>, bool)>,
) -> Vec<FunctionColdStarts> {
    let mut counts: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (f, cold) in invocations {
        let Some(f) = f else { continue };
        let e = counts.entry(f).or_default();
        e.0 += u64::from(cold);
        e.1 += 1;
    }
    counts
        .into_iter()
        .map(|(f, (cold, all))| FunctionColdStarts {
            function: f.to_string(),
            count: cold,
            low: None,
            high: None,
            invocations: Some(all),
        })
        .collect()
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
            corrected: LatencySummary::default(),
            raw: LatencySummary::default(),
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
            timed_out: false,
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

    /// The spans of an invocation X-Ray traced (X-Ray's hex ids, not `report:`).
    fn xray(id: &str, invoked: &str, init_ms: Option<u64>) -> Vec<Span> {
        let mut spans = report(id, invoked, init_ms);
        for s in &mut spans {
            s.id = s.id.replace("report:", "1a2b");
            s.parent_id = s.parent_id.as_ref().map(|p| p.replace("report:", "1a2b"));
        }
        spans
    }

    #[test]
    fn report_lines_and_xray_segments_count_every_invocation_once() {
        // A trace budget: X-Ray traced invocation `a`, REPORT lines gave the untraced `b`
        // and `c` (the collector drops the REPORT line of an invocation X-Ray traced).
        let spans = [
            xray("a", "2026-11-22T13:59:55Z", Some(100)),
            report("b", "2026-11-22T13:59:56Z", Some(120)),
            report("c", "2026-11-22T13:59:57Z", None),
        ]
        .concat();
        let traced = [TracedRequest {
            failed_or_slow: false,
            phase: 0,
            endpoint: "GET /x".into(),
            raw: Duration::from_millis(130),
            trace: TraceBreakdown {
                xray: true,
                cold: true,
                ..TraceBreakdown::default()
            },
        }];
        let c = summary(&traced, &spans, &ServerSeries::default(), &phases()).unwrap();
        assert_eq!(c.source, "logs");
        assert_eq!(c.count, 2, "{c:#?}");
        assert!((c.share - 2.0 / 3.0).abs() < 1e-9);
        // Without REPORT lines (`--no-logs`) the traced requests are all there is.
        let only_xray = xray("a", "2026-11-22T13:59:55Z", Some(100));
        let c = summary(&traced, &only_xray, &ServerSeries::default(), &phases()).unwrap();
        assert_eq!(c.source, "xray");
        assert_eq!(c.count, 1);
    }

    #[test]
    fn report_lines_joined_by_trace_id_still_count_as_logs_and_give_a_penalty() {
        let spans = [
            report("a", "2026-11-22T13:59:55Z", Some(100)),
            report("b", "2026-11-22T13:59:56Z", None),
        ]
        .concat();
        let request = |cold, ms| TracedRequest {
            failed_or_slow: false,
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
