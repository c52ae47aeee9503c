//! The pipeline `diagnose` and `demo` share: run the load into its run directory, collect
//! the telemetry of its windows, analyze, write the report. Progress goes to stderr; stdout
//! gets the verdict and the report's files, the HTML page last.
//!
//! A failed collect does not stop the pipeline: the analysis is then client-side only, the
//! report is still written, and the collect error is returned last (exit 3 for AWS).

use std::io::Write;
use std::path::PathBuf;

use stormwatch_load::{Plan, RunOptions};
use stormwatch_model::AnalysisReport;
use stormwatch_report::Format;
use stormwatch_telemetry::CollectOptions;

use crate::commands::{analyze, collect, report, run as load};
use crate::exit;

/// Says what the pipeline is doing on stderr, as `<command>: <message>`, unless quiet.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// The command the lines are from (`diagnose`, `demo`).
    pub command: &'static str,
    /// Say nothing.
    pub quiet: bool,
}

impl Progress {
    /// One progress line.
    pub fn say(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}: {message}", self.command);
        }
    }
}

/// Where the run's summary table goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableTo {
    /// stdout, before the verdict (`diagnose`).
    Stdout,
    /// stderr, unless quiet (`demo`, whose stdout ends with the report's path).
    Stderr,
}

/// Whether to collect, and how.
#[derive(Debug)]
pub enum Collect {
    /// Nothing to collect; the reason is said.
    Skip(&'static str),
    /// Collect with these options, saying `what` first.
    Run {
        /// The collector's options.
        opts: Box<CollectOptions>,
        /// What is being collected.
        what: &'static str,
    },
}

/// What to run and where its results go.
#[derive(Debug)]
pub struct Pipeline {
    /// The checked scenario.
    pub plan: Plan,
    /// The run directory and the engine's options.
    pub run: RunOptions,
    /// The collect stage.
    pub collect: Collect,
    /// Report formats to write.
    pub formats: Vec<Format>,
    /// Folder for the report files (default: the run directory's `report/`).
    pub report_out: Option<PathBuf>,
    /// Where the summary table goes.
    pub table: TableTo,
}

/// Runs the pipeline; returns the analysis once the report is written (or the collect
/// error, after writing the client-side report).
pub async fn run(pipeline: Pipeline, progress: Progress) -> anyhow::Result<AnalysisReport> {
    let Pipeline {
        plan,
        run: opts,
        collect: stage,
        formats,
        report_out,
        table,
    } = pipeline;
    let dir = opts.dir.clone();
    let outcome = load::execute(plan, opts).await?;
    let summary =
        stormwatch_load::summary_table(&outcome.manifest, &outcome.stats, &outcome.lateness);
    match table {
        TableTo::Stdout => write!(std::io::stdout().lock(), "{summary}")?,
        TableTo::Stderr if !progress.quiet => eprint!("{summary}"),
        TableTo::Stderr => {}
    }
    progress.say(&format!(
        "run {}: {}",
        outcome.manifest.status,
        dir.root().display()
    ));

    let mut collect_failed = None;
    match stage {
        Collect::Skip(reason) => progress.say(reason),
        Collect::Run { opts, what } => {
            progress.say(what);
            match collect::collect_run(dir.root(), &opts, progress.quiet).await {
                Ok(summary) => {
                    if !progress.quiet {
                        eprint!("{}", summary.describe());
                    }
                }
                Err(e) => {
                    eprintln!(
                        "{}: collect failed, the analysis is client-side only: {}",
                        progress.command,
                        exit::chain_text(&e)
                    );
                    collect_failed = Some(e);
                }
            }
        }
    }

    progress.say("analyzing and writing the report");
    let analysis = analyze::analyze_and_write(&dir)?;
    let out_dir = report_out.unwrap_or_else(|| dir.report_dir());
    let written = report::write(&analysis, &formats, &out_dir)?;
    let mut out = std::io::stdout().lock();
    analyze::write_verdict(&mut out, &analysis)?;
    report::print_paths(&mut out, &written)?;
    match collect_failed {
        Some(e) => Err(e),
        None => Ok(analysis),
    }
}
