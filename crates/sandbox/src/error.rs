//! Errors of the sandbox crate: config errors name the file, line and field; I/O errors name
//! the path or address involved.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The config file could not be read.
    #[error("{path}: cannot read config: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config is not valid (syntax, unknown field, bad value).
    #[error("{path}:{line}: field `{field}`: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A file the sandbox writes (ground truth, logs) could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A spill file of the data directory failed: what the memory budgets could not hold
    /// was dropped after that.
    #[error(
        "spill file {0} (the traces or log events beyond the memory budget were dropped after it)"
    )]
    Spill(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}
