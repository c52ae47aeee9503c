//! What to collect for: the AWS resources, the windows, the trace ids we sent, and where
//! to write — read from a run directory, or given on the command line (no run).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use stormwatch_model::{AwsResources, PhaseWindow, RequestLog, RunDir, UnixNanos};

use crate::TelemetryError;

/// The window `[from, to)` of `--from`/`--to`; an error naming both flags when `to` is
/// not after `from`.
pub fn checked_range(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<PhaseWindow, TelemetryError> {
    if to <= from {
        return Err(TelemetryError::Usage(format!(
            "--to ({}) must be after --from ({})",
            to.to_rfc3339(),
            from.to_rfc3339()
        )));
    }
    Ok(PhaseWindow {
        start: from,
        end: to,
    })
}

/// A named window (`baseline`, `burst`... or `range` without a run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedWindow {
    /// Phase name.
    pub name: String,
    /// The window.
    pub window: PhaseWindow,
}

/// Everything `collect` needs to know before it touches the network.
#[derive(Clone, Debug)]
pub struct CollectTarget {
    /// The run's id, when there is a run.
    pub run_id: Option<String>,
    /// What to query.
    pub resources: AwsResources,
    /// The windows to collect for, in order.
    pub windows: Vec<NamedWindow>,
    /// Sampled X-Ray trace ids we sent, with the time each request was sent.
    pub sent_traces: HashMap<String, UnixNanos>,
    /// Where `telemetry/` goes.
    pub out: RunDir,
}

impl CollectTarget {
    /// Reads a run directory: its manifest's `aws` block and phase windows, and the sampled
    /// trace ids of its request records (requests that never reached AWS are left out).
    pub fn from_run(dir: &Path) -> Result<Self, TelemetryError> {
        let run = RunDir::new(dir);
        let manifest = run.read_manifest()?;
        let resources = manifest
            .aws
            .clone()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| TelemetryError::NoResources {
                path: run.manifest_path(),
            })?;
        let windows: Vec<NamedWindow> = manifest
            .phases
            .iter()
            .map(|p| NamedWindow {
                name: p.name.clone(),
                window: p.actual.unwrap_or(p.planned),
            })
            .filter(|w| w.window.end > w.window.start)
            .collect();
        if windows.is_empty() {
            return Err(TelemetryError::NoWindows {
                path: run.manifest_path(),
            });
        }
        let mut sent_traces = HashMap::new();
        if run.requests_dir().is_dir() {
            let log = RequestLog::read(&run.requests_dir())?;
            for r in log.records {
                if r.sampled
                    && r.status != 0
                    && let Some(id) = r.trace_id
                {
                    sent_traces.insert(id, r.sent);
                }
            }
        }
        Ok(Self {
            run_id: Some(manifest.run_id),
            resources,
            windows,
            sent_traces,
            out: run,
        })
    }

    /// A target without a run: one window `[from, to)` and the resources named by flags.
    pub fn from_range(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        resources: AwsResources,
        out: PathBuf,
    ) -> Result<Self, TelemetryError> {
        let window = checked_range(from, to)?;
        if resources.is_empty() {
            return Err(TelemetryError::Usage(
                "nothing to collect: name at least one --function, --api/--api-id, --table, --stream or --queue".into(),
            ));
        }
        Ok(Self {
            run_id: None,
            resources,
            windows: vec![NamedWindow {
                name: "range".into(),
                window,
            }],
            sent_traces: HashMap::new(),
            out: RunDir::new(out),
        })
    }

    /// The windows alone.
    pub fn phase_windows(&self) -> Vec<PhaseWindow> {
        self.windows.iter().map(|w| w.window).collect()
    }
}
