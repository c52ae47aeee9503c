//! AWS wire-protocol emulation of the telemetry APIs stormwatch reads: CloudWatch (Smithy RPC
//! v2 CBOR and awsJson1_0), CloudWatch Logs (awsJson1_1, with Logs Insights queries),
//! X-Ray (restJson1) and Lambda's control plane (restJson1), answered from in-memory stores
//! ([`MetricStore`], [`LogStore`], [`SegmentStore`]) and a registry of functions
//! ([`LambdaFunctions`]) so the official AWS SDKs work against it unmodified.
//!
//! The API layer ([`api`]) is transport-free: [`api::TelemetryApis`] routes and answers
//! requests given the [`Stores`]. [`http`] puts it on hyper: the stormwatch sandbox serves
//! it on the port of its imitated application, and [`http::Emulator`] serves it alone
//! (conformance tests, benchmarks).

pub mod api;
pub mod http;
pub mod lambda_functions;
pub mod log_store;
pub mod metric_store;
pub mod segment_store;
pub mod spill;

pub use lambda_functions::{FunctionInfo, LambdaFunctions};
pub use log_store::{LogEvent, LogStore};
pub use metric_store::MetricStore;
pub use segment_store::{Rejected, SegmentStore, StoredSegment};

/// The region the emulated APIs answer for (in ARNs); the Lambda functions live here.
pub const REGION: &str = "us-east-1";

/// The registry [`Stores::new`] answers from: no functions.
static NO_FUNCTIONS: std::sync::LazyLock<LambdaFunctions> =
    std::sync::LazyLock::new(LambdaFunctions::default);

/// The stores the APIs answer from and write to.
#[derive(Clone, Copy)]
pub struct Stores<'a> {
    /// CloudWatch metrics.
    pub metrics: &'a MetricStore,
    /// X-Ray segment documents.
    pub segments: &'a SegmentStore,
    /// CloudWatch Logs events.
    pub logs: &'a LogStore,
    /// The Lambda functions of the account (control plane).
    pub lambda: &'a LambdaFunctions,
}

impl<'a> Stores<'a> {
    /// The telemetry stores, with no Lambda functions (see [`Stores::with_lambda`]).
    pub fn new(metrics: &'a MetricStore, segments: &'a SegmentStore, logs: &'a LogStore) -> Self {
        Self {
            metrics,
            segments,
            logs,
            lambda: &NO_FUNCTIONS,
        }
    }

    /// The same stores, answering Lambda calls from `lambda`.
    #[must_use]
    pub fn with_lambda(self, lambda: &'a LambdaFunctions) -> Self {
        Self { lambda, ..self }
    }
}
