//! The report's charts, drawn once with plotters onto any backend: inline SVG for the HTML
//! page and PNG files. Every chart is a pure function of the report.
//!
//! A chart kind implements [`Plot`] for the value it draws from ([`Chart`] for the run's
//! analysis, `crate::coldstarts` for the cold-start report); [`frame`], [`legend`] and the
//! colours here give every chart the same look.
//!
//! Text uses the DejaVu Sans font bundled in `reports/fonts/` (registered on first use), so
//! a machine with no fonts installed draws exactly the same pixels.

use std::sync::Once;
use stormwatch_model::text_table::thousands;

use plotters::coord::Shift;
use plotters::coord::ranged1d::AsRangedCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use stormwatch_model::AnalysisReport;
use stormwatch_model::analysis::TimelinePoint;

use crate::ReportError;

const FONT: &[u8] = include_bytes!("../../../reports/fonts/DejaVuSans.ttf");

/// Size every chart is drawn at, in pixels.
pub const WIDTH: u32 = 960;
/// Height of every chart.
pub const HEIGHT: u32 = 340;

pub const P50: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
pub const P99: RGBColor = RGBColor(0xd9, 0x48, 0x1c);
const OFFERED: RGBColor = RGBColor(0x88, 0x88, 0x88);
const ACHIEVED: RGBColor = RGBColor(0x2b, 0x8a, 0x3e);
const CONCURRENCY: RGBColor = RGBColor(0x7b, 0x3f, 0xb0);
const ERR_4XX: RGBColor = RGBColor(0xe0, 0xa1, 0x00);
const ERR_5XX: RGBColor = RGBColor(0xc9, 0x2a, 0x2a);
const ERR_TRANSPORT: RGBColor = RGBColor(0x55, 0x55, 0x55);
const THROTTLE: RGBColor = RGBColor(0x7b, 0x3f, 0xb0);
const BAND: [RGBColor; 2] = [RGBColor(0xf3, 0xf5, 0xf8), RGBColor(0xe6, 0xeb, 0xf1)];
const SEGMENTS: [RGBColor; 7] = [
    RGBColor(0x9e, 0x9e, 0x9e),
    RGBColor(0x4c, 0x9a, 0xd6),
    RGBColor(0x8e, 0x6c, 0xc9),
    RGBColor(0xd9, 0x48, 0x1c),
    RGBColor(0x2b, 0x8a, 0x3e),
    RGBColor(0xe0, 0xa1, 0x00),
    RGBColor(0x5f, 0x6b, 0x7a),
];

/// The charts a report has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chart {
    /// p50/p99 per second, phase bands, cold starts marked.
    Latency,
    /// Offered vs achieved rate, with Lambda concurrency.
    Throughput,
    /// Errors by class next to Lambda and downstream throttles.
    Errors,
    /// Cold starts per second.
    ColdStarts,
    /// Where a traced request's time went, per phase.
    Waterfall,
    /// HDR percentile curves per phase.
    Distribution,
}

impl Chart {
    pub const ALL: [Chart; 6] = [
        Chart::Latency,
        Chart::Throughput,
        Chart::Errors,
        Chart::ColdStarts,
        Chart::Waterfall,
        Chart::Distribution,
    ];
}

impl Plot<AnalysisReport> for Chart {
    fn stem(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Throughput => "throughput",
            Self::Errors => "errors",
            Self::ColdStarts => "coldstarts",
            Self::Waterfall => "waterfall",
            Self::Distribution => "distribution",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Latency => "Latency over time (corrected, per second)",
            Self::Throughput => "Offered vs achieved rate, and Lambda concurrency",
            Self::Errors => "Errors by class, and throttles",
            Self::ColdStarts => "Cold starts per second",
            Self::Waterfall => "Where a request's time went (mean per phase, from traced requests)",
            Self::Distribution => "Latency percentile distribution per phase",
        }
    }

    fn has_data(self, r: &AnalysisReport) -> bool {
        match self {
            Self::Latency | Self::Throughput | Self::Errors => !r.timeline.is_empty(),
            Self::ColdStarts => r.timeline.iter().any(|p| p.cold_starts > 0),
            Self::Waterfall => r.phases.iter().any(|p| p.waterfall.is_some()),
            Self::Distribution => r.distributions.iter().any(|d| !d.points.is_empty()),
        }
    }

    fn plot<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        r: &AnalysisReport,
    ) -> DrawResult {
        match self {
            Self::Latency => latency(area, r),
            Self::Throughput => throughput(area, r),
            Self::Errors => errors(area, r),
            Self::ColdStarts => cold_starts(area, r),
            Self::Waterfall => waterfall(area, r),
            Self::Distribution => distribution(area, r),
        }
    }
}

/// One kind of chart drawn from a report value `R` (the run's analysis, the cold-start
/// report): what the HTML page inlines as SVG and the PNG files are drawn from.
pub trait Plot<R: ?Sized>: Copy {
    /// File stem (`latency` → `latency.png`).
    fn stem(self) -> &'static str;

    /// Caption shown above the chart.
    fn title(self) -> &'static str;

    /// Whether the report holds the data this chart needs.
    fn has_data(self, r: &R) -> bool;

    /// Draws the chart's content onto `area` (the font is registered by [`Plot::draw`]).
    fn plot<DB: DrawingBackend>(self, area: &DrawingArea<DB, Shift>, r: &R) -> DrawResult;

    /// Draws the chart onto `area`.
    fn draw<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        r: &R,
    ) -> Result<(), ReportError> {
        register_font();
        self.plot(area, r)
            .and_then(|()| area.present().map_err(err))
            .map_err(|message| ReportError::Chart {
                chart: self.stem().into(),
                message,
            })
    }

    /// The chart as an SVG document.
    fn svg(self, r: &R) -> Result<String, ReportError> {
        let mut svg = String::new();
        {
            let area = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&area, r)?;
        }
        Ok(svg)
    }
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is known-good; failure here would be a packaging bug.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// What a drawing step returns: plotters' error, as text.
pub type DrawResult = Result<(), String>;

pub fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Seconds since the run's start for a timeline point.
fn seconds(r: &AnalysisReport, p: &TimelinePoint) -> f64 {
    let start = r
        .run
        .window
        .map(|w| w.start)
        .or_else(|| r.timeline.first().map(|p| p.t))
        .unwrap_or(p.t);
    (p.t - start).num_milliseconds() as f64 / 1000.0
}

fn x_range(r: &AnalysisReport) -> std::ops::Range<f64> {
    let end = r
        .run
        .window
        .map(|w| w.duration().as_secs_f64())
        .or_else(|| r.timeline.last().map(|p| seconds(r, p) + 1.0))
        .unwrap_or(1.0);
    0.0..end.max(1.0)
}

pub fn max_or(values: impl Iterator<Item = f64>, floor: f64) -> f64 {
    values.fold(floor, f64::max) * 1.1
}

/// Shaded phase bands with their names, under a chart's series.
fn phase_bands<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    r: &AnalysisReport,
    y_max: f64,
) -> DrawResult {
    let Some(start) = r.run.window.map(|w| w.start) else {
        return Ok(());
    };
    for (i, p) in r.phases.iter().enumerate() {
        let x0 = (p.window.start - start).num_milliseconds() as f64 / 1000.0;
        let x1 = (p.window.end - start).num_milliseconds() as f64 / 1000.0;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x1, y_max)],
                BAND[i % 2].filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                p.name.clone(),
                (x0, y_max),
                ("sans-serif", 12).into_font().color(&BLACK.mix(0.6)),
            )))
            .map_err(err)?;
    }
    Ok(())
}

fn line<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    label: &str,
) -> DrawResult {
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
    Ok(())
}

/// A line over the timeline, broken where seconds are missing (an idle phase, a gap in the
/// data) instead of bridging them with a straight segment.
fn time_line<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    label: &str,
) -> DrawResult {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    for p in points {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|q| p.0 - q.0 <= 1.5) => run.push(p),
            _ => runs.push(vec![p]),
        }
    }
    let mut runs = runs.into_iter();
    line(chart, runs.next().unwrap_or_default(), color, label)?;
    for run in runs {
        chart
            .draw_series(LineSeries::new(run, color.stroke_width(2)))
            .map_err(err)?;
    }
    Ok(())
}

/// The series' legend, top right, on a translucent box.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(err)
}

/// A chart over `x` × `y`, as [`frame`] builds it.
pub type Frame<'a, DB, X, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>,
>;

/// A white chart with the common margins and label areas over `x` × `y`; the caller
/// configures the mesh (its axis descriptions and label formats differ per chart).
pub fn frame<DB: DrawingBackend, X: AsRangedCoord, Y: AsRangedCoord>(
    area: &DrawingArea<DB, Shift>,
    x: X,
    y: Y,
    y_label_area: u32,
) -> Result<Frame<'_, DB, X, Y>, String> {
    area.fill(&WHITE).map_err(err)?;
    ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x, y)
        .map_err(err)
}

fn time_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    r: &AnalysisReport,
    y_max: f64,
    y_desc: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let mut chart = frame(area, x_range(r), 0.0..y_max, 64)?;
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.05))
        .x_desc("seconds since start")
        .y_desc(y_desc)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    phase_bands(&mut chart, r, y_max)?;
    Ok(chart)
}

fn latency<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &AnalysisReport) -> DrawResult {
    let series = |f: fn(&TimelinePoint) -> Option<f64>| -> Vec<(f64, f64)> {
        r.timeline
            .iter()
            .filter(|p| p.completed > 0)
            .filter_map(|p| f(p).map(|v| (seconds(r, p), v)))
            .collect()
    };
    let p50 = series(|p| p.p50.map(|m| m.0));
    let p99 = series(|p| p.p99.map(|m| m.0));
    let y_max = max_or(p99.iter().chain(&p50).map(|p| p.1), 1.0);
    let mut chart = time_chart(area, r, y_max, "latency (ms)")?;
    time_line(&mut chart, p50, P50, "p50")?;
    time_line(&mut chart, p99.clone(), P99, "p99")?;
    let cold: Vec<(f64, f64)> = r
        .timeline
        .iter()
        .filter(|p| p.cold_starts > 0)
        .map(|p| (seconds(r, p), p.p99.map_or(0.0, |m| m.0)))
        .collect();
    if !cold.is_empty() {
        chart
            .draw_series(
                cold.into_iter()
                    .map(|(x, y)| TriangleMarker::new((x, y), 5, CONCURRENCY.filled())),
            )
            .map_err(err)?
            .label("cold starts")
            .legend(|(x, y)| TriangleMarker::new((x + 8, y), 5, CONCURRENCY.filled()));
    }
    legend(&mut chart)
}

fn throughput<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &AnalysisReport) -> DrawResult {
    let pts = |f: fn(&TimelinePoint) -> Option<f64>| -> Vec<(f64, f64)> {
        r.timeline
            .iter()
            .filter_map(|p| f(p).map(|v| (seconds(r, p), v)))
            .collect()
    };
    let offered = pts(|p| Some(p.offered as f64));
    let achieved = pts(|p| Some(p.completed as f64));
    let concurrency = pts(|p| p.concurrency);
    let y_max = max_or(
        offered
            .iter()
            .chain(&achieved)
            .chain(&concurrency)
            .map(|p| p.1),
        1.0,
    );
    let mut chart = time_chart(area, r, y_max, "requests/s · concurrency")?;
    line(&mut chart, offered, OFFERED, "offered (req/s)")?;
    line(&mut chart, achieved, ACHIEVED, "achieved (req/s)")?;
    if !concurrency.is_empty() {
        time_line(&mut chart, concurrency, CONCURRENCY, "Lambda concurrency")?;
    }
    legend(&mut chart)
}

fn errors<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &AnalysisReport) -> DrawResult {
    let pts = |f: fn(&TimelinePoint) -> Option<f64>| -> Vec<(f64, f64)> {
        r.timeline
            .iter()
            .filter_map(|p| f(p).map(|v| (seconds(r, p), v)))
            .collect()
    };
    let all = [
        (pts(|p| Some(p.errors_4xx as f64)), ERR_4XX, "4xx"),
        (pts(|p| Some(p.errors_5xx as f64)), ERR_5XX, "5xx"),
        (
            pts(|p| Some(p.errors_transport as f64)),
            ERR_TRANSPORT,
            "transport errors",
        ),
        (pts(|p| p.lambda_throttles), THROTTLE, "Lambda Throttles"),
        (pts(|p| p.downstream_throttles), P50, "downstream throttles"),
    ];
    let y_max = max_or(all.iter().flat_map(|s| s.0.iter().map(|p| p.1)), 1.0);
    let mut chart = time_chart(area, r, y_max, "per second")?;
    for (points, color, label) in all {
        if points.iter().any(|p| p.1 > 0.0) {
            time_line(&mut chart, points, color, label)?;
        }
    }
    legend(&mut chart)
}

fn cold_starts<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &AnalysisReport,
) -> DrawResult {
    let y_max = max_or(r.timeline.iter().map(|p| p.cold_starts as f64), 1.0);
    let mut chart = time_chart(area, r, y_max, "cold starts")?;
    chart
        .draw_series(r.timeline.iter().filter(|p| p.cold_starts > 0).map(|p| {
            let x = seconds(r, p);
            Rectangle::new(
                [(x, 0.0), (x + 0.9, p.cold_starts as f64)],
                CONCURRENCY.filled(),
            )
        }))
        .map_err(err)?;
    Ok(())
}

fn waterfall<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &AnalysisReport) -> DrawResult {
    let rows: Vec<(String, [f64; 7])> = r
        .phases
        .iter()
        .filter_map(|p| {
            let w = p.waterfall.as_ref()?;
            // The mean is estimated from a sample when not every request was traced.
            let label = if w.of_requests > w.traced_requests {
                format!(
                    "{} (from {} of {} requests)",
                    p.name,
                    thousands(w.traced_requests),
                    thousands(w.of_requests)
                )
            } else {
                p.name.clone()
            };
            Some((
                label,
                [
                    w.network.0,
                    w.api_gateway.0,
                    w.lambda_placement.0,
                    w.init.0,
                    w.invocation.0,
                    w.downstream.0,
                    w.overhead.0,
                ],
            ))
        })
        .collect();
    let names = [
        "network",
        "API Gateway",
        "Lambda placement",
        "init (cold)",
        "invocation",
        "downstream",
        "overhead",
    ];
    let x_max = max_or(rows.iter().map(|(_, v)| v.iter().sum::<f64>()), 1.0);
    let n = rows.len().max(1) as f64;
    let mut chart = frame(area, 0.0..x_max, 0.0..n, 8)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .light_line_style(BLACK.mix(0.05))
        .x_desc("mean milliseconds")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    for (row, (name, values)) in rows.iter().enumerate() {
        let y_top = n - row as f64 - 0.3;
        let y_bottom = n - row as f64 - 0.9;
        chart
            .draw_series(std::iter::once(Text::new(
                name.clone(),
                (0.0, n - row as f64 - 0.08),
                ("sans-serif", 13).into_font(),
            )))
            .map_err(err)?;
        let mut x = 0.0;
        for (i, v) in values.iter().enumerate() {
            if *v > 0.0 {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y_bottom), (x + v, y_top)],
                        SEGMENTS[i].filled(),
                    )))
                    .map_err(err)?;
            }
            x += v;
        }
    }
    for (i, name) in names.iter().enumerate() {
        let color = SEGMENTS[i];
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    legend(&mut chart)
}

fn distribution<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &AnalysisReport,
) -> DrawResult {
    // x = log10(1 / (1 - p)): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9 — the HDR layout.
    let to_x = |pct: f64| -> f64 { (1.0 / (1.0 - (pct / 100.0).min(0.99999))).log10() };
    let y_max = max_or(
        r.distributions
            .iter()
            .flat_map(|d| d.points.iter().map(|p| p.latency.0)),
        1.0,
    );
    let x_max = r
        .distributions
        .iter()
        .flat_map(|d| d.points.iter().map(|p| to_x(p.percentile)))
        .fold(3.0, f64::max)
        .ceil();
    let mut chart = frame(area, 0.0..x_max, 0.0..y_max, 64)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(x_max as usize + 1)
        .light_line_style(BLACK.mix(0.05))
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            format!("p{}", (p * 1000.0).round() / 1000.0)
        })
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    let palette = [
        P50,
        P99,
        ACHIEVED,
        CONCURRENCY,
        ERR_4XX,
        ERR_TRANSPORT,
        OFFERED,
    ];
    for (i, d) in r.distributions.iter().enumerate() {
        let pts: Vec<(f64, f64)> = d
            .points
            .iter()
            .map(|p| (to_x(p.percentile), p.latency.0))
            .collect();
        line(&mut chart, pts, palette[i % palette.len()], &d.phase)?;
    }
    legend(&mut chart)
}
