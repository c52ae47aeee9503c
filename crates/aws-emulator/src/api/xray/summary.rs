//! Derives an X-Ray trace summary (what GetTraceSummaries returns) from the stored segment
//! documents of one trace, as X-Ray does: the root segment (no parent in the trace) gives
//! ResponseTime, Http, HasFault and HasError; any segment's `throttle` gives HasThrottle;
//! Duration spans all segments; every segment names a service. Nothing is invented: a field
//! the documents do not carry is left out.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::StoredSegment;

/// An annotation value (X-Ray allows strings, numbers and booleans).
#[derive(Debug, Clone, PartialEq)]
pub enum Annotation {
    /// A string.
    String(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// The root segment's HTTP information.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpInfo {
    /// `http.request.url`.
    pub url: Option<String>,
    /// `http.request.method`.
    pub method: Option<String>,
    /// `http.request.user_agent`.
    pub user_agent: Option<String>,
    /// `http.request.client_ip`.
    pub client_ip: Option<String>,
    /// `http.response.status`.
    pub status: Option<u16>,
}

/// A service the trace passed through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceRef {
    /// Segment name.
    pub name: String,
    /// Segment origin, e.g. `AWS::Lambda::Function`.
    pub kind: Option<String>,
}

/// What GetTraceSummaries reports about one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Trace id.
    pub id: String,
    /// Earliest segment start, epoch seconds.
    pub start_time: f64,
    /// Latest end minus earliest start, seconds.
    pub duration: f64,
    /// Root segment end minus start, seconds.
    pub response_time: f64,
    /// Root segment fault (5xx).
    pub has_fault: bool,
    /// Root segment error (4xx).
    pub has_error: bool,
    /// Any segment throttled (429).
    pub has_throttle: bool,
    /// Some segment is still in progress.
    pub is_partial: bool,
    /// Root segment HTTP data.
    pub http: HttpInfo,
    /// Services (segments) in the trace, first the root's.
    pub services: Vec<ServiceRef>,
    /// Annotations of all segments and subsegments.
    pub annotations: BTreeMap<String, Vec<Annotation>>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn collect_annotations(v: &Value, out: &mut BTreeMap<String, Vec<Annotation>>, depth: usize) {
    if depth > 32 {
        return;
    }
    if let Some(Value::Object(map)) = v.get("annotations") {
        for (k, a) in map {
            let value = match a {
                Value::String(s) => Annotation::String(s.clone()),
                Value::Bool(b) => Annotation::Bool(*b),
                Value::Number(n) => match n.as_f64() {
                    Some(f) => Annotation::Number(f),
                    None => continue,
                },
                _ => continue,
            };
            let values = out.entry(k.clone()).or_default();
            if !values.contains(&value) {
                values.push(value);
            }
        }
    }
    if let Some(Value::Array(subs)) = v.get("subsegments") {
        for s in subs {
            collect_annotations(s, out, depth + 1);
        }
    }
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Summarises one trace; `None` for a trace with no readable segment.
pub fn summarize(trace_id: &str, segments: &[StoredSegment]) -> Option<Summary> {
    let docs: Vec<(&StoredSegment, Value)> = segments
        .iter()
        .filter_map(|s| serde_json::from_str(&s.document).ok().map(|v| (s, v)))
        .collect();
    if docs.is_empty() {
        return None;
    }
    let start = docs
        .iter()
        .map(|(s, _)| s.start_time)
        .fold(f64::INFINITY, f64::min);
    let end = docs
        .iter()
        .map(|(s, _)| s.end_time.unwrap_or(s.start_time))
        .fold(f64::NEG_INFINITY, f64::max);
    // The root: a segment whose parent is not in this trace (the load tool's Parent id
    // names a client span that X-Ray never receives), earliest first.
    let ids: Vec<&str> = docs.iter().map(|(s, _)| s.id.as_str()).collect();
    let root = docs
        .iter()
        .filter(|(_, v)| str_at(v, &["parent_id"]).is_none_or(|p| !ids.contains(&p)))
        .min_by(|a, b| a.0.start_time.total_cmp(&b.0.start_time))
        .or_else(|| docs.first())?;
    let (root_seg, root_doc) = root;
    let http = HttpInfo {
        url: str_at(root_doc, &["http", "request", "url"]).map(str::to_owned),
        method: str_at(root_doc, &["http", "request", "method"]).map(str::to_owned),
        user_agent: str_at(root_doc, &["http", "request", "user_agent"]).map(str::to_owned),
        client_ip: str_at(root_doc, &["http", "request", "client_ip"]).map(str::to_owned),
        status: root_doc
            .pointer("/http/response/status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok()),
    };
    let mut services: Vec<ServiceRef> = Vec::new();
    let mut ordered: Vec<&(&StoredSegment, Value)> = docs.iter().collect();
    ordered.sort_by(|a, b| {
        let a_root = std::ptr::eq(a.0, *root_seg);
        let b_root = std::ptr::eq(b.0, *root_seg);
        b_root
            .cmp(&a_root)
            .then(a.0.start_time.total_cmp(&b.0.start_time))
    });
    for (_, v) in &ordered {
        if let Some(name) = str_at(v, &["name"]) {
            let svc = ServiceRef {
                name: name.to_owned(),
                kind: str_at(v, &["origin"]).map(str::to_owned),
            };
            if !services.contains(&svc) {
                services.push(svc);
            }
        }
    }
    let mut annotations = BTreeMap::new();
    for (_, v) in &docs {
        collect_annotations(v, &mut annotations, 0);
    }
    Some(Summary {
        id: trace_id.to_owned(),
        start_time: start,
        // Millisecond precision, as X-Ray reports them, so filters and output agree.
        duration: round_ms((end - start).max(0.0)),
        response_time: round_ms(
            (root_seg.end_time.unwrap_or(root_seg.start_time) - root_seg.start_time).max(0.0),
        ),
        has_fault: flag(root_doc, "fault"),
        has_error: flag(root_doc, "error"),
        has_throttle: docs.iter().any(|(_, v)| flag(v, "throttle")),
        is_partial: docs
            .iter()
            .any(|(s, v)| s.end_time.is_none() || flag(v, "in_progress")),
        http,
        services,
        annotations,
    })
}

/// Whole-trace duration (latest end − earliest start) for BatchGetTraces.
pub fn trace_duration(segments: &[StoredSegment]) -> f64 {
    let start = segments
        .iter()
        .map(|s| s.start_time)
        .fold(f64::INFINITY, f64::min);
    let end = segments
        .iter()
        .map(|s| s.end_time.unwrap_or(s.start_time))
        .fold(f64::NEG_INFINITY, f64::max);
    if start.is_finite() && end.is_finite() {
        (end - start).max(0.0)
    } else {
        0.0
    }
}

fn service_json(s: &ServiceRef) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), json!(s.name));
    m.insert("Names".into(), json!([s.name]));
    if let Some(kind) = &s.kind {
        m.insert("Type".into(), json!(kind));
    }
    Value::Object(m)
}

/// The `TraceSummary` JSON object, with the member names and types the SDKs expect
/// (timestamps as epoch-second numbers).
pub fn to_json(s: &Summary) -> Value {
    let mut http = Map::new();
    let opt = |m: &mut Map<String, Value>, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    };
    opt(&mut http, "HttpURL", &s.http.url);
    opt(&mut http, "HttpMethod", &s.http.method);
    opt(&mut http, "UserAgent", &s.http.user_agent);
    opt(&mut http, "ClientIp", &s.http.client_ip);
    if let Some(status) = s.http.status {
        http.insert("HttpStatus".into(), json!(status));
    }
    let root_service = s.services.first().map(service_json);
    let annotations: Map<String, Value> = s
        .annotations
        .iter()
        .map(|(k, values)| {
            let list: Vec<Value> = values
                .iter()
                .map(|v| {
                    let av = match v {
                        Annotation::String(x) => json!({ "StringValue": x }),
                        Annotation::Number(x) => json!({ "NumberValue": x }),
                        Annotation::Bool(x) => json!({ "BooleanValue": x }),
                    };
                    json!({ "AnnotationValue": av })
                })
                .collect();
            (k.clone(), Value::Array(list))
        })
        .collect();
    let mut out = json!({
        "Id": s.id,
        "StartTime": s.start_time,
        "Duration": round_ms(s.duration),
        "ResponseTime": round_ms(s.response_time),
        "HasFault": s.has_fault,
        "HasError": s.has_error,
        "HasThrottle": s.has_throttle,
        "IsPartial": s.is_partial,
        "Http": http,
        "Annotations": annotations,
        "ServiceIds": s.services.iter().map(service_json).collect::<Vec<_>>(),
        "Users": [],
        "ResourceARNs": [],
        "InstanceIds": [],
        "AvailabilityZones": [],
        "FaultRootCauses": [],
        "ErrorRootCauses": [],
        "ResponseTimeRootCauses": [],
        "Revision": 1,
    });
    if let (Some(entry), Some(obj)) = (root_service, out.as_object_mut()) {
        obj.insert("EntryPoint".into(), entry);
    }
    out
}

/// X-Ray reports durations with millisecond precision.
pub fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str, doc: &Value) -> StoredSegment {
        StoredSegment {
            id: id.into(),
            start_time: doc["start_time"].as_f64().unwrap(),
            end_time: doc.get("end_time").and_then(Value::as_f64),
            document: doc.to_string(),
        }
    }

    #[test]
    fn root_is_the_segment_without_a_parent_in_the_trace() {
        let t = "1-5f000000-000000000000000000000001";
        let gw = json!({"id":"a1","trace_id":t,"name":"api/prod","origin":"AWS::ApiGateway::Stage",
            "parent_id":"ffffffffffffffff","start_time":100.0,"end_time":100.5,"fault":true,
            "http":{"request":{"method":"GET","url":"http://x/p"},"response":{"status":502}}});
        let f = json!({"id":"b2","trace_id":t,"name":"fn","origin":"AWS::Lambda::Function",
            "parent_id":"a1","start_time":100.1,"end_time":100.7,"error":true,
            "annotations":{"cold":true},
            "subsegments":[{"name":"Init","annotations":{"tenant":"acme"}}]});
        let s = summarize(t, &[seg("b2", &f), seg("a1", &gw)]).unwrap();
        assert_eq!(s.http.status, Some(502));
        assert!(s.has_fault && !s.has_error && !s.has_throttle);
        assert!((s.response_time - 0.5).abs() < 1e-9);
        assert!((s.duration - 0.7).abs() < 1e-9);
        assert_eq!(s.services[0].name, "api/prod");
        assert_eq!(
            s.annotations["tenant"],
            vec![Annotation::String("acme".into())]
        );
        assert_eq!(s.annotations["cold"], vec![Annotation::Bool(true)]);
        let j = to_json(&s);
        assert_eq!(j["Http"]["HttpStatus"], 502);
        assert_eq!(j["EntryPoint"]["Name"], "api/prod");
    }
}
