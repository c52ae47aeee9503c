//! Import errors: each names the file and, where there is one, the line and the field.

use std::path::PathBuf;

/// Why an import failed. Every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line or entry of the file is wrong in a way that stops the import (a missing
    /// column, mixed time bases, nothing readable).
    #[error("{}:{line}: {field}: {message}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based line (or entry) number.
        line: u64,
        /// The column, attribute or JSON field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The file as a whole is not what the format expects (empty, another tool's format,
    /// an unsupported version).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `--phase` flag or the phases it makes are wrong.
    #[error("{0}")]
    Phase(String),
    /// Writing the run directory failed.
    #[error(transparent)]
    Model(#[from] stormwatch_model::ModelError),
}

impl ImportError {
    /// An error about line `line`, field `field` of `path`.
    pub fn at(
        path: impl Into<PathBuf>,
        line: u64,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Input {
            path: path.into(),
            line,
            field: field.into(),
            message: message.into(),
        }
    }

    /// An error about the whole file.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            message: message.into(),
        }
    }
}
