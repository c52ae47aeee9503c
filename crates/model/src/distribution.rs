//! Distributed runs: a shard's place in the plan, and a merged run's shards. A shard runs
//! the whole scenario's plan with `--shard I/N` and takes its stripe of the arrivals; every
//! shard of one plan has the same plan hash (scenario bytes, shard count, start instant, tool
//! version). `stormwatch merge` checks the hashes and writes the per-shard table.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::RunStatus;

/// `manifest.json` `distribution`: present on a shard's run and on a merged run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Distribution {
    /// SHA-256 hex of the scenario's bytes, the shard count, the start instant and the tool
    /// version: equal on every shard of one plan.
    pub plan_hash: String,
    /// Shards of the plan.
    pub shard_count: u32,
    /// The instant every shard starts phase 0 at (`--start-at`), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    /// This run's shard index (a shard's own run); absent on a merged run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_index: Option<u32>,
    /// When this shard actually started phase 0 (a shard's own run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_start: Option<DateTime<Utc>>,
    /// A merged run: one row per shard merged, by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardSummary>,
    /// A merged run: shard indexes that were missing (`merge --allow-missing`); their
    /// share of the arrivals was never sent or never recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<u32>,
}

/// One shard of a merged run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShardSummary {
    /// Shard index.
    pub index: u32,
    /// The shard's own run id.
    pub run_id: String,
    /// How the shard's run ended.
    pub status: RunStatus,
    /// Requests it recorded.
    pub requests: u64,
    /// Of those, failed (an `error` kind).
    pub errors: u64,
    /// Its 99th-percentile corrected latency, ms (HDR histograms of all its phases).
    pub p99_ms: Option<f64>,
    /// Its actual start of phase 0 minus the plan's start instant, ms.
    pub start_skew_ms: Option<f64>,
}

/// The plan hash: SHA-256 hex over the scenario's SHA-256, the shard count, the start
/// instant (RFC 3339, or empty) and the tool version.
pub fn plan_hash(
    scenario_sha256: &str,
    shard_count: u32,
    start_at: Option<DateTime<Utc>>,
    tool_version: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(scenario_sha256.as_bytes());
    h.update(b"\n");
    h.update(shard_count.to_string().as_bytes());
    h.update(b"\n");
    h.update(
        start_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
            .as_bytes(),
    );
    h.update(b"\n");
    h.update(tool_version.as_bytes());
    h.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_hash_changes_with_every_input() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let base = plan_hash("ab", 3, Some(t), "0.1.0");
        assert_eq!(base.len(), 64);
        assert_eq!(base, plan_hash("ab", 3, Some(t), "0.1.0"));
        assert_ne!(base, plan_hash("ac", 3, Some(t), "0.1.0"));
        assert_ne!(base, plan_hash("ab", 4, Some(t), "0.1.0"));
        assert_ne!(base, plan_hash("ab", 3, None, "0.1.0"));
        assert_ne!(base, plan_hash("ab", 3, Some(t), "0.1.1"));
    }
}
