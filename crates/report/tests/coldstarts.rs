//! Renders a hand-built account-wide cold-start report (three functions over two runtimes,
//! one without configuration, one with a hostile name, a fleet view) and checks what the
//! page and the charts must hold: every function, the recommendations' arithmetic, the
//! fleet groups, escaping, self-containment, valid PNGs of the charts' size; then the
//! named-functions form (no fleet), an empty report and the breakdown limit.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use stormwatch_model::Millis;
use stormwatch_model::coldstarts::CountSource;
use stormwatch_model::coldstarts_report::{
    ColdStartCost, ColdStartReport, ConfigColdStarts, Fleet, FleetRow, FunctionColdStarts,
    FunctionContext, HourColdStarts, InitPercentiles, Recommendation, RecommendationKind,
};
use stormwatch_report::{render_coldstarts, write_coldstarts};

const XSS: &str = "<img src=x onerror=alert(1)>";
const XSS_ESCAPED: &str = "&lt;img src=x onerror=alert(1)&gt;";
const PC_ACTION: &str = "provisioned concurrency of 3 on an alias ($38.71 a month at list prices)";
const PC_ARITHMETIC: &str = "1,200 cold starts in 400,000 invocations (0.3 %), 504.0 s of init; busiest hour's mean concurrency 2.40 → 3 environment(s) × 0.500 GB × 2,628,000 s × $0.0000041667 per GB-s = $16.42 a month";
const SNAP_ACTION: &str = "SnapStart on published versions ($4.12 a month)";
const SNAP_ARITHMETIC: &str = "cache 0.500 GB × 2,628,000 s × $0.0000015046 + restores 1,752 × 0.500 GB × $0.0001397998 = $4.12 a month";
const MEMORY_ARITHMETIC: &str =
    "init scales with memory in this fleet: 45 % shorter saves 300 s of 650 s a month";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn context(runtime: &str, memory_mb: u32, code_size_bytes: u64) -> FunctionContext {
    FunctionContext {
        region: "eu-west-1".into(),
        runtime: runtime.into(),
        architecture: "arm64".into(),
        memory_mb,
        package_type: "Zip".into(),
        code_size_bytes,
        snap_start: false,
        provisioned_concurrency: 0,
    }
}

fn recommendation(kind: RecommendationKind, action: &str, arithmetic: &str) -> Recommendation {
    Recommendation {
        kind,
        action: action.into(),
        arithmetic: arithmetic.into(),
        saves_seconds_per_month: 650.0,
        usd_per_month: 4.12,
    }
}

fn function(name: &str, invocations: u64, cold_starts: u64, init_p50: f64) -> FunctionColdStarts {
    let rate = cold_starts as f64 / invocations.max(1) as f64;
    FunctionColdStarts {
        function: name.into(),
        headline: format!("{cold_starts} cold starts in {invocations} invocations"),
        invocations,
        cold_starts,
        rate,
        restores: 0,
        init: (cold_starts > 0).then_some(InitPercentiles {
            p50: Millis(init_p50),
            p95: Millis(init_p50 * 1.3),
            p99: Millis(init_p50 * 1.6),
            max: Millis(init_p50 * 2.0),
        }),
        by_config: vec![ConfigColdStarts {
            version: "$LATEST".into(),
            memory_mb: Some(512),
            invocations,
            cold_starts,
            rate,
            init_p50: Some(Millis(init_p50)),
            init_p99: Some(Millis(init_p50 * 1.6)),
        }],
        by_hour: (0..3)
            .map(|h| HourColdStarts {
                hour: t0() + Duration::hours(h),
                invocations: invocations / 3,
                cold_starts: cold_starts / 3,
                rate,
                init_p50: Some(Millis(init_p50)),
                mean_concurrency: Some(0.8 * (h + 1) as f64),
            })
            .collect(),
        cost: ColdStartCost {
            added_total: Millis(init_p50 * cold_starts as f64),
            added_mean: (cold_starts > 0).then_some(Millis(init_p50)),
            traced: None,
        },
        context: None,
        peak_hourly_concurrency: Some(2.4),
        recommendations: Vec::new(),
    }
}

fn row(group: &str, functions: u64, cold_starts: u64, p50: f64, p99: f64) -> FleetRow {
    FleetRow {
        group: group.into(),
        functions,
        invocations: cold_starts * 300,
        cold_starts,
        rate: 1.0 / 300.0,
        init_p50_weighted: Some(Millis(p50)),
        init_p99_max: Some(Millis(p99)),
    }
}

/// Account-wide: ranked by added latency, two with configuration and recommendations, one
/// (`legacy-batch`) whose configuration could not be read.
fn report() -> ColdStartReport {
    let mut orders = function("orders-api", 400_000, 1_200, 420.0);
    orders.context = Some(context("python3.12", 512, 870_400));
    orders.recommendations = vec![
        recommendation(
            RecommendationKind::ProvisionedConcurrency,
            PC_ACTION,
            PC_ARITHMETIC,
        ),
        recommendation(RecommendationKind::SnapStart, SNAP_ACTION, SNAP_ARITHMETIC),
    ];
    let mut hostile = function(XSS, 9_000, 450, 610.0);
    hostile.context = Some(context("nodejs20.x", 1024, 12_897_485));
    hostile.recommendations = vec![recommendation(
        RecommendationKind::Memory,
        "2048 MB instead of 1024 MB",
        MEMORY_ARITHMETIC,
    )];
    let legacy = function("legacy-batch", 120, 2, 900.0);
    ColdStartReport {
        from: t0(),
        to: t0() + Duration::hours(3),
        counts_from: CountSource::Logs,
        note: "Counts are every REPORT line in the range.".into(),
        functions: vec![orders, hostile, legacy],
        fleet: Some(Fleet {
            by_runtime: vec![
                row("nodejs20.x", 1, 450, 610.0, 976.0),
                row("python3.12", 1, 1_200, 420.0, 672.0),
            ],
            by_memory: vec![
                row("512 MB", 1, 1_200, 420.0, 672.0),
                row("1024 MB", 1, 450, 610.0, 976.0),
            ],
            by_code_size: vec![
                row("< 1 MB", 1, 1_200, 420.0, 672.0),
                row("10–50 MB", 1, 450, 610.0, 976.0),
            ],
        }),
    }
}

fn page(r: &ColdStartReport) -> String {
    let files = render_coldstarts(r).unwrap();
    assert_eq!(files[0].name, "coldstarts.html");
    String::from_utf8(files[0].bytes.clone()).unwrap()
}

/// The inline SVG of the figure `chart-<stem>`.
fn figure<'a>(html: &'a str, stem: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"chart-{stem}\""))
        .unwrap_or_else(|| panic!("no figure {stem}"));
    let end = html[start..].find("</figure>").unwrap() + start;
    &html[start..end]
}

/// The text of every `<text>` element in `svg`, trimmed (plotters escapes it).
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim()))
        .collect()
}

/// `s` as the page's auto-escaping writes it.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// Decodes a PNG file completely and returns its size.
fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    (frame.width, frame.height)
}

#[test]
fn write_puts_the_page_and_both_charts_in_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("coldstarts");
    let written = write_coldstarts(&report(), &out).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "coldstarts.html",
            "coldstarts-fleet.png",
            "coldstarts-init-by-runtime.png"
        ]
    );
    for path in &written {
        assert!(path.is_file(), "{} missing", path.display());
        assert_eq!(path.parent(), Some(out.as_path()));
    }
    for png in &written[1..] {
        assert_eq!(png_size(png), (960, 340), "{}", png.display());
        // A chart with points, bars and text is far from a blank image (~1 KB).
        let len = std::fs::metadata(png).unwrap().len();
        assert!(len > 8_000, "{} looks empty ({len} bytes)", png.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // Lets a person look at the fixture: STORMWATCH_DUMP_COLDSTARTS=/tmp/x cargo test.
    if let Some(dump) = std::env::var_os("STORMWATCH_DUMP_COLDSTARTS") {
        write_coldstarts(&report(), Path::new(&dump)).unwrap();
    }
}

#[test]
fn pngs_are_reproducible() {
    let a = render_coldstarts(&report()).unwrap();
    let b = render_coldstarts(&report()).unwrap();
    assert_eq!(a.len(), 3);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.bytes, y.bytes, "{} differs between two renders", x.name);
    }
}

#[test]
fn page_lists_every_function_in_order_with_its_configuration() {
    let html = page(&report());
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    assert!(at("orders-api") < at(XSS_ESCAPED));
    assert!(at(XSS_ESCAPED) < at("legacy-batch"));
    assert!(html.contains("2026-11-22 00:00:00 UTC – 2026-11-22 03:00:00 UTC"));
    assert!(html.contains("Counts are every REPORT line in the range."));
    // orders-api: configuration, counts, rate, init, added latency (1,200 × 420 ms).
    for cell in [
        "eu-west-1",
        "arm64",
        "512 MB",
        "850 KB",
        "12.3 MB",
        "400,000",
        "1,200",
        "0.3 %",
        "420 ms",
        "672 ms",
        "504 s",
        "2.40",
    ] {
        assert!(html.contains(cell), "{cell} missing");
    }
    // The first recommendation is in the table; legacy-batch has no configuration.
    let table = &html[at("<table class=\"functions\">")..at("</table>")];
    assert!(table.contains(PC_ACTION));
    assert!(!table.contains(SNAP_ACTION));
    assert!(table.contains("configuration not read"));
    assert_eq!(table.matches("configuration not read").count(), 1);
}

#[test]
fn page_shows_fleet_groups_with_what_their_percentiles_mean() {
    let html = page(&report());
    let fleet = &html[html.find("<section id=\"fleet\">").unwrap()..];
    let fleet = &fleet[..fleet.find("</section>").unwrap()];
    for group in [
        "nodejs20.x",
        "python3.12",
        "512 MB",
        "1024 MB",
        "&lt; 1 MB",
        "10–50 MB",
    ] {
        assert!(fleet.contains(group), "fleet group {group} missing");
    }
    assert_eq!(fleet.matches("<table class=\"fleet\">").count(), 3);
    assert_eq!(
        fleet
            .matches("cold-start-weighted mean of the functions' medians")
            .count(),
        3
    );
    assert_eq!(fleet.matches("largest of the functions' p99").count(), 3);
    assert!(fleet.contains("976 ms"));
}

#[test]
fn page_shows_each_recommendation_with_its_arithmetic() {
    let html = page(&report());
    let recs = &html[html.find("<section id=\"recommendations\">").unwrap()..];
    let recs = &recs[..recs.find("</section>").unwrap()];
    for text in [
        PC_ACTION,
        PC_ARITHMETIC,
        SNAP_ACTION,
        SNAP_ARITHMETIC,
        MEMORY_ARITHMETIC,
    ] {
        assert!(recs.contains(&escaped(text)), "{text} missing");
    }
    assert!(recs.find(&escaped(PC_ARITHMETIC)) < recs.find(&escaped(SNAP_ARITHMETIC)));
    assert!(recs.contains(&format!("<code>{XSS_ESCAPED}</code>")));
    assert!(
        !recs.contains("legacy-batch"),
        "no recommendations, no entry"
    );
    assert!(recs.contains("$4.12 a month at list prices"));
}

#[test]
fn hostile_names_are_escaped_in_the_page_and_the_charts() {
    let html = page(&report());
    assert!(!html.contains(XSS), "raw function name in the page");
    assert!(
        !html.contains("<img"),
        "charts are inline SVG, so no <img> at all"
    );
    assert!(!html.contains("<script"));
    assert!(
        html.matches(XSS_ESCAPED).count() >= 4,
        "table, recommendations, breakdown, chart"
    );
    // The hostile function added the second most latency: the scatter names it.
    assert!(svg_texts(figure(&html, "coldstarts-fleet")).contains(&XSS_ESCAPED));
}

#[test]
fn page_is_self_contained_with_both_charts_inline() {
    let html = page(&report());
    for needle in ["http://", "https://"] {
        for (i, _) in html.match_indices(needle) {
            let context = &html[i.saturating_sub(60)..(i + 60).min(html.len())];
            assert!(
                context.contains("www.w3.org/2000/svg"),
                "external reference: {context}"
            );
        }
    }
    assert!(!html.contains("<link"));
    assert_eq!(html.matches("<svg").count(), 2);
    // The runtime chart names each runtime on its axis.
    let runtimes = svg_texts(figure(&html, "coldstarts-init-by-runtime"));
    for label in [
        "nodejs20.x",
        "python3.12",
        "976 ms",
        "420 ms",
        "p99: largest of the functions&apos; p99",
    ] {
        assert!(runtimes.contains(&label), "{label} not in {runtimes:?}");
    }
    assert!(!html.contains("Not drawn"));
}

#[test]
fn named_functions_without_a_fleet_render_and_leave_the_runtime_chart_out() {
    let mut r = report();
    r.fleet = None;
    for f in &mut r.functions {
        f.context = None;
        f.recommendations.clear();
    }
    let dir = tempfile::tempdir().unwrap();
    // A runtime chart from an earlier account-wide report in the same folder goes.
    let stale = dir.path().join("coldstarts-init-by-runtime.png");
    std::fs::write(&stale, b"old").unwrap();
    let written = write_coldstarts(&r, dir.path()).unwrap();
    assert_eq!(written.len(), 2);
    assert!(dir.path().join("coldstarts-fleet.png").is_file());
    assert!(
        !stale.exists(),
        "the runtime chart is not written without a fleet"
    );
    let html = std::fs::read_to_string(dir.path().join("coldstarts.html")).unwrap();
    for name in ["orders-api", XSS_ESCAPED, "legacy-batch"] {
        assert!(html.contains(name), "{name} missing");
    }
    assert!(html.contains("id=\"no-fleet\""));
    assert!(html.contains("id=\"no-chart-coldstarts-init-by-runtime\""));
    assert!(html.contains("named rather than discovered across the account"));
    assert!(!html.contains("<table class=\"fleet\">"));
    assert!(!html.contains("id=\"recommendations\""));
    assert_eq!(html.matches("<svg").count(), 1);
    let fleet = svg_texts(figure(&html, "coldstarts-fleet"));
    assert!(fleet.contains(&"orders-api") && fleet.contains(&"legacy-batch"));
    // Breakdowns stay: three functions, each by config and by hour.
    assert_eq!(html.matches("<details>").count(), 3);
    assert!(html.contains("2026-11-22 02:00"));
    assert!(html.contains("$LATEST"));
}

#[test]
fn an_empty_report_says_no_functions_matched() {
    let mut r = report();
    r.functions.clear();
    r.fleet = None;
    let dir = tempfile::tempdir().unwrap();
    let written = write_coldstarts(&r, dir.path()).unwrap();
    assert_eq!(written, [dir.path().join("coldstarts.html")]);
    let html = std::fs::read_to_string(&written[0]).unwrap();
    assert!(html.contains("No functions matched"));
    assert!(!html.contains("<svg"));
    assert!(!html.contains("<table class=\"functions\">"));
    assert!(html.contains("id=\"no-chart-coldstarts-fleet\""));
}

#[test]
fn breakdowns_stop_at_twenty_functions_and_say_so() {
    let mut r = report();
    let template = r.functions[2].clone();
    for i in 0..22 {
        let mut f = template.clone();
        f.function = format!("worker-{i:02}");
        r.functions.push(f);
    }
    let html = page(&r);
    assert_eq!(html.matches("<details>").count(), 20);
    assert!(html.contains("Shown for the first 20 of 25 functions; the other 5"));
    // All 25 are in the table; the last breakdown is the 20th function's.
    assert!(html.contains("worker-21"));
    let breakdowns = &html[html.find("id=\"breakdowns\"").unwrap()..];
    assert!(breakdowns.contains("worker-16") && !breakdowns.contains("worker-17"));
    // Twenty-five points, ten named: the most added latency first.
    let fleet = svg_texts(figure(&html, "coldstarts-fleet"));
    assert!(fleet.contains(&"orders-api") && fleet.contains(&"worker-06"));
    assert!(
        !fleet.contains(&"worker-07"),
        "only ten are named: {fleet:?}"
    );
    assert!(fleet.contains(&"the 10 that added the most latency"));
}
