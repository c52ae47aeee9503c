//! The answer of `stormwatch coldstarts` ([`ColdStartReport`]) rendered in the run report's
//! look: `coldstarts.html` (the page, its charts inline as SVG, the same stylesheet and
//! escaping) and the charts as `coldstarts-fleet.png` and `coldstarts-init-by-runtime.png`
//! (the same size, font and colours as the run report's charts).

mod charts;
mod page;

use std::path::{Path, PathBuf};

use stormwatch_model::coldstarts_report::ColdStartReport;

use crate::charts::Plot;
use crate::{Artifact, ReportError, write_artifact};

use self::charts::ColdChart;

/// Renders the cold-start report (pure; no I/O): `coldstarts.html`, then each chart that has
/// data as PNG (`coldstarts-fleet.png`, `coldstarts-init-by-runtime.png`).
pub fn render_coldstarts(report: &ColdStartReport) -> Result<Vec<Artifact>, ReportError> {
    let mut out = vec![page::render(report)?];
    out.extend(crate::png::drawn(&ColdChart::ALL, report)?);
    Ok(out)
}

/// Renders the cold-start report and writes its files into `dir` (created if needed), each
/// through a temporary file and a rename. Returns the paths written, in order: the page,
/// then the charts that have data. A chart without data (no runtime chart for named
/// functions, which have no fleet view) is not written, and one an earlier report left in
/// `dir` under its name is removed, so the folder never holds a chart of another report.
pub fn write_coldstarts(report: &ColdStartReport, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    // Everything is rendered before anything is written: a failed chart leaves no half set.
    let artifacts = render_coldstarts(report)?;
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let written = artifacts
        .iter()
        .map(|a| write_artifact(dir, a))
        .collect::<Result<Vec<_>, _>>()?;
    for chart in ColdChart::ALL {
        if !chart.has_data(report) {
            let stale = dir.join(format!("{}.png", chart.stem()));
            match std::fs::remove_file(&stale) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ReportError::io(&stale, e));
                }
                _ => {}
            }
        }
    }
    Ok(written)
}
