//! The AWS telemetry APIs the sandbox serves on its one port, routed as AWS tells them apart:
//! X-Ray (restJson1) by method and path (`POST /TraceSegments`, `/Traces`,
//! `/TraceSummaries`), CloudWatch Logs (awsJson1_1) by `X-Amz-Target: Logs_20140328.<Op>`.
//! Anything else falls through to the imitated application. Each API keeps its own rate
//! limit (`[telemetry] api_rate_limit`) and answers from the stores the platform records
//! into; nothing is synthesised at query time.

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
    /// X-Ray, restJson1.
    Xray,
    /// CloudWatch Logs, awsJson1_1.
    Logs,
}

/// The telemetry APIs and their state.
pub struct TelemetryApis {
    xray: xray::XrayApi,
    logs: logs::LogsApi,
    request_seq: AtomicU64,
}

impl TelemetryApis {
    /// APIs answering at most `rate_per_sec` calls per second each.
    pub fn new(rate_per_sec: f64) -> Self {
        Self {
            xray: xray::XrayApi::new(rate_per_sec),
            logs: logs::LogsApi::new(rate_per_sec, REGION),
            request_seq: AtomicU64::new(0),
        }
    }

    /// Which API (if any) serves a request, from its method, path and `X-Amz-Target`
    /// alone, so the body is read only for API calls.
    pub fn route(method: &str, path: &str, target: Option<&str>) -> Option<Route> {
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
