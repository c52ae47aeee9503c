//! The stormwatch sandbox: a local serverless app that fails the way Lambda behind API
//! Gateway fails (cold starts, concurrency caps, stage throttling, timeouts), recording the
//! telemetry AWS would record and a ground truth of what really happened to each request.
//!
//! The AWS telemetry APIs (CloudWatch, CloudWatch Logs, X-Ray) and their stores come from
//! `stormwatch-aws-emulator`; the sandbox records into those stores and serves the APIs on
//! its application's port, with Lambda's control plane answering from a registry of the
//! configured functions.
//!
//! Use [`Sandbox::start`] inside a tokio runtime (tests), or [`run_until_signal`] from the CLI.

mod app;
mod auth;
mod config;
mod config_check;
mod config_ctx;
mod config_function;
mod config_limits;
mod config_raw;
mod config_services;
mod data_dir;
mod dist;
mod error;
pub mod iam;
mod jobs;
mod lambda_logs;
mod platform;
mod server;
mod stream;
mod table;
mod trace;
mod truth;
mod xray_docs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use app::{App, Reply};
pub use config::{ApiConfig, Config, FunctionConfig, RouteConfig, TracingConfig};
pub use config_function::{DEFAULT_CODE_SIZE, DEFAULT_RUNTIME};
pub use config_raw::{ApiKind, InitSubsegment, LogFormat, TracingMode};
pub use config_services::{AuthConfig, QueueConfig, RouteAction, StreamConfig};
pub use dist::Dist;
pub use error::SandboxError;
use stormwatch_aws_emulator::api::TelemetryApis;
pub use stormwatch_aws_emulator::lambda_functions::{Architecture, PackageType};
pub use stormwatch_aws_emulator::metric_store::{
    Aggregate, Datapoint, Grid, MetricStore, QueryOutcome, Sample, SeriesInfo, SeriesKey,
    Statistic, Unit, key,
};
pub use stormwatch_aws_emulator::{
    FunctionInfo, LambdaFunctions, LogEvent, LogStore, Rejected, SegmentStore, StoredSegment,
};
use tokio::sync::watch;
pub use truth::{ThrottledBy, Truth};

/// How to run a sandbox.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seed for every random draw.
    pub seed: u64,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where to write ground-truth JSON lines, if anywhere.
    pub ground_truth: Option<PathBuf>,
}

/// A running sandbox.
pub struct Sandbox {
    /// Base URL of the API, e.g. `http://127.0.0.1:PORT`.
    pub api_url: String,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Binds and starts serving. Must be called inside a tokio runtime.
    pub async fn start(config: Config, opts: Options) -> Result<Self, SandboxError> {
        Self::start_with_data_dir(config, opts, None).await
    }

    /// As [`Sandbox::start`], also writing every log event and segment document the
    /// platform emits under `data_dir` (`logs/<function>.jsonl`, `segments.jsonl`).
    pub async fn start_with_data_dir(
        config: Config,
        opts: Options,
        data_dir: Option<&std::path::Path>,
    ) -> Result<Self, SandboxError> {
        let apis = Arc::new(TelemetryApis::with_quotas(config.api_quotas));
        let app = Arc::new(App::new(config, opts.seed, opts.ground_truth, data_dir)?);
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: opts.listen.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: opts.listen.to_string(),
            source,
        })?;
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, Arc::clone(&app), apis, rx));
        let workers = app.start_workers();
        Ok(Self {
            api_url: format!("http://{addr}"),
            app,
            stop,
            task,
            workers,
        })
    }

    /// The telemetry recorded so far.
    pub fn metrics(&self) -> &MetricStore {
        self.app.metrics()
    }

    /// The X-Ray segment documents recorded so far (PutTraceSegments writes here too).
    pub fn segments(&self) -> &SegmentStore {
        self.app.segments()
    }

    /// The Lambda log events recorded so far, by log group.
    pub fn logs(&self) -> &LogStore {
        self.app.logs()
    }

    /// The functions the Lambda control-plane API answers for (built from the config).
    pub fn lambda(&self) -> &LambdaFunctions {
        self.app.lambda()
    }

    /// The JSON line printed at startup: `{"api":"http://...","cloudwatch":...,"xray":...,
    /// "logs":...,"lambda":...}`; the AWS APIs share the application's port, routed as AWS
    /// routes them.
    pub fn urls_json(&self) -> String {
        serde_json::json!({
            "api": self.api_url,
            "cloudwatch": self.api_url,
            "xray": self.api_url,
            "logs": self.api_url,
            "lambda": self.api_url,
        })
        .to_string()
    }

    /// Flushes everything written so far (ground truth, data directory) without stopping.
    pub fn flush(&self) -> Result<(), SandboxError> {
        self.app.flush()
    }

    /// Stops accepting connections and job workers, and flushes the ground truth and the
    /// data directory.
    pub async fn stop(self) -> Result<(), SandboxError> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        for w in &self.workers {
            w.abort();
        }
        self.app.flush()
    }
}

/// Runs a sandbox until SIGINT or SIGTERM, calling `on_ready` with the startup JSON line
/// once listening; flushes everything (ground truth, the data directory's logs and segments)
/// before returning. Runs on the caller's (multi-threaded) runtime.
pub async fn run_until_signal(
    config: Config,
    opts: Options,
    data_dir: Option<PathBuf>,
    on_ready: impl FnOnce(&str),
) -> Result<(), SandboxError> {
    let sandbox = Sandbox::start_with_data_dir(config, opts, data_dir.as_deref()).await?;
    // Handlers first: a SIGTERM sent as soon as the ready line is read must flush, not kill
    // the process with the default action.
    let signals = Signals::install();
    on_ready(&sandbox.urls_json());
    signals.wait().await;
    sandbox.stop().await
}

/// SIGINT and SIGTERM, caught from the moment they are installed.
struct Signals {
    #[cfg(unix)]
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                handlers: signal(SignalKind::interrupt())
                    .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.handlers {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
