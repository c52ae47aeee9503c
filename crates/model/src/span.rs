//! Rows of `telemetry/spans.parquet`: the X-Ray segments and subsegments that matter.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::UnixNanos;

/// What part of a request's path a span covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// The API Gateway stage segment (`AWS::ApiGateway::Stage`).
    ApiGateway,
    /// The Lambda service segment (`AWS::Lambda`): placement and queueing.
    LambdaService,
    /// The function segment (`AWS::Lambda::Function`).
    LambdaFunction,
    /// `Initialization`/`Init` subsegment: a cold start.
    Init,
    /// `Restore` subsegment (SnapStart).
    Restore,
    /// `Invocation` subsegment: the handler.
    Invocation,
    /// `Overhead` subsegment: the runtime after the handler returned.
    Overhead,
    /// A call to a downstream service (DynamoDB, Kinesis, SQS, HTTP).
    Downstream,
    /// Anything else kept for completeness.
    Other,
}

/// One X-Ray segment or subsegment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// X-Ray trace id (`1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`).
    pub trace_id: String,
    /// Segment or subsegment id.
    pub id: String,
    /// Parent id, for subsegments and downstream segments.
    pub parent_id: Option<String>,
    /// What it covers.
    pub kind: SpanKind,
    /// X-Ray `origin` (`AWS::Lambda::Function`...), empty for subsegments without one.
    pub origin: String,
    /// X-Ray name (`store/prod`, `Invocation`, `DynamoDB`...).
    pub name: String,
    /// Start (UTC).
    pub start: UnixNanos,
    /// End (UTC).
    pub end: UnixNanos,
    /// HTTP status recorded on the span, if any.
    pub http_status: Option<u16>,
    /// `error` flag (4xx).
    pub error: bool,
    /// `fault` flag (5xx).
    pub fault: bool,
    /// `throttle` flag (429 / throttled downstream).
    pub throttle: bool,
    /// Whether this span belongs to an invocation that cold-started.
    pub cold: bool,
    /// Downstream retries recorded on the span (AWS SDK `retries` field).
    pub retries: u32,
    /// The invocation ran into the function's own timeout (X-Ray cause `Sandbox.Timedout` /
    /// "Task timed out", or REPORT `Status: timeout`).
    #[serde(default)]
    pub timed_out: bool,
}

impl Span {
    /// The span's length.
    pub fn duration(&self) -> Duration {
        self.end.since(self.start).unwrap_or_default()
    }
}
