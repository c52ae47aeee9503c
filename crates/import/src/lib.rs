//! Reads other load tools' results into stormwatch run directories.
//!
//! `stormwatch import FORMAT FILE...` turns a JMeter JTL (CSV or XML), k6 `--out json` /
//! `--out csv`, a Gatling text `simulation.log`, a Newman JSON report, a HAR file or Locust
//! output (the stormwatch listener's NDJSON, or `_stats_history.csv` as an aggregate-only
//! import) into the files `stormwatch run` writes, so `collect`, `analyze` and `report` work
//! on them unchanged. [`read`] parses the files into [`Imported`]; [`write_run`] writes it.
//!
//! Every parser reads by field name, not position; a wrong format, a missing column, mixed
//! time bases or an empty file is an [`ImportError`] naming the file, line and field; a
//! malformed or torn line is skipped and counted ([`ImportSource::skipped`]).

mod error;
mod file_read;
mod gatling;
mod har;
mod input;
mod jmeter_csv;
mod jmeter_xml;
mod k6;
mod locust;
mod newman;
mod phases;
pub mod postman;
mod sample;
mod store;
mod write;

use std::path::{Path, PathBuf};

use stormwatch_model::{ImportSource, PhaseWindow, SourceFile, ToolTotals};

pub use crate::error::ImportError;
pub use crate::phases::{PhaseSpec, TimeRef};
pub use crate::sample::{Sample, trace_from_header};
pub use crate::store::{Row, Samples};
pub use crate::write::{RunMeta, write_run};

use crate::file_read::FileRead;
use crate::input::Input;

/// The tools `import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JMeter JTL, CSV or XML.
    Jmeter,
    /// k6 `--out json` NDJSON or `--out csv`.
    K6,
    /// Gatling's text `simulation.log` (3.0 to 3.12).
    Gatling,
    /// Newman's JSON reporter.
    Newman,
    /// HAR 1.2 (browser or proxy export).
    Har,
    /// Locust: the stormwatch listener's NDJSON, or `_stats_history.csv`.
    Locust,
}

impl Format {
    /// The tool's name as the manifest records it.
    pub fn tool(self) -> &'static str {
        match self {
            Self::Jmeter => "jmeter",
            Self::K6 => "k6",
            Self::Gatling => "gatling",
            Self::Newman => "newman",
            Self::Har => "har",
            Self::Locust => "locust",
        }
    }

    /// What the tool groups requests by that makes phases.
    fn grouping(self) -> &'static str {
        match self {
            Self::Jmeter => "JMeter thread group names",
            Self::K6 => "k6 scenario tags",
            Self::Locust => "Locust user classes",
            Self::Gatling | Self::Newman | Self::Har => "file",
        }
    }
}

/// Whether a JTL's `timeStamp` is the sample's start or its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JtlTimestamp {
    /// `sampleresult.timestamp.start=true`, as JMeter's shipped `jmeter.properties` sets it.
    #[default]
    Start,
    /// JMeter's code default: the end of the sample.
    End,
}

/// How to read the files.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// JTL time semantics.
    pub jtl_timestamp: JtlTimestamp,
    /// `--phase` flags; empty: the tool's grouping, else one phase.
    pub phases: Vec<PhaseSpec>,
    /// `--jtl-columns`: the columns of a JTL CSV without a header line.
    pub jtl_columns: Option<Vec<String>>,
}

/// One second of an aggregate-only import, as the tool computed it.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRow {
    /// Epoch seconds.
    pub second: i64,
    /// Requests per second (the tool's current rate).
    pub requests_per_sec: f64,
    /// Failures per second.
    pub failures_per_sec: f64,
    /// The tool's p50, ms.
    pub p50_ms: f64,
    /// The tool's p99, ms.
    pub p99_ms: f64,
    /// Users running.
    pub users: u64,
}

/// Files read into requests (or aggregate rows), phases and the manifest's `source`.
#[derive(Debug)]
pub struct Imported {
    /// Requests sorted by start time.
    pub samples: Samples,
    /// Phase index of each sample.
    pub phase_of: Vec<u32>,
    /// Phase names and windows.
    pub phases: Vec<(String, PhaseWindow)>,
    /// Aggregate rows (aggregate-only imports).
    pub series: Vec<SeriesRow>,
    /// Base URL the requests went to, when the files say.
    pub target: String,
    /// The manifest's `source`.
    pub source: ImportSource,
}

/// Reads `files` of `format`.
pub fn read(format: Format, files: &[PathBuf], opts: &Options) -> Result<Imported, ImportError> {
    let mut reads = Vec::new();
    let mut source_files = Vec::new();
    let mut target = None;
    for path in files {
        let (read, url, sha256) = read_file(format, path, opts)?;
        target = target.or(url);
        source_files.push(SourceFile {
            path: path.display().to_string(),
            sha256,
            records: (read.samples.len() + read.series.len()) as u64,
            skipped: read.skipped,
        });
        reads.push(read);
    }
    let per_request = reads.iter().all(|r| r.series.is_empty());
    if !per_request && reads.iter().any(|r| !r.samples.is_empty()) {
        return Err(ImportError::file(
            &files[0],
            "per-request files and aggregate-only files (_stats_history.csv) cannot be \
             imported into one run; import them separately",
        ));
    }
    let mut formats: Vec<&str> = reads.iter().map(|r| r.format).collect();
    formats.dedup();
    let mut bases: Vec<&str> = reads.iter().map(|r| r.time_basis.as_str()).collect();
    bases.dedup();
    let time_basis = bases.join("; ");
    let format_name = formats.join("+");
    let approximate = reads.iter().any(|r| r.approximate);
    let mut notes = Vec::new();
    let mut skipped = 0;
    let mut samples = Samples::default();
    let mut series = Vec::new();
    let tool_totals = reads
        .iter()
        .filter_map(|r| r.tool_totals)
        .reduce(|a, b| ToolTotals {
            requests: a.requests + b.requests,
            failures: a.failures + b.failures,
        });
    for r in reads {
        skipped += r.skipped;
        if r.skipped > 0 {
            notes.push(format!(
                "{} line(s) or entries skipped, e.g. {}",
                r.skipped,
                r.skipped_examples.join("; ")
            ));
        }
        notes.extend(r.notes);
        samples.append(r.samples);
        series.extend(r.series);
    }
    samples.sort();
    series.sort_by_key(|r| r.second);
    let span = if per_request {
        (
            samples.rows().first().map_or(0, |s| s.start_ns),
            samples.rows().iter().map(|s| s.end_ns).max().unwrap_or(0),
        )
    } else {
        (
            series.first().map_or(0, |r| r.second * 1_000_000_000),
            series
                .last()
                .map_or(0, |r| r.second * 1_000_000_000 + 999_999_999),
        )
    };
    let phasing = phases::phases(&samples, &opts.phases, span, format.grouping())?;
    notes.insert(0, phasing.how.clone());
    let outside = phasing.of_sample.iter().filter(|p| p.is_none()).count() as u64;
    let phase_of = samples.retain_phased(&phasing.of_sample);
    let kept = samples;
    if outside > 0 {
        skipped += outside;
        notes.push(format!(
            "{outside} request(s) started outside every --phase window and were left out"
        ));
    }
    if per_request && kept.is_empty() {
        return Err(ImportError::Phase(
            "no request falls inside the --phase windows".into(),
        ));
    }
    let traced = kept.rows().iter().filter(|s| s.has_trace()).count() as u64;
    let source = ImportSource {
        tool: format.tool().into(),
        format: format_name,
        files: source_files,
        time_basis,
        coordinated_omission_corrected: false,
        per_request,
        times_approximate: approximate,
        trace_ids_from_headers: traced,
        records: if per_request {
            kept.len() as u64
        } else {
            series.len() as u64
        },
        skipped,
        notes,
        tool_totals,
    };
    Ok(Imported {
        samples: kept,
        phase_of,
        phases: phasing.phases,
        series,
        target: target.unwrap_or_else(|| format!("(imported from {})", format.tool())),
        source,
    })
}

/// Reads one file, choosing the variant of the format from its first bytes; returns what
/// it gave, the base URL its first bytes name and its SHA-256.
fn read_file(
    format: Format,
    path: &Path,
    opts: &Options,
) -> Result<(FileRead, Option<String>, String), ImportError> {
    if format == Format::Gatling {
        gatling::refuse_binary(path)?;
    }
    let mut input = Input::open(path)?;
    let first = input.prefix().trim_start().chars().next().unwrap_or(' ');
    let mut url = target_of(input.prefix());
    // The one-document formats are read whole: their URL is looked for in all of it.
    let mut whole = |input: &mut Input| -> Result<String, ImportError> {
        let text = input.read_all()?;
        url = target_of(&text);
        Ok(text)
    };
    let read = match format {
        Format::Jmeter if first == '<' => {
            jmeter_xml::read(path, &whole(&mut input)?, opts.jtl_timestamp)?
        }
        Format::Jmeter => jmeter_csv::read(
            path,
            input.stream(),
            opts.jtl_timestamp,
            opts.jtl_columns.as_deref(),
        )?,
        Format::K6 if first == '{' => k6::read_json(path, input.stream())?,
        Format::K6 => k6::read_csv(path, input.stream())?,
        Format::Locust if first == '{' => locust::read_ndjson(path, input.stream())?,
        Format::Locust => locust::read_stats_history(path, input.stream())?,
        Format::Newman => newman::read(path, &whole(&mut input)?)?,
        Format::Har => har::read(path, &whole(&mut input)?)?,
        Format::Gatling => gatling::read(path, input.stream())?,
    };
    Ok((read, url, input.finish()?))
}

/// `scheme://host[:port]` of the first absolute http(s) URL in the text.
fn target_of(text: &str) -> Option<String> {
    let start = text.find("http://").or_else(|| text.find("https://"))?;
    let rest = &text[start..];
    let after_scheme = rest.find("://")? + 3;
    let end = rest[after_scheme..]
        .find(|c: char| c == '/' || c == '"' || c == ',' || c == '\t' || c.is_whitespace())
        .map_or(rest.len(), |i| after_scheme + i);
    Some(rest[..end].to_string())
}
