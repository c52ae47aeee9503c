//! The checking context shared by the config modules: typed reads of spanned TOML values
//! (durations, distributions, bounded numbers, names), each error naming the file, the line
//! and the field.

use std::fmt::Display;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use crate::config_check::{Doc, NameKind, brief, check_name, key_path, quoted, serde_message};
use crate::config_limits::{MAX_DURATION, MAX_LONG_DURATION, line_of, parse_duration_max};
use crate::dist::Dist;
use crate::error::SandboxError;

/// Where a config is being checked: its path, its text and the parsed document, to
/// locate and word errors.
pub(crate) struct Ctx<'a> {
    path: &'a Path,
    src: &'a str,
    doc: Doc<'a>,
}

impl<'a> Ctx<'a> {
    /// The context of the config text `src` read from `path`.
    pub(crate) fn new(path: &'a Path, src: &'a str) -> Self {
        Self {
            path,
            src,
            doc: Doc::parse(src),
        }
    }

    pub(crate) fn err(
        &self,
        span: Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> SandboxError {
        SandboxError::Config {
            path: self.path.to_path_buf(),
            line: line_of(self.src, span.start),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The value at `span` as written in the file, cut short for a message.
    fn written(&self, span: Range<usize>) -> String {
        brief(self.src.get(span).unwrap_or("").trim())
    }

    /// Checks the name of `[prefix.name]` against its service's naming rule; an error is
    /// located at the name's key.
    pub(crate) fn name(
        &self,
        kind: NameKind,
        prefix: &str,
        name: &str,
    ) -> Result<(), SandboxError> {
        check_name(kind, name).map_err(|m| {
            let span = self.key_span(&[prefix, name]);
            self.err(span, &key_path(prefix, name), m)
        })
    }

    /// The span of the key at `path` (e.g. `["functions", "f", "tags", "team"]`), for an
    /// error about a key; the document's start when it is not found.
    pub(crate) fn key_span(&self, path: &[&str]) -> Range<usize> {
        self.doc.key_span(path).unwrap_or(0..0)
    }

    /// A duration of at most [`MAX_DURATION`].
    pub(crate) fn duration(
        &self,
        v: &Spanned<String>,
        field: &str,
    ) -> Result<Duration, SandboxError> {
        parse_duration_max(v.get_ref(), MAX_DURATION).map_err(|m| self.err(v.span(), field, m))
    }

    /// A duration of at most a year (fault windows, token lifetimes).
    pub(crate) fn long_duration(
        &self,
        v: &Spanned<String>,
        field: &str,
    ) -> Result<Duration, SandboxError> {
        parse_duration_max(v.get_ref(), MAX_LONG_DURATION).map_err(|m| self.err(v.span(), field, m))
    }

    pub(crate) fn dist(&self, v: &Spanned<String>, field: &str) -> Result<Dist, SandboxError> {
        Dist::parse(v.get_ref()).map_err(|m| self.err(v.span(), field, m))
    }

    /// A finite number in `range` (NaN and infinities are rejected).
    pub(crate) fn float(
        &self,
        v: &Spanned<f64>,
        field: &str,
        range: RangeInclusive<f64>,
    ) -> Result<f64, SandboxError> {
        let x = *v.get_ref();
        if x.is_finite() && range.contains(&x) {
            Ok(x)
        } else {
            Err(self.err(
                v.span(),
                field,
                format!(
                    "must be a finite number in {}..={}, not `{}`",
                    range.start(),
                    range.end(),
                    self.written(v.span())
                ),
            ))
        }
    }

    /// A whole number in `range`.
    pub(crate) fn count<T: Copy + PartialOrd + Display>(
        &self,
        v: &Spanned<T>,
        field: &str,
        range: RangeInclusive<T>,
    ) -> Result<T, SandboxError> {
        let x = *v.get_ref();
        if range.contains(&x) {
            Ok(x)
        } else {
            Err(self.err(
                v.span(),
                field,
                format!(
                    "must be in {}..={}, not `{}`",
                    range.start(),
                    range.end(),
                    self.written(v.span())
                ),
            ))
        }
    }

    /// [`Ctx::count`] of an optional field, `default` when absent.
    pub(crate) fn count_or<T: Copy + PartialOrd + Display>(
        &self,
        v: Option<&Spanned<T>>,
        field: &str,
        range: RangeInclusive<T>,
        default: T,
    ) -> Result<T, SandboxError> {
        v.map_or(Ok(default), |v| self.count(v, field, range))
    }

    /// A serde (TOML) error, naming the field it is about: the key or value at the error's
    /// position, or the table plus the field for a missing one; the value is quoted as
    /// written, briefly.
    pub(crate) fn serde(&self, e: &toml::de::Error) -> SandboxError {
        let span = e.span();
        let message = e.message().trim();
        // An empty span is the document itself (a missing top-level table).
        let located = span
            .as_ref()
            .filter(|s| !s.is_empty())
            .and_then(|s| self.doc.path_at(s.start));
        let field = if message.starts_with("missing field") {
            let missing = quoted(message).unwrap_or("");
            located.map_or_else(|| missing.to_string(), |table| key_path(&table, missing))
        } else {
            located.unwrap_or_else(|| "(syntax)".to_string())
        };
        let written = span.as_ref().and_then(|s| self.src.get(s.clone()));
        SandboxError::Config {
            path: self.path.to_path_buf(),
            line: span.map_or(1, |s| line_of(self.src, s.start)),
            field,
            message: serde_message(message, written),
        }
    }
}
