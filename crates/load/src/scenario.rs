//! The scenario file as written (TOML), before any checking.
//!
//! Every table denies unknown fields so a typo is an error, not a silently ignored key.
//! Values that are checked later keep their place in the file (`Spanned`), so the checked
//! [`Plan`](crate::Plan) can report the line of a bad template, rate or duration.

use std::collections::BTreeMap;

use serde::Deserialize;
use stormwatch_model::{Arrivals, AwsResources};
use toml::Spanned;

/// The whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Where requests go and how.
    pub target: RawTarget,
    /// Named values usable as `${name}` in templates.
    #[serde(default)]
    pub variables: BTreeMap<String, Spanned<String>>,
    /// CSV files whose rows feed `${feeder.column}`.
    #[serde(default)]
    pub feeders: Vec<Spanned<RawFeeder>>,
    /// Trace header settings.
    #[serde(default)]
    pub trace: RawTrace,
    /// AWS resources behind the target (for later stages).
    #[serde(default)]
    pub aws: Option<AwsResources>,
    /// Flows, picked by weight for each iteration.
    #[serde(default)]
    pub flows: Vec<Spanned<RawFlow>>,
    /// Phases, run in order.
    #[serde(default)]
    pub phases: Vec<Spanned<RawPhase>>,
    /// Pass/fail limits.
    #[serde(default)]
    pub thresholds: Vec<Spanned<RawThreshold>>,
}

/// `[target]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Base URL; step paths are appended to it.
    pub url: Spanned<String>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// Per-request timeout (default `30s`).
    pub timeout: Option<Spanned<String>>,
    /// Response bytes read at most per request (default 1 MiB).
    pub body_limit: Option<u64>,
    /// How long in-flight requests may finish after the end or an abort (default `5s`).
    pub grace: Option<Spanned<String>>,
    /// Cap on concurrent requests (like wrk/oha's connection count); unlimited when absent.
    /// Requests beyond it wait for a free connection, and that wait shows in corrected latency.
    pub connections: Option<Spanned<i64>>,
    /// Request signing: `{ sigv4 = { service = "execute-api", region = "us-east-1" } }`.
    pub auth: Option<Spanned<RawAuth>>,
}

/// `[target] auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// AWS Signature Version 4 with the default credential chain.
    pub sigv4: Option<RawSigV4>,
}

/// `[target] auth.sigv4`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigV4 {
    /// `execute-api` (API Gateway) or `lambda` (function URLs).
    pub service: Option<Spanned<String>>,
    /// The region of the API, e.g. `us-east-1`.
    pub region: Option<Spanned<String>>,
}

/// `[trace]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrace {
    /// Fraction of requests sent with `Sampled=1` (instead of the budget).
    pub sampling: Option<Spanned<f64>>,
    /// Traced requests per second of the default budget (when `[aws]` names resources).
    pub budget: Option<Spanned<f64>>,
    /// Also send a W3C `traceparent` header.
    #[serde(default)]
    pub traceparent: bool,
}

/// `[[feeders]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeeder {
    /// Name used in templates: `${name.column}`.
    pub name: String,
    /// CSV file with a header line, relative to the scenario file.
    pub path: String,
}

/// `[[flows]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    /// Flow name, recorded with each request.
    pub name: String,
    /// Relative weight when picking a flow (default 1).
    pub weight: Option<Spanned<i64>>,
    /// Steps run once per virtual user before its first iteration of this flow.
    #[serde(default)]
    pub on_start: Vec<Spanned<RawStep>>,
    /// Steps of one iteration, in order.
    #[serde(default)]
    pub steps: Vec<Spanned<RawStep>>,
}

/// One request of a flow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Endpoint name for grouping (default: method and path with `:name` placeholders).
    pub endpoint: Option<String>,
    /// HTTP method (default GET).
    pub method: Option<Spanned<String>>,
    /// Path template appended to the target URL.
    pub path: Spanned<String>,
    /// Query parameters (templates).
    #[serde(default)]
    pub query: BTreeMap<String, Spanned<String>>,
    /// Headers (templates).
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// JSON body; strings in it are templates.
    pub body: Option<Spanned<toml::Value>>,
    /// Statuses that count as success (default: any 2xx or 3xx).
    #[serde(default)]
    pub expect: Vec<u16>,
    /// Values to take from the response into variables.
    #[serde(default)]
    pub extract: Vec<Spanned<RawExtract>>,
    /// Pause after this step.
    pub think: Option<Spanned<RawThink>>,
    /// Repeat this request until a JSON field reaches a state.
    pub poll: Option<Spanned<RawPoll>>,
    /// Always trace this step's requests (`Sampled=1`), whatever `[trace]` says.
    #[serde(default)]
    pub trace: bool,
}

/// One `extract` rule; exactly one of `json`, `header`, `regex`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtract {
    /// Variable to set.
    pub var: String,
    /// JSON pointer into the body, e.g. `/token`.
    pub json: Option<String>,
    /// Response header name.
    pub header: Option<String>,
    /// Regex over the body; the first capture group (or the whole match).
    pub regex: Option<String>,
}

/// `think`; exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThink {
    /// Always this long.
    pub constant: Option<String>,
    /// Uniformly between two durations.
    pub uniform: Option<Vec<String>>,
    /// Exponentially distributed with this mean.
    pub exponential: Option<String>,
}

/// `poll`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    /// Pause between polls.
    pub every: String,
    /// Give up after this long (the last poll counts as `poll_timeout`).
    pub timeout: String,
    /// JSON pointer of the state field, e.g. `/status`.
    pub field: String,
    /// States that end the poll.
    pub until: Vec<String>,
}

/// `[[phases]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    /// Phase name.
    pub name: String,
    /// `open`, `closed` or `idle`.
    pub model: Spanned<String>,
    /// How long it lasts.
    pub duration: Option<Spanned<String>>,
    /// Open: constant flow starts per second.
    pub rate: Option<Spanned<f64>>,
    /// Closed: constant virtual users.
    pub users: Option<Spanned<i64>>,
    /// Ramp start (rate or users).
    pub from: Option<Spanned<f64>>,
    /// Ramp end (rate or users).
    pub to: Option<Spanned<f64>>,
    /// Open: `uniform` (default) or `poisson`.
    pub arrivals: Option<Arrivals>,
    /// Open: cap on flows in flight; arrivals beyond it are dropped and counted.
    pub max_in_flight: Option<Spanned<i64>>,
}

/// `[[thresholds]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThreshold {
    /// Phase name (all phases with traffic, each on its own, when absent).
    pub phase: Option<Spanned<String>>,
    /// Endpoint name (all endpoints together when absent).
    pub endpoint: Option<String>,
    /// `METRIC OP LIMIT`, e.g. `p99 < 800` (ms), `error_rate <= 0.01`, `achieved_rate >= 95`.
    pub check: Spanned<String>,
}
