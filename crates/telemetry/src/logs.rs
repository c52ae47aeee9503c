//! Lambda REPORT lines from CloudWatch Logs: Logs Insights first (`StartQuery`, then
//! `GetQueryResults` polled until the query completes; the range is cut in chunks and a
//! chunk that hits the 10,000-row result limit is split in two and asked again), with
//! `FilterLogEvents` as the fallback when Insights is unavailable or refused.

use futures_util::stream::{self, StreamExt};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::types::QueryStatus;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use stormwatch_model::{PhaseWindow, UnixNanos};

use crate::aws::ApiStats;
use crate::error::{Api, TelemetryError};
use crate::pacing::{Pacer, paced};
use crate::report_line::{self, ReportLine};

/// Rows Logs Insights returns at most per query.
pub const INSIGHTS_ROW_LIMIT: usize = 10_000;
/// Length of one Insights query's range before splitting on the row limit.
pub const CHUNK: Duration = Duration::from_secs(15 * 60);
/// How often a running query is polled.
const POLL: Duration = Duration::from_millis(250);
/// How long one query may run before it is stopped.
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);

/// One REPORT line and when it was logged.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedReport {
    /// Function name.
    pub function: String,
    /// Event time.
    pub at: UnixNanos,
    /// The parsed line.
    pub line: ReportLine,
    /// The log stream it was written to (`2026/11/23/[$LATEST]<hex>`), when known: it
    /// names the function version, which REPORT lines do not carry.
    pub stream: Option<String>,
}

/// One event read back: time (ms), message, log stream.
type Event = (i64, String, Option<String>);

/// What the logs part did, for `collect.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogsReport {
    /// Per function: log group, source used, lines, cold starts.
    pub groups: Vec<GroupReport>,
    /// The cold starts' lines read ahead of the rest (for the trace choice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_lookup: Option<ColdLookup>,
}

/// The read of the cold starts' REPORT lines ahead of the rest: their `XRAY TraceId`s let
/// the trace choice start while every other line is still being read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ColdLookup {
    /// Insights queries run.
    pub queries: usize,
    /// Bytes those queries scanned (billed like any other query).
    pub bytes_scanned: u64,
    /// Cold-start lines found.
    pub cold_starts: usize,
    /// Insights answered for every log group; if not, the trace choice waited for the
    /// full read.
    pub answered: bool,
}

/// One log group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    /// `/aws/lambda/<function>`.
    pub log_group: String,
    /// `insights` or `filter_log_events`.
    pub source: String,
    /// Why Insights was not used, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// Insights queries run (after splitting).
    pub queries: usize,
    /// Bytes those queries scanned (what Logs Insights is billed by).
    pub bytes_scanned: u64,
    /// Chunks split because they hit the row limit.
    pub splits: usize,
    /// REPORT lines parsed.
    pub reports: usize,
    /// Lines that looked like REPORT but did not parse.
    pub unparsed: usize,
    /// Cold starts (Init or Restore Duration present).
    pub cold_starts: usize,
    /// Insights queries that did not complete (timeout, failure); their ranges were
    /// read with FilterLogEvents instead.
    pub incomplete_queries: usize,
}

/// How Logs Insights is asked: the chunk length and how many chunk queries run at once.
#[derive(Clone, Copy, Debug)]
pub struct InsightsPlan {
    /// Each query's time range (see [`chunk_for`]).
    pub chunk: Duration,
    /// Queries of this log group running at once (a share of the account's quota).
    pub concurrency: usize,
    /// Read a chunk with FilterLogEvents when Insights refuses it or does not complete.
    /// Without it such a group comes back partial, with `fallback_reason` saying why (for a
    /// query whose answer is an optimisation, not the data).
    pub filter_fallback: bool,
}

impl Default for InsightsPlan {
    fn default() -> Self {
        Self {
            chunk: CHUNK,
            concurrency: 1,
            filter_fallback: true,
        }
    }
}

/// Fetches the REPORT lines of `function` in `range`: one Insights query per chunk, up to
/// `plan.concurrency` at once; a chunk that comes back at the row limit is split and asked
/// again; FilterLogEvents where Insights is refused or does not complete (unless
/// `plan.filter_fallback` is off: then the lines so far, and `fallback_reason` set).
pub async fn fetch_reports(
    client: &aws_sdk_cloudwatchlogs::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    function: &str,
    range: &PhaseWindow,
    query: &str,
    plan: InsightsPlan,
) -> Result<(Vec<LoggedReport>, GroupReport), TelemetryError> {
    let name = function.split(':').next().unwrap_or(function);
    let group = format!("/aws/lambda/{name}");
    let mut report = GroupReport {
        log_group: group.clone(),
        source: "insights".into(),
        ..GroupReport::default()
    };
    let mut messages: Vec<Event> = Vec::new();
    let mut todo: Vec<(PhaseWindow, u32)> = chunks(range, plan.chunk)
        .into_iter()
        .map(|c| (c, 0))
        .collect();
    let mut insights_ok = true;
    while !todo.is_empty() {
        if !insights_ok && !plan.filter_fallback {
            break;
        }
        if !insights_ok {
            for (chunk, _) in todo.drain(..) {
                messages.extend(filter_events(client, pacer, stats, &group, &chunk).await?);
            }
            break;
        }
        let group = group.as_str();
        let wave: Vec<_> = stream::iter(todo.drain(..))
            .map(|(chunk, depth)| async move {
                let got = insights(client, pacer, stats, group, &chunk, query).await;
                (chunk, depth, got)
            })
            .buffer_unordered(plan.concurrency.max(1))
            .collect()
            .await;
        for (chunk, depth, got) in wave {
            match got {
                Ok(Some((rows, scanned))) => {
                    report.queries += 1;
                    report.bytes_scanned += scanned;
                    let secs = (chunk.end - chunk.start).num_seconds();
                    if rows.len() >= INSIGHTS_ROW_LIMIT && secs > 1 && depth < 12 {
                        // Possibly truncated: split and ask again.
                        report.splits += 1;
                        let mid = chunk.start + chrono::Duration::seconds(secs / 2);
                        todo.push((
                            PhaseWindow {
                                start: chunk.start,
                                end: mid,
                            },
                            depth + 1,
                        ));
                        todo.push((
                            PhaseWindow {
                                start: mid,
                                end: chunk.end,
                            },
                            depth + 1,
                        ));
                    } else {
                        messages.extend(rows);
                    }
                }
                Ok(None) if !plan.filter_fallback => {
                    report.incomplete_queries += 1;
                    insights_ok = false;
                    report.fallback_reason = Some("an Insights query did not complete".into());
                }
                Ok(None) => {
                    report.incomplete_queries += 1;
                    messages.extend(filter_events(client, pacer, stats, group, &chunk).await?);
                }
                Err(e @ TelemetryError::NotFound { .. }) => {
                    return Err(not_found(group, function, e));
                }
                Err(e) if e.is_throttling() => return Err(e),
                Err(e) => {
                    // Insights refused (no permission, unsupported query, quota): fall back.
                    insights_ok = false;
                    report.fallback_reason = Some(e.to_string());
                    if plan.filter_fallback {
                        report.source = "filter_log_events".into();
                        messages.extend(filter_events(client, pacer, stats, group, &chunk).await?);
                    }
                }
            }
        }
    }
    messages.sort();
    messages.dedup();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (ms, m, stream) in messages {
        match report_line::parse(&m) {
            Some(line) if seen.insert(line.request_id.clone()) => {
                report.cold_starts += usize::from(line.cold());
                out.push(LoggedReport {
                    function: name.to_string(),
                    at: UnixNanos(ms.saturating_mul(1_000_000)),
                    line,
                    stream,
                });
            }
            // A REPORT line seen twice (overlapping chunks, Insights and FilterLogEvents).
            Some(_) => {}
            None => {
                if m.contains("REPORT RequestId") || m.contains("platform.report") {
                    report.unparsed += 1;
                }
            }
        }
    }
    report.reports = out.len();
    Ok((out, report))
}

fn not_found(group: &str, function: &str, e: TelemetryError) -> TelemetryError {
    match e {
        TelemetryError::NotFound { api, message, .. } => TelemetryError::NotFound {
            api,
            what: format!(
                "log group {group} (is `{function}` the function's name, in this region, and has it run?)"
            ),
            message,
        },
        other => other,
    }
}

/// The query chunk for `requests` answered over `range`: long enough for 80 % of the
/// 10,000-row limit at that rate (every request assumed to reach the function), so a busy
/// run is not queried in 15-minute chunks that each come back full and must be split and
/// asked again; at most [`CHUNK`], at least one second. [`CHUNK`] when the rate is unknown.
pub fn chunk_for(requests: Option<usize>, range: &PhaseWindow) -> Duration {
    let secs = (range.end - range.start).num_milliseconds() as f64 / 1000.0;
    match requests {
        Some(n) if n > 0 && secs > 0.0 => {
            let rate = n as f64 / secs;
            Duration::from_secs_f64((0.8 * INSIGHTS_ROW_LIMIT as f64 / rate).floor().max(1.0))
                .min(CHUNK)
        }
        _ => CHUNK,
    }
}

/// Splits `range` into chunks of at most `len`.
pub fn chunks(range: &PhaseWindow, len: Duration) -> Vec<PhaseWindow> {
    let step = chrono::Duration::from_std(len.max(Duration::from_secs(1)))
        .unwrap_or(chrono::Duration::minutes(15));
    let mut out = Vec::new();
    let mut t = range.start;
    while t < range.end && out.len() < 100_000 {
        let e = (t + step).min(range.end);
        out.push(PhaseWindow { start: t, end: e });
        t = e;
    }
    out
}

/// One row of an Insights result: field name → value.
pub type Row = std::collections::BTreeMap<String, String>;

/// Runs one Insights query over `groups` (at most 50) from `start` to `end` (epoch
/// seconds, both inclusive, as Insights takes them): its rows and the bytes it scanned;
/// `Ok(None)` when it did not complete in time.
pub async fn run_query(
    client: &aws_sdk_cloudwatchlogs::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    groups: &[String],
    (start, end): (i64, i64),
    query: &str,
) -> Result<Option<(Vec<Row>, u64)>, TelemetryError> {
    let started = paced(Api::StartQuery, pacer, stats, || {
        let mut q = client
            .start_query()
            .start_time(start)
            .end_time(end)
            .query_string(query)
            .limit(i32::try_from(INSIGHTS_ROW_LIMIT).unwrap_or(i32::MAX));
        q = match groups {
            [one] => q.log_group_name(one),
            many => q.set_log_group_names(Some(many.to_vec())),
        };
        q.send()
    })
    .await?;
    let Some(id) = started.query_id().map(str::to_string) else {
        return Ok(None);
    };
    let deadline = tokio::time::Instant::now() + QUERY_TIMEOUT;
    loop {
        tokio::time::sleep(POLL).await;
        let r = paced(Api::GetQueryResults, pacer, stats, || {
            client.get_query_results().query_id(&id).send()
        })
        .await?;
        match r.status() {
            Some(QueryStatus::Complete) => {
                let rows = r
                    .results()
                    .iter()
                    .map(|row| {
                        row.iter()
                            .filter_map(|c| Some((c.field()?.to_string(), c.value()?.to_string())))
                            .collect()
                    })
                    .collect();
                // Whole bytes, reported as a double.
                let scanned = r
                    .statistics()
                    .map_or(0, |s| s.bytes_scanned().max(0.0) as u64);
                return Ok(Some((rows, scanned)));
            }
            Some(QueryStatus::Scheduled | QueryStatus::Running) | None
                if tokio::time::Instant::now() < deadline => {}
            Some(QueryStatus::Scheduled | QueryStatus::Running) | None => {
                // Best effort: a query left running costs the account concurrency.
                let _ = client.stop_query().query_id(&id).send().await;
                return Ok(None);
            }
            Some(_) => return Ok(None),
        }
    }
}

/// Runs one line query on a chunk: its REPORT events and the bytes it scanned; `Ok(None)`
/// when it did not complete.
async fn insights(
    client: &aws_sdk_cloudwatchlogs::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    group: &str,
    chunk: &PhaseWindow,
    query: &str,
) -> Result<Option<(Vec<Event>, u64)>, TelemetryError> {
    // Insights takes whole seconds, both ends inclusive: ask for [start, end − 1 s] and
    // keep only events inside the half-open chunk.
    let end_secs = (chunk.end.timestamp() - 1).max(chunk.start.timestamp());
    let got = run_query(
        client,
        pacer,
        stats,
        &[group.to_string()],
        (chunk.start.timestamp(), end_secs),
        query,
    )
    .await?;
    Ok(got.map(|(rows, scanned)| {
        let events = rows
            .into_iter()
            .filter_map(|row| {
                let at = parse_insights_time(row.get("@timestamp")?)?;
                chunk.contains(at).then(|| {
                    (
                        at.timestamp_millis(),
                        row.get("@message").cloned().unwrap_or_default(),
                        row.get("@logStream").cloned(),
                    )
                })
            })
            .collect();
        (events, scanned)
    }))
}

/// `2026-06-01 14:00:00.123` (what Insights returns), RFC 3339, or epoch milliseconds.
pub fn parse_insights_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    s.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
}

/// REPORT lines of `chunk` via FilterLogEvents: the text format's `REPORT` term first,
/// then the JSON format's `"platform.report"` if the first found nothing.
async fn filter_events(
    client: &aws_sdk_cloudwatchlogs::Client,
    pacer: &Pacer,
    stats: &ApiStats,
    group: &str,
    chunk: &PhaseWindow,
) -> Result<Vec<Event>, TelemetryError> {
    let mut out = Vec::new();
    for pattern in ["REPORT", "\"platform.report\""] {
        let mut token: Option<String> = None;
        for _ in 0..100_000 {
            let r = paced(Api::FilterLogEvents, pacer, stats, || {
                client
                    .filter_log_events()
                    .log_group_name(group)
                    .start_time(chunk.start.timestamp_millis())
                    .end_time(chunk.end.timestamp_millis() - 1)
                    .filter_pattern(pattern)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(|err| match err {
                TelemetryError::NotFound { .. } => {
                    not_found(group, group.trim_start_matches("/aws/lambda/"), err)
                }
                other => other,
            })?;
            out.extend(r.events().iter().filter_map(|e| {
                Some((
                    e.timestamp()?,
                    e.message()?.to_string(),
                    e.log_stream_name().map(str::to_string),
                ))
            }));
            token = r.next_token().map(str::to_string).filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insights_timestamps_parse() {
        let t = parse_insights_time("2026-06-01 14:00:00.123").unwrap();
        assert_eq!(t.timestamp_millis() % 1000, 123);
        assert!(parse_insights_time("2026-06-01T14:00:00Z").is_some());
        assert!(parse_insights_time("1780000000000").is_some());
        assert!(parse_insights_time("later").is_none());
    }

    #[test]
    fn ranges_chunk() {
        let s = DateTime::parse_from_rfc3339("2026-06-01T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = PhaseWindow::starting_at(s, Duration::from_secs(40 * 60));
        let c = chunks(&r, CHUNK);
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].duration(), Duration::from_secs(600));
    }

    #[test]
    fn chunks_hold_most_of_the_row_limit_at_the_runs_rate() {
        let s = DateTime::parse_from_rfc3339("2026-06-01T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // 30 minutes at 500 requests/s: 16 s chunks (8,000 rows each), not 15 minutes.
        let r = PhaseWindow::starting_at(s, Duration::from_secs(1800));
        assert_eq!(chunk_for(Some(900_000), &r), Duration::from_secs(16));
        // A quiet run keeps 15-minute chunks; an unknown rate too.
        assert_eq!(chunk_for(Some(1_000), &r), CHUNK);
        assert_eq!(chunk_for(None, &r), CHUNK);
        // Faster than 8,000 a second: one-second chunks (splitting does the rest).
        assert_eq!(chunk_for(Some(100_000_000), &r), Duration::from_secs(1));
    }
}
