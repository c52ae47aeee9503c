//! What to collect for: the AWS resources, the windows, the trace ids we sent, and where
//! to write — read from a run directory, or given on the command line (no run).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use stormwatch_model::request::FailedOrSlow;
use stormwatch_model::request_ids::{RequestIdKind, read_request_ids};
use stormwatch_model::{
    AwsResources, PhaseWindow, RequestLog, RequestRecord, RunDir, RunStatus, UnixNanos,
};

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

/// A traced request of the run: when it was sent, where it belongs, and what the client saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentTrace {
    /// When the request was sent.
    pub sent: UnixNanos,
    /// Its phase index.
    pub phase: u32,
    /// Its endpoint.
    pub endpoint: String,
    /// Answered 4xx/5xx (throttles included) or slower than its phase and endpoint's p99
    /// (all requests, traced or not): [`FailedOrSlow`].
    pub failed_or_slow: bool,
}

/// An imported request known by its API Gateway / Lambda request id but not its trace id
/// (`request_ids.csv`): what `collect` resolves to a trace id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdRequest {
    /// Its `sequence` in the request log.
    pub sequence: u64,
    /// The request id.
    pub request_id: String,
    /// The header it came from.
    pub kind: RequestIdKind,
    /// What the request was, as a traced one would be described once its trace is known.
    pub sent: SentTrace,
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
    /// Sampled X-Ray trace ids we sent, with what each request was.
    pub sent_traces: HashMap<String, SentTrace>,
    /// Requests known by request id only (imported runs with `request_ids.csv`).
    pub id_requests: Vec<IdRequest>,
    /// The run's answered requests (`None` without a run): what the functions' logs hold.
    pub answered_requests: Option<usize>,
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
        let log = if run.requests_dir().is_dir() {
            Some(RequestLog::read(&run.requests_dir())?)
        } else {
            None
        };
        // A run killed with SIGKILL: its last phase may end where it started (killed within
        // its first second) and later phases never ran. The phases that ran are collected,
        // the last one up to its last recorded response.
        let finished = manifest.status == RunStatus::Completed;
        let last_end = log
            .iter()
            .flat_map(|l| l.records.iter())
            .map(|r| r.end.to_datetime())
            .max();
        let windows: Vec<NamedWindow> = manifest
            .phases
            .iter()
            .filter_map(|p| {
                let mut window = match p.actual {
                    Some(w) => w,
                    None if finished => p.planned,
                    None => return None,
                };
                if !finished
                    && window.end <= window.start
                    && let Some(end) = last_end.filter(|e| *e > window.start)
                {
                    window.end = end;
                }
                Some(NamedWindow {
                    name: p.name.clone(),
                    window,
                })
            })
            .filter(|w| w.window.end > w.window.start)
            .collect();
        if windows.is_empty() {
            return Err(TelemetryError::NoWindows {
                path: run.manifest_path(),
            });
        }
        let records = log.map(|l| l.records).unwrap_or_default();
        let ms = |r: &RequestRecord| r.raw_latency().as_secs_f64() * 1000.0;
        let rule = FailedOrSlow::new(
            records
                .iter()
                .map(|r| ((r.phase, r.endpoint.as_str()), r.status, ms(r))),
        );
        let ids = read_request_ids(&run.request_ids_path())?.unwrap_or_default();
        let by_sequence: HashMap<u64, &RequestRecord> =
            records.iter().map(|r| (r.sequence, r)).collect();
        // A request whose trace id is known joins by it already.
        let id_requests = ids
            .into_iter()
            .filter_map(|i| {
                let r = by_sequence.get(&i.sequence)?;
                (r.trace_id.is_none() && r.status != 0).then(|| IdRequest {
                    sequence: i.sequence,
                    request_id: i.request_id,
                    kind: i.kind,
                    sent: SentTrace {
                        sent: r.sent,
                        phase: r.phase,
                        failed_or_slow: rule.test(&(r.phase, r.endpoint.as_str()), r.status, ms(r)),
                        endpoint: r.endpoint.clone(),
                    },
                })
            })
            .collect();
        let mut sent_traces = HashMap::new();
        for r in &records {
            if r.sampled
                && r.status != 0
                && let Some(id) = r.trace_id.clone()
            {
                sent_traces.insert(
                    id,
                    SentTrace {
                        sent: r.sent,
                        phase: r.phase,
                        failed_or_slow: rule.test(&(r.phase, r.endpoint.as_str()), r.status, ms(r)),
                        endpoint: r.endpoint.clone(),
                    },
                );
            }
        }
        Ok(Self {
            run_id: Some(manifest.run_id),
            resources,
            windows,
            answered_requests: Some(records.iter().filter(|r| r.status != 0).count()),
            sent_traces,
            id_requests,
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
            id_requests: Vec::new(),
            answered_requests: None,
            out: RunDir::new(out),
        })
    }

    /// The windows alone.
    pub fn phase_windows(&self) -> Vec<PhaseWindow> {
        self.windows.iter().map(|w| w.window).collect()
    }
}
