//! Errors raised while reading or writing run-directory files.
//!
//! Every variant names the file (and line, where there is one) so a user can act on it.

use std::path::PathBuf;

/// What went wrong with a run-directory file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read, written or created.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file did not parse or did not match the expected shape.
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// 1-based column of the error (0 when unknown).
        column: usize,
        /// What serde said.
        message: String,
    },
    /// A request-log line could not be decoded.
    #[error("{path}:{line}: field `{field}`: {message}")]
    Record {
        /// The segment file concerned.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The column that failed.
        field: String,
        /// Why it failed.
        message: String,
    },
    /// The file was written by another version of stormwatch.
    #[error(
        "{path}: schema version {found}, but this stormwatch reads version {supported}: {}",
        if found > supported { "upgrade stormwatch" } else { "run `stormwatch analyze` on the run again" }
    )]
    SchemaVersion {
        /// The manifest file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A window whose end lies before its start.
    #[error("window ends ({end}) before it starts ({start})")]
    InvertedWindow {
        /// Start as RFC 3339.
        start: String,
        /// End as RFC 3339.
        end: String,
    },
    /// A serialized histogram could not be decoded.
    #[error("histogram for phase {phase}, endpoint `{endpoint}`: {message}")]
    Histogram {
        /// Phase index.
        phase: u32,
        /// Endpoint name.
        endpoint: String,
        /// Why it failed.
        message: String,
    },
}

impl ModelError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps a serde_json error with the path it concerns.
    pub fn json(path: impl Into<PathBuf>, err: &serde_json::Error) -> Self {
        Self::Json {
            path: path.into(),
            line: err.line(),
            column: err.column(),
            message: err.to_string(),
        }
    }
}
