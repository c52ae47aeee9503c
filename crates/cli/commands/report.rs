//! `stormwatch report RUN_DIR`: render the run's analysis as HTML, PNG, Markdown, JSON and
//! JUnit. Reuses `analysis.json` when it is newer than every input, analyzes otherwise.
//! Prints each file written, the HTML page last.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use stormwatch_model::{AnalysisReport, RunDir};
use stormwatch_report::Format;

use crate::args::ReportArgs;
use crate::commands::analyze;
use crate::exit::{Exit, WithExit};

pub fn run(args: &ReportArgs) -> anyhow::Result<Exit> {
    let dir = RunDir::new(&args.run_dir);
    let report = if dir.analysis_is_current() {
        dir.read_analysis().input()?
    } else {
        analyze::analyze_and_write(&dir)?
    };
    let out_dir = args.out.clone().unwrap_or_else(|| dir.report_dir());
    let written = write(&report, &args.format, &out_dir)?;
    let mut out = std::io::stdout().lock();
    analyze::write_verdict(&mut out, &report)?;
    print_paths(&mut out, &written)?;
    Ok(Exit::Ok)
}

/// Writes the report files into `out_dir`; the HTML page is last in the returned list.
pub fn write(
    report: &AnalysisReport,
    formats: &[Format],
    out_dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = stormwatch_report::write(report, formats, out_dir)
        .with_context(|| format!("writing the report into {}", out_dir.display()))?;
    // The page a person opens goes last, where a script or a terminal finds it.
    written.sort_by_key(|p| p.extension().is_some_and(|e| e == "html"));
    Ok(written)
}

/// One path per line.
pub fn print_paths(out: &mut impl Write, paths: &[PathBuf]) -> std::io::Result<()> {
    for path in paths {
        writeln!(out, "{}", path.display())?;
    }
    Ok(())
}
