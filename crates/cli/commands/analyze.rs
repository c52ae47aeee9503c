//! `stormwatch analyze RUN_DIR`: align the run's records and telemetry, run the detectors and
//! write `analysis.json`. Prints the verdict and the findings; exit 1 when the verdict fails.

use std::io::Write;

use anyhow::Context;
use stormwatch_model::{AnalysisReport, RunDir};

use crate::args::AnalyzeArgs;
use crate::exit::{Exit, WithExit};

pub fn run(args: &AnalyzeArgs) -> anyhow::Result<Exit> {
    let dir = RunDir::new(&args.run_dir);
    let report = analyze_and_write(&dir)?;
    let mut out = std::io::stdout().lock();
    write_verdict(&mut out, &report)?;
    writeln!(out, "{}", dir.analysis_path().display())?;
    Ok(verdict_exit(&report))
}

/// Analyzes the run and writes `analysis.json`.
pub fn analyze_and_write(dir: &RunDir) -> anyhow::Result<AnalysisReport> {
    let report = stormwatch_analysis::analyze(dir)
        .with_context(|| format!("analyzing {}", dir.root().display()))
        .input()?;
    dir.write_analysis(&report)
        .context("writing analysis.json")?;
    Ok(report)
}

/// The verdict line, then one line per finding, most severe first.
pub fn write_verdict(out: &mut impl Write, report: &AnalysisReport) -> std::io::Result<()> {
    let mark = if report.verdict.passed {
        "PASS"
    } else {
        "FAIL"
    };
    writeln!(out, "{mark}: {}", report.verdict.headline)?;
    for f in &report.findings {
        writeln!(out, "  [{}] {}", f.severity, f.title)?;
    }
    Ok(())
}

/// Exit 1 when the verdict failed.
pub fn verdict_exit(report: &AnalysisReport) -> Exit {
    if report.verdict.passed {
        Exit::Ok
    } else {
        Exit::ThresholdFailed
    }
}
