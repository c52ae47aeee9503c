//! The AWS telemetry APIs, transport-free, routed as AWS tells them apart:
//! CloudWatch over Smithy RPC v2 CBOR by path (`POST /service/GraniteServiceVersion20100801/
//! operation/<Op>`) and over awsJson1_0 by `X-Amz-Target: GraniteServiceVersion20100801.<Op>`;
//! X-Ray (restJson1) by method and path (`POST /TraceSegments`, `/Traces`,
//! `/TraceSummaries`), CloudWatch Logs (awsJson1_1) by `X-Amz-Target: Logs_20140328.<Op>`,
//! Lambda's control plane (restJson1) by path prefix (`/2015-03-31/functions/...`).
//! None of these paths can be an application route (those start with a stage, `/prod/...`):
//! the sandbox serves the APIs on its application's port and hands anything else to the
//! imitated application. Each API keeps its own rate
//! limit (`[telemetry] api_rate_limit`) and answers from the stores the platform records
//! into; nothing is synthesised at query time.

pub mod cbor;
pub mod cloudwatch;
pub mod lambda;
pub mod logs;
pub mod shared;
pub mod xray;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{REGION, Stores};

/// What the router needs of an HTTP request.
pub struct ApiRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// URI path, as sent (percent-encoded).
    pub path: &'a str,
    /// The query string after `?`, as sent (percent-encoded); empty when there is none.
    pub query: &'a str,
    /// The `X-Amz-Target` header, when present.
    pub target: Option<&'a str>,
    /// The region of the request's SigV4 credential scope (see [`signed_region`]), when
    /// signed.
    pub region: Option<&'a str>,
    /// The request body.
    pub body: &'a [u8],
}

impl<'a> ApiRequest<'a> {
    /// A request without a query string or a signature.
    pub fn new(method: &'a str, path: &'a str, target: Option<&'a str>, body: &'a [u8]) -> Self {
        Self {
            method,
            path,
            query: "",
            target,
            region: None,
            body,
        }
    }
}

/// The region of a SigV4 `Authorization` header's credential scope:
/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=…,
/// Signature=…` gives `REGION`. Signatures are not checked.
pub fn signed_region(authorization: &str) -> Option<&str> {
    let (_, rest) = authorization.split_once("Credential=")?;
    let credential = rest.split([',', ' ']).next()?;
    let mut scope = credential.split('/');
    let region = scope.nth(2)?;
    (scope.nth(1) == Some("aws4_request") && !region.is_empty()).then_some(region)
}

/// A response to send.
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers (request id, error type).
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Which API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// CloudWatch, Smithy RPC v2 CBOR (aws-sdk-cloudwatch >= 1.100).
    CloudWatchCbor,
    /// CloudWatch, awsJson1_0 (boto3, the AWS CLI).
    CloudWatchJson,
    /// X-Ray, restJson1.
    Xray,
    /// CloudWatch Logs, awsJson1_1.
    Logs,
    /// Lambda's control plane, restJson1.
    Lambda,
}

/// How much each API answers before it refuses, as AWS's account quotas do (see
/// `docs/collection.md` for the numbers and their sources).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiQuotas {
    /// CloudWatch calls per second (GetMetricData: 50 TPS).
    pub cloudwatch_tps: f64,
    /// X-Ray calls per second (no published per-operation quota for the read APIs; 25).
    pub xray_tps: f64,
    /// CloudWatch Logs calls per second (FilterLogEvents: 5 TPS; StartQuery and
    /// GetQueryResults share the bucket).
    pub logs_tps: f64,
    /// Logs Insights queries running at once per account (the API reference: 30).
    pub insights_concurrent_queries: usize,
    /// Lambda control-plane calls per second: 15, the quota Lambda's developer guide gives
    /// the "remainder of the control plane API requests (excludes invocation, GetFunction,
    /// and GetPolicy requests)", across all those APIs together ("Lambda quotas", API
    /// requests; cannot be increased). ListFunctions, GetFunctionConfiguration,
    /// ListProvisionedConcurrencyConfigs and ListTags share it.
    pub lambda_tps: f64,
}

impl ApiQuotas {
    /// AWS's default account quotas.
    pub const AWS: Self = Self {
        cloudwatch_tps: 50.0,
        xray_tps: 25.0,
        logs_tps: 5.0,
        insights_concurrent_queries: 30,
        lambda_tps: 15.0,
    };

    /// Every API at `rate_per_sec`, with AWS's Insights concurrency.
    pub fn uniform(rate_per_sec: f64) -> Self {
        Self {
            cloudwatch_tps: rate_per_sec,
            xray_tps: rate_per_sec,
            logs_tps: rate_per_sec,
            lambda_tps: rate_per_sec,
            ..Self::AWS
        }
    }
}

/// The telemetry APIs and their state.
pub struct TelemetryApis {
    cloudwatch: cloudwatch::CloudWatchApi,
    xray: xray::XrayApi,
    logs: logs::LogsApi,
    lambda: lambda::LambdaApi,
    request_seq: AtomicU64,
}

impl TelemetryApis {
    /// APIs answering at most `rate_per_sec` calls per second each.
    pub fn new(rate_per_sec: f64) -> Self {
        Self::with_quotas(ApiQuotas::uniform(rate_per_sec))
    }

    /// APIs that refuse beyond `quotas`.
    pub fn with_quotas(quotas: ApiQuotas) -> Self {
        Self {
            cloudwatch: cloudwatch::CloudWatchApi::new(quotas.cloudwatch_tps),
            xray: xray::XrayApi::new(quotas.xray_tps),
            logs: logs::LogsApi::new(quotas.logs_tps, REGION)
                .with_concurrent_queries(quotas.insights_concurrent_queries),
            lambda: lambda::LambdaApi::new(quotas.lambda_tps),
            request_seq: AtomicU64::new(0),
        }
    }

    /// Which API (if any) serves a request, from its method, path and `X-Amz-Target`
    /// alone, so the body is read only for API calls.
    pub fn route(method: &str, path: &str, target: Option<&str>) -> Option<Route> {
        // CloudWatch: the CBOR path prefix or the JSON target prefix (any operation name, so
        // unknown ones get an AWS-shaped UnknownOperationException, not an app 404).
        if let Some(route) = cloudwatch::CloudWatchApi::route(method, path, target) {
            return Some(route);
        }
        if let Some(t) = target
            && logs::LogsApi::operation(t).is_some()
        {
            return Some(Route::Logs);
        }
        if xray::XrayApi::owns(method, path) {
            return Some(Route::Xray);
        }
        lambda::LambdaApi::owns(path).then_some(Route::Lambda)
    }

    /// Answers a request [`TelemetryApis::route`] accepted.
    pub fn handle(&self, stores: &Stores<'_>, route: Route, req: &ApiRequest<'_>) -> ApiResponse {
        let reply = match route {
            Route::CloudWatchCbor | Route::CloudWatchJson => {
                Answer::CloudWatch(self.cloudwatch.handle(stores.metrics, route, req))
            }
            Route::Xray => Answer::Json(self.xray.handle(stores.segments, req.path, req.body)),
            Route::Logs => {
                let op = req.target.and_then(logs::LogsApi::operation).unwrap_or("");
                Answer::Json(self.logs.handle(stores.logs, op, req.body))
            }
            Route::Lambda => Answer::Lambda(self.lambda.handle(stores.lambda, req)),
        };
        self.finish(route, reply)
    }

    /// Answers a request on `route` whose body was refused unread: larger than the sandbox
    /// takes (`too_large`), or cut off. The error is in the request's own protocol (content
    /// type, error header, body encoding), built by that protocol's error helper.
    ///
    /// An oversized body is HTTP 413 `RequestEntityTooLarge`: the SDKs (aws-sdk-rust, boto3)
    /// take the error code from the protocol's error header (`x-amzn-query-error` over
    /// CBOR, `x-amzn-errortype`) or `__type` whatever the status, so they report this code;
    /// and neither 413 nor this code is retryable in their standard retry strategy, so a
    /// client does not send the same 16 MiB again. A body that could not be read is a 400 with
    /// the code each API gives a body that does not decode (`SerializationException`; X-Ray:
    /// `InvalidRequestException`).
    pub fn refuse_body(&self, route: Route, too_large: bool) -> ApiResponse {
        const TOO_LARGE: &str = "RequestEntityTooLarge";
        let message = if too_large {
            "request body exceeds the sandbox's 16 MiB limit"
        } else {
            "request body could not be read"
        };
        let reply = match route {
            Route::CloudWatchCbor | Route::CloudWatchJson => {
                Answer::CloudWatch(cloudwatch::CloudWatchApi::refuse(
                    route,
                    if too_large {
                        cloudwatch::CwError::too_large(message)
                    } else {
                        cloudwatch::CwError::serialization(message)
                    },
                ))
            }
            Route::Xray if too_large => {
                Answer::Json(shared::JsonReply::error(413, TOO_LARGE, message))
            }
            Route::Xray => Answer::Json(shared::JsonReply::error(
                400,
                "InvalidRequestException",
                message,
            )),
            Route::Logs if too_large => Answer::Json(shared::JsonReply {
                status: 413,
                ..logs::error(TOO_LARGE, message)
            }),
            Route::Logs => Answer::Json(logs::error("SerializationException", message)),
            // Lambda's operations here take no body; one that cannot be read is still
            // answered in Lambda's shape.
            Route::Lambda => Answer::Json(shared::JsonReply {
                status: if too_large { 413 } else { 400 },
                error_type: Some(if too_large {
                    TOO_LARGE
                } else {
                    "InvalidRequestContentException"
                }),
                body: serde_json::json!({"Type": "User", "message": message})
                    .to_string()
                    .into_bytes(),
            }),
        };
        self.finish(route, reply)
    }

    /// Puts a reply on the wire: the request id, and the protocol's content type and error
    /// header.
    fn finish(&self, route: Route, answer: Answer) -> ApiResponse {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("5a4d0000-0000-4000-8000-{n:012x}");
        let mut headers = vec![("x-amzn-requestid", request_id)];
        let reply = match answer {
            Answer::CloudWatch(reply) => {
                headers.extend(reply.headers);
                return ApiResponse {
                    status: reply.status,
                    content_type: reply.content_type,
                    headers,
                    body: reply.body,
                };
            }
            Answer::Lambda(lambda::LambdaReply { reply, retry_after }) => {
                if let Some(seconds) = retry_after {
                    headers.push(("retry-after", seconds.to_string()));
                }
                reply
            }
            Answer::Json(reply) => reply,
        };
        if let Some(kind) = reply.error_type {
            headers.push(("x-amzn-errortype", kind.to_owned()));
        }
        ApiResponse {
            status: reply.status,
            content_type: if route == Route::Logs {
                "application/x-amz-json-1.1"
            } else {
                "application/json"
            },
            headers,
            body: reply.body,
        }
    }
}

/// One API's reply, before it is put on the wire.
enum Answer {
    CloudWatch(cloudwatch::CwReply),
    Json(shared::JsonReply),
    Lambda(lambda::LambdaReply),
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a ApiResponse, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_signed_region_comes_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDSANDBOX/20261123/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(signed_region(auth), Some("eu-west-1"));
        assert_eq!(
            signed_region(
                "AWS4-HMAC-SHA256 Credential=A/20261123/us-east-1/logs/aws4_request,SignedHeaders=host"
            ),
            Some("us-east-1")
        );
        assert_eq!(signed_region("Bearer sbx.token"), None);
        assert_eq!(
            signed_region("AWS4-HMAC-SHA256 Credential=A/20261123"),
            None
        );
        assert_eq!(
            signed_region("AWS4-HMAC-SHA256 Credential=A/20261123//lambda/aws4_request"),
            None
        );
    }

    #[test]
    fn lambda_paths_are_routed_to_lambda() {
        assert_eq!(
            TelemetryApis::route("GET", "/2015-03-31/functions", None),
            Some(Route::Lambda)
        );
        assert_eq!(TelemetryApis::route("GET", "/prod/functions", None), None);
        let apis = TelemetryApis::new(50.0);
        let r = apis.refuse_body(Route::Lambda, true);
        assert_eq!((r.status, r.content_type), (413, "application/json"));
        assert_eq!(
            header(&r, "x-amzn-errortype"),
            Some("RequestEntityTooLarge")
        );
    }

    #[test]
    fn refused_bodies_are_answered_in_the_request_protocol() {
        let apis = TelemetryApis::new(50.0);
        let r = apis.refuse_body(Route::CloudWatchCbor, true);
        assert_eq!((r.status, r.content_type), (413, "application/cbor"));
        assert_eq!(header(&r, "smithy-protocol"), Some("rpc-v2-cbor"));
        assert_eq!(
            header(&r, "x-amzn-query-error"),
            Some("RequestEntityTooLarge;Sender")
        );
        let body = cbor::decode(&r.body).unwrap();
        assert!(
            body.get("__type")
                .and_then(cbor::Value::as_str)
                .is_some_and(|t| t.ends_with("RequestEntityTooLargeException"))
        );
        let r = apis.refuse_body(Route::CloudWatchJson, true);
        assert_eq!(
            (r.status, r.content_type),
            (413, "application/x-amz-json-1.0")
        );
        assert_eq!(
            header(&r, "x-amzn-query-error"),
            Some("RequestEntityTooLarge;Sender")
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body["__type"].as_str().is_some());
        for (route, content_type) in [
            (Route::Xray, "application/json"),
            (Route::Logs, "application/x-amz-json-1.1"),
        ] {
            let r = apis.refuse_body(route, true);
            assert_eq!((r.status, r.content_type), (413, content_type));
            assert_eq!(
                header(&r, "x-amzn-errortype"),
                Some("RequestEntityTooLarge")
            );
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["__type"], "RequestEntityTooLarge");
            assert!(header(&r, "x-amzn-requestid").is_some());
        }
        // A body cut off mid-way: a SerializationException, still in the protocol.
        let r = apis.refuse_body(Route::CloudWatchCbor, false);
        assert_eq!((r.status, r.content_type), (400, "application/cbor"));
        assert_eq!(
            header(&r, "x-amzn-query-error"),
            Some("SerializationException;Sender")
        );
        let r = apis.refuse_body(Route::Logs, false);
        assert_eq!(
            header(&r, "x-amzn-errortype"),
            Some("SerializationException")
        );
    }
}
