//! Renders an [`AnalysisReport`] (read from `analysis.json`) into the formats a team reads:
//! a self-contained HTML page, PNG charts, a Markdown summary for a PR comment, JSON and
//! JUnit XML for CI. Renders the answer of `stormwatch coldstarts`
//! ([`ColdStartReport`](stormwatch_model::coldstarts_report::ColdStartReport)) as
//! an HTML page and two PNG charts in the same look.
//!
//! Each format is a pure function from the report to bytes, in its own module; [`write()`] and
//! [`write_coldstarts()`] are the only places that touch the file system. Nothing here reads
//! other run files.

mod charts;
mod coldstarts;
pub mod error;
mod html;
mod json;
mod junit;
mod markdown;
mod png;
mod text;

use std::path::{Path, PathBuf};

use stormwatch_model::AnalysisReport;

pub use crate::coldstarts::{render_coldstarts, write_coldstarts};
pub use crate::error::ReportError;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `report.html`: the page, charts inline, works offline.
    Html,
    /// `*.png`: each chart as an image.
    Png,
    /// `summary.md`: fit for a PR comment.
    Markdown,
    /// `analysis.json`: the report value itself.
    Json,
    /// `junit.xml`: one test case per threshold.
    Junit,
}

impl Format {
    /// Every format, in the order they are written.
    pub const ALL: [Format; 5] = [
        Format::Html,
        Format::Png,
        Format::Markdown,
        Format::Json,
        Format::Junit,
    ];

    /// Parses a `--format` item (`html`, `png`, `md`/`markdown`, `json`, `junit`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "html" => Self::Html,
            "png" => Self::Png,
            "md" | "markdown" => Self::Markdown,
            "json" => Self::Json,
            "junit" | "xml" => Self::Junit,
            _ => return None,
        })
    }
}

/// One rendered file: its name inside the report folder and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// File name, e.g. `report.html`.
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// Renders one format (pure; no I/O).
pub fn render(report: &AnalysisReport, format: Format) -> Result<Vec<Artifact>, ReportError> {
    Ok(match format {
        Format::Html => vec![html::render(report)?],
        Format::Png => png::render(report)?,
        Format::Markdown => vec![markdown::render(report)],
        Format::Json => vec![json::render(report)?],
        Format::Junit => vec![junit::render(report)],
    })
}

/// Renders every requested format and writes the files into `dir` (created if needed).
/// Returns the paths written, in order.
pub fn write(
    report: &AnalysisReport,
    formats: &[Format],
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let mut written = Vec::new();
    for format in formats {
        for artifact in render(report, *format)? {
            written.push(write_artifact(dir, &artifact)?);
        }
    }
    Ok(written)
}

/// Writes `artifact` into `dir` (which exists) and returns its path. A temporary file, then
/// a rename: a kill never leaves half a report behind.
fn write_artifact(dir: &Path, artifact: &Artifact) -> Result<PathBuf, ReportError> {
    let path = dir.join(&artifact.name);
    let mut tmp_name = artifact.name.clone();
    tmp_name.push_str(".tmp");
    let tmp = dir.join(tmp_name);
    std::fs::write(&tmp, &artifact.bytes).map_err(|e| ReportError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| ReportError::io(&path, e))?;
    Ok(path)
}
