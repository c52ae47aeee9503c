//! Errors of the load engine. Scenario errors name the file, line and field to fix.

use std::path::PathBuf;

use stormwatch_model::ModelError;

/// Everything that can go wrong before or while running a scenario.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The scenario is wrong; nothing has been sent.
    #[error("{}:{line}: {field}: {message}", path.display())]
    Scenario {
        /// Scenario file.
        path: PathBuf,
        /// 1-based line of the offending value (0 when it has no place in the file).
        line: usize,
        /// Dotted path of the field, e.g. `phases[2].duration`.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A shard could not start by its plan's start instant plus the allowed skew: it
    /// refuses to run out of phase with the others.
    #[error(
        "not starting: the plan's start instant {at} passed {late_ms} ms ago, more than --max-start-skew ({max_ms} ms); a shard that starts late runs out of phase with the others"
    )]
    LateStart {
        /// The plan's start instant (RFC 3339).
        at: String,
        /// How late it would start, ms.
        late_ms: u64,
        /// The allowed skew, ms.
        max_ms: u64,
    },
    /// `[target] auth` signs requests but no credentials were set: nothing was sent.
    #[error(
        "{path}: target.auth.sigv4: no AWS credentials to sign with; set them before the run (the CLI resolves them from the default chain)"
    )]
    NoCredentials {
        /// Scenario file.
        path: String,
    },
    /// `merge` refused its inputs.
    #[error("merge: {0}")]
    Merge(String),
    /// `--set` was not `key=value`.
    #[error("--set {0}: expected key=value")]
    BadOverride(String),
    /// The HTTP client could not be built (TLS roots, etc.).
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The recorder task panicked or was cancelled.
    #[error("recorder task: {0}")]
    Recorder(#[source] tokio::task::JoinError),
    /// Writing the run directory failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl LoadError {
    /// Whether the user's input (scenario, flags) is at fault rather than the machine.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Self::Scenario { .. } | Self::BadOverride(_) | Self::NoCredentials { .. }
        )
    }
}
