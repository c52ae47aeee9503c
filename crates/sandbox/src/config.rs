//! The sandbox config (TOML, see docs/sandbox.md): parsed with unknown fields rejected, then
//! checked into a [`Config`] whose durations and distributions are typed. Every error names the
//! file, the line (computed from the TOML span) and the field.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

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
    #[serde(default = "default_retries")]
    max_retries: u32,
    base_backoff: Option<Spanned<String>>,
}

const fn default_retries() -> u32 {
    3
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
    reserved_concurrency: Option<u32>,
    stage_rate_limit: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    kind: ApiKind,
    #[serde(default = "default_api_name")]
    name: String,
    #[serde(default = "default_stage")]
    stage: String,
    rate_limit: Option<Spanned<f64>>,
    burst: Option<u32>,
    integration_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTelemetry {
    resolution: Option<Spanned<String>>,
    api_rate_limit: Option<Spanned<f64>>,
    #[serde(default)]
    xray_init_subsegment: InitSubsegment,
    sampling_reservoir: Option<u32>,
    sampling_rate: Option<Spanned<f64>>,
    trace_memory_mb: Option<usize>,
    log_memory_mb: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    #[serde(default = "default_runtime")]
    runtime: String,
    #[serde(default = "default_memory")]
    memory_mb: u32,
    init: Option<Spanned<String>>,
    error_rate: Option<Spanned<f64>>,
    timeout: Option<Spanned<String>>,
    reserved_concurrency: Option<u32>,
    #[serde(default)]
    provisioned_concurrency: u32,
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
    #[serde(default)]
    response_bytes: usize,
    table: Option<Spanned<String>>,
    #[serde(default)]
    reads: u32,
    #[serde(default)]
    writes: u32,
    enqueue: Option<Spanned<String>>,
    job_status: Option<Spanned<String>>,
    #[serde(default)]
    issues_token: bool,
    #[serde(default)]
    protected: bool,
    stream: Option<Spanned<String>>,
    records: Option<u32>,
    record_bytes: Option<usize>,
}

fn default_api_name() -> String {
    "sandbox".into()
}
fn default_stage() -> String {
    "prod".into()
}
fn default_runtime() -> String {
    "nodejs20.x".into()
}
const fn default_memory() -> u32 {
    512
}

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

    pub(crate) fn duration(
        &self,
        v: &Spanned<String>,
        field: &str,
    ) -> Result<Duration, SandboxError> {
        parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), field, m))
    }

    pub(crate) fn dist(&self, v: &Spanned<String>, field: &str) -> Result<Dist, SandboxError> {
        Dist::parse(v.get_ref()).map_err(|m| self.err(v.span(), field, m))
    }
}

/// 1-based line number of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].matches('\n').count() + 1
}

/// Parses `250ms`, `2s`, `1.5s`, `10m`; negative or unit-less values are rejected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        return Err(format!(
            "`{s}` has no unit; write e.g. \"200ms\", \"2s\" or \"10m\""
        ));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as \"200ms\""))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` is negative; durations must be >= 0"));
    }
    Ok(Duration::from_secs_f64(v * mult))
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
    pub fn parse(path: &Path, src: &str) -> Result<Self, SandboxError> {
        let raw: RawConfig = toml::from_str(src).map_err(|e| SandboxError::Config {
            path: PathBuf::from(path),
            line: e.span().map_or(1, |s| line_of(src, s.start)),
            field: field_of(e.message()),
            message: e.message().trim().to_string(),
        })?;
        let cx = Ctx { path, src };
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
            Some(r) if !r.get_ref().is_finite() || *r.get_ref() < 1.0 => {
                return Err(cx.err(
                    r.span(),
                    "telemetry.api_rate_limit",
                    "must be at least 1 (calls per second)",
                ));
            }
            Some(r) => *r.get_ref(),
            None => DEFAULT_API_RATE_LIMIT,
        };
        let mut functions = BTreeMap::new();
        for (name, f) in raw.functions {
            let field = |k: &str| format!("functions.{name}.{k}");
            let er = f.error_rate.as_ref().map_or(0.0, |e| *e.get_ref());
            if let Some(e) = &f.error_rate
                && !(0.0..=1.0).contains(&er)
            {
                return Err(cx.err(e.span(), &field("error_rate"), "must be in 0..=1"));
            }
            let fc = FunctionConfig {
                runtime: f.runtime,
                memory_mb: f.memory_mb,
                init: match &f.init {
                    Some(v) => cx.dist(v, &field("init"))?,
                    None => Dist::Fixed(Duration::from_millis(150)),
                },
                error_rate: er,
                timeout: match &f.timeout {
                    Some(v) => cx.duration(v, &field("timeout"))?,
                    None => Duration::from_secs(3),
                },
                reserved_concurrency: f.reserved_concurrency,
                provisioned_concurrency: f.provisioned_concurrency,
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
            let field = |k: &str| format!("tables.{name}.{k}");
            for (v, k) in [
                (&t.read_capacity, "read_capacity"),
                (&t.write_capacity, "write_capacity"),
            ] {
                if *v.get_ref() < 0.0 {
                    return Err(cx.err(v.span(), &field(k), "must be >= 0 units per second"));
                }
            }
            tables.insert(
                name.clone(),
                TableConfig {
                    read_capacity: *t.read_capacity.get_ref(),
                    write_capacity: *t.write_capacity.get_ref(),
                    max_retries: t.max_retries,
                    base_backoff: match &t.base_backoff {
                        Some(v) => cx.duration(v, &field("base_backoff"))?,
                        None => Duration::from_millis(25),
                    },
                },
            );
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
                    records: r.records,
                    record_bytes: r.record_bytes,
                },
                r.route.span(),
                segments.last().is_some_and(Option::is_none),
                &queues,
                &streams,
            )?;
            let table = match &r.table {
                Some(t) if !tables.contains_key(t.get_ref()) => {
                    return Err(cx.err(
                        t.span(),
                        &field("table"),
                        format!("no table named `{}` in [tables]", t.get_ref()),
                    ));
                }
                Some(t) => Some((t.get_ref().clone(), r.reads, r.writes)),
                None => None,
            };
            if !functions.contains_key(r.function.get_ref()) {
                return Err(cx.err(
                    r.function.span(),
                    &field("function"),
                    format!(
                        "no function named `{}` in [functions]",
                        r.function.get_ref()
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
                response_bytes: r.response_bytes,
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
        Some(r) if !(0.0..=1.0).contains(r.get_ref()) => {
            return Err(cx.err(r.span(), "telemetry.sampling_rate", "must be in 0..=1"));
        }
        Some(r) => *r.get_ref(),
        None => 0.05,
    };
    Ok(TracingConfig {
        init_subsegment: t.xray_init_subsegment,
        reservoir: t.sampling_reservoir.unwrap_or(1),
        rate,
        trace_memory: t.trace_memory_mb.unwrap_or(64) << 20,
        log_memory_per_group: t.log_memory_mb.unwrap_or(32) << 20,
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
    let non_negative = |v: &Option<Spanned<f64>>, k: &str| -> Result<Option<f64>, SandboxError> {
        match v {
            Some(x) if *x.get_ref() < 0.0 => Err(cx.err(x.span(), &field(k), "must be >= 0")),
            Some(x) => Ok(Some(*x.get_ref())),
            None => Ok(None),
        }
    };
    let error_rate = non_negative(&f.error_rate, "error_rate")?;
    if let (Some(e), Some(x)) = (error_rate, &f.error_rate)
        && e > 1.0
    {
        return Err(cx.err(x.span(), &field("error_rate"), "must be in 0..=1"));
    }
    Ok(FaultConfig {
        at: cx.duration(&f.at, &field("at"))?,
        duration: cx.duration(&f.duration, &field("duration"))?,
        function: f.function.as_ref().map(|s| s.get_ref().clone()),
        table: f.table.as_ref().map(|s| s.get_ref().clone()),
        table_capacity_factor: non_negative(&f.table_capacity_factor, "table_capacity_factor")?,
        error_rate,
        slowdown: non_negative(&f.slowdown, "slowdown")?,
        reserved_concurrency: f.reserved_concurrency,
        stage_rate_limit: non_negative(&f.stage_rate_limit, "stage_rate_limit")?,
    })
}

fn check_api(cx: &Ctx<'_>, a: RawApi) -> Result<ApiConfig, SandboxError> {
    let rate_limit = match &a.rate_limit {
        Some(r) if *r.get_ref() <= 0.0 => {
            return Err(cx.err(
                r.span(),
                "api.rate_limit",
                "must be > 0 requests per second",
            ));
        }
        Some(r) => {
            let rate = *r.get_ref();
            Some((rate, a.burst.unwrap_or_else(|| rate.ceil() as u32).max(1)))
        }
        None => None,
    };
    Ok(ApiConfig {
        kind: a.kind,
        name: a.name,
        stage: a.stage,
        rate_limit,
        integration_timeout: match &a.integration_timeout {
            Some(v) => cx.duration(v, "api.integration_timeout")?,
            None => Duration::from_secs(29),
        },
    })
}

/// Pulls the field name out of a serde message such as "unknown field `foo`, expected ...".
fn field_of(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map_or_else(|| "(syntax)".to_string(), str::to_string)
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
}
