//! `manifest.json`: what a run was, against what, and when each phase really ran.
//!
//! Written by `load` at the start of a run with status `incomplete` and rewritten
//! atomically as phases start and end, so a run killed at any moment still has a readable
//! manifest. Later stages read the phase windows and the AWS resources from it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{PhaseWindow, ThresholdSpec};

/// The manifest layout version this build writes and the newest it reads.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// The run manifest (`manifest.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunManifest {
    /// Layout version of this file; see [`MANIFEST_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique id of the run, also the run directory's name (e.g. `20261122T140102Z-checkout`).
    pub run_id: String,
    /// Version of the stormwatch that ran the load.
    pub tool_version: String,
    /// The scenario as it was run.
    pub scenario: ScenarioCopy,
    /// Base URL the load was sent to.
    pub target: String,
    /// The AWS resources behind the target, used by `collect`; absent when the scenario names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsResources>,
    /// How the run ended.
    pub status: RunStatus,
    /// Fraction (0.0–1.0) of requests sent with `Sampled=1` in their trace header; with a
    /// trace budget, the fraction of the requests beyond the budget.
    pub trace_sampling: f64,
    /// The trace budget, traced requests per second, when the run traced on one. Which
    /// requests were traced is in each request record (`sampled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_budget_per_sec: Option<f64>,
    /// When the run started (UTC).
    pub started_at: DateTime<Utc>,
    /// When the run ended (UTC); absent while it runs or when it was killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// The phases, in the order they ran.
    pub phases: Vec<Phase>,
    /// The scenario's thresholds, judged after the run (client-side ones by `run`, all of
    /// them again by `analyze`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdSpec>,
    /// Free-form labels (`--set`-style overrides, host name, git revision...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A shard of a distributed plan (`run --shard`), or a merge of shards (`merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<crate::distribution::Distribution>,
    /// For a run made by `stormwatch import`: the tool and files it was read from. Absent
    /// for runs stormwatch sent itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::ImportSource>,
}

impl RunManifest {
    /// The actual window of every phase that ran, falling back to the planned window.
    pub fn phase_windows(&self) -> Vec<PhaseWindow> {
        self.phases
            .iter()
            .map(|p| p.actual.unwrap_or(p.planned))
            .collect()
    }

    /// The index of the phase whose (actual, else planned) window contains `t`.
    pub fn phase_at(&self, t: DateTime<Utc>) -> Option<usize> {
        crate::time::window_index_at(&self.phase_windows(), t)
    }

    /// From the start of the first phase to the end of the last one.
    pub fn overall_window(&self) -> Option<PhaseWindow> {
        let windows = self.phase_windows();
        Some(PhaseWindow {
            start: windows.first()?.start,
            end: windows.last()?.end,
        })
    }
}

/// The scenario file as it was run, secrets redacted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioCopy {
    /// Path the scenario was read from, as given on the command line.
    pub path: String,
    /// SHA-256 (hex) of the file's bytes as read.
    pub sha256: String,
    /// The file's text with literal secret values replaced by `<redacted>`
    /// (`${env:...}` references are kept as written, never their values).
    pub content: String,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running, or killed before it could say otherwise.
    Incomplete,
    /// Every phase ran to its end.
    Completed,
    /// Stopped early on purpose (Ctrl-C, SIGTERM).
    Aborted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Incomplete => "incomplete",
            Self::Completed => "completed",
            Self::Aborted => "aborted",
        })
    }
}

/// The AWS resources that serve the target, as named in the scenario's `[aws]` block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsResources {
    /// AWS region, e.g. `eu-west-1`; absent means the default from the AWS config chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Lambda function names (optionally `name:alias`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    /// The API in front of the functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiResource>,
    /// DynamoDB table names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// Kinesis stream names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    /// SQS queue names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
}

impl AwsResources {
    /// Whether the block names anything a collector could query.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
            && self.api.is_none()
            && self.tables.is_empty()
            && self.streams.is_empty()
            && self.queues.is_empty()
    }
}

/// The front door of the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiResource {
    /// Which kind of front it is; decides status codes and metric names.
    pub kind: ApiKind,
    /// API name (REST APIs publish metrics under `ApiName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// API id (HTTP APIs publish metrics under `ApiId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Stage name, e.g. `prod` (`$default` for an HTTP API's default stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

/// Kinds of API front for Lambda.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// API Gateway REST API (v1).
    Rest,
    /// API Gateway HTTP API (v2).
    Http,
    /// Lambda function URL.
    FunctionUrl,
}

impl std::fmt::Display for ApiKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rest => "rest",
            Self::Http => "http",
            Self::FunctionUrl => "function_url",
        })
    }
}

/// One named phase of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Position in the run, from 0; request records refer to phases by this index.
    pub index: u32,
    /// The scenario's name for it (`baseline`, `burst`...).
    pub name: String,
    /// How load was generated in it.
    pub model: PhaseModel,
    /// When it was meant to run.
    pub planned: PhaseWindow,
    /// When it really ran; absent if it never started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<PhaseWindow>,
    /// Open model: arrivals not sent because `max_in_flight` flows were already running.
    #[serde(default)]
    pub dropped: u64,
}

/// How load was generated in a phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PhaseModel {
    /// Open model: flows start at a planned rate whatever the server does.
    Open {
        /// Flow starts per second at the phase's start.
        start_rate_per_sec: f64,
        /// Flow starts per second at its end (equal to the start rate when constant).
        end_rate_per_sec: f64,
        /// How arrivals are spaced.
        arrivals: Arrivals,
        /// Cap on flows in flight; arrivals beyond it are dropped and counted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_in_flight: Option<u32>,
    },
    /// Closed model: a number of virtual users, each running flows back to back.
    Closed {
        /// Virtual users at the phase's start.
        start_users: u32,
        /// Virtual users at its end.
        end_users: u32,
    },
    /// No traffic at all (lets execution environments go idle).
    Idle,
}

/// Spacing of arrivals in an open phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Evenly spaced.
    Uniform,
    /// Exponentially distributed gaps (a Poisson process).
    Poisson,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) fn sample() -> RunManifest {
        let t0 = DateTime::parse_from_rfc3339("2026-11-22T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w1 = PhaseWindow::starting_at(t0, Duration::from_secs(60));
        let w2 = PhaseWindow::starting_at(w1.end, Duration::from_secs(30));
        RunManifest {
            schema_version: MANIFEST_SCHEMA_VERSION,
            run_id: "20261122T140000Z-store".into(),
            tool_version: "0.1.0".into(),
            scenario: ScenarioCopy {
                path: "store.toml".into(),
                sha256: "ab".repeat(32),
                content: "[target]\nurl = \"http://127.0.0.1:1\"\n".into(),
            },
            target: "http://127.0.0.1:1".into(),
            aws: Some(AwsResources {
                region: Some("eu-west-1".into()),
                functions: vec!["store-products".into()],
                api: Some(ApiResource {
                    kind: ApiKind::Rest,
                    name: Some("store".into()),
                    id: None,
                    stage: Some("prod".into()),
                }),
                tables: vec!["orders".into()],
                streams: vec![],
                queues: vec![],
            }),
            status: RunStatus::Completed,
            trace_sampling: 1.0,
            trace_budget_per_sec: None,
            started_at: t0,
            ended_at: Some(w2.end),
            phases: vec![
                Phase {
                    index: 0,
                    name: "baseline".into(),
                    model: PhaseModel::Open {
                        start_rate_per_sec: 10.0,
                        end_rate_per_sec: 10.0,
                        arrivals: Arrivals::Uniform,
                        max_in_flight: Some(100),
                    },
                    planned: w1,
                    actual: Some(w1),
                    dropped: 0,
                },
                Phase {
                    index: 1,
                    name: "gap".into(),
                    model: PhaseModel::Idle,
                    planned: w2,
                    actual: None,
                    dropped: 0,
                },
            ],
            thresholds: Vec::new(),
            labels: BTreeMap::new(),
            distribution: None,
            source: None,
        }
    }

    #[test]
    fn manifest_round_trips_through_json() {
        let m = sample();
        let text = serde_json::to_string_pretty(&m).unwrap();
        let back: RunManifest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
        // The wire names are part of the contract.
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], "completed");
        assert_eq!(v["aws"]["api"]["kind"], "rest");
        assert_eq!(v["phases"][0]["model"]["kind"], "open");
        assert_eq!(v["phases"][0]["planned"]["start"], "2026-11-22T14:00:00Z");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["surprise"] = serde_json::json!(1);
        assert!(serde_json::from_value::<RunManifest>(v).is_err());
    }

    #[test]
    fn phase_lookup_uses_actual_then_planned_windows() {
        let m = sample();
        let w = m.phase_windows();
        assert_eq!(m.phase_at(w[0].start), Some(0));
        assert_eq!(m.phase_at(w[1].start), Some(1));
        assert_eq!(m.phase_at(w[1].end), None);
        assert_eq!(
            m.overall_window().unwrap().duration(),
            Duration::from_secs(90)
        );
    }
}
