//! `analysis.json`: the one value every report renderer consumes.
//!
//! Written by `analyze`, read by `report`. It holds everything a page, a PR comment or a CI
//! verdict shows — the verdict, the findings with their evidence, per-phase and per-endpoint
//! statistics, threshold results, cold starts, per-second timelines and percentile curves —
//! so renderers are pure functions of it and never read other files.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ApiKind, Finding, PhaseWindow, RunStatus};

/// The layout version of `analysis.json`.
pub const ANALYSIS_SCHEMA_VERSION: u32 = 2;

/// A duration in milliseconds, fractional (the unit every latency in a report uses).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct Millis(pub f64);

impl Millis {
    /// From a `Duration`.
    pub fn from_duration(d: std::time::Duration) -> Self {
        Self(d.as_secs_f64() * 1000.0)
    }
}

impl std::fmt::Display for Millis {
    /// Human-readable with a unit: `0.42 ms`, `38 ms`, `1.25 s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0;
        if ms >= 1000.0 {
            write!(f, "{:.2} s", ms / 1000.0)
        } else if ms >= 10.0 {
            write!(f, "{ms:.0} ms")
        } else {
            write!(f, "{ms:.2} ms")
        }
    }
}

/// Everything a report shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalysisReport {
    /// See [`ANALYSIS_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What was run.
    pub run: RunSummary,
    /// Pass/fail and the one-paragraph answer.
    pub verdict: Verdict,
    /// Conclusions, most severe first.
    pub findings: Vec<Finding>,
    /// Statistics per phase, in run order.
    pub phases: Vec<PhaseStats>,
    /// Every threshold of the scenario and its outcome.
    pub thresholds: Vec<ThresholdResult>,
    /// Cold starts, when any source could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_starts: Option<ColdStartSummary>,
    /// One point per second of the run.
    pub timeline: Vec<TimelinePoint>,
    /// Latency percentile curves (HDR), per phase.
    pub distributions: Vec<LatencyDistribution>,
    /// Which telemetry the analysis could use.
    pub sources: DataSources,
}

/// What was run, against what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// Scenario file name.
    pub scenario: String,
    /// Target base URL.
    pub target: String,
    /// How the run ended.
    pub status: RunStatus,
    /// From the first phase's start to the last one's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<PhaseWindow>,
    /// The API front, when the scenario names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_kind: Option<ApiKind>,
    /// Lambda functions behind the target.
    #[serde(default)]
    pub functions: Vec<String>,
    /// A merged distributed run: one row per shard (requests, errors, p99, start skew), so a
    /// bad shard stands out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<crate::distribution::ShardSummary>,
    /// A merged distributed run: shards that were missing from the merge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_shards: Vec<u32>,
}

/// The answer, first thing on every report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// False when a threshold failed.
    pub passed: bool,
    /// One sentence: what happened and why.
    pub headline: String,
    /// A few more sentences, one per important finding.
    #[serde(default)]
    pub details: Vec<String>,
}

/// Statistics of one phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhaseStats {
    /// Phase index in the manifest.
    pub index: u32,
    /// Phase name.
    pub name: String,
    /// When it ran.
    pub window: PhaseWindow,
    /// Load model in words (`open 10→200/s`, `closed 20 VUs`, `idle`).
    pub model: String,
    /// Planned flow starts per second (open phases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rate_per_sec: Option<f64>,
    /// Requests completed per second.
    pub achieved_rate_per_sec: f64,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (transport error, 4xx/5xx or unexpected status).
    pub errors: u64,
    /// Arrivals dropped because `max_in_flight` was reached.
    pub dropped: u64,
    /// Latency from intended send time over every request of the phase (exact, nearest
    /// rank): the phase's one set of numbers, used by the phase table, the thresholds, the
    /// findings and the headline.
    #[serde(default)]
    pub corrected: LatencySummary,
    /// Latency from actual send time over every request of the phase.
    #[serde(default)]
    pub raw: LatencySummary,
    /// Per endpoint.
    pub endpoints: Vec<EndpointStats>,
    /// What AWS saw in the same window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerStats>,
    /// Mean latency decomposition of traced requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waterfall: Option<Waterfall>,
}

/// Statistics of one endpoint in one phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EndpointStats {
    /// Endpoint name, e.g. `GET /products/:id`.
    pub endpoint: String,
    /// Requests.
    pub count: u64,
    /// Requests per second over the phase.
    pub rate_per_sec: f64,
    /// Latency from intended send time.
    pub corrected: LatencySummary,
    /// Latency from actual send time.
    pub raw: LatencySummary,
    /// Count per outcome: `2xx`, `4xx`, `5xx` or an exact status (`429`, `500`, `502`...),
    /// or a transport error kind (`timeout`, `connect_refused`...).
    pub outcomes: BTreeMap<String, u64>,
    /// Share of failed requests (0.0–1.0).
    pub error_rate: f64,
}

/// Latency percentiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LatencySummary {
    /// Median.
    pub p50: Millis,
    /// 95th percentile.
    pub p95: Millis,
    /// 99th percentile.
    pub p99: Millis,
    /// 99.9th percentile.
    pub p999: Millis,
    /// Maximum.
    pub max: Millis,
}

/// Server-side numbers for one phase window (from CloudWatch), per resource: nothing is
/// summed across functions, tables or streams.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServerStats {
    /// One entry per resource that has datapoints, functions first, then the API, tables,
    /// then streams, each kind by name.
    pub resources: Vec<ResourceStats>,
}

impl ServerStats {
    /// The resource of `kind` named `name`.
    pub fn resource(&self, kind: ResourceKind, name: &str) -> Option<&ResourceStats> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
    }

    /// The resources of one kind.
    pub fn of_kind(&self, kind: ResourceKind) -> impl Iterator<Item = &ResourceStats> {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// Sum of `count` over the resources of `kind` (`None` when none reports it).
    pub fn total(
        &self,
        kind: ResourceKind,
        count: impl Fn(&ResourceStats) -> Option<u64>,
    ) -> Option<u64> {
        self.of_kind(kind)
            .filter_map(count)
            .fold(None, |acc, v| Some(acc.unwrap_or(0) + v))
    }
}

/// What kind of AWS resource a [`ResourceStats`] describes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A Lambda function (`AWS/Lambda`, `FunctionName`).
    Function,
    /// The API Gateway stage (`AWS/ApiGateway`).
    Api,
    /// A DynamoDB table (`AWS/DynamoDB`, `TableName`).
    Table,
    /// A Kinesis data stream (`AWS/Kinesis`, `StreamName`).
    Stream,
}

impl ResourceKind {
    /// How a person names the kind next to the resource: `Lambda`, `API Gateway`,
    /// `DynamoDB table`, `Kinesis stream`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Function => "Lambda",
            Self::Api => "API Gateway",
            Self::Table => "DynamoDB table",
            Self::Stream => "Kinesis stream",
        }
    }
}

/// What CloudWatch measured for one resource in one phase window. Counts are whole numbers:
/// a metric period that straddles two phases is split by the client's matching outcomes
/// (see `docs/analysis.md`, "Phase accounting"), and the parts of one period always add up
/// to the period's count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceStats {
    /// The kind of resource.
    pub kind: ResourceKind,
    /// Its name (function, `api/stage` or API id, table, stream).
    pub name: String,
    /// Requests the resource served: Lambda `Invocations`, API Gateway `Count`, Kinesis
    /// `IncomingRecords`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Requests it rejected for capacity: Lambda `Throttles`, DynamoDB throttled requests
    /// (`ThrottledRequests`, else read + write throttle events), Kinesis
    /// `WriteProvisionedThroughputExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttles: Option<u64>,
    /// Failures: Lambda `Errors` (timeouts included), API Gateway `5XXError`/`5xx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// API Gateway `4XXError`/`4xx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_errors: Option<u64>,
    /// Peak Lambda `ConcurrentExecutions` of this function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_concurrency: Option<u64>,
    /// Lambda `Duration` p99 (worst period), or API Gateway `Latency` p99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_p99: Option<Millis>,
    /// Lambda `Duration` Maximum (worst period): pinned at the function's timeout when
    /// invocations time out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_max: Option<Millis>,
    /// Invocations that ran into the function's own timeout (REPORT `Status: timeout` or
    /// the X-Ray cause), when logs or traces were collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<u64>,
}

impl ResourceStats {
    /// An entry with no numbers yet.
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            requests: None,
            throttles: None,
            errors: None,
            client_errors: None,
            peak_concurrency: None,
            duration_p99: None,
            duration_max: None,
            timeouts: None,
        }
    }

    /// `` `products` (Lambda) ``, `` DynamoDB table `orders` ``: how findings name it.
    pub fn display_name(&self) -> String {
        match self.kind {
            ResourceKind::Function => format!("`{}` (Lambda)", self.name),
            ResourceKind::Api => format!("API Gateway `{}`", self.name),
            k => format!("{} `{}`", k.label(), self.name),
        }
    }
}

/// Where the time of a traced request went (means over a phase's traced requests).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Waterfall {
    /// Traced requests the estimate comes from.
    pub traced_requests: u64,
    /// The phase's requests it stands for (0 in analyses written before it was recorded).
    #[serde(default)]
    pub of_requests: u64,
    /// Client-observed minus API Gateway time: network, TLS, client.
    pub network: Millis,
    /// API Gateway time minus Lambda time.
    pub api_gateway: Millis,
    /// `AWS::Lambda` time outside the function: placement, queueing.
    pub lambda_placement: Millis,
    /// Init (cold start), averaged over all traced requests.
    pub init: Millis,
    /// Handler time, downstream calls excluded.
    pub invocation: Millis,
    /// Downstream calls inside the handler.
    pub downstream: Millis,
    /// Runtime overhead after the handler.
    pub overhead: Millis,
}

/// One threshold of the scenario and its outcome (one JUnit test case each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThresholdResult {
    /// Readable name, e.g. `burst / GET /products/:id p99 < 800 ms`.
    pub name: String,
    /// Phase it applies to (all phases when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Endpoint it applies to (all endpoints when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// What is measured (`p99`, `error_rate`, `achieved_rate`, `cold_start_share`...).
    pub metric: String,
    /// The limit, with its comparison (`< 800 ms`).
    pub limit: String,
    /// The observed value, when there was data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// Whether it held.
    pub passed: bool,
}

impl ThresholdResult {
    /// `PASS burst p99 < 800 ms (observed 512 ms)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} (observed {})",
            if self.passed { "PASS" } else { "FAIL" },
            self.name,
            self.observed.as_deref().unwrap_or("nothing: no data")
        )
    }
}

/// Cold starts over the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColdStartSummary {
    /// Where the numbers come from: `xray`, `logs` or `estimate`.
    pub source: String,
    /// Cold starts counted (or estimated).
    pub count: u64,
    /// Share of invocations that were cold (0.0–1.0).
    pub share: f64,
    /// Init duration percentiles.
    pub init: LatencySummary,
    /// Extra client latency of a cold request over a warm one of the same endpoint (median).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty: Option<Millis>,
    /// Per phase: name, count, share.
    pub by_phase: Vec<PhaseColdStarts>,
    /// Per function, when the source tells functions apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_function: Vec<FunctionColdStarts>,
    /// For `source = "estimate"`: the range the true count lies in and what it assumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<ColdStartEstimate>,
    /// Per UTC minute of the run (every minute its phase windows touch, zeros included),
    /// when the source dates each cold start: `logs` does; `xray` and `estimate` leave it
    /// empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_minute: Vec<MinuteColdStarts>,
}

/// Cold starts of one function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FunctionColdStarts {
    /// Function name.
    pub function: String,
    /// Cold starts counted (or, for an estimate, the point estimate).
    pub count: u64,
    /// For an estimate: the lowest count the metrics allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<u64>,
    /// For an estimate: the highest count the metrics allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<u64>,
    /// Invocations of the function in the phase windows, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocations: Option<u64>,
}

/// How a metrics-only cold-start estimate was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColdStartEstimate {
    /// Fewest cold starts consistent with the metrics.
    pub low: u64,
    /// Most cold starts consistent with the metrics.
    pub high: u64,
    /// What the estimate assumes, in one sentence.
    pub assumptions: String,
}

/// Cold starts that began in one UTC minute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MinuteColdStarts {
    /// Start of the minute (UTC).
    pub minute: DateTime<Utc>,
    /// Cold starts whose init began in `[minute, minute + 60 s)`.
    pub count: u64,
}

/// Cold starts of one phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhaseColdStarts {
    /// Phase name.
    pub phase: String,
    /// Cold starts.
    pub count: u64,
    /// Share of the phase's invocations.
    pub share: f64,
}

/// One second of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimelinePoint {
    /// Start of the second (UTC).
    pub t: DateTime<Utc>,
    /// Phase index, if inside one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<u32>,
    /// Requests intended to start in this second (offered load).
    pub offered: u64,
    /// Requests completed in this second.
    pub completed: u64,
    /// Median corrected latency of requests completed in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<Millis>,
    /// p99 corrected latency of requests completed in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<Millis>,
    /// 4xx responses.
    pub errors_4xx: u64,
    /// 5xx responses.
    pub errors_5xx: u64,
    /// Transport errors (status 0).
    pub errors_transport: u64,
    /// Cold starts that began in this second.
    pub cold_starts: u64,
    /// Lambda concurrency (server series, at its own resolution, held per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<f64>,
    /// Lambda throttles in this second, all functions: a coarser period's count is
    /// apportioned in whole numbers over its seconds by the client's throttle statuses in
    /// each (see docs/analysis.md, "Phase accounting").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_throttles: Option<f64>,
    /// Downstream throttle events in this second, all tables and streams (apportioned
    /// likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_throttles: Option<f64>,
}

/// A latency percentile curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LatencyDistribution {
    /// Phase name.
    pub phase: String,
    /// Points: percentile (0–100) → corrected latency.
    pub points: Vec<PercentilePoint>,
}

/// One point of a percentile curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PercentilePoint {
    /// Percentile, 0–100.
    pub percentile: f64,
    /// Latency at that percentile.
    pub latency: Millis,
}

/// Which telemetry the analysis had.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DataSources {
    /// CloudWatch series used.
    pub metric_series: u64,
    /// X-Ray traces joined to requests.
    pub traces: u64,
    /// Lambda REPORT lines used.
    pub log_reports: u64,
    /// Estimated clock offset of AWS relative to this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew: Option<Millis>,
    /// What was missing and why.
    #[serde(default)]
    pub notes: Vec<String>,
}
