//! CloudWatch (service `GraniteServiceVersion20100801`) over both of its JSON-era wire
//! protocols: Smithy RPC v2 CBOR (`POST /service/GraniteServiceVersion20100801/operation/<Op>`,
//! what aws-sdk-cloudwatch >= 1.100 sends) and awsJson1_0 (`X-Amz-Target:
//! GraniteServiceVersion20100801.<Op>`, what boto3 and the AWS CLI send). Both decode into one
//! [`Value`] tree, so the operations (`query` for GetMetricData,
//! `write` for PutMetricData and ListMetrics) are written once.
//!
//! Errors follow CloudWatch's query-compatible shape: a body with `__type` and `message`, and
//! the legacy code in `x-amzn-query-error: Code;Sender`, which the SDKs prefer. Beyond the
//! configured rate every call answers `Throttling` (HTTP 400), which the SDKs' standard retry
//! retries.

use std::io::Read;
use std::time::SystemTime;

pub(crate) mod math;
mod query;
mod write;

use super::cbor::{self, Value};
use super::shared::RateLimiter;
use super::{ApiRequest, Route};
use crate::metric_store::MetricStore;

/// Path prefix of RPC v2 CBOR calls.
const CBOR_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";
/// `X-Amz-Target` prefix of awsJson1_0 calls.
const JSON_PREFIX: &str = "GraniteServiceVersion20100801.";
/// Largest request body after gzip decoding (PutMetricData's limit is 1 MB; leave room).
const MAX_INFLATED: u64 = 16 * 1024 * 1024;

/// An error in CloudWatch's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct CwError {
    /// HTTP status.
    pub status: u16,
    /// Legacy (query) error code, sent in `x-amzn-query-error`: what the SDKs report.
    pub code: &'static str,
    /// `__type` in the body.
    pub type_name: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl CwError {
    fn new(code: &'static str, type_name: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            type_name,
            message: message.into(),
        }
    }

    /// `ValidationError` (input fails a constraint, e.g. more than 500 queries).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            "ValidationError",
            "com.amazon.coral.validate#ValidationException",
            message,
        )
    }

    /// `InvalidParameterValue`.
    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(
            "InvalidParameterValue",
            "com.amazonaws.cloudwatch#InvalidParameterValueException",
            message,
        )
    }

    /// `MissingParameter`.
    pub fn missing(name: &str) -> Self {
        Self::new(
            "MissingParameter",
            "com.amazonaws.cloudwatch#MissingRequiredParameterException",
            format!("The parameter {name} is required."),
        )
    }

    /// `InvalidParameterCombination`.
    pub fn combination(message: impl Into<String>) -> Self {
        Self::new(
            "InvalidParameterCombination",
            "com.amazonaws.cloudwatch#InvalidParameterCombinationException",
            message,
        )
    }

    /// `InvalidNextToken`.
    pub fn next_token() -> Self {
        Self::new(
            "InvalidNextToken",
            "com.amazonaws.cloudwatch#InvalidNextToken",
            "The service couldn't process the NextToken: it was not issued for this request.",
        )
    }

    /// `Throttling`, retried by the SDKs.
    pub fn throttling() -> Self {
        Self::new(
            "Throttling",
            "com.amazon.coral.availability#ThrottlingException",
            "Rate exceeded",
        )
    }

    /// A body that is not a valid document, or a member of the wrong type.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(
            "SerializationException",
            "com.amazon.coral.service#SerializationException",
            message,
        )
    }

    /// A request body over the sandbox's 16 MiB limit: HTTP 413 `RequestEntityTooLarge`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self {
            status: 413,
            ..Self::new(
                "RequestEntityTooLarge",
                "com.amazon.coral.service#RequestEntityTooLargeException",
                message,
            )
        }
    }

    fn unknown_operation(op: &str, status: u16) -> Self {
        Self {
            status,
            ..Self::new(
                "UnknownOperationException",
                "com.amazon.coral.service#UnknownOperationException",
                format!(
                    "CloudWatch has no operation {op:?} here (the sandbox serves GetMetricData, ListMetrics, PutMetricData)"
                ),
            )
        }
    }
}

/// A CloudWatch response.
pub struct CwReply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Protocol and error headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// The CloudWatch API and its rate limit (shared by both protocols, as one account's quota).
pub struct CloudWatchApi {
    limiter: RateLimiter,
}

impl CloudWatchApi {
    /// An API answering at most `rate_per_sec` calls per second (burst: one second's worth).
    pub fn new(rate_per_sec: f64) -> Self {
        Self {
            limiter: RateLimiter::new(rate_per_sec),
        }
    }

    /// The route of a CloudWatch call, from the path (CBOR) or `X-Amz-Target` (JSON).
    pub fn route(method: &str, path: &str, target: Option<&str>) -> Option<Route> {
        if method == "POST" && path.starts_with(CBOR_PREFIX) {
            return Some(Route::CloudWatchCbor);
        }
        target
            .filter(|t| t.starts_with(JSON_PREFIX))
            .map(|_| Route::CloudWatchJson)
    }

    /// The error reply to a call on `route` (one of the CloudWatch routes) that was refused
    /// before its body was read, in that route's protocol.
    pub fn refuse(route: Route, error: CwError) -> CwReply {
        reply(route == Route::CloudWatchCbor, Err(error))
    }

    /// Answers one call on `route` (one of the CloudWatch routes).
    pub fn handle(&self, store: &MetricStore, route: Route, req: &ApiRequest<'_>) -> CwReply {
        let cbor = route == Route::CloudWatchCbor;
        let op = if cbor {
            req.path.strip_prefix(CBOR_PREFIX).unwrap_or("")
        } else {
            req.target
                .and_then(|t| t.strip_prefix(JSON_PREFIX))
                .unwrap_or("")
        };
        let result = self.call(store, cbor, op, req.body);
        reply(cbor, result)
    }

    fn call(
        &self,
        store: &MetricStore,
        cbor: bool,
        op: &str,
        body: &[u8],
    ) -> Result<Value, CwError> {
        if !matches!(op, "GetMetricData" | "ListMetrics" | "PutMetricData") {
            // RPC v2 answers an unknown operation with 404, awsJson with 400.
            return Err(CwError::unknown_operation(op, if cbor { 404 } else { 400 }));
        }
        if !self.limiter.try_acquire() {
            return Err(CwError::throttling());
        }
        let input = parse_body(cbor, body)?;
        if !matches!(input, Value::Map(_)) {
            return Err(CwError::serialization(
                "the request body must be a map/object",
            ));
        }
        let now = SystemTime::now();
        match op {
            "GetMetricData" => query::get_metric_data(store, &input, now),
            "ListMetrics" => write::list_metrics(store, &input, now),
            _ => write::put_metric_data(store, &input, now),
        }
    }
}

/// Decodes a request body: gzip (PutMetricData bodies of 10 kB and more; the magic bytes
/// cannot start a CBOR or JSON document, so they are sniffed), then CBOR or JSON. An empty
/// body is an empty input.
fn parse_body(cbor: bool, body: &[u8]) -> Result<Value, CwError> {
    let inflated;
    let body = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut out)
            .map_err(|e| CwError::serialization(format!("gzip body could not be inflated: {e}")))?;
        if out.len() as u64 > MAX_INFLATED {
            return Err(CwError::serialization("inflated body exceeds 16 MiB"));
        }
        inflated = out;
        &inflated[..]
    } else {
        body
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Map(Vec::new()));
    }
    if cbor {
        cbor::decode(body).map_err(|e| CwError::serialization(e.to_string()))
    } else {
        serde_json::from_slice::<serde_json::Value>(body)
            .map(|j| cbor::from_json(&j))
            .map_err(|e| CwError::serialization(format!("malformed JSON: {e}")))
    }
}

fn reply(cbor: bool, result: Result<Value, CwError>) -> CwReply {
    let content_type = if cbor {
        "application/cbor"
    } else {
        "application/x-amz-json-1.0"
    };
    let mut headers = Vec::new();
    if cbor {
        headers.push(("smithy-protocol", "rpc-v2-cbor".to_owned()));
    }
    let (status, value) = match result {
        Ok(v) => (200, v),
        Err(e) => {
            headers.push(("x-amzn-query-error", format!("{};Sender", e.code)));
            let body = Value::Map(vec![
                ("__type".into(), Value::text(e.type_name)),
                ("message".into(), Value::text(e.message)),
            ]);
            (e.status, body)
        }
    };
    let body = if cbor {
        cbor::encode(&value)
    } else {
        cbor::to_json(&value).to_string().into_bytes()
    };
    CwReply {
        status,
        content_type,
        headers,
        body,
    }
}

/// Reads members of a decoded input, reporting wrong types as `SerializationException` and
/// naming the member by its AWS path (`MetricDataQueries.member.2.Id`).
pub(super) struct Fields<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> Fields<'a> {
    /// The top-level input.
    pub(super) fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
        }
    }

    fn name(&self, member: &str) -> String {
        if self.path.is_empty() {
            member.to_owned()
        } else {
            format!("{}.{member}", self.path)
        }
    }

    fn member(&self, member: &str) -> Option<&'a Value> {
        self.value.get(member).filter(|v| **v != Value::Null)
    }

    fn wrong(&self, member: &str, what: &str) -> CwError {
        CwError::serialization(format!("{} must be {what}", self.name(member)))
    }

    /// An optional string.
    pub(super) fn str(&self, member: &str) -> Result<Option<&'a str>, CwError> {
        self.member(member)
            .map(|v| v.as_str().ok_or_else(|| self.wrong(member, "a string")))
            .transpose()
    }

    /// A required string.
    pub(super) fn req_str(&self, member: &str) -> Result<&'a str, CwError> {
        self.str(member)?
            .ok_or_else(|| CwError::missing(&self.name(member)))
    }

    /// An optional number.
    pub(super) fn f64(&self, member: &str) -> Result<Option<f64>, CwError> {
        self.member(member)
            .map(|v| v.as_f64().ok_or_else(|| self.wrong(member, "a number")))
            .transpose()
    }

    /// An optional integer.
    pub(super) fn i64(&self, member: &str) -> Result<Option<i64>, CwError> {
        self.member(member)
            .map(|v| v.as_i64().ok_or_else(|| self.wrong(member, "an integer")))
            .transpose()
    }

    /// An optional boolean.
    pub(super) fn bool(&self, member: &str) -> Result<Option<bool>, CwError> {
        self.member(member)
            .map(|v| v.as_bool().ok_or_else(|| self.wrong(member, "a boolean")))
            .transpose()
    }

    /// An optional timestamp (tag 1 in CBOR, epoch seconds in JSON), in epoch seconds.
    pub(super) fn time(&self, member: &str) -> Result<Option<f64>, CwError> {
        self.member(member)
            .map(|v| {
                v.as_f64()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| self.wrong(member, "a timestamp"))
            })
            .transpose()
    }

    /// A nested structure.
    pub(super) fn object(&self, member: &str) -> Result<Option<Fields<'a>>, CwError> {
        match self.member(member) {
            None => Ok(None),
            Some(v @ Value::Map(_)) => Ok(Some(Fields {
                value: v,
                path: self.name(member),
            })),
            Some(_) => Err(self.wrong(member, "a structure")),
        }
    }

    /// A list of structures (`Name.member.N`), empty when absent.
    pub(super) fn list(&self, member: &str) -> Result<Vec<Fields<'a>>, CwError> {
        let Some(v) = self.member(member) else {
            return Ok(Vec::new());
        };
        let items = v.as_array().ok_or_else(|| self.wrong(member, "a list"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Map(_) => Ok(Fields {
                    value: item,
                    path: format!("{}.member.{}", self.name(member), i + 1),
                }),
                _ => Err(self.wrong(member, "a list of structures")),
            })
            .collect()
    }

    /// A list of numbers, `None` when absent.
    pub(super) fn numbers(&self, member: &str) -> Result<Option<Vec<f64>>, CwError> {
        let Some(v) = self.member(member) else {
            return Ok(None);
        };
        let items = v.as_array().ok_or_else(|| self.wrong(member, "a list"))?;
        items
            .iter()
            .map(|x| {
                x.as_f64()
                    .ok_or_else(|| self.wrong(member, "a list of numbers"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The AWS path of a member, for messages.
    pub(super) fn path_of(&self, member: &str) -> String {
        self.name(member)
    }
}

/// FNV-1a, to bind a NextToken to the request it was issued for.
pub(super) fn fingerprint(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        api: &CloudWatchApi,
        store: &MetricStore,
        route: Route,
        op: &str,
        body: &[u8],
    ) -> CwReply {
        let path = format!("{CBOR_PREFIX}{op}");
        let target = format!("{JSON_PREFIX}{op}");
        let req = ApiRequest::new(
            "POST",
            if route == Route::CloudWatchCbor {
                &path
            } else {
                "/"
            },
            (route == Route::CloudWatchJson).then_some(target.as_str()),
            body,
        );
        api.handle(store, route, &req)
    }

    fn header<'a>(r: &'a CwReply, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn routes_by_path_and_target_only() {
        let cw = CloudWatchApi::route;
        let path = format!("{CBOR_PREFIX}ListMetrics");
        assert_eq!(cw("POST", &path, None), Some(Route::CloudWatchCbor));
        let target = Some("GraniteServiceVersion20100801.ListMetrics");
        assert_eq!(cw("POST", "/", target), Some(Route::CloudWatchJson));
        assert_eq!(cw("GET", &path, None), None);
        assert_eq!(cw("POST", "/prod/service/x", None), None);
        assert_eq!(cw("POST", "/", Some("Logs_20140328.FilterLogEvents")), None);
    }

    #[test]
    fn malformed_bodies_are_serialization_errors() {
        let api = CloudWatchApi::new(100.0);
        let store = MetricStore::new(std::time::Duration::from_secs(60));
        let r = call(
            &api,
            &store,
            Route::CloudWatchCbor,
            "ListMetrics",
            &[0xbf, 0x61],
        );
        assert_eq!(r.status, 400);
        let code = header(&r, "x-amzn-query-error");
        assert_eq!(code, Some("SerializationException;Sender"));
        let body = cbor::decode(&r.body).unwrap();
        let kind = body.get("__type").and_then(Value::as_str).unwrap();
        assert!(kind.ends_with("SerializationException"), "{kind}");
        let r = call(&api, &store, Route::CloudWatchJson, "ListMetrics", b"{nope");
        assert_eq!(r.status, 400);
        let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            j["__type"]
                .as_str()
                .unwrap()
                .ends_with("SerializationException")
        );
        let r = call(&api, &store, Route::CloudWatchJson, "DescribeAlarms", b"{}");
        let code = header(&r, "x-amzn-query-error");
        assert_eq!(code, Some("UnknownOperationException;Sender"));
        let gz = [0x1f, 0x8b, 0, 1];
        let r = call(&api, &store, Route::CloudWatchCbor, "ListMetrics", &gz);
        let code = header(&r, "x-amzn-query-error");
        assert_eq!(code, Some("SerializationException;Sender"));
        let r = call(
            &api,
            &store,
            Route::CloudWatchCbor,
            "ListMetrics",
            &[0x83, 1, 2, 3],
        );
        assert_eq!(r.status, 400, "an array is not an input structure");
    }

    #[test]
    fn gzip_bodies_are_inflated() {
        use std::io::Write;
        let api = CloudWatchApi::new(100.0);
        let store = MetricStore::new(std::time::Duration::from_secs(60));
        let input = br#"{"Namespace":"App","MetricData":[{"MetricName":"m","Value":2}]}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(input).unwrap();
        let body = gz.finish().unwrap();
        let r = call(&api, &store, Route::CloudWatchJson, "PutMetricData", &body);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(store.list().len(), 1);
    }

    #[test]
    fn throttles_beyond_the_rate() {
        let api = CloudWatchApi::new(1.0);
        let store = MetricStore::new(std::time::Duration::from_secs(60));
        let first = call(&api, &store, Route::CloudWatchJson, "ListMetrics", b"{}");
        assert_eq!(first.status, 200);
        let second = call(&api, &store, Route::CloudWatchJson, "ListMetrics", b"{}");
        assert_eq!(second.status, 400);
        let code = header(&second, "x-amzn-query-error");
        assert_eq!(code, Some("Throttling;Sender"));
    }
}
