//! The CloudWatch Logs API over awsJson1_1 (`POST /`, `X-Amz-Target: Logs_20140328.<Op>`),
//! as aws-sdk-cloudwatchlogs, boto3 and the AWS CLI speak it: FilterLogEvents,
//! DescribeLogGroups and the Logs Insights trio StartQuery / GetQueryResults / StopQuery,
//! served from the [`LogStore`] the platform writes Lambda's START/END/REPORT lines into.
//! Queries are parsed when started (syntax errors → `MalformedQueryException`) and run
//! asynchronously as in AWS: `Scheduled`, then `Running`, then `Complete`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) mod eval;
mod fields;
mod pattern;
pub(crate) mod query;

pub(crate) use fields::format_timestamp;

use super::shared::{JsonReply, RateLimiter};
use crate::LogStore;
use eval::{Input, QueryOutput};

/// The account id the sandbox pretends to be (in ARNs and `@log`).
pub const ACCOUNT_ID: &str = "123456789012";
/// Logs Insights allows 30 concurrent queries per account (the API reference's figure; the
/// current user guide says 100). [`LogsApi::with_concurrent_queries`] changes it.
pub const MAX_CONCURRENT_QUERIES: usize = 30;
/// At most this many events per FilterLogEvents page (AWS: 10,000 events or 1 MB).
pub const MAX_EVENTS_PER_PAGE: usize = 10_000;
const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// A query is `Scheduled` this long after StartQuery...
const SCHEDULED_FOR: Duration = Duration::from_millis(10);
/// ...then `Running` until this long after StartQuery.
const RUNNING_UNTIL: Duration = Duration::from_millis(100);
/// Finished queries kept for GetQueryResults (oldest dropped first).
const KEPT_QUERIES: usize = 1000;

/// What a finished query produced, and how many message bytes it scanned.
type QueryResult = Arc<OnceLock<(QueryOutput, u64)>>;

struct QueryState {
    started: Instant,
    /// Filled by the query's worker thread when it is done.
    result: QueryResult,
    cancelled: bool,
    /// A client polling a query sees it unfinished at least once, as with AWS.
    seen_pending: bool,
}

impl QueryState {
    /// Done by the clock: cancelled, or past the running time with its result ready. This
    /// decides the concurrency limit and StopQuery.
    fn done(&self, now: Instant) -> bool {
        self.cancelled
            || (now.duration_since(self.started) >= RUNNING_UNTIL && self.result.get().is_some())
    }

    /// Done as GetQueryResults reports it: also seen unfinished by a poll first.
    fn finished(&self, now: Instant) -> bool {
        self.cancelled || (self.seen_pending && self.done(now))
    }
}

/// The Logs API's own state: rate limit, region and the Insights queries it runs.
pub struct LogsApi {
    limiter: RateLimiter,
    /// Insights queries allowed to run at once.
    max_running: usize,
    region: String,
    queries: Mutex<(u64, BTreeMap<String, QueryState>)>,
}

/// An error with `x-amzn-errortype: kind` and `{"__type", "message"}` (awsJson1_1), HTTP 400.
pub(super) fn error(kind: &'static str, message: &str) -> JsonReply {
    JsonReply {
        status: 400,
        error_type: Some(kind),
        body: json!({ "__type": kind, "message": message })
            .to_string()
            .into_bytes(),
    }
}

fn ok(v: &Value) -> JsonReply {
    JsonReply {
        status: 200,
        error_type: None,
        body: v.to_string().into_bytes(),
    }
}

fn invalid(message: &str) -> JsonReply {
    error("InvalidParameterException", message)
}

/// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]` or a plain name → the name.
fn group_name(identifier: &str) -> &str {
    match identifier.find(":log-group:") {
        Some(i) if identifier.starts_with("arn:") => {
            let rest = &identifier[i + ":log-group:".len()..];
            rest.strip_suffix(":*").unwrap_or(rest)
        }
        _ => identifier,
    }
}

fn u64_field(input: &Value, name: &str) -> Result<Option<u64>, JsonReply> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(&format!("{name} must be a non-negative integer"))),
    }
}

impl LogsApi {
    /// An API answering at most `rate_per_sec` calls per second, in `region` (for ARNs).
    pub fn new(rate_per_sec: f64, region: &str) -> Self {
        Self {
            limiter: RateLimiter::new(rate_per_sec),
            region: region.to_owned(),
            queries: Mutex::new((0, BTreeMap::new())),
            max_running: MAX_CONCURRENT_QUERIES,
        }
    }

    /// Refuses a `StartQuery` while `n` queries (default [`MAX_CONCURRENT_QUERIES`]) are
    /// still scheduled or running, with AWS's `LimitExceededException`.
    #[must_use]
    pub fn with_concurrent_queries(mut self, n: usize) -> Self {
        self.max_running = n.max(1);
        self
    }

    /// The operation named by an `X-Amz-Target` header, when it is a Logs one.
    pub fn operation(target: &str) -> Option<&str> {
        target.strip_prefix("Logs_20140328.")
    }

    /// Answers one call of operation `op` (from [`LogsApi::operation`]).
    pub fn handle(&self, store: &LogStore, op: &str, body: &[u8]) -> JsonReply {
        if !self.limiter.try_acquire() {
            return error("ThrottlingException", "Rate exceeded");
        }
        let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return error(
                        "SerializationException",
                        "request body is not a JSON object",
                    );
                }
            }
        };
        let result = match op {
            "FilterLogEvents" => filter_log_events(store, &input),
            "DescribeLogGroups" => Ok(self.describe_log_groups(store, &input)),
            "StartQuery" => self.start_query(store, &input),
            "GetQueryResults" => self.get_query_results(&input),
            "StopQuery" => self.stop_query(&input),
            other => Err(error(
                "UnknownOperationException",
                &format!("operation {other} is not supported by the sandbox"),
            )),
        };
        result.unwrap_or_else(|e| e)
    }

    fn describe_log_groups(&self, store: &LogStore, input: &Value) -> JsonReply {
        let prefix = input
            .get("logGroupNamePrefix")
            .and_then(Value::as_str)
            .unwrap_or("");
        let pattern = input.get("logGroupNamePattern").and_then(Value::as_str);
        let limit = input
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(50, |l| l.clamp(1, 50)) as usize;
        let after = input
            .get("nextToken")
            .and_then(Value::as_str)
            .and_then(|t| t.strip_prefix("dlg1:"));
        let names: Vec<String> = store
            .groups()
            .into_iter()
            .filter(|n| n.starts_with(prefix) && pattern.is_none_or(|p| n.contains(p)))
            .filter(|n| after.is_none_or(|a| n.as_str() > a))
            .collect();
        let page: Vec<Value> = names
            .iter()
            .take(limit)
            .map(|n| {
                let arn = format!("arn:aws:logs:{}:{ACCOUNT_ID}:log-group:{n}", self.region);
                json!({
                    "logGroupName": n,
                    "arn": format!("{arn}:*"),
                    "logGroupArn": arn,
                    "metricFilterCount": 0,
                    "logGroupClass": "STANDARD",
                })
            })
            .collect();
        let mut out = json!({ "logGroups": page });
        if names.len() > limit {
            out["nextToken"] = json!(format!("dlg1:{}", names[limit - 1]));
        }
        ok(&out)
    }

    fn start_query(&self, store: &LogStore, input: &Value) -> Result<JsonReply, JsonReply> {
        let query = input
            .get("queryString")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("queryString is required"))?;
        let start = u64_field(input, "startTime")?
            .ok_or_else(|| invalid("startTime is required (epoch seconds)"))?;
        let end = u64_field(input, "endTime")?
            .ok_or_else(|| invalid("endTime is required (epoch seconds)"))?;
        if end < start {
            return Err(invalid("endTime is before startTime"));
        }
        let limit = u64_field(input, "limit")?.unwrap_or(10_000);
        if !(1..=10_000).contains(&limit) {
            return Err(invalid("limit must be 1..10000"));
        }
        let mut groups: Vec<String> = Vec::new();
        if let Some(g) = input.get("logGroupName").and_then(Value::as_str) {
            groups.push(g.to_owned());
        }
        for key in ["logGroupNames", "logGroupIdentifiers"] {
            if let Some(list) = input.get(key).and_then(Value::as_array) {
                groups.extend(
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(|g| group_name(g).to_owned()),
                );
            }
        }
        if groups.is_empty() {
            return Err(invalid(
                "one of logGroupName, logGroupNames or logGroupIdentifiers is required",
            ));
        }
        let commands = query::parse(query).map_err(|e| {
            let kind = "MalformedQueryException";
            JsonReply {
                status: 400,
                error_type: Some(kind),
                body: json!({
                    "__type": kind,
                    "message": e.message,
                    "queryCompileError": {
                        "location": { "startCharOffset": e.start, "endCharOffset": e.end },
                        "message": e.message,
                    },
                })
                .to_string()
                .into_bytes(),
            }
        })?;
        // AWS counts the end second as part of the range.
        let from_ms = start.saturating_mul(1000);
        let to_ms = end.saturating_mul(1000).saturating_add(1000);
        // The events are taken now (what was ingested when the query started); the query
        // itself runs on its own thread, as AWS runs it asynchronously.
        let mut snapshot = Vec::with_capacity(groups.len());
        for g in &groups {
            let events = store.events(g, from_ms, to_ms).ok_or_else(|| {
                error(
                    "ResourceNotFoundException",
                    &format!("Log group '{g}' does not exist for account ID '{ACCOUNT_ID}'"),
                )
            })?;
            snapshot.push((g.clone(), events));
        }
        let now = Instant::now();
        let mut q = self
            .queries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let active = q.1.values().filter(|s| !s.done(now)).count();
        if active >= self.max_running {
            return Err(error(
                "LimitExceededException",
                &format!(
                    "Account maximum query concurrency limit of [{}] reached",
                    self.max_running
                ),
            ));
        }
        let result: QueryResult = Arc::new(OnceLock::new());
        let worker_result = Arc::clone(&result);
        std::thread::spawn(move || {
            let _ = worker_result.set(execute(&commands, &snapshot, limit as usize));
        });
        q.0 += 1;
        let id = format!("{:08x}-5a4d-4b0c-8d1e-{:012x}", q.0 as u32, q.0);
        q.1.insert(
            id.clone(),
            QueryState {
                started: now,
                result,
                cancelled: false,
                seen_pending: false,
            },
        );
        while q.1.len() > KEPT_QUERIES {
            // Ids grow with the counter, so the first key is the oldest query.
            let Some(oldest) = q.1.keys().next().cloned() else {
                break;
            };
            q.1.remove(&oldest);
        }
        Ok(ok(&json!({ "queryId": id })))
    }

    /// Runs `f` on the query `input` names (`queryId`), at the current instant.
    fn with_query(
        &self,
        input: &Value,
        f: impl FnOnce(&mut QueryState, Instant) -> JsonReply,
    ) -> Result<JsonReply, JsonReply> {
        let id = input
            .get("queryId")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("queryId is required"))?;
        let mut q = self
            .queries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state =
            q.1.get_mut(id)
                .ok_or_else(|| error("ResourceNotFoundException", "Query does not exist"))?;
        Ok(f(state, Instant::now()))
    }

    fn get_query_results(&self, input: &Value) -> Result<JsonReply, JsonReply> {
        self.with_query(input, |state, now| {
            let elapsed = now.duration_since(state.started);
            let status = if state.cancelled {
                "Cancelled"
            } else if state.finished(now) {
                "Complete"
            } else {
                state.seen_pending = true;
                if elapsed < SCHEDULED_FOR {
                    "Scheduled"
                } else {
                    "Running"
                }
            };
            let done = match (status, state.result.get()) {
                ("Complete", Some(done)) => Some(done),
                _ => None,
            };
            let results: Vec<Value> = done.map_or_else(Vec::new, |(output, _)| {
                output
                    .rows
                    .iter()
                    .map(|row| {
                        Value::Array(
                            row.iter()
                                .map(|(f, v)| json!({ "field": f, "value": v }))
                                .collect(),
                        )
                    })
                    .collect()
            });
            let (matched, scanned, bytes) = done.map_or((0, 0, 0), |(o, b)| {
                (o.records_matched, o.records_scanned, *b)
            });
            ok(&json!({
                "queryLanguage": "CWLI",
                "status": status,
                "results": results,
                "statistics": {
                    "recordsMatched": matched,
                    "recordsScanned": scanned,
                    "bytesScanned": bytes,
                },
            }))
        })
    }

    fn stop_query(&self, input: &Value) -> Result<JsonReply, JsonReply> {
        self.with_query(input, |state, now| {
            // Only a query still scheduled or running can be stopped.
            let success = !state.done(now);
            if success {
                state.cancelled = true;
            }
            ok(&json!({ "success": success }))
        })
    }
}

/// Discovers the fields of every event and runs the pipeline (on the query's thread).
fn execute(
    commands: &[query::Command],
    snapshot: &[(String, Vec<crate::LogEvent>)],
    limit: usize,
) -> (QueryOutput, u64) {
    let mut inputs = Vec::new();
    let mut bytes = 0u64;
    for (gi, (g, events)) in snapshot.iter().enumerate() {
        for (i, e) in events.iter().enumerate() {
            bytes += e.message.len() as u64;
            inputs.push(Input {
                record: fields::discover(g, e, ACCOUNT_ID),
                timestamp_ms: e.timestamp_ms,
                ptr: format!("sandbox/{gi}/{}/{i}", e.timestamp_ms),
            });
        }
    }
    // Stable: events of one timestamp keep their group and arrival order.
    inputs.sort_by_key(|i| i.timestamp_ms);
    (eval::run(commands, inputs, limit), bytes)
}

fn filter_log_events(store: &LogStore, input: &Value) -> Result<JsonReply, JsonReply> {
    let group = input
        .get("logGroupName")
        .or_else(|| input.get("logGroupIdentifier"))
        .and_then(Value::as_str)
        .map(group_name)
        .ok_or_else(|| invalid("logGroupName or logGroupIdentifier is required"))?;
    let start = u64_field(input, "startTime")?.unwrap_or(0);
    // endTime is inclusive.
    let end = u64_field(input, "endTime")?.map_or(u64::MAX, |e| e.saturating_add(1));
    let limit = u64_field(input, "limit")?.unwrap_or(MAX_EVENTS_PER_PAGE as u64);
    if !(1..=MAX_EVENTS_PER_PAGE as u64).contains(&limit) {
        return Err(invalid("limit must be 1..10000"));
    }
    let pattern = pattern::parse(
        input
            .get("filterPattern")
            .and_then(Value::as_str)
            .unwrap_or(""),
    )
    .map_err(|e| invalid(&e))?;
    let streams: Option<Vec<&str>> = input
        .get("logStreamNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let stream_prefix = input.get("logStreamNamePrefix").and_then(Value::as_str);
    let events = store.events(group, start, end).ok_or_else(|| {
        error(
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    })?;
    // The token is (timestamp, events at that timestamp already passed): stable when
    // newer events arrive between pages.
    let first = match input.get("nextToken").and_then(Value::as_str) {
        None => 0,
        Some(tok) => {
            let (ts, skip) = tok
                .strip_prefix("fle1:")
                .and_then(|r| r.split_once(':'))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<usize>().ok()?)))
                .ok_or_else(|| invalid("The specified nextToken is invalid."))?;
            events.partition_point(|e| e.timestamp_ms < ts) + skip
        }
    };
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut stopped_at = None;
    for (i, e) in events.iter().enumerate().skip(first) {
        if out.len() as u64 == limit || bytes >= MAX_PAGE_BYTES {
            stopped_at = Some(i);
            break;
        }
        let stream_ok = streams
            .as_ref()
            .is_none_or(|s| s.contains(&e.stream.as_str()))
            && stream_prefix.is_none_or(|p| e.stream.starts_with(p));
        if !stream_ok || !pattern.matches(&e.message) {
            continue;
        }
        bytes += e.message.len();
        out.push(json!({
            "logStreamName": e.stream,
            "timestamp": e.timestamp_ms,
            "message": e.message,
            "ingestionTime": e.ingestion_ms,
            "eventId": format!("{:020}{:016}", e.timestamp_ms, i),
        }));
    }
    let mut reply = json!({ "events": out, "searchedLogStreams": [] });
    if let Some(i) = stopped_at {
        let ts = events[i].timestamp_ms;
        let skip = i - events.partition_point(|e| e.timestamp_ms < ts);
        reply["nextToken"] = json!(format!("fle1:{ts}:{skip}"));
    }
    Ok(ok(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogEvent;

    fn store() -> LogStore {
        let s = LogStore::new();
        for i in 0..5u64 {
            s.put(
                "/aws/lambda/f",
                LogEvent {
                    timestamp_ms: 1_000_000 + i * 1000,
                    ingestion_ms: 1_000_000 + i * 1000 + 5,
                    stream: "2026/11/23/[$LATEST]e1".into(),
                    message: format!("REPORT RequestId: r{i}\tDuration: {i} ms\t"),
                },
            );
        }
        s
    }

    fn call(api: &LogsApi, s: &LogStore, op: &str, body: &Value) -> (u16, Value) {
        let r = api.handle(s, op, body.to_string().as_bytes());
        (r.status, serde_json::from_slice(&r.body).unwrap())
    }

    #[test]
    fn filter_pages_with_tokens_and_reports_missing_groups() {
        let api = LogsApi::new(1000.0, "us-east-1");
        let s = store();
        let (st, out) = call(
            &api,
            &s,
            "FilterLogEvents",
            &json!({"logGroupName": "/aws/lambda/f", "limit": 2}),
        );
        assert_eq!(st, 200);
        assert_eq!(out["events"].as_array().unwrap().len(), 2);
        let mut tok = out["nextToken"].as_str().map(str::to_owned);
        let mut total = 2;
        for _ in 0..10 {
            let Some(t) = tok.take() else { break };
            let (_, out) = call(
                &api,
                &s,
                "FilterLogEvents",
                &json!({"logGroupName": "/aws/lambda/f", "limit": 2, "nextToken": t}),
            );
            total += out["events"].as_array().unwrap().len();
            tok = out["nextToken"].as_str().map(str::to_owned);
        }
        assert_eq!(total, 5);
        let (st, out) = call(
            &api,
            &s,
            "FilterLogEvents",
            &json!({"logGroupName": "/aws/lambda/nope"}),
        );
        assert_eq!(st, 400);
        assert_eq!(out["__type"], "ResourceNotFoundException");
        let (_, out) = call(
            &api,
            &s,
            "FilterLogEvents",
            &json!({"logGroupName": "/aws/lambda/f", "filterPattern": "\"RequestId: r3\"", "startTime": 1_000_000, "endTime": 1_003_000}),
        );
        assert_eq!(out["events"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn query_runs_scheduled_then_complete_and_malformed_is_located() {
        let api = LogsApi::new(1000.0, "us-east-1");
        let s = store();
        let (st, out) = call(
            &api,
            &s,
            "StartQuery",
            &json!({"logGroupName": "/aws/lambda/f", "startTime": 0, "endTime": 2_000, "queryString": "stats count(*) as n"}),
        );
        assert_eq!(st, 200, "{out}");
        let id = out["queryId"].as_str().unwrap().to_owned();
        let (_, first) = call(&api, &s, "GetQueryResults", &json!({"queryId": id}));
        assert_ne!(first["status"], "Complete");
        let mut done = first;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            done = call(&api, &s, "GetQueryResults", &json!({"queryId": id})).1;
            if done["status"] == "Complete" {
                break;
            }
        }
        assert_eq!(done["status"], "Complete");
        assert_eq!(done["results"][0][0]["value"], "5");
        let (st, out) = call(
            &api,
            &s,
            "StartQuery",
            &json!({"logGroupName": "/aws/lambda/f", "startTime": 0, "endTime": 2_000, "queryString": "fields @message | dedup @x"}),
        );
        assert_eq!(st, 400);
        assert_eq!(out["__type"], "MalformedQueryException");
        assert!(out["message"].as_str().unwrap().contains("dedup"));
        assert_eq!(out["queryCompileError"]["location"]["startCharOffset"], 18);
    }
}
