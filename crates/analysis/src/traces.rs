//! Per-request breakdown from X-Ray spans, joined to request records by trace id.
//!
//! For a traced request: client-observed (raw) latency = network + API Gateway overhead +
//! Lambda placement + init (cold) + invocation + downstream + overhead. Each term is the
//! difference of nested span durations, so the parts add up to what the client measured.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use polars::prelude::*;
use stormwatch_model::analysis::{ResourceKind, ServerStats, Waterfall};
use stormwatch_model::request::FailedOrSlow;
use stormwatch_model::{Millis, PhaseWindow, Span, SpanKind, UnixNanos};

use crate::AnalysisError;
use crate::inputs::RunInputs;

/// Id prefix of the spans the collector made from Lambda `REPORT` log lines (the X-Ray
/// ones carry X-Ray's hex ids).
pub const LOG_SPAN_PREFIX: &str = "report:";

/// Whether the collector made `span` from a Lambda `REPORT` log line rather than X-Ray.
pub fn from_logs(span: &Span) -> bool {
    span.id.starts_with(LOG_SPAN_PREFIX)
}

/// What the spans of one trace say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceBreakdown {
    /// At least one span came from X-Ray (not only from REPORT log lines).
    pub xray: bool,
    /// An `Initialization`/`Init` subsegment was present.
    pub cold: bool,
    /// When the init began.
    pub init_start: Option<UnixNanos>,
    /// Init duration.
    pub init: Duration,
    /// API Gateway stage segment duration.
    pub api_gateway: Option<Duration>,
    /// `AWS::Lambda` segment duration.
    pub lambda_service: Option<Duration>,
    /// `AWS::Lambda::Function` segment duration.
    pub function: Option<Duration>,
    /// Invocation subsegment duration (downstream calls included).
    pub invocation: Duration,
    /// Overhead subsegment duration.
    pub overhead: Duration,
    /// Sum of downstream subsegment durations.
    pub downstream: Duration,
    /// A downstream call was throttled.
    pub downstream_throttled: bool,
    /// Downstream retries.
    pub retries: u32,
    /// The function that served the request (the function segment's name, or the Lambda
    /// service segment's when the function never ran).
    pub function_name: Option<String>,
}

/// Groups spans by trace.
pub fn breakdowns(spans: &[Span]) -> HashMap<&str, TraceBreakdown> {
    let mut out: HashMap<&str, TraceBreakdown> = HashMap::new();
    for s in spans {
        let b = out.entry(s.trace_id.as_str()).or_default();
        let d = s.duration();
        b.xray |= !from_logs(s);
        match s.kind {
            SpanKind::Init | SpanKind::Restore => {
                b.cold = true;
                b.init += d;
                b.init_start = Some(b.init_start.map_or(s.start, |t| t.min(s.start)));
            }
            SpanKind::ApiGateway => b.api_gateway = Some(d),
            SpanKind::LambdaService => {
                b.lambda_service = Some(d);
                if b.function_name.is_none() && !s.name.is_empty() {
                    b.function_name = Some(s.name.clone());
                }
            }
            SpanKind::LambdaFunction => {
                b.function = Some(d);
                b.cold |= s.cold;
                if !s.name.is_empty() {
                    b.function_name = Some(s.name.clone());
                }
            }
            SpanKind::Invocation => b.invocation += d,
            SpanKind::Overhead => b.overhead += d,
            SpanKind::Downstream => {
                b.downstream += d;
                b.downstream_throttled |= s.throttle;
                b.retries += s.retries;
            }
            SpanKind::Other => {}
        }
    }
    out
}

/// One traced request with its breakdown.
#[derive(Clone, Debug)]
pub struct TracedRequest {
    /// Phase index.
    pub phase: u32,
    /// Endpoint name.
    pub endpoint: String,
    /// Client-observed latency from actual send.
    pub raw: Duration,
    /// Failed (4xx/5xx) or above its phase × endpoint p99 ([`FailedOrSlow`]): the class the
    /// collector fetches first when `--max-traces` cuts.
    pub failed_or_slow: bool,
    /// The trace's breakdown.
    pub trace: TraceBreakdown,
}

/// The run's requests per phase, endpoint and failed-or-slow class: the population a
/// traced sample stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Population(HashMap<(u32, String, bool), u64>);

impl Population {
    /// Requests of `phase`.
    pub fn of_phase(&self, phase: u32) -> u64 {
        self.0
            .iter()
            .filter(|((p, _, _), _)| *p == phase)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Joins requests with their trace breakdowns (requests without spans are left out), and
/// counts the population every traced request stands for.
pub fn join(
    inputs: &RunInputs,
    traces: &HashMap<&str, TraceBreakdown>,
) -> Result<(Vec<TracedRequest>, Population), AnalysisError> {
    if traces.is_empty() {
        return Ok((Vec::new(), Population::default()));
    }
    let df = inputs
        .requests
        .clone()
        .lazy()
        .select([
            col("trace_id"),
            col("phase"),
            col("endpoint"),
            col("raw_ms"),
            col("status"),
        ])
        .collect()
        .map_err(AnalysisError::query("joining requests with traces"))?;
    let err = AnalysisError::query("joining requests with traces");
    let get = || -> PolarsResult<_> {
        Ok((
            df.column("trace_id")?.str()?.clone(),
            df.column("phase")?.u32()?.clone(),
            df.column("endpoint")?.u32()?.clone(),
            df.column("raw_ms")?.f64()?.clone(),
            df.column("status")?.i32()?.clone(),
        ))
    };
    let (ids, phases, endpoints, raw, status) = get().map_err(err)?;
    // The collector's rule, so the weights match what it fetched first.
    let status_of = |i: usize| {
        status
            .get(i)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0)
    };
    let rule = FailedOrSlow::new((0..df.height()).filter_map(|i| {
        Some((
            (phases.get(i)?, endpoints.get(i)?),
            status_of(i),
            raw.get(i)?,
        ))
    }));
    let mut population = Population::default();
    let mut classes = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let s = status_of(i);
        let (Some(p), Some(e), Some(r)) = (phases.get(i), endpoints.get(i), raw.get(i)) else {
            classes.push(false);
            continue;
        };
        let fos = rule.test(&(p, e), s, r);
        classes.push(fos);
        // A transport error (status 0) was never answered: no trace stands for it.
        if s != 0 {
            *population
                .0
                .entry((p, inputs.endpoints.name(e).to_owned(), fos))
                .or_default() += 1;
        }
    }
    let ms = |v: Option<f64>| Duration::from_secs_f64(v.unwrap_or(0.0).max(0.0) / 1000.0);
    let traced = (0..df.height())
        .filter_map(|i| {
            let trace = traces.get(ids.get(i)?)?;
            Some(TracedRequest {
                phase: phases.get(i)?,
                endpoint: inputs.endpoints.name(endpoints.get(i)?).to_owned(),
                raw: ms(raw.get(i)),
                failed_or_slow: classes[i],
                trace: trace.clone(),
            })
        })
        .collect();
    Ok((traced, population))
}

/// Mean decomposition of one phase's requests, estimated from its traced ones.
///
/// When `--max-traces` cut, the collector fetched failed, slow and cold requests first, so
/// the traced set over-represents them. Each traced request is therefore weighted by what
/// it stands for: the mean of its cell (endpoint × failed-or-slow) counts as many times as
/// the phase has requests in that cell (`population`); cells without a traced request drop
/// out and the rest are renormalised. Init is not estimated when it is known exactly:
/// `init_ms_per_request` (every invocation's init from REPORT lines, over the phase's
/// requests) replaces the traced mean, which the cold tier inflates.
pub fn waterfall<'a>(
    requests: impl Iterator<Item = &'a TracedRequest>,
    phase: u32,
    population: &Population,
    init_ms_per_request: Option<f64>,
) -> Option<Waterfall> {
    // Per cell (endpoint, failed_or_slow): the sums of the parts and the count.
    let mut cells: BTreeMap<(&str, bool), ([f64; 7], u64)> = BTreeMap::new();
    let mut n = 0u64;
    for r in requests {
        let t = &r.trace;
        let function = t.function.unwrap_or(t.init + t.invocation + t.overhead);
        // A REPORT line gives the function's duration but no Invocation subsegment: the
        // handler is what is left of it, so the parts still add up to the client's latency.
        let invocation = if t.invocation.is_zero() {
            function.saturating_sub(t.init + t.overhead)
        } else {
            t.invocation
        };
        let lambda = t.lambda_service.unwrap_or(function).max(function);
        let api = t.api_gateway.unwrap_or(lambda).max(lambda);
        let client = r.raw.max(api);
        let parts = [
            client.saturating_sub(api),
            api.saturating_sub(lambda),
            lambda.saturating_sub(function),
            t.init,
            invocation.saturating_sub(t.downstream),
            t.downstream,
            t.overhead,
        ];
        let cell = cells
            .entry((r.endpoint.as_str(), r.failed_or_slow))
            .or_default();
        for (s, p) in cell.0.iter_mut().zip(parts) {
            *s += p.as_secs_f64() * 1000.0;
        }
        cell.1 += 1;
        n += 1;
    }
    if n == 0 {
        return None;
    }
    let mut means = [0.0f64; 7];
    let mut total_weight = 0.0;
    for (&(e, f), (sums, k)) in &cells {
        let w = population
            .0
            .get(&(phase, e.to_string(), f))
            .copied()
            .unwrap_or(0) as f64;
        for (m, s) in means.iter_mut().zip(sums) {
            *m += w * s / *k as f64;
        }
        total_weight += w;
    }
    if total_weight <= 0.0 {
        return None;
    }
    if let Some(init) = init_ms_per_request {
        means[3] = init * total_weight;
    }
    let m = |i: usize| Millis(means[i] / total_weight);
    Some(Waterfall {
        traced_requests: n,
        of_requests: population.of_phase(phase),
        network: m(0),
        api_gateway: m(1),
        lambda_placement: m(2),
        init: m(3),
        invocation: m(4),
        downstream: m(5),
        overhead: m(6),
    })
}

/// Which function served each endpoint: the function most of the endpoint's traced (or
/// REPORT-joined) requests reached.
pub fn endpoint_functions(traced: &[TracedRequest]) -> BTreeMap<String, String> {
    let mut votes: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for t in traced {
        if let Some(f) = t.trace.function_name.as_deref() {
            *votes
                .entry(t.endpoint.as_str())
                .or_default()
                .entry(f)
                .or_default() += 1;
        }
    }
    votes
        .into_iter()
        .filter_map(|(endpoint, by_function)| {
            let (f, _) = by_function
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))?;
            Some((endpoint.to_string(), f.to_string()))
        })
        .collect()
}

/// Function timeouts per (window index, function), from the function spans that say so.
/// REPORT lines cover every invocation, so when any were collected they alone are counted;
/// else X-Ray's function segments (a sample when tracing sampled).
pub struct FunctionTimeoutCounts {
    /// Functions with a span source at all (their count is exact, zeros included).
    covered: BTreeSet<String>,
    counts: BTreeMap<(u32, String), u64>,
}

impl FunctionTimeoutCounts {
    /// Sets `timeouts` on the functions of `stats` (phase `index`) that a source covers.
    pub fn fill(&self, index: u32, stats: &mut ServerStats) {
        for r in &mut stats.resources {
            if r.kind == ResourceKind::Function && self.covered.contains(&r.name) {
                r.timeouts = Some(
                    self.counts
                        .get(&(index, r.name.clone()))
                        .copied()
                        .unwrap_or(0),
                );
            }
        }
    }
}

/// Counts timed-out invocations per phase window (by the invocation's start) and function.
pub fn function_timeouts(spans: &[Span], windows: &[PhaseWindow]) -> FunctionTimeoutCounts {
    let logs = spans
        .iter()
        .any(|s| s.kind == SpanKind::LambdaFunction && from_logs(s));
    let mut covered = BTreeSet::new();
    let mut counts = BTreeMap::new();
    for s in spans
        .iter()
        .filter(|s| s.kind == SpanKind::LambdaFunction && from_logs(s) == logs)
    {
        covered.insert(s.name.clone());
        if !s.timed_out {
            continue;
        }
        if let Some(i) = windows.iter().position(|w| w.contains_nanos(s.start)) {
            *counts
                .entry((u32::try_from(i).unwrap_or(u32::MAX), s.name.clone()))
                .or_default() += 1;
        }
    }
    FunctionTimeoutCounts { covered, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traced(
        endpoint: &str,
        failed_or_slow: bool,
        cold: bool,
        invocation_ms: u64,
    ) -> TracedRequest {
        let invocation = Duration::from_millis(invocation_ms);
        let init = Duration::from_millis(if cold { 500 } else { 0 });
        TracedRequest {
            phase: 0,
            endpoint: endpoint.into(),
            raw: invocation + init,
            failed_or_slow,
            trace: TraceBreakdown {
                xray: true,
                cold,
                init,
                function: Some(invocation + init),
                invocation,
                ..TraceBreakdown::default()
            },
        }
    }

    #[test]
    fn a_waterfall_weights_each_traced_request_by_what_it_stands_for() {
        // 990 ok requests and 10 failed-or-slow; the collector fetched 10 of each, and of
        // the ok ones 5 cold (fetched first) and 5 warm, though only 1 % cold-started.
        let population = Population(HashMap::from([
            ((0, "GET /a".to_string(), false), 990),
            ((0, "GET /a".to_string(), true), 10),
        ]));
        let mut requests: Vec<TracedRequest> = (0..10)
            .map(|_| traced("GET /a", true, false, 1000))
            .collect();
        requests.extend((0..5).map(|_| traced("GET /a", false, true, 10)));
        requests.extend((0..5).map(|_| traced("GET /a", false, false, 10)));
        // REPORT lines: 10 cold invocations of 500 ms over the 1,000 requests.
        let w = waterfall(requests.iter(), 0, &population, Some(5.0)).unwrap();
        assert_eq!((w.traced_requests, w.of_requests), (20, 1000));
        // Invocation: (990 × 10 + 10 × 1000) / 1000 = 19.9 ms, not the traced mean 505.
        assert!((w.invocation.0 - 19.9).abs() < 1e-9, "{:?}", w.invocation);
        // Init comes from every invocation, not from the cold-heavy traced set.
        assert!((w.init.0 - 5.0).abs() < 1e-9, "{:?}", w.init);
        // Without REPORT lines it is the traced estimate: the ok cell is half cold.
        let w = waterfall(requests.iter(), 0, &population, None).unwrap();
        assert!((w.init.0 - 247.5).abs() < 1e-9, "{:?}", w.init);
    }
}
