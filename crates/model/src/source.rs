//! `manifest.json` `source`: where an imported run's records came from.
//!
//! `stormwatch import` turns another tool's results (JMeter, k6, Gatling, Newman, HAR,
//! Locust) into a run directory. Those tools log when a request was actually sent, never
//! when it was meant to be sent, so an imported run's corrected latency equals its raw
//! latency; the manifest says so here, with the input files' hashes and what was skipped.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The tool and files an imported run was read from (absent for runs stormwatch sent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSource {
    /// The tool that ran the load: `jmeter`, `k6`, `gatling`, `newman`, `har`, `locust`.
    pub tool: String,
    /// The file format read, e.g. `jtl-csv`, `jtl-xml`, `k6-json`, `k6-csv`,
    /// `gatling-log`, `newman-json`, `har`, `locust-ndjson`, `locust-stats-history`.
    pub format: String,
    /// The input files, in the order given.
    pub files: Vec<SourceFile>,
    /// What the tool's time fields meant and how a request's start was derived.
    pub time_basis: String,
    /// Always false for an import: the tools log actual send times only, so corrected
    /// latency equals raw latency and coordinated omission could not be corrected.
    pub coordinated_omission_corrected: bool,
    /// False for an aggregate-only import (Locust `_stats_history.csv`): no per-request
    /// records, only the tool's per-second series in `series.csv`.
    pub per_request: bool,
    /// True when per-request times were reconstructed rather than read (Newman logs only the
    /// run's start and end: requests are spread across the run in order).
    #[serde(default)]
    pub times_approximate: bool,
    /// Requests whose recorded response headers carried an `X-Amzn-Trace-Id` (joined to
    /// X-Ray exactly).
    #[serde(default)]
    pub trace_ids_from_headers: u64,
    /// Records imported.
    pub records: u64,
    /// Lines or entries not imported (malformed, torn, outside every phase), over all files.
    #[serde(default)]
    pub skipped: u64,
    /// What was skipped or approximated, one sentence each, for the analysis and report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The tool's own request and failure counts, for an aggregate-only import (Locust's
    /// `Total Request Count` / `Total Failure Count` of the last `Aggregated` row, summed over
    /// the files): the only request counts such a run has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_totals: Option<ToolTotals>,
}

/// Requests and failures as the load tool counted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolTotals {
    /// Requests the tool sent.
    pub requests: u64,
    /// Of which it counted failed.
    pub failures: u64,
}

/// One input file of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// The path as given on the command line.
    pub path: String,
    /// SHA-256 (hex) of the file's bytes.
    pub sha256: String,
    /// Records imported from it.
    pub records: u64,
    /// Lines or entries of it not imported.
    #[serde(default)]
    pub skipped: u64,
}

impl ImportSource {
    /// The sentences an analysis of the imported run should carry: the tool, what could not
    /// be corrected, whether there are per-request records, what was skipped.
    pub fn analysis_notes(&self) -> Vec<String> {
        let files: Vec<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        let mut notes = vec![format!(
            "imported from {} ({}: {}); {}",
            self.tool,
            self.format,
            files.join(", "),
            self.time_basis
        )];
        if !self.coordinated_omission_corrected {
            notes.push(
                "coordinated omission could not be corrected: the tool logged actual send \
                 times only, so corrected latency = raw latency"
                    .into(),
            );
        }
        if !self.per_request {
            notes.push(
                "aggregate-only import: no per-request records, so per-phase and per-endpoint \
                 client statistics are empty; the tool's own per-second series (its percentiles) \
                 is in series.csv"
                    .into(),
            );
        }
        if self.times_approximate {
            notes.push(
                "per-request times are approximate: the tool logged only the run's start and \
                 end, so requests were spread across the run in order"
                    .into(),
            );
        }
        notes.extend(self.notes.iter().cloned());
        notes
    }
}
