//! What reading one file gives: its requests (or aggregate rows), what was skipped and why,
//! and what the file's times meant.

use std::path::Path;

use crate::ImportError;
use crate::store::Samples;

/// What one file gave: its samples and what was skipped.
#[derive(Debug, Default)]
pub struct FileRead {
    /// Requests read.
    pub samples: Samples,
    /// Lines or entries not imported.
    pub skipped: u64,
    /// The first few skipped lines, `file:line: field: why`.
    pub skipped_examples: Vec<String>,
    /// Other things worth saying (rows excluded on purpose, approximations).
    pub notes: Vec<String>,
    /// What the time fields meant.
    pub time_basis: String,
    /// Format name (`jtl-csv`, `k6-json`...).
    pub format: &'static str,
    /// Per-request times were reconstructed, not read.
    pub approximate: bool,
    /// Aggregate rows (Locust `_stats_history.csv`), when the format has no requests.
    pub series: Vec<crate::SeriesRow>,
    /// The tool's own totals, when an aggregate-only file gives them.
    pub tool_totals: Option<stormwatch_model::ToolTotals>,
}

impl FileRead {
    /// An empty read of `format`.
    pub fn new(format: &'static str, time_basis: impl Into<String>) -> Self {
        Self {
            format,
            time_basis: time_basis.into(),
            ..Self::default()
        }
    }

    /// Counts a skipped line, keeping the first examples.
    /// One NDJSON line as `T`: `Ok(None)` for a blank line or one that does not parse
    /// (skipped and counted, a torn last line said so), an error naming `field` when the
    /// first line does not parse (`not_this`: what the file is not).
    pub fn ndjson_line<'a, T: serde::Deserialize<'a>>(
        &mut self,
        path: &Path,
        (n, line, torn): (u64, &'a str, bool),
        field: &str,
        not_this: &str,
    ) -> Result<Option<T>, ImportError> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        match serde_json::from_str(line) {
            Ok(v) => Ok(Some(v)),
            Err(e) if n == 1 => Err(ImportError::at(path, n, field, format!("{not_this} ({e})"))),
            Err(e) => {
                let why = if torn {
                    format!("torn last line: {e}")
                } else {
                    e.to_string()
                };
                self.skip(path, n, "line", &why);
                Ok(None)
            }
        }
    }

    /// Counts line `line` as skipped, keeping the first few reasons.
    pub fn skip(&mut self, path: &Path, line: u64, field: &str, why: &str) {
        self.skipped += 1;
        if self.skipped_examples.len() < 5 {
            self.skipped_examples
                .push(format!("{}:{line}: {field}: {why}", path.display()));
        }
    }

    /// An error when nothing could be read: the first skipped line's reason, else `empty`.
    pub fn require_some(self, path: &Path, what: &str) -> Result<Self, ImportError> {
        if !self.samples.is_empty() || !self.series.is_empty() {
            return Ok(self);
        }
        if let Some(first) = self.skipped_examples.first() {
            return Err(ImportError::file(
                path,
                format!("no {what} could be read; the first bad line was {first}"),
            ));
        }
        Err(ImportError::file(path, format!("holds no {what}")))
    }
}

/// The time base of a file's first timestamp (epoch milliseconds, a date format...), which
/// every later line must share.
#[derive(Debug, Default)]
pub struct TimeBase(Option<&'static str>);

impl TimeBase {
    /// Records line `line`'s base; an error naming the file, line and `field` when it is not
    /// the first line's.
    pub fn check(
        &mut self,
        this: &'static str,
        path: &Path,
        line: u64,
        field: &str,
    ) -> Result<(), ImportError> {
        match self.0 {
            None => self.0 = Some(this),
            Some(first) if first != this => {
                return Err(ImportError::at(
                    path,
                    line,
                    field,
                    format!("mixed time bases: this line is in {this}, earlier lines in {first}"),
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The base, once a line had one.
    pub fn get(&self) -> Option<&'static str> {
        self.0
    }
}
