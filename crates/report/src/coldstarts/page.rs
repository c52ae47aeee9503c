//! `coldstarts.html`: the range and how to read it, every function in the report's order,
//! the fleet view, the charts (inline SVG), each function's recommendations with their
//! arithmetic and the per-function breakdowns. Rendered like `report.html`: the template
//! (`crates/report/templates/coldstarts.html`) with HTML auto-escaping on, so every name
//! from AWS is escaped; only the stylesheet and plotters' SVG (which escapes its text) are
//! inserted as they are.

use chrono::{DateTime, Utc};
use minijinja::context;
use minijinja::value::{Serde, Value};
use stormwatch_model::coldstarts::CountSource;
use stormwatch_model::coldstarts_report::ColdStartReport;
use stormwatch_model::pricing::usd_text;
use stormwatch_model::text_table::{percent, thousands};

use super::charts::ColdChart;
use crate::charts::Plot;
use crate::html::{DASH, environment, figures, page};
use crate::{Artifact, ReportError};

const NAME: &str = "coldstarts.html";
const TEMPLATE: &str = include_str!("../../templates/coldstarts.html");
/// Breakdowns by version × memory and by hour are shown for at most this many functions.
pub const BREAKDOWNS: usize = 20;

pub fn render(r: &ColdStartReport) -> Result<Artifact, ReportError> {
    let mut env = environment(NAME, TEMPLATE)?;
    env.add_filter("count", |v: Option<u64>| v.map_or(DASH.into(), thousands));
    env.add_filter("rate", |v: Option<f64>| v.map_or(DASH.into(), percent));
    env.add_filter("secs", |v: Option<f64>| v.map_or(DASH.into(), seconds));
    env.add_filter("dec2", |v: Option<f64>| {
        v.map_or(DASH.into(), |v| format!("{v:.2}"))
    });
    env.add_filter("bytes", |v: Option<u64>| v.map_or(DASH.into(), size));
    env.add_filter("usd", usd);
    env.add_filter("hour", |v: String| {
        v.parse::<DateTime<Utc>>()
            .map_or(v, |t| t.format("%Y-%m-%d %H:%M").to_string())
    });
    let left_out: Vec<Value> = ColdChart::ALL
        .iter()
        .filter_map(|c| {
            Some(context! {
                stem => c.stem(),
                title => c.title(),
                reason => c.missing(r)?,
            })
        })
        .collect();
    let shown = r.functions.len().min(BREAKDOWNS);
    let html = page(
        &env,
        NAME,
        context! {
            r => Value::from(Serde(r)),
            from => r.from.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            to => r.to.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            counts_from => match r.counts_from {
                CountSource::Logs => "REPORT lines in CloudWatch Logs (every invocation)",
                CountSource::Xray => "X-Ray function segments (sampled invocations only)",
            },
            uninvoked => r.functions.iter().filter(|f| f.invocations == 0).count(),
            charts => figures(&ColdChart::ALL, r)?,
            left_out => left_out,
            fleet_missing => ColdChart::InitByRuntime.missing(r),
            breakdowns => Value::from(Serde(&r.functions[..shown])),
            breakdowns_limit => BREAKDOWNS,
            breakdowns_more => r.functions.len() - shown,
        },
    )?;
    Ok(Artifact {
        name: NAME.into(),
        bytes: html.into_bytes(),
    })
}

/// Seconds: `4.2 s`, `1,234 s`.
fn seconds(s: f64) -> String {
    if s.abs() < 100.0 {
        format!("{s:.1} s")
    } else {
        format!("{} s", thousands(s.round() as u64))
    }
}

/// A package size: `850 KB`, `12.3 MB`.
fn size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KB * KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{:.1} MB", b / KB / KB)
    }
}

/// A monthly cost at list prices: `$12.34`, `free`, or `$3.10 saved` when negative.
fn usd(v: f64) -> String {
    if v == 0.0 {
        "free".into()
    } else if v < 0.0 {
        format!("{} saved", usd_text(-v))
    } else {
        usd_text(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_the_terminal() {
        assert_eq!(seconds(4.24), "4.2 s");
        assert_eq!(seconds(12_345.6), "12,346 s");
        assert_eq!(size(870_400), "850 KB");
        assert_eq!(size(12_897_485), "12.3 MB");
        assert_eq!(usd(0.0), "free");
        assert_eq!(usd(-3.1), "$3.10 saved");
        assert_eq!(usd(1234.5), "$1,234.50");
    }
}
