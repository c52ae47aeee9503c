//! HTML: one self-contained page — verdict first, then findings with evidence, per-phase
//! tables, cold starts, thresholds and the charts as inline SVG. No CDN, no script, works
//! offline and as an e-mail attachment.
//!
//! The template (`reports/templates/report.html`) is rendered by minijinja with HTML
//! auto-escaping on, so every user-supplied string (endpoint, phase, scenario names) is
//! escaped; only our own CSS and the chart SVGs are inserted unescaped, and the SVG text
//! is escaped by plotters' SVG backend (checked by a test).

use minijinja::value::{Serde, Value};
use minijinja::{Environment, context};
use stormwatch_model::{AnalysisReport, Millis};

use crate::charts::Chart;
use crate::text::percent;
use crate::{Artifact, ReportError};

const TEMPLATE: &str = include_str!("../../../reports/templates/report.html");
const DASH: &str = "–";
const CSS: &str = include_str!("../../../reports/report.css");

pub fn render(report: &AnalysisReport) -> Result<Artifact, ReportError> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)
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
    let mut charts = Vec::new();
    for chart in Chart::ALL {
        if chart.has_data(report) {
            charts.push(context! {
                title => chart.title(),
                stem => chart.stem(),
                svg => Value::from_safe_string(chart.svg(report)?),
            });
        }
    }
    let html = env
        .get_template("report.html")
        .and_then(|t| {
            t.render(context! {
                r => Value::from(Serde(report)),
                css => Value::from_safe_string(CSS.to_string()),
                charts => charts,
                window_start => report.run.window.map(|w| w.start.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                window_secs => report.run.window.map(|w| w.duration().as_secs_f64()),
            })
        })
        .map_err(|e| ReportError::Template(format!("{e:#}")))?;
    Ok(Artifact {
        name: "report.html".into(),
        bytes: html.into_bytes(),
    })
}
