//! The AWS telemetry APIs the sandbox serves on its one port, routed as AWS tells them apart:
//! CloudWatch over Smithy RPC v2 CBOR by path (`POST /service/GraniteServiceVersion20100801/
//! operation/<Op>`) and over awsJson1_0 by `X-Amz-Target: GraniteServiceVersion20100801.<Op>`;
//! X-Ray (restJson1) by method and path (`POST /TraceSegments`, `/Traces`,
//! `/TraceSummaries`), CloudWatch Logs (awsJson1_1) by `X-Amz-Target: Logs_20140328.<Op>`.
//! None of these paths can be an application route (those start with a stage, `/prod/...`).
//! Anything else falls through to the imitated application. Each API keeps its own rate
//! limit (`[telemetry] api_rate_limit`) and answers from the stores the platform records
//! into; nothing is synthesised at query time.

pub mod cbor;
pub mod cloudwatch;
mod cloudwatch_math;
mod cloudwatch_query;
mod cloudwatch_write;
pub mod logs;
mod logs_eval;
mod logs_fields;
mod logs_pattern;
mod logs_query;
pub mod xray;
mod xray_filter;
mod xray_summary;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::app::App;

/// The region the sandbox answers for (in ARNs).
pub const REGION: &str = "us-east-1";

/// What the router needs of an HTTP request.
pub struct ApiRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// URI path.
    pub path: &'a str,
    /// The `X-Amz-Target` header, when present.
    pub target: Option<&'a str>,
    /// The request body.
    pub body: &'a [u8],
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
}

/// The telemetry APIs and their state.
pub struct TelemetryApis {
    cloudwatch: cloudwatch::CloudWatchApi,
    xray: xray::XrayApi,
    logs: logs::LogsApi,
    request_seq: AtomicU64,
}

impl TelemetryApis {
    /// APIs answering at most `rate_per_sec` calls per second each.
    pub fn new(rate_per_sec: f64) -> Self {
        Self {
            cloudwatch: cloudwatch::CloudWatchApi::new(rate_per_sec),
            xray: xray::XrayApi::new(rate_per_sec),
            logs: logs::LogsApi::new(rate_per_sec, REGION),
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
        xray::XrayApi::owns(method, path).then_some(Route::Xray)
    }

    /// Answers a request [`TelemetryApis::route`] accepted.
    pub fn handle(&self, app: &App, route: Route, req: &ApiRequest<'_>) -> ApiResponse {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("5a4d0000-0000-4000-8000-{n:012x}");
        let (reply, content_type) = match route {
            Route::CloudWatchCbor | Route::CloudWatchJson => {
                let reply = self.cloudwatch.handle(app.metrics(), route, req);
                let mut headers = vec![("x-amzn-requestid", request_id)];
                headers.extend(reply.headers);
                return ApiResponse {
                    status: reply.status,
                    content_type: reply.content_type,
                    headers,
                    body: reply.body,
                };
            }
            Route::Xray => (
                self.xray.handle(app.segments(), req.path, req.body),
                "application/json",
            ),
            Route::Logs => {
                let op = req.target.and_then(logs::LogsApi::operation).unwrap_or("");
                (
                    self.logs.handle(app.logs(), op, req.body),
                    "application/x-amz-json-1.1",
                )
            }
        };
        let mut headers = vec![("x-amzn-requestid", request_id)];
        if let Some(kind) = reply.error_type {
            headers.push(("x-amzn-errortype", kind.to_owned()));
        }
        ApiResponse {
            status: reply.status,
            content_type,
            headers,
            body: reply.body,
        }
    }
}
