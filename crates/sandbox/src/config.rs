//! The sandbox config (TOML, see docs/sandbox.md): parsed with unknown fields rejected, then
//! checked into a [`Config`] whose durations and distributions are typed. Every error names the
//! file, the line (computed from the TOML span) and the field.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config_check::{Doc, NameKind, brief, check_name, key_path, quoted, serde_message};
use crate::config_services::{
    AuthConfig, QueueConfig, RawAuth, RawQueue, RawRouteServices, RawStream, RouteAction,
    StreamConfig, check_auth, check_queues, check_route_services, check_streams,
};
use crate::dist::Dist;
use crate::error::SandboxError;

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
struct RawConfig {
    api: RawApi,
    #[serde(default)]
    telemetry: RawTelemetry,
    functions: BTreeMap<String, RawFunction>,
    routes: Vec<RawRoute>,
    #[serde(default)]
    tables: BTreeMap<String, RawTable>,
    #[serde(default)]
    faults: Vec<RawFault>,
    #[serde(default)]
    queues: BTreeMap<String, RawQueue>,
    #[serde(default)]
    streams: BTreeMap<String, RawStream>,
    #[serde(default)]
    auth: RawAuth,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    read_capacity: Spanned<f64>,
    write_capacity: Spanned<f64>,
    max_retries: Option<Spanned<u32>>,
    base_backoff: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: Spanned<String>,
    duration: Spanned<String>,
    function: Option<Spanned<String>>,
    table: Option<Spanned<String>>,
    table_capacity_factor: Option<Spanned<f64>>,
    error_rate: Option<Spanned<f64>>,
    slowdown: Option<Spanned<f64>>,
    reserved_concurrency: Option<Spanned<u32>>,
    stage_rate_limit: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    kind: ApiKind,
    name: Option<Spanned<String>>,
    stage: Option<Spanned<String>>,
    rate_limit: Option<Spanned<f64>>,
    burst: Option<Spanned<u32>>,
    integration_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTelemetry {
    resolution: Option<Spanned<String>>,
    api_rate_limit: Option<Spanned<f64>>,
    #[serde(default)]
    xray_init_subsegment: InitSubsegment,
    sampling_reservoir: Option<Spanned<u32>>,
    sampling_rate: Option<Spanned<f64>>,
    trace_memory_mb: Option<Spanned<usize>>,
    log_memory_mb: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    #[serde(default = "default_runtime")]
    runtime: String,
    memory_mb: Option<Spanned<u32>>,
    init: Option<Spanned<String>>,
    error_rate: Option<Spanned<f64>>,
    timeout: Option<Spanned<String>>,
    reserved_concurrency: Option<Spanned<u32>>,
    provisioned_concurrency: Option<Spanned<u32>>,
    idle_timeout: Option<Spanned<String>>,
    #[serde(default)]
    log_format: LogFormat,
    #[serde(default)]
    tracing: TracingMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    route: Spanned<String>,
    function: Spanned<String>,
    handler: Option<Spanned<String>>,
    response_bytes: Option<Spanned<usize>>,
    table: Option<Spanned<String>>,
    reads: Option<Spanned<u32>>,
    writes: Option<Spanned<u32>>,
    enqueue: Option<Spanned<String>>,
    job_status: Option<Spanned<String>>,
    #[serde(default)]
    issues_token: bool,
    #[serde(default)]
    protected: bool,
    stream: Option<Spanned<String>>,
    records: Option<Spanned<u32>>,
    record_bytes: Option<Spanned<usize>>,
}

fn default_runtime() -> String {
    "nodejs20.x".into()
}

/// Longest handler, init, timeout, backoff, idle timeout or metric period: one day. Longer
/// values are rejected, and arithmetic on drawn durations saturates here, so no multiplication
/// (a fault's slowdown) or sum can overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(86_400);
/// Longest fault offset, fault window or token lifetime: a year.
const MAX_LONG_DURATION: Duration = Duration::from_secs(366 * 86_400);
/// Highest stage rate limit (requests per second) and burst.
const MAX_RATE: f64 = 10_000_000.0;
/// Highest telemetry API rate limit (calls per second).
const MAX_API_RATE: f64 = 1_000_000.0;
/// Highest reserved or provisioned concurrency (each unit can hold an environment).
pub(crate) const MAX_CONCURRENCY: u32 = 100_000;
/// Highest table capacity (units per second).
const MAX_CAPACITY: f64 = 10_000_000.0;
/// Highest fault multiplier (`slowdown`, `table_capacity_factor`).
const MAX_FACTOR: f64 = 1000.0;
/// Most SDK retries after throttles.
pub(crate) const MAX_RETRIES: u32 = 100;
/// Most table or stream calls per invocation.
pub(crate) const MAX_CALLS: u32 = 10_000;
/// Largest response body: Lambda's 6 MB synchronous response limit.
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// Largest in-memory telemetry budget, MB.
const MAX_MEMORY_MB: usize = 65_536;

/// Default `telemetry.api_rate_limit`: GetMetricData's quota, 50 calls per second.
pub const DEFAULT_API_RATE_LIMIT: f64 = 50.0;

/// The checked config.
#[derive(Clone, Debug)]
pub struct Config {
    /// The API front.
    pub api: ApiConfig,
    /// Metric period: 60 s like CloudWatch, or shorter for fast tests.
    pub resolution: Duration,
    /// Calls per second each telemetry API (CloudWatch, X-Ray, Logs) answers before it
    /// throttles, so client backoff can be exercised.
    pub api_rate_limit: f64,
    /// Functions by name.
    pub functions: BTreeMap<String, FunctionConfig>,
    /// Routes, matched in order.
    pub routes: Vec<RouteConfig>,
    /// DynamoDB-like tables by name.
    pub tables: BTreeMap<String, TableConfig>,
    /// Scheduled faults.
    pub faults: Vec<FaultConfig>,
    /// Job queues by name.
    pub queues: BTreeMap<String, QueueConfig>,
    /// Kinesis-like streams by name.
    pub streams: BTreeMap<String, StreamConfig>,
    /// The token authorizer.
    pub auth: AuthConfig,
    /// X-Ray and log settings.
    pub tracing: TracingConfig,
}

/// X-Ray sampling and document format, and how much telemetry is kept in memory.
#[derive(Clone, Debug)]
pub struct TracingConfig {
    /// Cold-start subsegment name.
    pub init_subsegment: InitSubsegment,
    /// Requests per second sampled before the fixed rate applies (X-Ray default: 1).
    pub reservoir: u32,
    /// Fraction of further requests sampled (X-Ray default: 0.05).
    pub rate: f64,
    /// Bytes of traces kept in memory; the oldest are dropped beyond it (the data dir keeps
    /// all).
    pub trace_memory: usize,
    /// Bytes of log events kept in memory per log group; the oldest are dropped beyond it.
    pub log_memory_per_group: usize,
}

/// A DynamoDB-like table with provisioned capacity.
#[derive(Clone, Debug)]
pub struct TableConfig {
    /// Read capacity units per second (an eventually consistent read costs 0.5).
    pub read_capacity: f64,
    /// Write capacity units per second (a write costs 1).
    pub write_capacity: f64,
    /// SDK retries after a throttle before the call fails.
    pub max_retries: u32,
    /// First retry delay; doubled per retry, with full jitter, as the AWS SDK does.
    pub base_backoff: Duration,
}

/// A scheduled fault: from `at` for `duration` after start, override parameters.
#[derive(Clone, Debug, Default)]
pub struct FaultConfig {
    /// Offset from sandbox start.
    pub at: Duration,
    /// How long it lasts.
    pub duration: Duration,
    /// Only this function (all when `None`).
    pub function: Option<String>,
    /// Only this table (all when `None`).
    pub table: Option<String>,
    /// Multiplies table read and write capacity.
    pub table_capacity_factor: Option<f64>,
    /// Replaces the function error rate.
    pub error_rate: Option<f64>,
    /// Multiplies handler durations.
    pub slowdown: Option<f64>,
    /// Replaces the function's reserved concurrency.
    pub reserved_concurrency: Option<u32>,
    /// Replaces the stage rate limit (requests per second).
    pub stage_rate_limit: Option<f64>,
}

/// The API Gateway (or function URL) front.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Flavour, selecting status codes.
    pub kind: ApiKind,
    /// ApiName (REST) / ApiId (HTTP) dimension value.
    pub name: String,
    /// Stage dimension value.
    pub stage: String,
    /// Stage steady-state rate limit (requests per second) and burst, if throttled.
    pub rate_limit: Option<(f64, u32)>,
    /// Longest the front waits for the function (AWS default 29 s).
    pub integration_timeout: Duration,
}

/// One Lambda-like function.
#[derive(Clone, Debug)]
pub struct FunctionConfig {
    /// Runtime label (REPORT lines, segments).
    pub runtime: String,
    /// Memory size in MB.
    pub memory_mb: u32,
    /// Init (cold start) duration distribution.
    pub init: Dist,
    /// Fraction of invocations that fail with a function error, 0..=1.
    pub error_rate: f64,
    /// Function timeout.
    pub timeout: Duration,
    /// Concurrency cap (reserved concurrency); the account default of 1000 when unset.
    pub reserved_concurrency: Option<u32>,
    /// Pre-initialised environments that never cold start.
    pub provisioned_concurrency: u32,
    /// How long an idle environment is kept before it is reaped.
    pub idle_timeout: Duration,
    /// How START/END/REPORT records are written.
    pub log_format: LogFormat,
    /// X-Ray tracing mode.
    pub tracing: TracingMode,
}

/// One route: `METHOD /path/{param}` to a function.
#[derive(Clone, Debug)]
pub struct RouteConfig {
    /// HTTP method, upper case.
    pub method: String,
    /// Path segments; `None` is a `{param}` matching any one segment.
    pub segments: Vec<Option<String>>,
    /// The route as written, e.g. `GET /prod/products/{id}`.
    pub label: String,
    /// Target function name.
    pub function: String,
    /// Handler duration distribution.
    pub handler: Dist,
    /// Response body size in bytes.
    pub response_bytes: usize,
    /// Table the handler calls, with reads and writes per invocation.
    pub table: Option<(String, u32, u32)>,
    /// Stream the handler writes to, with records per invocation and bytes per record.
    pub stream: Option<(String, u32, usize)>,
    /// What the route answers.
    pub action: RouteAction,
    /// True when the route needs a bearer token from the token route.
    pub protected: bool,
}

impl RouteConfig {
    /// True when `method` and `path` match this route.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if method != self.method {
            return false;
        }
        let mut parts = path.trim_start_matches('/').split('/');
        for seg in &self.segments {
            match (parts.next(), seg) {
                (None, _) | (Some(""), None) => return false,
                (Some(p), Some(lit)) if p != lit => return false,
                _ => {}
            }
        }
        parts.next().is_none()
    }
}

pub(crate) struct Ctx<'a> {
    path: &'a Path,
    src: &'a str,
    doc: Doc<'a>,
}

impl Ctx<'_> {
    pub(crate) fn err(
        &self,
        span: Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> SandboxError {
        SandboxError::Config {
            path: self.path.to_path_buf(),
            line: line_of(self.src, span.start),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The value at `span` as written in the file, cut short for a message.
    fn written(&self, span: Range<usize>) -> String {
        brief(self.src.get(span).unwrap_or("").trim())
    }

    /// Checks the name of `[prefix.name]` against its service's naming rule; an error is
    /// located at the name's key.
    pub(crate) fn name(
        &self,
        kind: NameKind,
        prefix: &str,
        name: &str,
    ) -> Result<(), SandboxError> {
        check_name(kind, name).map_err(|m| {
            let span = self.doc.key_span(&[prefix, name]).unwrap_or(0..0);
            self.err(span, &key_path(prefix, name), m)
        })
    }

    /// A duration of at most [`MAX_DURATION`].
    pub(crate) fn duration(
        &self,
        v: &Spanned<String>,
        field: &str,
    ) -> Result<Duration, SandboxError> {
        parse_duration_max(v.get_ref(), MAX_DURATION).map_err(|m| self.err(v.span(), field, m))
    }

    /// A duration of at most a year (fault windows, token lifetimes).
    pub(crate) fn long_duration(
        &self,
        v: &Spanned<String>,
        field: &str,
    ) -> Result<Duration, SandboxError> {
        parse_duration_max(v.get_ref(), MAX_LONG_DURATION).map_err(|m| self.err(v.span(), field, m))
    }

    pub(crate) fn dist(&self, v: &Spanned<String>, field: &str) -> Result<Dist, SandboxError> {
        Dist::parse(v.get_ref()).map_err(|m| self.err(v.span(), field, m))
    }

    /// A finite number in `range` (NaN and infinities are rejected).
    pub(crate) fn float(
        &self,
        v: &Spanned<f64>,
        field: &str,
        range: RangeInclusive<f64>,
    ) -> Result<f64, SandboxError> {
        let x = *v.get_ref();
        if x.is_finite() && range.contains(&x) {
            Ok(x)
        } else {
            Err(self.err(
                v.span(),
                field,
                format!(
                    "must be a finite number in {}..={}, not `{}`",
                    range.start(),
                    range.end(),
                    self.written(v.span())
                ),
            ))
        }
    }

    /// A whole number in `range`.
    pub(crate) fn count<T: Copy + PartialOrd + Display>(
        &self,
        v: &Spanned<T>,
        field: &str,
        range: RangeInclusive<T>,
    ) -> Result<T, SandboxError> {
        let x = *v.get_ref();
        if range.contains(&x) {
            Ok(x)
        } else {
            Err(self.err(
                v.span(),
                field,
                format!(
                    "must be in {}..={}, not `{}`",
                    range.start(),
                    range.end(),
                    self.written(v.span())
                ),
            ))
        }
    }

    /// [`Ctx::count`] of an optional field, `default` when absent.
    pub(crate) fn count_or<T: Copy + PartialOrd + Display>(
        &self,
        v: Option<&Spanned<T>>,
        field: &str,
        range: RangeInclusive<T>,
        default: T,
    ) -> Result<T, SandboxError> {
        v.map_or(Ok(default), |v| self.count(v, field, range))
    }

    /// A serde (TOML) error, naming the field it is about: the key or value at the error's
    /// position, or the table plus the field for a missing one; the value is quoted as
    /// written, briefly.
    fn serde(&self, e: &toml::de::Error) -> SandboxError {
        let span = e.span();
        let message = e.message().trim();
        // An empty span is the document itself (a missing top-level table).
        let located = span
            .as_ref()
            .filter(|s| !s.is_empty())
            .and_then(|s| self.doc.path_at(s.start));
        let field = if message.starts_with("missing field") {
            let missing = quoted(message).unwrap_or("");
            located.map_or_else(|| missing.to_string(), |table| key_path(&table, missing))
        } else {
            located.unwrap_or_else(|| "(syntax)".to_string())
        };
        let written = span.as_ref().and_then(|s| self.src.get(s.clone()));
        SandboxError::Config {
            path: self.path.to_path_buf(),
            line: span.map_or(1, |s| line_of(self.src, s.start)),
            field,
            message: serde_message(message, written),
        }
    }
}

/// 1-based line number of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].matches('\n').count() + 1
}

/// Parses `250ms`, `2s`, `1.5s`, `10m` up to [`MAX_DURATION`]; negative, unit-less or longer
/// values are rejected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_max(s, MAX_DURATION)
}

fn parse_duration_max(s: &str, max: Duration) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        return Err(format!(
            "`{}` has no unit; write e.g. \"200ms\", \"2s\" or \"10m\"",
            brief(s)
        ));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a duration such as \"200ms\"", brief(s)))?;
    if v.is_nan() {
        return Err(format!(
            "`{}` is not a duration such as \"200ms\"",
            brief(s)
        ));
    }
    if v < 0.0 {
        return Err(format!(
            "`{}` is negative; durations must be >= 0",
            brief(s)
        ));
    }
    match Duration::try_from_secs_f64(v * mult) {
        Ok(d) if d <= max => Ok(d),
        _ => Err(format!(
            "`{}` is too long; at most {} minutes",
            brief(s),
            max.as_secs() / 60
        )),
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, SandboxError> {
        let src = std::fs::read_to_string(path).map_err(|source| SandboxError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &src)
    }

    /// Checks config text; `path` is only used in error messages.
    #[allow(clippy::too_many_lines)]
    pub fn parse(path: &Path, src: &str) -> Result<Self, SandboxError> {
        let cx = Ctx {
            path,
            src,
            doc: Doc::parse(src),
        };
        let raw: RawConfig = toml::from_str(src).map_err(|e| cx.serde(&e))?;
        let api = check_api(&cx, raw.api)?;
        let resolution = match &raw.telemetry.resolution {
            Some(r) => {
                let d = cx.duration(r, "telemetry.resolution")?;
                if d < Duration::from_secs(1) {
                    return Err(cx.err(r.span(), "telemetry.resolution", "must be at least 1s"));
                }
                d
            }
            None => Duration::from_secs(60),
        };
        let api_rate_limit = match &raw.telemetry.api_rate_limit {
            Some(r) => cx.float(r, "telemetry.api_rate_limit", 1.0..=MAX_API_RATE)?,
            None => DEFAULT_API_RATE_LIMIT,
        };
        let mut functions = BTreeMap::new();
        for (name, f) in raw.functions {
            cx.name(NameKind::Function, "functions", &name)?;
            let table = key_path("functions", &name);
            let field = |k: &str| key_path(&table, k);
            let error_rate = match &f.error_rate {
                Some(e) => cx.float(e, &field("error_rate"), 0.0..=1.0)?,
                None => 0.0,
            };
            let fc = FunctionConfig {
                runtime: f.runtime,
                // Lambda's MemorySize range.
                memory_mb: cx.count_or(
                    f.memory_mb.as_ref(),
                    &field("memory_mb"),
                    128..=10_240,
                    512,
                )?,
                init: match &f.init {
                    Some(v) => cx.dist(v, &field("init"))?,
                    None => Dist::Fixed(Duration::from_millis(150)),
                },
                error_rate,
                timeout: match &f.timeout {
                    Some(v) => cx.duration(v, &field("timeout"))?,
                    None => Duration::from_secs(3),
                },
                reserved_concurrency: f
                    .reserved_concurrency
                    .as_ref()
                    .map(|v| cx.count(v, &field("reserved_concurrency"), 0..=MAX_CONCURRENCY))
                    .transpose()?,
                provisioned_concurrency: cx.count_or(
                    f.provisioned_concurrency.as_ref(),
                    &field("provisioned_concurrency"),
                    0..=MAX_CONCURRENCY,
                    0,
                )?,
                idle_timeout: match &f.idle_timeout {
                    Some(v) => cx.duration(v, &field("idle_timeout"))?,
                    None => Duration::from_secs(600),
                },
                log_format: f.log_format,
                tracing: f.tracing,
            };
            functions.insert(name, fc);
        }
        let mut tables = BTreeMap::new();
        for (name, t) in raw.tables {
            cx.name(NameKind::Table, "tables", &name)?;
            let table = key_path("tables", &name);
            let field = |k: &str| key_path(&table, k);
            let config = TableConfig {
                read_capacity: cx.float(
                    &t.read_capacity,
                    &field("read_capacity"),
                    0.0..=MAX_CAPACITY,
                )?,
                write_capacity: cx.float(
                    &t.write_capacity,
                    &field("write_capacity"),
                    0.0..=MAX_CAPACITY,
                )?,
                max_retries: cx.count_or(
                    t.max_retries.as_ref(),
                    &field("max_retries"),
                    0..=MAX_RETRIES,
                    3,
                )?,
                base_backoff: match &t.base_backoff {
                    Some(v) => cx.duration(v, &field("base_backoff"))?,
                    None => Duration::from_millis(25),
                },
            };
            tables.insert(name, config);
        }
        let queues = check_queues(&cx, raw.queues, &functions)?;
        let streams = check_streams(&cx, raw.streams)?;
        let auth = check_auth(&cx, &raw.auth)?;
        let tracing = check_tracing(&cx, &raw.telemetry)?;
        let mut routes = Vec::new();
        for (i, r) in raw.routes.into_iter().enumerate() {
            let field = |k: &str| format!("routes[{i}].{k}");
            let Some((method, p)) = r.route.get_ref().split_once(' ') else {
                return Err(cx.err(
                    r.route.span(),
                    &field("route"),
                    "expected `METHOD /path`, e.g. \"GET /prod/products/{id}\"",
                ));
            };
            if !p.starts_with('/') {
                return Err(cx.err(r.route.span(), &field("route"), "path must start with /"));
            }
            let segments: Vec<Option<String>> = p
                .trim_start_matches('/')
                .split('/')
                .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                .collect();
            let services = check_route_services(
                &cx,
                i,
                &RawRouteServices {
                    enqueue: r.enqueue.clone(),
                    job_status: r.job_status.clone(),
                    issues_token: r.issues_token,
                    protected: r.protected,
                    stream: r.stream.clone(),
                    records: r.records.clone(),
                    record_bytes: r.record_bytes.clone(),
                },
                r.route.span(),
                segments.last().is_some_and(Option::is_none),
                &queues,
                &streams,
            )?;
            let reads = cx.count_or(r.reads.as_ref(), &field("reads"), 0..=MAX_CALLS, 0)?;
            let writes = cx.count_or(r.writes.as_ref(), &field("writes"), 0..=MAX_CALLS, 0)?;
            let table = match &r.table {
                Some(t) if !tables.contains_key(t.get_ref()) => {
                    return Err(cx.err(
                        t.span(),
                        &field("table"),
                        format!("no table named `{}` in [tables]", brief(t.get_ref())),
                    ));
                }
                Some(t) => Some((t.get_ref().clone(), reads, writes)),
                None => None,
            };
            if !functions.contains_key(r.function.get_ref()) {
                return Err(cx.err(
                    r.function.span(),
                    &field("function"),
                    format!(
                        "no function named `{}` in [functions]",
                        brief(r.function.get_ref())
                    ),
                ));
            }
            routes.push(RouteConfig {
                method: method.trim().to_ascii_uppercase(),
                segments,
                label: r.route.get_ref().clone(),
                function: r.function.into_inner(),
                handler: match &r.handler {
                    Some(v) => cx.dist(v, &field("handler"))?,
                    None => Dist::Fixed(Duration::ZERO),
                },
                response_bytes: cx.count_or(
                    r.response_bytes.as_ref(),
                    &field("response_bytes"),
                    0..=MAX_RESPONSE_BYTES,
                    0,
                )?,
                table,
                stream: services.stream,
                action: services.action,
                protected: services.protected,
            });
        }
        let faults = raw
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| check_fault(&cx, i, f, &functions, &tables))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            api,
            resolution,
            api_rate_limit,
            functions,
            routes,
            tables,
            faults,
            queues,
            streams,
            auth,
            tracing,
        })
    }
}

fn check_tracing(cx: &Ctx<'_>, t: &RawTelemetry) -> Result<TracingConfig, SandboxError> {
    let rate = match &t.sampling_rate {
        Some(r) => cx.float(r, "telemetry.sampling_rate", 0.0..=1.0)?,
        None => 0.05,
    };
    let mb = |v: Option<&Spanned<usize>>, k: &str, default: usize| {
        cx.count_or(v, &format!("telemetry.{k}"), 0..=MAX_MEMORY_MB, default)
            .map(|mb| mb << 20)
    };
    Ok(TracingConfig {
        init_subsegment: t.xray_init_subsegment,
        reservoir: cx.count_or(
            t.sampling_reservoir.as_ref(),
            "telemetry.sampling_reservoir",
            0..=1_000_000,
            1,
        )?,
        rate,
        trace_memory: mb(t.trace_memory_mb.as_ref(), "trace_memory_mb", 64)?,
        log_memory_per_group: mb(t.log_memory_mb.as_ref(), "log_memory_mb", 32)?,
    })
}

fn check_fault(
    cx: &Ctx<'_>,
    i: usize,
    f: &RawFault,
    functions: &BTreeMap<String, FunctionConfig>,
    tables: &BTreeMap<String, TableConfig>,
) -> Result<FaultConfig, SandboxError> {
    let field = |k: &str| format!("faults[{i}].{k}");
    if let Some(n) = &f.function
        && !functions.contains_key(n.get_ref())
    {
        return Err(cx.err(
            n.span(),
            &field("function"),
            "no such function in [functions]",
        ));
    }
    if let Some(n) = &f.table
        && !tables.contains_key(n.get_ref())
    {
        return Err(cx.err(n.span(), &field("table"), "no such table in [tables]"));
    }
    let number = |v: &Option<Spanned<f64>>, k: &str, range: RangeInclusive<f64>| {
        v.as_ref()
            .map(|x| cx.float(x, &field(k), range))
            .transpose()
    };
    Ok(FaultConfig {
        at: cx.long_duration(&f.at, &field("at"))?,
        duration: cx.long_duration(&f.duration, &field("duration"))?,
        function: f.function.as_ref().map(|s| s.get_ref().clone()),
        table: f.table.as_ref().map(|s| s.get_ref().clone()),
        table_capacity_factor: number(
            &f.table_capacity_factor,
            "table_capacity_factor",
            0.0..=MAX_FACTOR,
        )?,
        error_rate: number(&f.error_rate, "error_rate", 0.0..=1.0)?,
        slowdown: number(&f.slowdown, "slowdown", 0.0..=MAX_FACTOR)?,
        reserved_concurrency: f
            .reserved_concurrency
            .as_ref()
            .map(|v| cx.count(v, &field("reserved_concurrency"), 0..=MAX_CONCURRENCY))
            .transpose()?,
        stage_rate_limit: number(&f.stage_rate_limit, "stage_rate_limit", 0.0..=MAX_RATE)?,
    })
}

fn check_api(cx: &Ctx<'_>, a: RawApi) -> Result<ApiConfig, SandboxError> {
    let rate_limit = match &a.rate_limit {
        Some(r) => {
            let rate = cx.float(r, "api.rate_limit", 0.0..=MAX_RATE)?;
            if rate <= 0.0 {
                return Err(cx.err(
                    r.span(),
                    "api.rate_limit",
                    "must be > 0 requests per second",
                ));
            }
            let burst = match &a.burst {
                Some(b) => cx.count(b, "api.burst", 0..=MAX_RATE as u32)?,
                // Saturating: the rate is at most MAX_RATE.
                None => rate.ceil() as u32,
            };
            Some((rate, burst.max(1)))
        }
        None => None,
    };
    let label = |v: Option<Spanned<String>>, k: &str, default: &str| match v {
        Some(v) => check_name(NameKind::Label, v.get_ref())
            .map(|()| v.get_ref().clone())
            .map_err(|m| cx.err(v.span(), k, m)),
        None => Ok(default.to_string()),
    };
    Ok(ApiConfig {
        kind: a.kind,
        name: label(a.name, "api.name", "sandbox")?,
        stage: label(a.stage, "api.stage", "prod")?,
        rate_limit,
        integration_timeout: match &a.integration_timeout {
            Some(v) => cx.duration(v, "api.integration_timeout")?,
            None => Duration::from_secs(29),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "[api]\nkind = \"rest\"\n\n[functions.f]\ninit = \"fixed 100ms\"\n\n[[routes]]\nroute = \"GET /prod/items/{id}\"\nfunction = \"f\"\n";

    #[test]
    fn parses_and_matches_routes() {
        let c = Config::parse(Path::new("c.toml"), OK).unwrap();
        assert!(c.routes[0].matches("GET", "/prod/items/7"));
        assert!(!c.routes[0].matches("GET", "/prod/items"));
        assert!(!c.routes[0].matches("GET", "/prod/items/7/x"));
        assert!(!c.routes[0].matches("POST", "/prod/items/7"));
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let src = OK.replace("init = ", "colour = 1\ninit = ");
        let e = Config::parse(Path::new("c.toml"), &src)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:5:"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn missing_function_and_negative_duration() {
        let e = Config::parse(
            Path::new("c.toml"),
            &OK.replace("function = \"f\"", "function = \"g\""),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.toml:9: field `routes[0].function`"), "{e}");
        let e = Config::parse(
            Path::new("c.toml"),
            &OK.replace("fixed 100ms", "fixed -5ms"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.toml:5: field `functions.f.init`"), "{e}");
        let e = Config::parse(
            Path::new("c.toml"),
            &OK.replace("fixed 100ms", "gaussian 5ms"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("functions.f.init"), "{e}");
    }

    fn err(src: &str) -> String {
        Config::parse(Path::new("c.toml"), src)
            .expect_err("config must be rejected")
            .to_string()
    }

    /// `OK` with `extra` appended as further lines (line 10 onwards).
    fn with(extra: &str) -> String {
        format!("{OK}{extra}\n")
    }

    #[test]
    fn names_follow_aws_naming_rules() {
        // A function name that would write outside --data-dir.
        let e = err(&with("[functions.\"../../../ESCAPED\"]"));
        assert!(
            e.starts_with("c.toml:10: field `functions.\"../../../ESCAPED\"`: `../../../ESCAPED`: a Lambda function name is 1-64"),
            "{e}"
        );
        let e = err(&with(&format!("[functions.{}]", "f".repeat(65))));
        assert!(e.starts_with("c.toml:10: field `functions.ffff"), "{e}");
        let e = err(&with("[tables.ab]\nread_capacity = 1\nwrite_capacity = 1"));
        assert!(
            e.starts_with("c.toml:10: field `tables.ab`: `ab`: a DynamoDB table name is 3-255"),
            "{e}"
        );
        let e = err(&with("[streams.\"a/b\"]"));
        assert!(
            e.starts_with("c.toml:10: field `streams.\"a/b\"`: `a/b`: a Kinesis stream name"),
            "{e}"
        );
        let e = err(&with("[queues.\"jobs.v2\"]\nworker = \"f\""));
        assert!(
            e.starts_with("c.toml:10: field `queues.\"jobs.v2\"`: `jobs.v2`: an SQS queue name"),
            "{e}"
        );
        let e = err(&OK.replace("kind = \"rest\"", "kind = \"rest\"\nname = \"a/b\""));
        assert!(
            e.starts_with("c.toml:3: field `api.name`: `a/b`: must be 1-128"),
            "{e}"
        );
        let e = err(&OK.replace(
            "kind = \"rest\"",
            "kind = \"rest\"\nstage = \"pr\\u0001od\"",
        ));
        assert!(
            e.starts_with("c.toml:3: field `api.stage`: `pr\\u{1}od`"),
            "{e}"
        );
        // Names within the rules, including dots where the service allows them.
        let ok = with(
            "[tables.\"orders.v2\"]\nread_capacity = 1\nwrite_capacity = 1\n\
             [streams.\"clicks.v1\"]\n[queues.\"jobs.fifo\"]\nworker = \"f\"\n\
             [functions.checkout-v2_x]",
        )
        .replace("kind = \"rest\"", "kind = \"rest\"\nstage = \"$default\"");
        let c = Config::parse(Path::new("c.toml"), &ok).unwrap();
        assert!(c.tables.contains_key("orders.v2") && c.queues.contains_key("jobs.fifo"));
        assert_eq!(c.api.stage, "$default");
    }

    #[test]
    fn extreme_numbers_are_rejected_naming_the_field() {
        let fault = |body: &str| {
            with(&format!(
                "[[faults]]\nat = \"0s\"\nduration = \"1s\"\n{body}"
            ))
        };
        let table = |body: &str| with(&format!("[tables.tbl]\n{body}"));
        let cases = [
            (
                OK.replace(
                    "function = \"f\"",
                    "function = \"f\"\nhandler = \"fixed 1e308ms\"",
                ),
                "routes[0].handler",
            ),
            (
                OK.replace("fixed 100ms", "lognormal median=1e308ms p99=1e309ms"),
                "functions.f.init",
            ),
            (
                OK.replace("fixed 100ms", "uniform 1ms..1441m"),
                "functions.f.init",
            ),
            (
                OK.replace("init = ", "timeout = \"1e308s\"\ninit = "),
                "functions.f.timeout",
            ),
            (
                OK.replace("init = ", "idle_timeout = \"infm\"\ninit = "),
                "functions.f.idle_timeout",
            ),
            (
                OK.replace("init = ", "error_rate = nan\ninit = "),
                "functions.f.error_rate",
            ),
            (
                OK.replace(
                    "kind = \"rest\"",
                    "kind = \"rest\"\nintegration_timeout = \"1e300m\"",
                ),
                "api.integration_timeout",
            ),
            (
                OK.replace("kind = \"rest\"", "kind = \"rest\"\nrate_limit = nan"),
                "api.rate_limit",
            ),
            (
                OK.replace("kind = \"rest\"", "kind = \"rest\"\nrate_limit = inf"),
                "api.rate_limit",
            ),
            (
                OK.replace("kind = \"rest\"", "kind = \"rest\"\nrate_limit = 1e300"),
                "api.rate_limit",
            ),
            (
                with("[telemetry]\napi_rate_limit = nan"),
                "telemetry.api_rate_limit",
            ),
            (
                with("[telemetry]\nsampling_rate = nan"),
                "telemetry.sampling_rate",
            ),
            (
                with("[telemetry]\nresolution = \"1e308s\""),
                "telemetry.resolution",
            ),
            (
                with("[telemetry]\ntrace_memory_mb = 99999999"),
                "telemetry.trace_memory_mb",
            ),
            (
                table("read_capacity = nan\nwrite_capacity = 1"),
                "tables.tbl.read_capacity",
            ),
            (
                table("read_capacity = 1\nwrite_capacity = inf"),
                "tables.tbl.write_capacity",
            ),
            (
                table("read_capacity = 1\nwrite_capacity = -1"),
                "tables.tbl.write_capacity",
            ),
            (
                table("read_capacity = 1\nwrite_capacity = 1\nmax_retries = 4000000000"),
                "tables.tbl.max_retries",
            ),
            (
                table("read_capacity = 1\nwrite_capacity = 1\nbase_backoff = \"1e308ms\""),
                "tables.tbl.base_backoff",
            ),
            (fault("slowdown = inf"), "faults[0].slowdown"),
            (fault("slowdown = 1e308"), "faults[0].slowdown"),
            (fault("slowdown = nan"), "faults[0].slowdown"),
            (fault("slowdown = 1001"), "faults[0].slowdown"),
            (fault("error_rate = nan"), "faults[0].error_rate"),
            (
                fault("table_capacity_factor = nan"),
                "faults[0].table_capacity_factor",
            ),
            (
                fault("stage_rate_limit = inf"),
                "faults[0].stage_rate_limit",
            ),
            (
                with("[[faults]]\nat = \"1e308s\"\nduration = \"1s\""),
                "faults[0].at",
            ),
            (with("[auth]\ntoken_ttl = \"1e308s\""), "auth.token_ttl"),
            (
                OK.replace(
                    "function = \"f\"",
                    "function = \"f\"\nresponse_bytes = 1000000000000",
                ),
                "routes[0].response_bytes",
            ),
        ];
        for (src, field) in cases {
            let e = err(&src);
            assert!(e.contains(&format!(": field `{field}`: ")), "{field}: {e}");
            assert!(e.len() < 200, "{field}: {e}");
        }
        // At the limits, accepted.
        let ok = OK.replace(
            "function = \"f\"",
            "function = \"f\"\nhandler = \"fixed 1440m\"",
        ) + "[[faults]]\nat = \"0s\"\nduration = \"1s\"\nslowdown = 1000\n";
        Config::parse(Path::new("c.toml"), &ok).unwrap();
    }

    #[test]
    fn worker_counts_are_capped() {
        let cases = [
            (
                with("[queues.q]\nworker = \"f\"\nconcurrency = 100000000"),
                "queues.q.concurrency",
                "1..=1000",
            ),
            (
                with("[queues.q]\nworker = \"f\"\nconcurrency = 0"),
                "queues.q.concurrency",
                "1..=1000",
            ),
            (
                with("[streams.s]\nshards = 100000"),
                "streams.s.shards",
                "1..=10000",
            ),
            (
                OK.replace("init = ", "reserved_concurrency = 100001\ninit = "),
                "functions.f.reserved_concurrency",
                "0..=100000",
            ),
            (
                OK.replace("init = ", "provisioned_concurrency = 1000000\ninit = "),
                "functions.f.provisioned_concurrency",
                "0..=100000",
            ),
            (
                with(
                    "[[faults]]\nat = \"0s\"\nduration = \"1s\"\nreserved_concurrency = 4000000000",
                ),
                "faults[0].reserved_concurrency",
                "0..=100000",
            ),
        ];
        for (src, field, range) in cases {
            let e = err(&src);
            assert!(
                e.contains(&format!(": field `{field}`: must be in {range}, not `")),
                "{e}"
            );
        }
        let ok =
            with("[queues.q]\nworker = \"f\"\nconcurrency = 1000\n[streams.s]\nshards = 10000");
        Config::parse(Path::new("c.toml"), &ok).unwrap();
    }

    #[test]
    fn type_errors_name_the_field_and_quote_the_value_briefly() {
        let e = err(&OK.replace("init = ", "memory_mb = -1\ninit = "));
        assert_eq!(
            e,
            "c.toml:5: field `functions.f.memory_mb`: invalid value: integer `-1`, expected u32"
        );
        let e = err(&OK.replace(
            "kind = \"rest\"",
            "kind = \"rest\"\nrate_limit = 5.0\nburst = 1e300",
        ));
        assert_eq!(
            e,
            "c.toml:4: field `api.burst`: invalid type: floating point `1e300`, expected u32"
        );
        let e = err(&OK.replace("init = ", "memory_mb = 64\ninit = "));
        assert_eq!(
            e,
            "c.toml:5: field `functions.f.memory_mb`: must be in 128..=10240, not `64`"
        );
        // A missing field: the table it is missing from, plus its name.
        let e = err(&OK.replace("function = \"f\"\n", ""));
        assert!(
            e.starts_with("c.toml:7: field `routes[0].function`: missing field `function`"),
            "{e}"
        );
        let e = err("[functions.f]\n[[routes]]\nroute = \"GET /x\"\nfunction = \"f\"\n");
        assert_eq!(e, "c.toml:1: field `api`: missing field `api`");
        let e = err(&OK.replace("init = ", "memory_mb = \"big\"\ninit = "));
        assert_eq!(
            e,
            "c.toml:5: field `functions.f.memory_mb`: invalid type: string `\"big\"`, expected u32"
        );
        // A long value is cut.
        let long = format!("reads = \"{}\"", "x".repeat(500));
        let e = err(&OK.replace("function = \"f\"", &format!("function = \"f\"\n{long}")));
        assert!(
            e.starts_with("c.toml:10: field `routes[0].reads`: invalid type: string "),
            "{e}"
        );
        assert!(e.len() < 150, "{e}");
        // A syntax error has no field.
        let e = err("[api\nkind = 1");
        assert!(e.starts_with("c.toml:1: field `(syntax)`"), "{e}");
    }
}
