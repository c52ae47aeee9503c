//! Errors while rendering or writing a report.

use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The HTML template failed to render (a bug in the template).
    #[error("rendering the HTML template: {0}")]
    Template(String),
    /// A chart failed to draw.
    #[error("drawing chart `{chart}`: {message}")]
    Chart {
        /// The chart's file stem.
        chart: String,
        /// What plotters said.
        message: String,
    },
    /// The report value could not be serialized.
    #[error("serializing the report: {0}")]
    Json(String),
}

impl ReportError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
