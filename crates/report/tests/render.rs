//! Renders a realistic analysis (a burst that hit a reserved-concurrency cap, with cold
//! starts) in every format. Snapshots pin the text formats; the other tests check what a
//! snapshot cannot: escaping of hostile names, self-containment, valid and reproducible PNGs.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use stormwatch_model::analysis::{
    ColdStartSummary, DataSources, EndpointStats, LatencyDistribution, LatencySummary,
    PercentilePoint, PhaseColdStarts, PhaseStats, ResourceKind, ResourceStats, RunSummary,
    ServerStats, ThresholdResult, TimelinePoint, Verdict, Waterfall,
};
use stormwatch_model::{
    ANALYSIS_SCHEMA_VERSION, AnalysisReport, ApiKind, Evidence, Finding, FindingKind, Millis,
    PhaseWindow, RunStatus, Severity,
};
use stormwatch_report::{Format, render};

const XSS_ENDPOINT: &str = "<img src=x onerror=alert(1)>";
const XSS_PHASE: &str = "</script><script>alert(1)</script>";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T14:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn lat(p50: f64, p99: f64) -> LatencySummary {
    LatencySummary {
        p50: Millis(p50),
        p95: Millis(p50 * 1.5),
        p99: Millis(p99),
        p999: Millis(p99 * 1.2),
        max: Millis(p99 * 1.5),
    }
}

fn report(passed: bool) -> AnalysisReport {
    let w = |a: i64, b: i64| PhaseWindow {
        start: t0() + ChronoDuration::seconds(a),
        end: t0() + ChronoDuration::seconds(b),
    };
    let phase =
        |index: u32, name: &str, window: PhaseWindow, p99: f64, server: Option<ServerStats>| {
            PhaseStats {
                index,
                name: name.into(),
                window,
                model: "open 50/s".into(),
                offered_rate_per_sec: Some(50.0),
                achieved_rate_per_sec: 48.5,
                requests: 1500,
                errors: if index == 1 { 312 } else { 0 },
                dropped: 0,
                corrected: lat(42.0, p99),
                raw: lat(40.0, p99 * 0.8),
                endpoints: vec![EndpointStats {
                    endpoint: if index == 1 {
                        XSS_ENDPOINT.into()
                    } else {
                        "GET /products/:id".into()
                    },
                    count: 1500,
                    rate_per_sec: 48.5,
                    corrected: lat(42.0, p99),
                    raw: lat(40.0, p99 * 0.8),
                    outcomes: BTreeMap::from([("2xx".to_string(), 1188), ("500".to_string(), 312)]),
                    error_rate: if index == 1 { 0.208 } else { 0.0 },
                }],
                server,
                waterfall: Some(Waterfall {
                    traced_requests: 1500,
                    of_requests: 1500,
                    network: Millis(3.0),
                    api_gateway: Millis(4.5),
                    lambda_placement: Millis(1.2),
                    init: Millis(if index == 1 { 38.0 } else { 0.0 }),
                    invocation: Millis(28.0),
                    downstream: Millis(9.0),
                    overhead: Millis(0.4),
                }),
            }
        };
    let timeline = (0..90)
        .map(|s| TimelinePoint {
            t: t0() + ChronoDuration::seconds(s),
            phase: Some(u32::from(s >= 30)),
            offered: if s < 30 { 50 } else { 200 },
            completed: if s < 30 { 50 } else { 100 },
            p50: Some(Millis(40.0 + (s % 7) as f64)),
            p99: Some(Millis(if s < 30 { 120.0 } else { 900.0 })),
            errors_4xx: 0,
            errors_5xx: if s >= 30 { 5 } else { 0 },
            errors_transport: 0,
            cold_starts: if s == 30 { 41 } else { 0 },
            concurrency: Some(if s < 30 { 4.0 } else { 100.0 }),
            lambda_throttles: Some(if s >= 30 { 5.2 } else { 0.0 }),
            downstream_throttles: None,
        })
        .collect();
    AnalysisReport {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        run: RunSummary {
            run_id: "20261122T140000Z-store".into(),
            scenario: "store.toml".into(),
            target: "http://127.0.0.1:8080/prod".into(),
            status: RunStatus::Completed,
            window: Some(w(0, 90)),
            api_kind: Some(ApiKind::Rest),
            functions: vec!["store-products".into()],
            shards: Vec::new(),
            missing_shards: Vec::new(),
        },
        verdict: Verdict {
            passed,
            headline: "p99 rose from 120 ms to 900 ms in burst because reserved concurrency capped at 100 and Lambda throttled 312 requests".into(),
            details: vec!["41 cold starts cost 380 ms each".into()],
        },
        findings: vec![Finding {
            kind: FindingKind::LambdaThrottling,
            severity: Severity::Critical,
            title: "Lambda throttled 312 requests at a concurrency ceiling of 100".into(),
            window: Some(w(30, 90)),
            phase: Some(XSS_PHASE.into()),
            evidence: vec![Evidence {
                label: "Throttles".into(),
                value: "312".into(),
                source: Some("AWS/Lambda/Throttles{FunctionName=store-products}:Sum".into()),
            }],
            recommendation: "Raise reserved concurrency above 100 or smooth the burst.".into(),
        }],
        phases: vec![
            phase(0, "baseline", w(0, 30), 120.0, None),
            phase(
                1,
                XSS_PHASE,
                w(30, 90),
                900.0,
                Some(ServerStats {
                    resources: vec![ResourceStats {
                        peak_concurrency: Some(100),
                        throttles: Some(312),
                        ..ResourceStats::new(ResourceKind::Function, "store-<products>")
                    }],
                }),
            ),
        ],
        thresholds: vec![
            ThresholdResult {
                name: "baseline p99 < 500 ms".into(),
                phase: Some("baseline".into()),
                endpoint: None,
                metric: "p99".into(),
                limit: "< 500 ms".into(),
                observed: Some("120 ms".into()),
                passed: true,
            },
            ThresholdResult {
                name: format!("{XSS_PHASE} error_rate < 1 %"),
                phase: Some(XSS_PHASE.into()),
                endpoint: None,
                metric: "error_rate".into(),
                limit: "< 1 %".into(),
                observed: Some("20.8 %".into()),
                passed,
            },
        ],
        cold_starts: Some(ColdStartSummary {
            source: "xray".into(),
            count: 41,
            share: 0.0137,
            init: lat(380.0, 450.0),
            penalty: Some(Millis(380.0)),
            by_phase: vec![PhaseColdStarts {
                phase: XSS_PHASE.into(),
                count: 41,
                share: 0.027,
            }],
            by_minute: Vec::new(),
            by_function: Vec::new(),
            estimate: None,
        }),
        timeline,
        distributions: vec![LatencyDistribution {
            phase: XSS_PHASE.into(),
            points: [50.0, 90.0, 99.0, 99.9]
                .iter()
                .map(|p| PercentilePoint {
                    percentile: *p,
                    latency: Millis(*p * 3.0),
                })
                .collect(),
        }],
        sources: DataSources {
            metric_series: 12,
            traces: 3000,
            log_reports: 0,
            clock_skew: Some(Millis(1.5)),
            notes: vec![],
        },
    }
}

fn text(format: Format, r: &AnalysisReport) -> String {
    let mut files = render(r, format).unwrap();
    assert_eq!(files.len(), 1);
    String::from_utf8(files.remove(0).bytes).unwrap()
}

/// The HTML with each inline SVG replaced by a marker, so the snapshot stays reviewable.
fn html_without_svg(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("</svg>").expect("unterminated svg") + start + 6;
        out.push_str("<svg/>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(text(Format::Markdown, &report(false)));
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(text(Format::Junit, &report(false)));
}

#[test]
fn json_snapshot_round_trips() {
    let r = report(true);
    let json = text(Format::Json, &r);
    let back: AnalysisReport = serde_json::from_str(&json).unwrap();
    let again = text(Format::Json, &back);
    assert!(
        again == json,
        "analysis.json does not survive a read/write cycle"
    );
    insta::assert_snapshot!(json);
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!(html_without_svg(&text(Format::Html, &report(false))));
}

#[test]
fn html_escapes_hostile_names_everywhere_including_charts() {
    let html = text(Format::Html, &report(false));
    assert!(!html.contains(XSS_ENDPOINT), "raw endpoint name in HTML");
    assert!(!html.contains("<script>"), "a script tag got through");
    assert!(!html.contains("onerror=alert(1)>"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // The phase name also appears inside the SVG charts (band labels, legend).
    let svg_start = html.find("<svg").expect("charts are inline");
    assert!(html[svg_start..].contains("&lt;/script&gt;"));
}

#[test]
fn html_is_self_contained() {
    let html = text(Format::Html, &report(true));
    for needle in ["http://", "https://"] {
        for (i, _) in html.match_indices(needle) {
            let context = &html[i.saturating_sub(60)..(i + 60).min(html.len())];
            // The only URLs allowed are the target shown as text and SVG's namespace.
            assert!(
                context.contains("127.0.0.1") || context.contains("www.w3.org/2000/svg"),
                "external reference: {context}"
            );
        }
    }
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert_eq!(html.matches("<svg").count(), 6, "all six charts have data");
    assert!(html.contains("✔ Passed"));
}

#[test]
fn junit_has_one_case_per_threshold_and_reports_failures() {
    let xml = text(Format::Junit, &report(false));
    assert_eq!(
        xml.matches("<testcase ").count(),
        3,
        "2 thresholds + run completed"
    );
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(xml.contains("error_rate was 20.8 %, limit &lt; 1 %"));
    let mut aborted = report(true);
    aborted.run.status = RunStatus::Aborted;
    let xml = text(Format::Junit, &aborted);
    assert!(xml.contains("run status is aborted"));
}

#[test]
fn markdown_escapes_html_and_table_breaks() {
    let md = text(Format::Markdown, &report(false));
    assert!(!md.contains("<img"));
    assert!(!md.contains("</script>"));
    assert!(md.contains("❌ failed"));
}

#[test]
fn pngs_are_valid_and_reproducible() {
    let r = report(false);
    let a = render(&r, Format::Png).unwrap();
    let b = render(&r, Format::Png).unwrap();
    let names: Vec<&str> = a.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "latency.png",
            "throughput.png",
            "errors.png",
            "coldstarts.png",
            "waterfall.png",
            "distribution.png"
        ]
    );
    for (x, y) in a.iter().zip(&b) {
        assert!(
            x.bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG",
            x.name
        );
        assert_eq!(x.bytes, y.bytes, "{} differs between two renders", x.name);
        // A chart with text and lines is far from a blank image (which compresses to ~1 KB).
        assert!(
            x.bytes.len() > 8_000,
            "{} looks empty ({} bytes)",
            x.name,
            x.bytes.len()
        );
    }
}

#[test]
fn absent_optional_numbers_render_as_a_dash() {
    let mut r = report(true);
    r.sources.clock_skew = None;
    r.cold_starts.as_mut().unwrap().penalty = None;
    for p in &mut r.phases {
        p.offered_rate_per_sec = None;
        p.server = None;
    }
    let html = text(Format::Html, &r);
    assert!(!html.contains("clock skew"));
    assert!(!html.contains("each cost about"));
    assert!(html.contains("<td class=\"n\">–</td>"));
}

#[test]
fn charts_without_data_are_left_out() {
    let mut r = report(true);
    r.timeline.clear();
    r.distributions.clear();
    for p in &mut r.phases {
        p.waterfall = None;
    }
    assert!(render(&r, Format::Png).unwrap().is_empty());
    let html = text(Format::Html, &r);
    assert!(!html.contains("<svg"));
}

#[test]
fn write_puts_every_format_in_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let written = stormwatch_report::write(&report(true), &Format::ALL, dir.path()).unwrap();
    for name in [
        "report.html",
        "summary.md",
        "analysis.json",
        "junit.xml",
        "latency.png",
    ] {
        assert!(dir.path().join(name).is_file(), "{name} missing");
    }
    assert_eq!(written.len(), 10);
    // Lets a person look at the rendered fixture: STORMWATCH_DUMP_REPORT=/tmp/x cargo test.
    if let Some(out) = std::env::var_os("STORMWATCH_DUMP_REPORT") {
        stormwatch_report::write(&report(false), &Format::ALL, std::path::Path::new(&out)).unwrap();
    }
}

#[test]
fn a_merged_run_shows_its_shards_in_html_and_markdown() {
    let mut r = report(true);
    r.run.shards = (0..3)
        .map(|i| stormwatch_model::distribution::ShardSummary {
            index: i,
            run_id: format!("shard-run-{i}"),
            status: stormwatch_model::RunStatus::Completed,
            requests: 1000 + u64::from(i),
            errors: u64::from(i) * 7,
            p99_ms: Some(40.0 + f64::from(i)),
            start_skew_ms: Some(1.5 * f64::from(i)),
        })
        .collect();
    r.run.missing_shards = vec![3];
    let html = text(Format::Html, &r);
    assert!(html.contains("<h2>Shards</h2>"), "no shard section");
    for i in 0..3 {
        assert!(
            html.contains(&format!("shard-run-{i}")),
            "shard {i} missing"
        );
    }
    assert!(
        html.contains("1002") && html.contains(">14<"),
        "counts of shard 2"
    );
    assert!(html.contains("missing: 3"), "the missing shard");
    let md = text(Format::Markdown, &r);
    assert!(md.contains("### Shards"), "{md}");
    assert!(
        md.contains("| 2 | shard-run-2 | completed | 1002 | 14 | 42.0 ms | +3.0 ms |"),
        "{md}"
    );
    assert!(md.contains("Missing shard(s): 3"), "{md}");
    // A run that was not merged has no shard section.
    assert!(!text(Format::Html, &report(true)).contains("<h2>Shards</h2>"));
}

#[test]
fn the_data_sources_notes_show_in_html_and_markdown() {
    let mut r = report(true);
    r.sources.notes = vec![
        "coordinated omission could not be corrected: the tool logged actual send times only, \
         so corrected latency = raw latency"
            .into(),
        "aggregate only: <no per-request records>".into(),
    ];
    let md = text(Format::Markdown, &r);
    assert!(md.contains("### Notes"), "{md}");
    assert!(
        md.contains("- coordinated omission could not be corrected: the tool logged actual send"),
        "{md}"
    );
    assert!(
        md.contains("- aggregate only: &lt;no per-request records&gt;"),
        "{md}"
    );
    let html = text(Format::Html, &r);
    assert!(
        html.contains("<li>coordinated omission could not be corrected"),
        "no note in the HTML"
    );
    assert!(html.contains("aggregate only: &lt;no per-request records&gt;"));
    // A run without notes has no notes section.
    assert!(!text(Format::Markdown, &report(true)).contains("### Notes"));
}
