//! The X-Ray API over restJson1, as aws-sdk-xray, boto3 and the AWS CLI speak it:
//! `POST /TraceSegments` (PutTraceSegments), `POST /Traces` (BatchGetTraces) and
//! `POST /TraceSummaries` (GetTraceSummaries), served from the [`SegmentStore`] the
//! platform records into. Errors carry `x-amzn-errortype` and `{"Message": ...}`;
//! calls beyond the configured rate get `ThrottledException` (429), which the SDKs retry.

use serde_json::{Value, json};

pub(crate) mod filter;
mod summary;

use filter::Filter;
use summary::Summary;

use super::shared::{JsonReply, RateLimiter};
use crate::SegmentStore;

/// Segments per BatchGetTraces page; a larger answer continues with `NextToken`.
pub const SEGMENTS_PER_PAGE: usize = 100;
/// Trace summaries per GetTraceSummaries page.
pub const SUMMARIES_PER_PAGE: usize = 100;
/// X-Ray rejects segment documents larger than 64 kB.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// X-Ray's answer to a malformed request.
fn invalid(message: &str) -> JsonReply {
    JsonReply::error(400, "InvalidRequestException", message)
}

/// The X-Ray API's own state: its request-rate limit.
pub struct XrayApi {
    limiter: RateLimiter,
}

impl XrayApi {
    /// An API answering at most `rate_per_sec` calls per second (burst: one second's worth).
    pub fn new(rate_per_sec: f64) -> Self {
        Self {
            limiter: RateLimiter::new(rate_per_sec),
        }
    }

    /// Whether a request is for this API (restJson1 routes by method and path).
    pub fn owns(method: &str, path: &str) -> bool {
        method == "POST" && matches!(path, "/TraceSegments" | "/Traces" | "/TraceSummaries")
    }

    /// Answers one request; `path` must satisfy [`XrayApi::owns`].
    pub fn handle(&self, store: &SegmentStore, path: &str, body: &[u8]) -> JsonReply {
        if !self.limiter.try_acquire() {
            return JsonReply::error(429, "ThrottledException", "Rate exceeded");
        }
        let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => return invalid("request body is not a JSON object"),
            }
        };
        match path {
            "/TraceSegments" => put_trace_segments(store, &input),
            "/Traces" => batch_get_traces(store, &input),
            "/TraceSummaries" => get_trace_summaries(store, &input),
            _ => JsonReply::error(404, "UnknownOperationException", "unknown operation"),
        }
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `1-{8 hex}-{24 hex}`, X-Ray's trace id format.
fn valid_trace_id(id: &str) -> bool {
    let mut parts = id.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(t), Some(r), None) if is_hex(t, 8) && is_hex(r, 24)
    )
}

fn put_trace_segments(store: &SegmentStore, input: &Value) -> JsonReply {
    let Some(docs) = input.get("TraceSegmentDocuments").and_then(Value::as_array) else {
        return invalid("TraceSegmentDocuments is required");
    };
    let mut unprocessed = Vec::new();
    for doc in docs {
        let Some(text) = doc.as_str() else {
            unprocessed.push(
                json!({"ErrorCode": "InvalidSegment", "Message": "document is not a string"}),
            );
            continue;
        };
        if let Err((id, message)) = check_document(text) {
            let mut u = json!({"ErrorCode": "InvalidSegment", "Message": message});
            if let Some(id) = id {
                u["Id"] = json!(id);
            }
            unprocessed.push(u);
            continue;
        }
        if let Err(rejected) = store.put(text) {
            let mut u = json!({"ErrorCode": "InvalidSegment", "Message": rejected.message});
            if let Some(id) = rejected.id {
                u["Id"] = json!(id);
            }
            unprocessed.push(u);
        }
    }
    JsonReply::ok(&json!({ "UnprocessedTraceSegments": unprocessed }))
}

/// What X-Ray checks beyond the store's required fields: size and id formats.
fn check_document(text: &str) -> Result<(), (Option<String>, String)> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err((
            None,
            format!("document larger than {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Err((None, "invalid JSON".to_owned()));
    };
    let id = v.get("id").and_then(Value::as_str).map(str::to_owned);
    if let Some(seg_id) = &id
        && !is_hex(seg_id, 16)
    {
        return Err((id.clone(), format!("invalid segment id `{seg_id}`")));
    }
    if let Some(trace) = v.get("trace_id").and_then(Value::as_str)
        && !valid_trace_id(trace)
    {
        return Err((id, format!("invalid trace id `{trace}`")));
    }
    Ok(())
}

fn batch_get_traces(store: &SegmentStore, input: &Value) -> JsonReply {
    let ids: Vec<&str> = match input.get("TraceIds").and_then(Value::as_array) {
        Some(a) => a.iter().filter_map(Value::as_str).collect(),
        None => return invalid("TraceIds is required"),
    };
    if ids.is_empty() || ids.len() > 5 {
        return invalid(&format!(
            "TraceIds must hold 1 to 5 trace ids, got {}",
            ids.len()
        ));
    }
    // The token is the (trace, segment) position the previous page stopped at.
    let (first_trace, first_segment) = match input.get("NextToken").and_then(Value::as_str) {
        None => (0, 0),
        Some(tok) => match parse_batch_token(tok) {
            Some(p) if p.0 < ids.len() => p,
            _ => return invalid("invalid NextToken"),
        },
    };
    let mut traces = Vec::new();
    let mut unprocessed = Vec::new();
    let mut budget = SEGMENTS_PER_PAGE;
    let mut next = None;
    for (ti, id) in ids.iter().enumerate().skip(first_trace) {
        let segments = store.trace(id);
        if segments.is_empty() {
            // An id the store holds nothing for — never recorded, or dropped to stay within
            // its budget (as AWS drops traces past retention) — is listed as unprocessed,
            // once, on the page that reached it; never in `Traces`.
            unprocessed.push(json!(id));
            continue;
        }
        let skip = if ti == first_trace { first_segment } else { 0 };
        if budget == 0 {
            next = Some(format!("bgt1:{ti}:{skip}"));
            break;
        }
        let end = segments.len().min(skip + budget);
        let page: Vec<Value> = segments[skip.min(end)..end]
            .iter()
            .map(|s| json!({ "Id": s.id, "Document": s.document }))
            .collect();
        budget -= end - skip.min(end);
        traces.push(json!({
            "Id": id,
            "Duration": summary::round_ms(summary::trace_duration(&segments)),
            "LimitExceeded": false,
            "Segments": page,
        }));
        if end < segments.len() {
            next = Some(format!("bgt1:{ti}:{end}"));
            break;
        }
    }
    let mut out = json!({ "Traces": traces, "UnprocessedTraceIds": unprocessed });
    if let Some(tok) = next {
        out["NextToken"] = json!(tok);
    }
    JsonReply::ok(&out)
}

fn parse_batch_token(tok: &str) -> Option<(usize, usize)> {
    let rest = tok.strip_prefix("bgt1:")?;
    let (a, b) = rest.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    TraceId,
    Event,
    Service,
}

/// Epoch seconds embedded in a trace id (`1-{8 hex seconds}-...`).
fn trace_id_epoch(id: &str) -> Option<u64> {
    let hex = id.strip_prefix("1-")?.get(..8)?;
    u64::from_str_radix(hex, 16).ok()
}

fn epoch_seconds(v: Option<&Value>, name: &str) -> Result<f64, JsonReply> {
    match v.and_then(Value::as_f64) {
        Some(s) if s.is_finite() && s >= 0.0 => Ok(s),
        Some(_) => Err(invalid(&format!("{name} is out of range"))),
        None => Err(invalid(&format!("{name} is required (epoch seconds)"))),
    }
}

fn get_trace_summaries(store: &SegmentStore, input: &Value) -> JsonReply {
    let start = match epoch_seconds(input.get("StartTime"), "StartTime") {
        Ok(s) => s,
        Err(e) => return e,
    };
    let end = match epoch_seconds(input.get("EndTime"), "EndTime") {
        Ok(s) => s,
        Err(e) => return e,
    };
    if end < start {
        return invalid("EndTime is before StartTime");
    }
    let range_type = match input.get("TimeRangeType").and_then(Value::as_str) {
        None | Some("TraceId") => RangeType::TraceId,
        Some("Event") => RangeType::Event,
        Some("Service") => RangeType::Service,
        Some(other) => {
            return invalid(&format!("unsupported TimeRangeType `{other}`"));
        }
    };
    let filter: Option<Filter> = match input.get("FilterExpression").and_then(Value::as_str) {
        None => None,
        Some(s) if s.trim().is_empty() => None,
        Some(s) => match filter::parse(s) {
            Ok(f) => Some(f),
            Err(e) => {
                return invalid(&format!("Invalid filter expression: {e}"));
            }
        },
    };
    let from_ms = (start * 1000.0) as u64;
    let to_ms = (end * 1000.0) as u64;
    // Candidates, ordered by (first segment start, id) so a token can resume after a key.
    let candidates: Vec<(u64, String)> = store
        .trace_ids_by_start()
        .into_iter()
        .filter(|(first_ms, id)| match range_type {
            RangeType::TraceId => {
                trace_id_epoch(id).is_some_and(|s| s as f64 >= start.floor() && (s as f64) < end)
            }
            RangeType::Event | RangeType::Service => (from_ms..to_ms).contains(first_ms),
        })
        .collect();
    let resume_at = match input.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(tok) => match parse_summary_token(tok) {
            Some(key) => candidates.partition_point(|c| c <= &key),
            None => return invalid("invalid NextToken"),
        },
    };
    let mut summaries: Vec<Summary> = Vec::new();
    let mut processed = 0u64;
    let mut next = None;
    for key in &candidates[resume_at..] {
        if summaries.len() == SUMMARIES_PER_PAGE {
            break;
        }
        processed += 1;
        next = Some(key);
        let Some(s) = summary::summarize(&key.1, &store.trace(&key.1)) else {
            continue;
        };
        if filter.as_ref().is_none_or(|f| f.matches(&s)) {
            summaries.push(s);
        }
    }
    let more = next.is_some_and(|k| candidates.last() != Some(k));
    let mut out = json!({
        "TraceSummaries": summaries.iter().map(summary::to_json).collect::<Vec<_>>(),
        "ApproximateTime": end,
        "TracesProcessedCount": processed,
    });
    if more && let Some((ms, id)) = next {
        out["NextToken"] = json!(format!("gts1:{ms}:{id}"));
    }
    JsonReply::ok(&out)
}

fn parse_summary_token(tok: &str) -> Option<(u64, String)> {
    let rest = tok.strip_prefix("gts1:")?;
    let (ms, id) = rest.split_once(':')?;
    Some((ms.parse().ok()?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "1-5f000000-000000000000000000000001";

    fn doc(trace: &str, id: &str, start: f64, extra: &str) -> String {
        format!(
            r#"{{"trace_id":"{trace}","id":"{id}","name":"svc","start_time":{start},"end_time":{}{extra}}}"#,
            start + 0.25
        )
    }

    fn call(api: &XrayApi, store: &SegmentStore, path: &str, body: &Value) -> (u16, Value) {
        let r = api.handle(store, path, body.to_string().as_bytes());
        (r.status, serde_json::from_slice(&r.body).unwrap())
    }

    #[test]
    fn put_reports_bad_documents_as_unprocessed() {
        let api = XrayApi::new(1000.0);
        let store = SegmentStore::new();
        let body = json!({"TraceSegmentDocuments": [
            doc(T1, "0000000000000001", 1.6e9, ""),
            doc("bogus", "0000000000000002", 1.6e9, ""),
            "{not json",
        ]});
        let (status, out) = call(&api, &store, "/TraceSegments", &body);
        assert_eq!(status, 200);
        let un = out["UnprocessedTraceSegments"].as_array().unwrap();
        assert_eq!(un.len(), 2);
        assert_eq!(un[0]["Id"], "0000000000000002");
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn batch_get_pages_segments_and_validates_id_count() {
        let api = XrayApi::new(1000.0);
        let store = SegmentStore::new();
        for i in 0..(SEGMENTS_PER_PAGE + 5) {
            store
                .put(&doc(T1, &format!("{i:016x}"), 1.6e9 + i as f64, ""))
                .unwrap();
        }
        let (s, out) = call(
            &api,
            &store,
            "/Traces",
            &json!({"TraceIds": [T1, "1-5f000000-00000000000000000000dead"]}),
        );
        assert_eq!(s, 200);
        assert_eq!(
            out["Traces"][0]["Segments"].as_array().unwrap().len(),
            SEGMENTS_PER_PAGE
        );
        let tok = out["NextToken"].as_str().unwrap().to_owned();
        let (_, out2) = call(
            &api,
            &store,
            "/Traces",
            &json!({"TraceIds": [T1, "1-5f000000-00000000000000000000dead"], "NextToken": tok}),
        );
        assert_eq!(out2["Traces"][0]["Segments"].as_array().unwrap().len(), 5);
        assert_eq!(
            out2["UnprocessedTraceIds"][0],
            "1-5f000000-00000000000000000000dead"
        );
        assert!(out2.get("NextToken").is_none());
        let (s, out) = call(
            &api,
            &store,
            "/Traces",
            &json!({"TraceIds": [T1, T1, T1, T1, T1, T1]}),
        );
        assert_eq!(s, 400);
        assert_eq!(out["__type"], "InvalidRequestException");
    }

    /// A trace dropped to stay within the store's budget is answered as X-Ray answers any
    /// id it holds no segments for: absent from `Traces`, listed in `UnprocessedTraceIds`.
    #[test]
    fn dropped_traces_are_answered_as_unknown_ids() {
        let api = XrayApi::new(1000.0);
        let one = doc(T1, "0000000000000001", 1.6e9, "");
        let store = SegmentStore::with_limit(one.len());
        let t2 = "1-5f000000-000000000000000000000002";
        store.put(&one).unwrap();
        store
            .put(&doc(t2, "0000000000000002", 1.6e9 + 1.0, ""))
            .unwrap();
        assert_eq!(store.dropped_traces(), 1);
        let never = "1-5f000000-00000000000000000000dead";
        let (s, out) = call(
            &api,
            &store,
            "/Traces",
            &json!({"TraceIds": [T1, t2, never]}),
        );
        assert_eq!(s, 200);
        let traces = out["Traces"].as_array().unwrap();
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0]["Id"], t2);
        assert_eq!(out["UnprocessedTraceIds"], json!([T1, never]));
        // GetTraceSummaries no longer finds it either.
        let (_, out) = call(
            &api,
            &store,
            "/TraceSummaries",
            &json!({"StartTime": 1.5e9, "EndTime": 1.7e9}),
        );
        let ids: Vec<_> = out["TraceSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Id"].clone())
            .collect();
        assert_eq!(ids, [json!(t2)]);
    }

    #[test]
    fn summaries_filter_and_reject_unsupported_expressions() {
        let api = XrayApi::new(1000.0);
        let store = SegmentStore::new();
        let t2 = "1-5f000001-000000000000000000000002";
        store
            .put(&doc(
                T1,
                "0000000000000001",
                1_593_835_520.0,
                r#","fault":true"#,
            ))
            .unwrap();
        store
            .put(&doc(t2, "0000000000000002", 1_593_835_521.0, ""))
            .unwrap();
        let base = json!({"StartTime": 1_593_835_500, "EndTime": 1_593_835_600});
        let (_, out) = call(&api, &store, "/TraceSummaries", &base);
        assert_eq!(out["TraceSummaries"].as_array().unwrap().len(), 2);
        let mut f = base.clone();
        f["FilterExpression"] = json!("fault");
        let (_, out) = call(&api, &store, "/TraceSummaries", &f);
        assert_eq!(out["TraceSummaries"][0]["Id"], T1);
        assert_eq!(out["TraceSummaries"].as_array().unwrap().len(), 1);
        f["FilterExpression"] = json!("edge(\"a\", \"b\")");
        let (s, out) = call(&api, &store, "/TraceSummaries", &f);
        assert_eq!(s, 400);
        assert!(out["Message"].as_str().unwrap().contains("edge"));
        let (s, _) = call(&api, &store, "/TraceSummaries", &json!({"StartTime": 5}));
        assert_eq!(s, 400);
    }

    #[test]
    fn rate_limit_throttles() {
        let api = XrayApi::new(2.0);
        let store = SegmentStore::new();
        let body = json!({"TraceIds": [T1]});
        let statuses: Vec<u16> = (0..5)
            .map(|_| call(&api, &store, "/Traces", &body).0)
            .collect();
        assert!(statuses.contains(&429), "{statuses:?}");
    }
}
