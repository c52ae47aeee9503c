//! The config as serde reads it from TOML: the raw tables, each value kept with its span
//! for error messages, and the enums that are read as they are. Checked into typed values by
//! [`crate::config`] and [`crate::config_services`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// How the Lambda platform writes its START/END/REPORT records (the function's log format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Tab-separated text lines: `REPORT RequestId: ...\tDuration: 2.75 ms\t...`.
    #[default]
    Text,
    /// JSON records: `{"type":"platform.report","record":{"metrics":{...}}}`.
    Json,
}

/// The function's X-Ray tracing mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TracingMode {
    /// Honours an upstream `Sampled` decision, samples by the default rule otherwise.
    #[default]
    Active,
    /// Traces only when the upstream header says `Sampled=1`.
    PassThrough,
}

/// Which subsegment marks a cold start on the `AWS::Lambda::Function` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
pub enum InitSubsegment {
    /// The long-standing `Initialization` subsegment.
    #[default]
    Initialization,
    /// The newer `Init` subsegment.
    Init,
}

/// Which API Gateway flavour fronts the functions; selects AWS's status codes per failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// API Gateway REST API (stage throttle 429, Lambda throttle 500, error 502, timeout 504).
    Rest,
    /// API Gateway HTTP API (throttle 429, Lambda failures 500, timeout 503).
    Http,
    /// Lambda function URL (throttle 429, error 502).
    FunctionUrl,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) api: RawApi,
    #[serde(default)]
    pub(crate) telemetry: RawTelemetry,
    pub(crate) functions: BTreeMap<String, RawFunction>,
    pub(crate) routes: Vec<RawRoute>,
    #[serde(default)]
    pub(crate) tables: BTreeMap<String, RawTable>,
    #[serde(default)]
    pub(crate) faults: Vec<RawFault>,
    #[serde(default)]
    pub(crate) queues: BTreeMap<String, RawQueue>,
    #[serde(default)]
    pub(crate) streams: BTreeMap<String, RawStream>,
    #[serde(default)]
    pub(crate) auth: RawAuth,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTable {
    pub(crate) read_capacity: Spanned<f64>,
    pub(crate) write_capacity: Spanned<f64>,
    pub(crate) max_retries: Option<Spanned<u32>>,
    pub(crate) base_backoff: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    pub(crate) at: Spanned<String>,
    pub(crate) duration: Spanned<String>,
    pub(crate) function: Option<Spanned<String>>,
    pub(crate) table: Option<Spanned<String>>,
    pub(crate) table_capacity_factor: Option<Spanned<f64>>,
    pub(crate) error_rate: Option<Spanned<f64>>,
    pub(crate) slowdown: Option<Spanned<f64>>,
    pub(crate) reserved_concurrency: Option<Spanned<u32>>,
    pub(crate) stage_rate_limit: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    pub(crate) kind: ApiKind,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) stage: Option<Spanned<String>>,
    pub(crate) rate_limit: Option<Spanned<f64>>,
    pub(crate) burst: Option<Spanned<u32>>,
    pub(crate) integration_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    pub(crate) resolution: Option<Spanned<String>>,
    pub(crate) api_rate_limit: Option<Spanned<f64>>,
    #[serde(default)]
    pub(crate) xray_init_subsegment: InitSubsegment,
    pub(crate) sampling_reservoir: Option<Spanned<u32>>,
    pub(crate) sampling_rate: Option<Spanned<f64>>,
    pub(crate) trace_memory_mb: Option<Spanned<usize>>,
    pub(crate) log_memory_mb: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFunction {
    pub(crate) runtime: Option<Spanned<String>>,
    pub(crate) memory_mb: Option<Spanned<u32>>,
    pub(crate) init: Option<Spanned<String>>,
    pub(crate) error_rate: Option<Spanned<f64>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) reserved_concurrency: Option<Spanned<u32>>,
    pub(crate) provisioned_concurrency: Option<Spanned<u32>>,
    pub(crate) idle_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) log_format: LogFormat,
    #[serde(default)]
    pub(crate) tracing: TracingMode,
    pub(crate) architecture: Option<Spanned<String>>,
    pub(crate) package_type: Option<Spanned<String>>,
    pub(crate) code_size: Option<Spanned<u64>>,
    pub(crate) snapstart: Option<Spanned<bool>>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) route: Spanned<String>,
    pub(crate) function: Spanned<String>,
    pub(crate) handler: Option<Spanned<String>>,
    pub(crate) response_bytes: Option<Spanned<usize>>,
    pub(crate) table: Option<Spanned<String>>,
    pub(crate) reads: Option<Spanned<u32>>,
    pub(crate) writes: Option<Spanned<u32>>,
    pub(crate) enqueue: Option<Spanned<String>>,
    pub(crate) job_status: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) issues_token: bool,
    #[serde(default)]
    pub(crate) protected: bool,
    pub(crate) auth: Option<Spanned<String>>,
    pub(crate) stream: Option<Spanned<String>>,
    pub(crate) records: Option<Spanned<u32>>,
    pub(crate) record_bytes: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub(crate) worker: Spanned<String>,
    pub(crate) handler: Option<Spanned<String>>,
    pub(crate) concurrency: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStream {
    pub(crate) shards: Option<Spanned<u32>>,
    pub(crate) max_retries: Option<Spanned<u32>>,
    pub(crate) base_backoff: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    pub(crate) token_ttl: Option<Spanned<String>>,
}
