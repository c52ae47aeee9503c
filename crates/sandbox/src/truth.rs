//! The ground truth: one JSON line per request saying what really happened to it (route,
//! function, cold start, init and handler times, who throttled it, whether a fault window
//! applied), written to the `--ground-truth` file when one is given.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

use crate::error::SandboxError;

/// Who throttled a request.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ThrottledBy {
    /// The API stage's token bucket.
    Api,
    /// The function's concurrency cap.
    Lambda,
    /// The table's capacity (every SDK retry throttled).
    Table,
    /// The stream's shard capacity (every SDK retry throttled).
    Stream,
}

/// One ground-truth line (JSON), what actually happened to a request.
#[derive(Debug, Serialize)]
pub struct Truth {
    /// X-Ray trace id (the incoming Root when one was sent).
    pub trace_id: String,
    /// Route as configured, or `null` for an unknown route.
    pub route: Option<String>,
    /// Function name, or `null` when no function was reached.
    pub function: Option<String>,
    /// Arrival, Unix nanoseconds.
    pub arrival_unix_ns: u128,
    /// Response sent, Unix nanoseconds.
    pub finish_unix_ns: u128,
    /// HTTP status sent.
    pub status: u16,
    /// True when the invocation started a new environment.
    pub cold: bool,
    /// Execution environment id.
    pub env_id: Option<String>,
    /// Lambda request id (the `RequestId` of the START/END/REPORT lines).
    pub request_id: Option<String>,
    /// The request id the front answered: `x-amzn-RequestId` of a REST API (its own id,
    /// also the stage segment's `aws.api_gateway.request_id`) or of a function URL (the
    /// Lambda request id), `apigw-requestid` of an HTTP API.
    pub response_request_id: String,
    /// Init duration in milliseconds (cold starts only).
    pub init_ms: Option<f64>,
    /// Handler duration in milliseconds.
    pub handler_ms: Option<f64>,
    /// Who throttled it, if anyone.
    pub throttled_by: Option<ThrottledBy>,
    /// True when a scheduled fault window applied to this request.
    pub fault_active: bool,
    /// True when the client had disconnected before the response was ready (the invocation
    /// ran to its end all the same, as Lambda's does).
    pub client_gone: bool,
}

/// The ground-truth file, when one was asked for.
pub(crate) struct TruthLog(Mutex<Option<(PathBuf, std::io::BufWriter<std::fs::File>)>>);

impl TruthLog {
    /// Creates the file at `path`; with `None`, writes go nowhere.
    pub(crate) fn create(path: Option<PathBuf>) -> Result<Self, SandboxError> {
        let file = match path {
            Some(path) => {
                let f = std::fs::File::create(&path).map_err(|source| SandboxError::Write {
                    path: path.clone(),
                    source,
                })?;
                Some((path, std::io::BufWriter::new(f)))
            }
            None => None,
        };
        Ok(Self(Mutex::new(file)))
    }

    /// Appends one line.
    pub(crate) fn write(&self, t: &Truth) {
        let mut g = self.0.lock().expect("truth poisoned");
        if let Some((_, w)) = g.as_mut() {
            // A failed write surfaces at flush time, where it is reported with the path.
            let mut line = serde_json::to_vec(t).unwrap_or_default();
            line.push(b'\n');
            let _ = w.write_all(&line);
        }
    }

    /// Flushes the lines written so far.
    pub(crate) fn flush(&self) -> Result<(), SandboxError> {
        let mut g = self.0.lock().expect("truth poisoned");
        if let Some((path, w)) = g.as_mut() {
            w.flush().map_err(|source| SandboxError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
