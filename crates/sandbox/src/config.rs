//! The sandbox config (TOML, see docs/sandbox.md): parsed with unknown fields rejected, then
//! checked into a [`Config`] whose durations and distributions are typed. Every error names the
//! file, the line (computed from the TOML span) and the field.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use stormwatch_aws_emulator::api::ApiQuotas;
use toml::Spanned;

use crate::config_check::{NameKind, brief, check_name, key_path};
use crate::config_ctx::Ctx;
pub use crate::config_function::FunctionConfig;
use crate::config_function::check_functions;
use crate::config_limits::{
    MAX_API_RATE, MAX_CALLS, MAX_CAPACITY, MAX_CONCURRENCY, MAX_FACTOR, MAX_MEMORY_MB, MAX_RATE,
    MAX_RESPONSE_BYTES, MAX_RETRIES,
};
use crate::config_raw::{ApiKind, InitSubsegment, RawApi, RawConfig, RawFault, RawTelemetry};
use crate::config_services::{
    AuthConfig, QueueConfig, RawRouteServices, RouteAction, StreamConfig, check_auth, check_queues,
    check_route_services, check_streams,
};
use crate::dist::Dist;
use crate::error::SandboxError;

/// The checked config.
#[derive(Clone, Debug)]
pub struct Config {
    /// The API front.
    pub api: ApiConfig,
    /// Metric period: 60 s like CloudWatch, or shorter for fast tests.
    pub resolution: Duration,
    /// How much each telemetry API answers before it throttles: AWS's account quotas, or
    /// `[telemetry] api_rate_limit` calls per second for every API.
    pub api_quotas: ApiQuotas,
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
    /// True when the route needs a SigV4 signature (`auth = "iam"`, see [`crate::iam`]).
    pub iam: bool,
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
        let cx = Ctx::new(path, src);
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
        let api_quotas = match &raw.telemetry.api_rate_limit {
            Some(r) => {
                ApiQuotas::uniform(cx.float(r, "telemetry.api_rate_limit", 1.0..=MAX_API_RATE)?)
            }
            None => ApiQuotas::AWS,
        };
        let functions = check_functions(&cx, raw.functions)?;
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
        let queues = check_queues(&cx, raw.queues, |f| functions.contains_key(f))?;
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
                    auth: r.auth.clone(),
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
                iam: services.iam,
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
            api_quotas,
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

/// Default `trace_memory_mb`: a 30-minute test at 500 requests/s, every request traced
/// (900,000 REST traces of three segments, ~615 bytes each encoded), fits with room to spare.
pub(crate) const DEFAULT_TRACE_MEMORY_MB: usize = 768;
/// Default `log_memory_mb` (per log group): the START/END/REPORT lines of those 900,000
/// invocations (~115 bytes per invocation encoded) fit in one group.
pub(crate) const DEFAULT_LOG_MEMORY_MB: usize = 128;

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
        trace_memory: mb(
            t.trace_memory_mb.as_ref(),
            "trace_memory_mb",
            DEFAULT_TRACE_MEMORY_MB,
        )?,
        log_memory_per_group: mb(
            t.log_memory_mb.as_ref(),
            "log_memory_mb",
            DEFAULT_LOG_MEMORY_MB,
        )?,
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
#[path = "config_tests.rs"]
mod tests;
