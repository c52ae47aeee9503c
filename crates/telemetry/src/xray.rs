//! X-Ray: every sampled trace of the run via `BatchGetTraces` (≤ 5 ids per call, bounded
//! concurrency, `UnprocessedTraceIds` retried, segment `NextToken` followed, throttling
//! absorbed), plus `GetTraceSummaries` over the windows (chunked) for traces we did not
//! start. Segment documents go through the lenient parser in [`crate::segments`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use stormwatch_model::{PhaseWindow, Span};

use crate::aws::ApiStats;
use crate::error::{Api, TelemetryError};
use crate::pacing::{Pacer, paced};
use crate::segments::{ParseStats, api_gateway_request_id, parse_document};
use crate::trace_selection::TraceSelection;

/// Most ids one `BatchGetTraces` call takes.
pub const IDS_PER_CALL: usize = 5;
/// Rounds an id may be returned as unprocessed before it is given up on.
const UNPROCESSED_ROUNDS: u32 = 3;
/// Longest range one `GetTraceSummaries` call covers (a 6-hour limit is unverified).
pub const SUMMARY_CHUNK: Duration = Duration::from_secs(3600);

/// How to fetch traces.
#[derive(Clone, Debug)]
pub struct XrayOptions {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Most traces we did not start to fetch (found by `GetTraceSummaries`).
    pub max_other_traces: usize,
    /// `GetTraceSummaries` filter (e.g. `service("fn")`), if any.
    pub filter: Option<String>,
}

/// What the X-Ray part did, for `collect.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct XrayReport {
    /// Sampled trace ids of the run asked for.
    pub requested: usize,
    /// Traces that came back with at least one segment.
    pub found: usize,
    /// Ids X-Ray never returned (not sampled downstream, expired, or still unprocessed).
    pub not_found: usize,
    /// A few of those ids, for looking them up by hand.
    pub not_found_examples: Vec<String>,
    /// Ids X-Ray kept returning as unprocessed.
    pub unprocessed_gave_up: usize,
    /// Traces found by `GetTraceSummaries` that we did not start.
    pub other_traces: usize,
    /// `GetTraceSummaries` found more than `max_other_traces`.
    pub other_traces_truncated: bool,
    /// BatchGetTraces requests (pages included).
    pub batch_requests: usize,
    /// GetTraceSummaries requests (pages included).
    pub summary_requests: usize,
    /// Traces `GetTraceSummaries` processed (what it is billed by).
    pub traces_scanned: u64,
    /// Segment parsing counts.
    pub parse: ParseStats,
    /// How the traces of the run's requests were chosen (`--max-traces`).
    pub selection: TraceSelection,
}

#[derive(Default)]
struct Shared {
    queue: VecDeque<(Vec<String>, u32)>,
    documents: BTreeMap<String, Vec<String>>,
    gave_up: BTreeSet<String>,
    requests: usize,
    error: Option<TelemetryError>,
}

/// Fetches the segments of `ids` and parses them. With `request_ids`, notes there the API
/// Gateway request id of every REST stage segment (`aws.api_gateway.request_id`) → its
/// trace id.
pub async fn fetch_traces<S: std::hash::BuildHasher>(
    client: &aws_sdk_xray::Client,
    pacer: &Arc<Pacer>,
    stats: &Arc<ApiStats>,
    ids: &[String],
    concurrency: usize,
    report: &mut XrayReport,
    mut request_ids: Option<&mut HashMap<String, String, S>>,
) -> Result<Vec<Span>, TelemetryError> {
    let documents = fetch_documents(client, pacer, stats, ids, concurrency, report).await?;
    let mut spans = Vec::new();
    for (trace, docs) in &documents {
        for d in docs {
            parse_document(trace, d, &mut spans, &mut report.parse);
            if let Some(map) = request_ids.as_deref_mut()
                && let Some(id) = api_gateway_request_id(d)
            {
                map.insert(id, trace.clone());
            }
        }
    }
    Ok(spans)
}

/// Fetches the segment documents of `ids`, unparsed, per trace id (for callers that read
/// fields the [`Span`] rows leave out, such as a function segment's `resource_arn`).
/// Counts requests, found and missing traces in `report`; parsing counts are the caller's.
pub async fn fetch_documents(
    client: &aws_sdk_xray::Client,
    pacer: &Arc<Pacer>,
    stats: &Arc<ApiStats>,
    ids: &[String],
    concurrency: usize,
    report: &mut XrayReport,
) -> Result<BTreeMap<String, Vec<String>>, TelemetryError> {
    let mut unique: Vec<String> = ids.to_vec();
    unique.sort();
    unique.dedup();
    let shared = Arc::new(Mutex::new(Shared {
        queue: unique
            .chunks(IDS_PER_CALL)
            .map(|c| (c.to_vec(), 0))
            .collect(),
        ..Shared::default()
    }));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, 64) {
        let (client, pacer, stats, shared) = (
            client.clone(),
            Arc::clone(pacer),
            Arc::clone(stats),
            Arc::clone(&shared),
        );
        tasks.spawn(async move { worker(&client, &pacer, &stats, &shared).await });
    }
    while tasks.join_next().await.is_some() {}
    let mut s = shared
        .lock()
        .map_err(|_| TelemetryError::Usage("X-Ray worker panicked".into()))?;
    if let Some(e) = s.error.take() {
        return Err(e);
    }
    report.batch_requests += s.requests;
    report.unprocessed_gave_up += s.gave_up.len();
    let documents = std::mem::take(&mut s.documents);
    report.found += documents.len();
    let missing: Vec<&String> = unique
        .iter()
        .filter(|id| !documents.contains_key(*id))
        .collect();
    report.not_found += missing.len();
    report
        .not_found_examples
        .extend(missing.iter().take(5).map(|s| (*s).clone()));
    Ok(documents)
}

async fn worker(
    client: &aws_sdk_xray::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    shared: &Mutex<Shared>,
) {
    loop {
        let next = {
            let Ok(mut s) = shared.lock() else { return };
            if s.error.is_some() {
                return;
            }
            s.queue.pop_front()
        };
        let Some((ids, round)) = next else { return };
        match batch(client, pacer, stats, &ids).await {
            Ok((docs, unprocessed, requests)) => {
                let Ok(mut s) = shared.lock() else { return };
                s.requests += requests;
                for (trace, mut d) in docs {
                    s.documents.entry(trace).or_default().append(&mut d);
                }
                if !unprocessed.is_empty() {
                    if round + 1 >= UNPROCESSED_ROUNDS {
                        s.gave_up.extend(unprocessed);
                    } else {
                        for c in unprocessed.chunks(IDS_PER_CALL) {
                            s.queue.push_back((c.to_vec(), round + 1));
                        }
                    }
                }
            }
            Err(e) => {
                if let Ok(mut s) = shared.lock() {
                    s.error.get_or_insert(e);
                }
                return;
            }
        }
    }
}

type BatchResult = (BTreeMap<String, Vec<String>>, Vec<String>, usize);

async fn batch(
    client: &aws_sdk_xray::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    ids: &[String],
) -> Result<BatchResult, TelemetryError> {
    let mut docs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unprocessed = Vec::new();
    let mut token: Option<String> = None;
    let mut requests = 0;
    // Bounded: a trace has at most a few thousand segments, pages hold many.
    for _ in 0..1000 {
        let resp = paced(Api::BatchGetTraces, pacer, stats, || {
            client
                .batch_get_traces()
                .set_trace_ids(Some(ids.to_vec()))
                .set_next_token(token.clone())
                .send()
        })
        .await?;
        requests += 1;
        for t in resp.traces() {
            let Some(id) = t.id() else { continue };
            let entry = docs.entry(id.to_string()).or_default();
            entry.extend(
                t.segments()
                    .iter()
                    .filter_map(|s| s.document().map(str::to_string)),
            );
        }
        // Only the first page's unprocessed list matters; later pages repeat it or not.
        if token.is_none() {
            unprocessed.extend(resp.unprocessed_trace_ids().iter().cloned());
        }
        token = resp
            .next_token()
            .map(str::to_string)
            .filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    docs.retain(|_, d| !d.is_empty());
    Ok((docs, unprocessed, requests))
}

/// Splits `windows`' hull into chunks of at most `chunk`.
pub fn summary_chunks(windows: &[PhaseWindow], chunk: Duration) -> Vec<PhaseWindow> {
    let (Some(start), Some(end)) = (
        windows.iter().map(|w| w.start).min(),
        windows.iter().map(|w| w.end).max(),
    ) else {
        return Vec::new();
    };
    let step = chrono::Duration::from_std(chunk.max(Duration::from_secs(1)))
        .unwrap_or(chrono::Duration::hours(1));
    let mut out = Vec::new();
    let mut t = start;
    while t < end && out.len() < 100_000 {
        let e = (t + step).min(end);
        out.push(PhaseWindow { start: t, end: e });
        t = e;
    }
    out
}

fn to_smithy(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(t.timestamp_millis())
}

/// `GetTraceSummaries` over `windows` (by trace start): the ids of traces not in `ours`
/// (at most `max_other_traces`), and those of ours X-Ray flagged as an error, fault or
/// throttle.
pub async fn trace_summaries<S: std::hash::BuildHasher>(
    client: &aws_sdk_xray::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    windows: &[PhaseWindow],
    ours: &HashSet<String, S>,
    opts: &XrayOptions,
    report: &mut XrayReport,
) -> Result<Summaries, TelemetryError> {
    let mut out = BTreeSet::new();
    let mut flagged = HashSet::new();
    for chunk in summary_chunks(windows, SUMMARY_CHUNK) {
        let mut token: Option<String> = None;
        for _ in 0..10_000 {
            let resp = paced(Api::GetTraceSummaries, pacer, stats, || {
                client
                    .get_trace_summaries()
                    .start_time(to_smithy(chunk.start))
                    .end_time(to_smithy(chunk.end))
                    .set_filter_expression(opts.filter.clone())
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
            report.summary_requests += 1;
            report.traces_scanned +=
                u64::try_from(resp.traces_processed_count().unwrap_or(0)).unwrap_or(0);
            for s in resp.trace_summaries() {
                let Some(id) = s.id() else { continue };
                if !ours.contains(id) {
                    out.insert(id.to_string());
                } else if s.has_error() == Some(true)
                    || s.has_fault() == Some(true)
                    || s.has_throttle() == Some(true)
                {
                    flagged.insert(id.to_string());
                }
            }
            if out.len() >= opts.max_other_traces {
                report.other_traces_truncated = true;
                break;
            }
            token = resp
                .next_token()
                .map(str::to_string)
                .filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        if report.other_traces_truncated {
            break;
        }
    }
    let others: Vec<String> = out.into_iter().take(opts.max_other_traces).collect();
    report.other_traces = others.len();
    Ok(Summaries { others, flagged })
}

/// What `GetTraceSummaries` told about the windows.
#[derive(Debug, Default)]
pub struct Summaries {
    /// Traces we did not start (at most `max_other_traces`).
    pub others: Vec<String>,
    /// Traces of ours X-Ray marked with an error, fault or throttle.
    pub flagged: HashSet<String>,
}

/// A `GetTraceSummaries` filter that keeps traces through any of `functions`.
pub fn service_filter(functions: &[String]) -> Option<String> {
    let parts: Vec<String> = functions
        .iter()
        .map(|f| f.split(':').next().unwrap_or(f))
        .filter(|f| !f.is_empty() && !f.contains('"'))
        .map(|f| format!("service(\"{f}\")"))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn summary_ranges_are_chunked() {
        let w = [
            PhaseWindow::new(t("2026-06-01T10:00:00Z"), t("2026-06-01T11:30:00Z")).unwrap(),
            PhaseWindow::new(t("2026-06-01T11:30:00Z"), t("2026-06-01T12:10:00Z")).unwrap(),
        ];
        let c = summary_chunks(&w, Duration::from_secs(3600));
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].start, t("2026-06-01T10:00:00Z"));
        assert_eq!(c[2].end, t("2026-06-01T12:10:00Z"));
        assert!(c.windows(2).all(|p| p[0].end == p[1].start));
        assert!(summary_chunks(&[], Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn service_filter_names_functions() {
        assert_eq!(
            service_filter(&["a".into(), "b:live".into()]).as_deref(),
            Some("service(\"a\") OR service(\"b\")")
        );
        assert_eq!(service_filter(&[]), None);
    }
}
