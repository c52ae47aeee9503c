//! Paths inside a run directory, and reading/writing its manifest safely.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{
    ANALYSIS_SCHEMA_VERSION, AnalysisReport, MANIFEST_SCHEMA_VERSION, ModelError, RunManifest,
};

/// A run directory (`runs/<run-id>/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// A run directory at `root` (nothing is read or created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates a new, empty run directory under `parent` (created when missing), named
    /// `<UTC start>-<name>` (`20261122T140102Z-checkout`), with `-2`, `-3`, … appended when
    /// that name is taken.
    pub fn create(parent: &Path, name: &str) -> Result<Self, ModelError> {
        fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
        let base = format!("{}-{name}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
        let mut n = 1;
        loop {
            let root = if n == 1 {
                parent.join(&base)
            } else {
                parent.join(format!("{base}-{n}"))
            };
            match fs::create_dir(&root) {
                Ok(()) => return Ok(Self { root }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(ModelError::io(root, e)),
            }
        }
    }

    /// The run's id: the directory's name.
    pub fn id(&self) -> String {
        self.root
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `manifest.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join("manifest.json")
    }

    /// `requests/`.
    pub fn requests_dir(&self) -> PathBuf {
        self.root.join("requests")
    }

    /// `request_ids.csv`: imported requests' API Gateway / Lambda request ids.
    pub fn request_ids_path(&self) -> PathBuf {
        self.root.join("request_ids.csv")
    }

    /// `telemetry/trace_joins.csv`: the trace ids `collect` resolved request ids to.
    pub fn trace_joins_path(&self) -> PathBuf {
        self.telemetry_dir().join("trace_joins.csv")
    }

    /// `histograms.json`.
    pub fn histograms_path(&self) -> PathBuf {
        self.root.join("histograms.json")
    }

    /// `telemetry/`.
    pub fn telemetry_dir(&self) -> PathBuf {
        self.root.join("telemetry")
    }

    /// `telemetry/metrics.parquet`.
    pub fn metrics_path(&self) -> PathBuf {
        self.telemetry_dir().join("metrics.parquet")
    }

    /// `telemetry/spans.parquet`.
    pub fn spans_path(&self) -> PathBuf {
        self.telemetry_dir().join("spans.parquet")
    }

    /// `telemetry/collect.json`.
    pub fn collect_path(&self) -> PathBuf {
        self.telemetry_dir().join("collect.json")
    }

    /// `analysis.json`.
    pub fn analysis_path(&self) -> PathBuf {
        self.root.join("analysis.json")
    }

    /// `report/`.
    pub fn report_dir(&self) -> PathBuf {
        self.root.join("report")
    }

    /// Reads and checks `manifest.json`.
    pub fn read_manifest(&self) -> Result<RunManifest, ModelError> {
        let path = self.manifest_path();
        let text = fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        // Check the version first so a newer layout gets a useful message, not a
        // field-by-field complaint.
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::json(&path, &e))?;
        let found = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if found > u64::from(MANIFEST_SCHEMA_VERSION) {
            return Err(ModelError::SchemaVersion {
                path,
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: MANIFEST_SCHEMA_VERSION,
            });
        }
        serde_json::from_str(&text).map_err(|e| ModelError::json(&path, &e))
    }

    /// Reads `histograms.json`; `None` when the run wrote none (killed before its end).
    pub fn read_histograms(&self) -> Result<Option<crate::HistogramFile>, ModelError> {
        let path = self.histograms_path();
        if !path.is_file() {
            return Ok(None);
        }
        let text = fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ModelError::json(&path, &e))
    }

    /// Writes `manifest.json` atomically (temporary file, then rename), so a reader or a
    /// crash never sees half a manifest.
    pub fn write_manifest(&self, manifest: &RunManifest) -> Result<(), ModelError> {
        write_json_atomic(&self.manifest_path(), manifest)
    }

    /// Reads `analysis.json`.
    pub fn read_analysis(&self) -> Result<AnalysisReport, ModelError> {
        let path = self.analysis_path();
        let text = fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        let found = schema_version_of(&text).map_err(|e| ModelError::json(&path, &e))?;
        if found != u64::from(ANALYSIS_SCHEMA_VERSION) {
            return Err(ModelError::SchemaVersion {
                path,
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: ANALYSIS_SCHEMA_VERSION,
            });
        }
        serde_json::from_str(&text).map_err(|e| ModelError::json(&path, &e))
    }

    /// Writes `analysis.json` atomically.
    pub fn write_analysis(&self, report: &AnalysisReport) -> Result<(), ModelError> {
        write_json_atomic(&self.analysis_path(), report)
    }

    /// True when `analysis.json` exists and is at least as new as every input it was built
    /// from (manifest, telemetry files, request segments), so it can be reused as is.
    pub fn analysis_is_current(&self) -> bool {
        // Written by another version of the analyzer: analyze again rather than misread it.
        let same_layout = fs::read_to_string(self.analysis_path())
            .ok()
            .and_then(|t| schema_version_of(&t).ok())
            == Some(u64::from(ANALYSIS_SCHEMA_VERSION));
        if !same_layout {
            return false;
        }
        let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
        let Some(analysis) = modified(&self.analysis_path()) else {
            return false;
        };
        let mut inputs = vec![
            self.manifest_path(),
            self.histograms_path(),
            self.metrics_path(),
            self.spans_path(),
            self.request_ids_path(),
            self.trace_joins_path(),
        ];
        if let Ok(entries) = fs::read_dir(self.requests_dir()) {
            inputs.extend(entries.filter_map(Result::ok).map(|e| e.path()));
        }
        inputs
            .iter()
            .filter_map(|p| modified(p))
            .all(|t| t <= analysis)
    }
}

/// Writes `value` as pretty JSON to `path` through a temporary file and a rename.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ModelError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
    }
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| ModelError::json(path, &e))?;
    text.push(b'\n');
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, &text).map_err(|e| ModelError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}

/// The `schema_version` field of a JSON document (0 when absent).
fn schema_version_of(text: &str) -> Result<u64, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    Ok(value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_run_directories_get_fresh_names() {
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path().join("runs");
        let first = RunDir::create(&parent, "checkout").unwrap();
        let second = RunDir::create(&parent, "checkout").unwrap();
        assert!(first.root().is_dir() && second.root().is_dir());
        assert!(first.id().ends_with("Z-checkout"), "{}", first.id());
        // Within the same second the name is taken: a suffix tells them apart.
        assert_ne!(first.id(), second.id());
        assert_eq!(second.root(), parent.join(second.id()));
    }
}
