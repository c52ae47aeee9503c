//! The cold-start report's two charts, drawn like the run report's (size, font, colours,
//! frame and legend from `crate::charts`): every function as a point of invocations against
//! cold-start rate, and init duration per runtime from the fleet view.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use stormwatch_model::Millis;
use stormwatch_model::coldstarts_report::{ColdStartReport, FleetRow, FunctionColdStarts};
use stormwatch_model::text_table::thousands;

use crate::charts::{DrawResult, P50, P99, Plot, err, frame, legend, max_or};

/// How many functions the fleet chart names: the most latency added first.
pub const LABELLED: usize = 10;
/// Names longer than this are cut in chart labels.
const LABEL_CHARS: usize = 32;

/// The cold-start report's charts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColdChart {
    /// Every function with invocations: invocations (log scale) against cold-start rate.
    Fleet,
    /// Init p99 (largest) and p50 (weighted) per runtime, from the fleet view.
    InitByRuntime,
}

impl ColdChart {
    pub const ALL: [ColdChart; 2] = [ColdChart::Fleet, ColdChart::InitByRuntime];

    /// Why the report cannot draw this chart, or `None` when it can.
    pub fn missing(self, r: &ColdStartReport) -> Option<&'static str> {
        match self {
            Self::Fleet if r.functions.is_empty() => Some("no functions matched"),
            Self::Fleet if r.functions.iter().all(|f| f.invocations == 0) => {
                Some("no function was invoked in the range")
            }
            Self::InitByRuntime => match &r.fleet {
                None => Some(
                    "the functions were named rather than discovered across the account, so \
                     their configuration (runtime, memory, code size) was not read",
                ),
                Some(f) if f.by_runtime.is_empty() => Some("no function's runtime is known"),
                Some(_) => None,
            },
            Self::Fleet => None,
        }
    }
}

impl Plot<ColdStartReport> for ColdChart {
    fn stem(self) -> &'static str {
        match self {
            Self::Fleet => "coldstarts-fleet",
            Self::InitByRuntime => "coldstarts-init-by-runtime",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Fleet => {
                "Cold-start rate against invocations, per function (up to 10 that added the most latency named)"
            }
            Self::InitByRuntime => {
                "Init duration by runtime: p99 (largest of the functions' p99) and p50 (cold-start-weighted mean of the functions' medians)"
            }
        }
    }

    fn has_data(self, r: &ColdStartReport) -> bool {
        self.missing(r).is_none()
    }

    fn plot<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        r: &ColdStartReport,
    ) -> DrawResult {
        match self {
            Self::Fleet => fleet(area, &r.functions),
            Self::InitByRuntime => {
                init_by_runtime(area, r.fleet.as_ref().map_or(&[], |f| &f.by_runtime))
            }
        }
    }
}

/// `name`, cut to [`LABEL_CHARS`] with an ellipsis.
fn short(name: &str) -> String {
    if name.chars().count() <= LABEL_CHARS {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(LABEL_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// A log-scale range holding `lo..=hi` with some room either side, at least one decade wide.
fn log_range(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let (lo, hi) = (lo / 1.5, hi * 1.5);
    if hi / lo >= 10.0 {
        lo..hi
    } else {
        let centre = (lo * hi).sqrt();
        centre / 10f64.sqrt()..centre * 10f64.sqrt()
    }
}

fn fleet<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    functions: &[FunctionColdStarts],
) -> DrawResult {
    // A log axis has no zero: functions without invocations are left out (the page says so).
    let shown: Vec<&FunctionColdStarts> = functions.iter().filter(|f| f.invocations > 0).collect();
    let point = |f: &FunctionColdStarts| (f.invocations as f64, f.rate * 100.0);
    let x = log_range(
        shown
            .iter()
            .map(|f| point(f).0)
            .fold(f64::INFINITY, f64::min),
        shown.iter().map(|f| point(f).0).fold(1.0, f64::max),
    );
    let (ln_lo, ln_span) = (x.start.ln(), (x.end / x.start).ln());
    // Room above the highest point for its name.
    let y_max = max_or(shown.iter().map(|f| point(f).1), 1.0) * 1.1;
    let mut chart = frame(area, x.log_scale(), 0.0..y_max, 64)?;
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.05))
        .x_desc("invocations (log scale)")
        .y_desc("cold-start rate (%)")
        .x_label_formatter(&|v| {
            if *v >= 1.0 {
                thousands(v.round() as u64)
            } else {
                format!("{v}")
            }
        })
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;

    let mut ranked: Vec<&FunctionColdStarts> = shown
        .iter()
        .copied()
        .filter(|f| f.cost.added_total.0 > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.cost.added_total.0.total_cmp(&a.cost.added_total.0));
    ranked.truncate(LABELLED);
    let named = |f: &FunctionColdStarts| ranked.iter().any(|t| std::ptr::eq(*t, f));

    let others: Vec<(f64, f64)> = shown
        .iter()
        .filter(|f| !named(f))
        .map(|f| point(f))
        .collect();
    if !others.is_empty() {
        let style = P50.mix(0.7).filled();
        chart
            .draw_series(others.into_iter().map(|p| Circle::new(p, 4, style)))
            .map_err(err)?
            .label("other functions")
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, style));
    }
    if !ranked.is_empty() {
        let font = ("sans-serif", 12).into_font().color(&BLACK.mix(0.75));
        chart
            .draw_series(ranked.iter().map(|f| {
                let p = point(f);
                // Names of points on the right half run leftwards, so they stay inside.
                let (pos, dx) = if (p.0.ln() - ln_lo) / ln_span > 0.6 {
                    (Pos::new(HPos::Right, VPos::Bottom), -7)
                } else {
                    (Pos::new(HPos::Left, VPos::Bottom), 7)
                };
                EmptyElement::at(p)
                    + Circle::new((0, 0), 5, P99.filled())
                    + Text::new(short(&f.function), (dx, -4), font.clone().pos(pos))
            }))
            .map_err(err)?
            .label(format!("the {} that added the most latency", ranked.len()))
            .legend(|(x, y)| Circle::new((x + 8, y), 5, P99.filled()));
    }
    legend(&mut chart)
}

fn init_by_runtime<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[FleetRow],
) -> DrawResult {
    let n = rows.len();
    // Row i (first on top) is centred on y = n - 1 - i; labels fall on the integers.
    let centre = |i: usize| (n - 1 - i) as f64;
    // Room right of the longest bar for its value and the legend.
    let x_max = max_or(
        rows.iter()
            .flat_map(|g| [g.init_p99_max, g.init_p50_weighted])
            .flatten()
            .map(|m| m.0),
        1.0,
    ) * 1.6;
    let mut chart = frame(area, 0.0..x_max, -0.5..n as f64 - 0.5, 130)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(BLACK.mix(0.05))
        .x_desc("init (ms)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_labels(n)
        .y_label_formatter(&|y| {
            let from_top = n as f64 - 1.0 - y.round();
            if from_top < 0.0 || (y - y.round()).abs() > 1e-6 {
                return String::new();
            }
            rows.get(from_top as usize)
                .map(|g| short(&g.group))
                .unwrap_or_default()
        })
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    let series = [
        (
            P99,
            0.0,
            "p99: largest of the functions' p99",
            rows.iter().map(|g| g.init_p99_max).collect::<Vec<_>>(),
        ),
        (
            P50,
            -0.38,
            "p50: weighted mean of their medians",
            rows.iter().map(|g| g.init_p50_weighted).collect(),
        ),
    ];
    let font = ("sans-serif", 11).into_font().color(&BLACK.mix(0.75));
    for (color, offset, label, values) in series {
        let bars: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((v.as_ref()?.0, centre(i) + offset)))
            .collect();
        chart
            .draw_series(
                bars.iter()
                    .map(|&(v, y)| Rectangle::new([(0.0, y), (v, y + 0.38)], color.filled())),
            )
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        chart
            .draw_series(bars.iter().map(|&(v, y)| {
                EmptyElement::at((v, y + 0.19))
                    + Text::new(
                        Millis(v).to_string(),
                        (4, 0),
                        font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
                    )
            }))
            .map_err(err)?;
    }
    legend(&mut chart)
}
