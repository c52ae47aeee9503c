//! Errors of the analyzer. Each names the file it concerns.

use std::path::PathBuf;

/// What went wrong while analyzing a run.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A run-directory file could not be read or parsed.
    #[error(transparent)]
    Model(#[from] stormwatch_model::ModelError),
    /// A data file could not be read into a frame.
    #[error("{path}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// What polars said.
        message: String,
    },
    /// A query over the aligned data failed (a bug, or a file with unexpected columns).
    #[error("{what}: {message}")]
    Query {
        /// Which computation.
        what: &'static str,
        /// What polars said.
        message: String,
    },
    /// The run has no request records at all.
    #[error("{0}: no request records; was the run killed before its first second?")]
    NoRequests(PathBuf),
}

impl AnalysisError {
    pub(crate) fn query(what: &'static str) -> impl FnOnce(polars::error::PolarsError) -> Self {
        move |e| Self::Query {
            what,
            message: e.to_string(),
        }
    }
}
