//! Findings: what the analyzer concluded, with the evidence and what to do about it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::PhaseWindow;

/// How much a finding matters.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; not a problem.
    Info,
    /// Hurts latency or a minority of requests.
    Warning,
    /// Fails requests or breaks a threshold.
    Critical,
}

impl Severity {
    /// The name used in JSON and reports: `info`, `warning`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of cause a finding names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Cold starts added latency.
    ColdStarts,
    /// Lambda hit its concurrency limit and throttled.
    LambdaThrottling,
    /// API Gateway's stage or usage-plan limit throttled.
    ApiThrottling,
    /// A downstream service (DynamoDB, Kinesis, SQS) throttled.
    DownstreamThrottling,
    /// Requests timed out (integration or function timeout).
    Timeouts,
    /// The function itself failed.
    FunctionErrors,
    /// Throughput stopped following offered load.
    Saturation,
    /// How p99 recovered after a burst or incident.
    Recovery,
}

/// One number behind a finding and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// What the number is (`Lambda Throttles`, `p99 in burst`...).
    pub label: String,
    /// The value, formatted with its unit.
    pub value: String,
    /// The series or file it was read from (`AWS/Lambda/Throttles{FunctionName=x}:Sum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A conclusion of the analyzer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// What kind of cause it names.
    pub kind: FindingKind,
    /// How much it matters.
    pub severity: Severity,
    /// One sentence a person reads first.
    pub title: String,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<PhaseWindow>,
    /// The phase it happened in, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The numbers that support it.
    pub evidence: Vec<Evidence>,
    /// What to change.
    pub recommendation: String,
}
