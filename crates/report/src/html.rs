//! HTML: one self-contained page — verdict first, then findings with evidence, per-phase
//! tables, cold starts, thresholds and the charts as inline SVG. No CDN, no script, works
//! offline and as an e-mail attachment.
//!
//! The template (`reports/templates/report.html`) is rendered by minijinja with HTML
//! auto-escaping on, so every user-supplied string (endpoint, phase, scenario names) is
//! escaped; only our own CSS and the chart SVGs are inserted unescaped, and the SVG text
//! is escaped by plotters' SVG backend (checked by a test). The cold-start page
//! (`crate::coldstarts`) is built the same way, from [`environment`], [`figures`] and
//! [`page`].

use minijinja::value::{Serde, Value};
use minijinja::{Environment, context};
use stormwatch_model::{AnalysisReport, Millis};

use crate::charts::{Chart, Plot};
use crate::text::percent;
use crate::{Artifact, ReportError};

const TEMPLATE: &str = include_str!("../../../reports/templates/report.html");
/// What a cell shows for "no data".
pub const DASH: &str = "–";
const CSS: &str = include_str!("../../../reports/report.css");

pub fn render(report: &AnalysisReport) -> Result<Artifact, ReportError> {
    let env = environment("report.html", TEMPLATE)?;
    let html = page(
        &env,
        "report.html",
        context! {
            r => Value::from(Serde(report)),
            charts => figures(&Chart::ALL, report)?,
            window_start => report.run.window.map(|w| w.start.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
            window_secs => report.run.window.map(|w| w.duration().as_secs_f64()),
        },
    )?;
    Ok(Artifact {
        name: "report.html".into(),
        bytes: html.into_bytes(),
    })
}

/// An environment holding the template `source` as `name` (auto-escaped: the name ends in
/// `.html`) and the number filters every page uses: `ms`, `pct` and `num`.
pub fn environment(
    name: &'static str,
    source: &'static str,
) -> Result<Environment<'static>, ReportError> {
    let mut env = Environment::new();
    env.add_template(name, source)
        .map_err(|e| ReportError::Template(format!("{e:#}")))?;
    // Optional report fields are left out of the value when absent, so every number filter
    // takes an Option and shows a dash for "no data".
    env.add_filter("ms", |v: Option<f64>| {
        v.map_or(DASH.into(), |v| Millis(v).to_string())
    });
    env.add_filter("pct", |v: Option<f64>| v.map_or(DASH.into(), percent));
    env.add_filter("num", |v: Option<f64>| {
        v.map_or(DASH.into(), |v| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        })
    });
    Ok(env)
}

/// Each of `charts` that has data in `r`, as a figure for the template: `title`, `stem` and
/// the inline `svg`.
pub fn figures<R: ?Sized, C: Plot<R>>(charts: &[C], r: &R) -> Result<Vec<Value>, ReportError> {
    let mut out = Vec::new();
    for &chart in charts {
        if chart.has_data(r) {
            out.push(context! {
                title => chart.title(),
                stem => chart.stem(),
                svg => Value::from_safe_string(chart.svg(r)?),
            });
        }
    }
    Ok(out)
}

/// Renders the template `name` with `ctx` and the shared stylesheet as `css`.
pub fn page(env: &Environment<'_>, name: &str, ctx: Value) -> Result<String, ReportError> {
    env.get_template(name)
        .and_then(|t| {
            t.render(context! {
                css => Value::from_safe_string(CSS.to_string()),
                ..ctx
            })
        })
        .map_err(|e| ReportError::Template(format!("{e:#}")))
}
