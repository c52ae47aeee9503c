//! Per-request breakdown from X-Ray spans, joined to request records by trace id.
//!
//! For a traced request: client-observed (raw) latency = network + API Gateway overhead +
//! Lambda placement + init (cold) + invocation + downstream + overhead. Each term is the
//! difference of nested span durations, so the parts add up to what the client measured.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use polars::prelude::*;
use stormwatch_model::analysis::{ResourceKind, ServerStats, Waterfall};
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
    /// The trace's breakdown.
    pub trace: TraceBreakdown,
}

/// Joins sampled requests with their trace breakdowns (requests without spans are left out).
pub fn join(
    inputs: &RunInputs,
    traces: &HashMap<&str, TraceBreakdown>,
) -> Result<Vec<TracedRequest>, AnalysisError> {
    if traces.is_empty() {
        return Ok(Vec::new());
    }
    let df = inputs
        .requests
        .clone()
        .lazy()
        .filter(col("trace_id").is_not_null())
        .select([
            col("trace_id"),
            col("phase"),
            col("endpoint"),
            col("raw_ms"),
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
        ))
    };
    let (ids, phases, endpoints, raw) = get().map_err(err)?;
    let ms = |v: Option<f64>| Duration::from_secs_f64(v.unwrap_or(0.0).max(0.0) / 1000.0);
    Ok((0..df.height())
        .filter_map(|i| {
            let trace = traces.get(ids.get(i)?)?;
            Some(TracedRequest {
                phase: phases.get(i)?,
                endpoint: inputs.endpoints.name(endpoints.get(i)?).to_owned(),
                raw: ms(raw.get(i)),
                trace: trace.clone(),
            })
        })
        .collect())
}

/// Mean decomposition of the traced requests of one phase.
pub fn waterfall<'a>(requests: impl Iterator<Item = &'a TracedRequest>) -> Option<Waterfall> {
    let mut n = 0u64;
    let mut sums = [0.0f64; 7];
    for r in requests {
        let t = &r.trace;
        let function = t.function.unwrap_or(t.init + t.invocation + t.overhead);
        let lambda = t.lambda_service.unwrap_or(function).max(function);
        let api = t.api_gateway.unwrap_or(lambda).max(lambda);
        let client = r.raw.max(api);
        let parts = [
            client.saturating_sub(api),
            api.saturating_sub(lambda),
            lambda.saturating_sub(function),
            t.init,
            t.invocation.saturating_sub(t.downstream),
            t.downstream,
            t.overhead,
        ];
        for (s, p) in sums.iter_mut().zip(parts) {
            *s += p.as_secs_f64() * 1000.0;
        }
        n += 1;
    }
    if n == 0 {
        return None;
    }
    let m = |i: usize| Millis(sums[i] / n as f64);
    Some(Waterfall {
        traced_requests: n,
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
