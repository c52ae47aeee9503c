//! Lenient parsing of X-Ray segment documents into [`Span`] rows.
//!
//! Documents come from many producers (API Gateway, the Lambda service, Lambda runtimes,
//! AWS SDKs in the function) and formats change: Lambda's cold-start subsegment was
//! `Initialization` and is now `Init`. So parsing is by `serde_json::Value`, unknown fields
//! are ignored, numbers may arrive as strings, and a document that is not a segment is
//! counted and skipped — never fatal.

use serde_json::Value;
use stormwatch_model::{Span, SpanKind, UnixNanos};

/// Counts from parsing a batch of documents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ParseStats {
    /// Documents parsed.
    pub documents: usize,
    /// Documents skipped as malformed (not JSON, no id or start time).
    pub malformed: usize,
    /// Subsegments skipped as malformed.
    pub malformed_subsegments: usize,
    /// Function segments with an `Initialization`/`Init` subsegment.
    pub cold_starts: usize,
}

impl ParseStats {
    /// Adds another reading's counts.
    pub fn add(&mut self, o: &Self) {
        self.documents += o.documents;
        self.malformed += o.malformed;
        self.malformed_subsegments += o.malformed_subsegments;
        self.cold_starts += o.cold_starts;
    }
}

fn seconds_to_nanos(v: &Value) -> Option<UnixNanos> {
    let s = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (s.is_finite() && s > 0.0 && s < 1.0e11).then(|| UnixNanos((s * 1e9).round() as i64))
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn flag(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn http_status(v: &Value) -> Option<u16> {
    let s = v.get("http")?.get("response")?.get("status")?;
    match s {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn retries(v: &Value) -> u32 {
    v.get("aws")
        .and_then(|a| a.get("retries"))
        .and_then(|r| match r {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

fn segment_kind(origin: &str) -> SpanKind {
    match origin {
        "AWS::ApiGateway::Stage" => SpanKind::ApiGateway,
        "AWS::Lambda" => SpanKind::LambdaService,
        "AWS::Lambda::Function" => SpanKind::LambdaFunction,
        o if o.starts_with("AWS::DynamoDB")
            || o.starts_with("AWS::Kinesis")
            || o.starts_with("AWS::SQS")
            || o.starts_with("AWS::SNS")
            || o.starts_with("AWS::S3") =>
        {
            SpanKind::Downstream
        }
        _ => SpanKind::Other,
    }
}

/// `segment` is the kind of the enclosing segment: the `Lambda` subsegment of an API
/// Gateway stage segment (namespace `aws`) is the integration's Invoke call, not a
/// downstream call of the function; its `throttle` flag is Lambda's throttling.
fn subsegment_kind(segment: SpanKind, sub: &Value, name: &str) -> SpanKind {
    if matches!(segment, SpanKind::ApiGateway | SpanKind::LambdaService) {
        return SpanKind::Other;
    }
    match name {
        "Initialization" | "Init" => SpanKind::Init,
        "Restore" => SpanKind::Restore,
        "Invocation" => SpanKind::Invocation,
        "Overhead" => SpanKind::Overhead,
        _ => match sub.get("namespace").and_then(Value::as_str) {
            Some("aws" | "remote") => SpanKind::Downstream,
            _ => SpanKind::Other,
        },
    }
}

/// Whether a function segment's `cause` says the invocation timed out: Lambda records the
/// exception type `Sandbox.Timedout` (older runtimes) or a "Task timed out" message.
fn timed_out(doc: &Value) -> bool {
    doc.get("cause")
        .and_then(|c| c.get("exceptions"))
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().any(|e| {
                let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                field("type").to_ascii_lowercase().contains("timedout")
                    || field("message").starts_with("Task timed out")
            })
        })
}

/// Parses one segment document (a JSON string) of trace `trace_id`, appending its spans.
pub fn parse_document(trace_id: &str, document: &str, out: &mut Vec<Span>, stats: &mut ParseStats) {
    stats.documents += 1;
    let Ok(doc) = serde_json::from_str::<Value>(document) else {
        stats.malformed += 1;
        return;
    };
    let (Some(id), Some(start)) = (
        text(&doc, "id"),
        doc.get("start_time").and_then(seconds_to_nanos),
    ) else {
        stats.malformed += 1;
        return;
    };
    let trace = text(&doc, "trace_id").unwrap_or_else(|| trace_id.to_string());
    let origin = text(&doc, "origin").unwrap_or_default();
    let kind = segment_kind(&origin);
    let first = out.len();
    out.push(Span {
        trace_id: trace.clone(),
        id: id.clone(),
        parent_id: text(&doc, "parent_id"),
        kind,
        origin,
        name: text(&doc, "name").unwrap_or_default(),
        start,
        end: doc
            .get("end_time")
            .and_then(seconds_to_nanos)
            .unwrap_or(start),
        http_status: http_status(&doc),
        error: flag(&doc, "error"),
        fault: flag(&doc, "fault"),
        throttle: flag(&doc, "throttle"),
        cold: false,
        retries: retries(&doc),
        timed_out: kind == SpanKind::LambdaFunction && timed_out(&doc),
    });
    let mut cold = false;
    // Depth-first over nested subsegments, with an explicit stack (bounded by the
    // document's own size, no recursion to overflow).
    let mut stack: Vec<(&Value, String)> = doc
        .get("subsegments")
        .and_then(Value::as_array)
        .map(|a| a.iter().rev().map(|s| (s, id.clone())).collect())
        .unwrap_or_default();
    while let Some((sub, parent)) = stack.pop() {
        let name = text(sub, "name").unwrap_or_default();
        let Some(sub_start) = sub.get("start_time").and_then(seconds_to_nanos) else {
            stats.malformed_subsegments += 1;
            continue;
        };
        let sub_id = text(sub, "id").unwrap_or_else(|| format!("{parent}/{name}"));
        let sub_kind = subsegment_kind(kind, sub, &name);
        cold |= matches!(sub_kind, SpanKind::Init | SpanKind::Restore);
        out.push(Span {
            trace_id: trace.clone(),
            id: sub_id.clone(),
            parent_id: Some(parent),
            kind: sub_kind,
            origin: String::new(),
            name,
            start: sub_start,
            end: sub
                .get("end_time")
                .and_then(seconds_to_nanos)
                .unwrap_or(sub_start),
            http_status: http_status(sub),
            error: flag(sub, "error"),
            fault: flag(sub, "fault"),
            throttle: flag(sub, "throttle"),
            cold: false,
            retries: retries(sub),
            timed_out: false,
        });
        if let Some(children) = sub.get("subsegments").and_then(Value::as_array) {
            stack.extend(children.iter().rev().map(|c| (c, sub_id.clone())));
        }
    }
    if cold {
        stats.cold_starts += usize::from(kind == SpanKind::LambdaFunction);
        for s in &mut out[first..] {
            s.cold = true;
        }
    }
}

/// The `resource_arn` of a function segment (`AWS::Lambda::Function`) document, which
/// [`Span`] rows leave out: `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
/// `None` for other documents, malformed ones, or a segment without the field.
pub fn function_resource_arn(document: &str) -> Option<String> {
    let doc = serde_json::from_str::<Value>(document).ok()?;
    if text(&doc, "origin").as_deref() != Some("AWS::Lambda::Function") {
        return None;
    }
    text(&doc, "resource_arn").filter(|a| !a.is_empty())
}

/// The API Gateway request id of a REST stage segment (`AWS::ApiGateway::Stage`):
/// `aws.api_gateway.request_id`, the id the API answered in `x-amzn-RequestId`. `None` for
/// other documents (skipped without parsing unless they mention `api_gateway`).
pub fn api_gateway_request_id(document: &str) -> Option<String> {
    if !document.contains("api_gateway") {
        return None;
    }
    let doc = serde_json::from_str::<Value>(document).ok()?;
    if text(&doc, "origin").as_deref() != Some("AWS::ApiGateway::Stage") {
        return None;
    }
    doc.get("aws")?
        .get("api_gateway")?
        .get("request_id")?
        .as_str()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn function_doc(init_name: &str) -> String {
        serde_json::json!({
            "id": "b1", "trace_id": TRACE, "name": "store-products",
            "origin": "AWS::Lambda::Function", "parent_id": "a1",
            "start_time": 1_780_000_000.100, "end_time": 1_780_000_000.400,
            "unknown_field": {"x": 1},
            "subsegments": [
                {"id": "c1", "name": init_name, "start_time": 1_780_000_000.000, "end_time": 1_780_000_000.095},
                {"id": "c2", "name": "Invocation", "start_time": 1_780_000_000.100, "end_time": 1_780_000_000.350,
                 "subsegments": [{"id": "d1", "name": "DynamoDB", "namespace": "aws",
                   "start_time": "1780000000.2", "end_time": 1_780_000_000.3, "throttle": true,
                   "aws": {"retries": 2, "operation": "PutItem"}, "http": {"response": {"status": 400}}}]},
                {"id": "c3", "name": "Overhead", "start_time": 1_780_000_000.350, "end_time": 1_780_000_000.400},
                {"name": "broken"}
            ]
        })
        .to_string()
    }

    #[test]
    fn both_init_formats_mark_cold_starts() {
        for init in ["Initialization", "Init"] {
            let mut spans = Vec::new();
            let mut stats = ParseStats::default();
            parse_document(TRACE, &function_doc(init), &mut spans, &mut stats);
            assert_eq!(stats.cold_starts, 1, "{init}");
            assert_eq!(stats.malformed_subsegments, 1);
            let kinds: Vec<SpanKind> = spans.iter().map(|s| s.kind).collect();
            assert_eq!(
                kinds,
                [
                    SpanKind::LambdaFunction,
                    SpanKind::Init,
                    SpanKind::Invocation,
                    SpanKind::Downstream,
                    SpanKind::Overhead
                ]
            );
            assert!(spans.iter().all(|s| s.cold));
            let init_span = &spans[1];
            assert_eq!(init_span.duration().as_millis(), 95);
            let ddb = &spans[3];
            assert_eq!(ddb.parent_id.as_deref(), Some("c2"));
            assert!(ddb.throttle);
            assert_eq!(ddb.retries, 2);
            assert_eq!(ddb.http_status, Some(400));
        }
    }

    #[test]
    fn function_segments_name_their_arn() {
        let doc = r#"{"id":"b1","origin":"AWS::Lambda::Function","start_time":1780000000.1,"resource_arn":"arn:aws:lambda:us-east-1:123456789012:function:f:7"}"#;
        assert_eq!(
            function_resource_arn(doc).as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:f:7")
        );
        assert_eq!(function_resource_arn(&function_doc("Init")), None);
        let service = doc.replace("AWS::Lambda::Function", "AWS::Lambda");
        assert_eq!(function_resource_arn(&service), None);
        assert_eq!(function_resource_arn("not json"), None);
    }

    #[test]
    fn malformed_documents_are_counted_and_skipped() {
        let mut spans = Vec::new();
        let mut stats = ParseStats::default();
        for doc in [
            "not json",
            "{}",
            "[1,2]",
            r#"{"id":"x","start_time":"soon"}"#,
        ] {
            parse_document(TRACE, doc, &mut spans, &mut stats);
        }
        assert!(spans.is_empty());
        assert_eq!(stats.malformed, 4);
        let gw = r#"{"id":"a1","name":"store/prod","origin":"AWS::ApiGateway::Stage","start_time":1780000000.05,"end_time":1780000000.45,"http":{"response":{"status":"502"}},"fault":true}"#;
        parse_document(TRACE, gw, &mut spans, &mut stats);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].kind, SpanKind::ApiGateway);
        assert_eq!(spans[0].http_status, Some(502));
        assert!(spans[0].fault && !spans[0].cold);
        assert_eq!(spans[0].trace_id, TRACE);
    }

    #[test]
    fn a_function_segment_whose_cause_is_a_timeout_is_marked() {
        for cause in [
            r#"{"type":"Sandbox.Timedout","message":"Task timed out"}"#,
            r#"{"type":"Error","message":"Task timed out after 3.00 seconds"}"#,
        ] {
            let doc = format!(
                r#"{{"id":"f1","name":"orders","origin":"AWS::Lambda::Function","start_time":1780000000.0,"end_time":1780000003.0,"fault":true,"cause":{{"exceptions":[{cause}]}}}}"#
            );
            let mut spans = Vec::new();
            parse_document(TRACE, &doc, &mut spans, &mut ParseStats::default());
            assert!(spans[0].timed_out, "{cause}");
        }
        let failed = r#"{"id":"f1","name":"orders","origin":"AWS::Lambda::Function","start_time":1780000000.0,"end_time":1780000000.1,"fault":true,"cause":{"exceptions":[{"type":"Error","message":"handler failed"}]}}"#;
        let mut spans = Vec::new();
        parse_document(TRACE, failed, &mut spans, &mut ParseStats::default());
        assert!(!spans[0].timed_out);
    }

    #[test]
    fn the_gateways_invoke_subsegment_is_not_a_downstream_call() {
        // Lambda throttled the invoke: API Gateway's `Lambda` subsegment carries the 429.
        let gw = r#"{"id":"a1","name":"store/prod","origin":"AWS::ApiGateway::Stage","start_time":1780000000.0,"end_time":1780000000.01,"http":{"response":{"status":500}},"fault":true,
            "subsegments":[{"id":"b1","name":"Lambda","namespace":"aws","start_time":1780000000.0,"end_time":1780000000.01,"http":{"response":{"status":429}},"error":true,"throttle":true}]}"#;
        let mut spans = Vec::new();
        let mut stats = ParseStats::default();
        parse_document(TRACE, gw, &mut spans, &mut stats);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].kind, SpanKind::Other);
        assert!(spans[1].throttle, "the flag is kept");
        assert!(spans.iter().all(|s| s.kind != SpanKind::Downstream));
    }

    #[test]
    fn stage_segments_name_their_request_id() {
        // The shape of AWS's API Gateway X-Ray documentation.
        let stage = r#"{"id":"a","trace_id":"1-5759e988-bd862e3fe1be46a994272793","name":"api/prod","origin":"AWS::ApiGateway::Stage","start_time":1,"end_time":2,
            "aws":{"api_gateway":{"account_id":"123412341234","rest_api_id":"xxxxxx","stage":"prod","request_id":"c8ba2a7e-4f0b"}}}"#;
        assert_eq!(
            api_gateway_request_id(stage).as_deref(),
            Some("c8ba2a7e-4f0b")
        );
        let lambda = stage.replace("AWS::ApiGateway::Stage", "AWS::Lambda");
        assert_eq!(api_gateway_request_id(&lambda), None);
        assert_eq!(api_gateway_request_id(&function_doc("Init")), None);
        assert_eq!(api_gateway_request_id("{\"api_gateway\":"), None);
    }
}
