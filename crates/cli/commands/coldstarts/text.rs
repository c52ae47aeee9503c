//! The table `stormwatch coldstarts` prints. For named functions: per function its
//! headline, init percentiles and cost, then the breakdowns by version × memory size and
//! by UTC hour. Account-wide: one ranked table (most added latency first), the fleet by
//! runtime, memory and code size, then each function's recommendations with their
//! arithmetic. Both end with what was read and what reading it cost.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use stormwatch_model::Millis;
use stormwatch_model::text_table::{Align, TextTable};

use stormwatch_analysis::coldstarts_summary::{ColdStartReport, percent, thousands};
use stormwatch_model::coldstarts_report::FleetRow;
use stormwatch_model::pricing::{LAMBDA_PRICES_AS_OF, usd_text};
use stormwatch_telemetry::coldstarts::Sources;

fn opt(m: Option<Millis>) -> String {
    m.map_or_else(|| "-".to_string(), |m| m.to_string())
}

/// The text: account-wide a ranked table, the fleet and the recommendations; for named
/// functions the details of each; then what was read.
pub fn describe(report: &ColdStartReport, sources: &Sources) -> String {
    let mut s = String::new();
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let _ = writeln!(
        s,
        "cold starts {} .. {}\n{}",
        time(report.from),
        time(report.to),
        report.note
    );
    if let Some(fleet) = &report.fleet {
        account(&mut s, report);
        for (title, rows) in [
            ("by runtime", &fleet.by_runtime),
            ("by memory size", &fleet.by_memory),
            ("by code size", &fleet.by_code_size),
        ] {
            fleet_table(&mut s, title, rows);
        }
        recommendations(&mut s, report);
    } else {
        details(&mut s, report);
    }
    read(&mut s, sources);
    s
}

/// Account-wide: one row per function, most added latency first.
fn account(s: &mut String, report: &ColdStartReport) {
    let mut t = TextTable::new(&[
        ("function", Align::Left),
        ("runtime", Align::Left),
        ("memory", Align::Right),
        ("invocations", Align::Right),
        ("cold", Align::Right),
        ("rate", Align::Right),
        ("init p50", Align::Right),
        ("init p99", Align::Right),
        ("added", Align::Right),
        ("first recommendation", Align::Left),
    ]);
    for f in &report.functions {
        t.row([
            f.function.clone(),
            f.context
                .as_ref()
                .map_or_else(String::new, |c| c.runtime.clone()),
            f.context
                .as_ref()
                .map_or_else(String::new, |c| format!("{} MB", c.memory_mb)),
            thousands(f.invocations),
            thousands(f.cold_starts),
            percent(f.rate),
            opt(f.init.map(|i| i.p50)),
            opt(f.init.map(|i| i.p99)),
            format!("{:.1} s", f.cost.added_total.0 / 1000.0),
            f.recommendations
                .first()
                .map_or_else(String::new, |r| r.action.clone()),
        ]);
    }
    let _ = write!(
        s,
        "\n{} functions, most added latency first\n{}",
        report.functions.len(),
        t.render()
    );
}

fn fleet_table(s: &mut String, title: &str, rows: &[FleetRow]) {
    let mut t = TextTable::new(&[
        (title, Align::Left),
        ("functions", Align::Right),
        ("invocations", Align::Right),
        ("cold", Align::Right),
        ("rate", Align::Right),
        ("init p50 (weighted)", Align::Right),
        ("init p99 (largest)", Align::Right),
    ]);
    for r in rows {
        t.row([
            r.group.clone(),
            thousands(r.functions),
            thousands(r.invocations),
            thousands(r.cold_starts),
            percent(r.rate),
            opt(r.init_p50_weighted),
            opt(r.init_p99_max),
        ]);
    }
    let _ = write!(s, "\nfleet {title}\n{}", t.render());
}

/// Each function's recommendations with their arithmetic (functions with nothing to do
/// are counted, not listed).
fn recommendations(s: &mut String, report: &ColdStartReport) {
    let _ = writeln!(
        s,
        "\nrecommendations (list prices of {LAMBDA_PRICES_AS_OF})"
    );
    let mut quiet = 0;
    for f in &report.functions {
        let acting: Vec<_> = f
            .recommendations
            .iter()
            .filter(|r| {
                r.kind != stormwatch_model::coldstarts_report::RecommendationKind::NothingToDo
            })
            .collect();
        if acting.is_empty() {
            quiet += 1;
            continue;
        }
        let _ = writeln!(s, "  {}", f.function);
        for (i, r) in acting.iter().enumerate() {
            let _ = writeln!(s, "    {}. {}\n       {}", i + 1, r.action, r.arithmetic);
        }
    }
    if quiet > 0 {
        let _ = writeln!(
            s,
            "  {quiet} function(s): nothing to do (cold starts rare or none)"
        );
    }
}

/// What was read and what reading it cost.
fn read(s: &mut String, sources: &Sources) {
    let _ = write!(
        s,
        "\nread: {} function(s) in {}",
        sources.functions,
        sources.regions.join(", ")
    );
    if let Some(l) = &sources.logs {
        let _ = write!(
            s,
            "; {} Logs Insights queries scanned {:.3} GB",
            l.queries,
            l.bytes_scanned as f64 / 1e9
        );
        if !l.missing_groups.is_empty() {
            let _ = write!(s, " ({} log group(s) do not exist)", l.missing_groups.len());
        }
    }
    if let Some(x) = &sources.xray {
        let _ = write!(s, "; {} X-Ray traces", thousands(x.traces as u64));
    }
    if let Some(why) = &sources.xray_skipped {
        let _ = write!(s, "; X-Ray skipped: {why}");
    }
    let _ = writeln!(s, "; cost {} at list prices", usd_text(sources.cost.usd()));
}

/// Named functions: each one's details.
fn details(s: &mut String, report: &ColdStartReport) {
    for f in &report.functions {
        let _ = writeln!(s, "\n{}", f.headline);
        if let Some(i) = &f.init {
            let _ = writeln!(
                s,
                "  init: p50 {}, p95 {}, p99 {}, max {}{}",
                i.p50,
                i.p95,
                i.p99,
                i.max,
                if f.restores > 0 {
                    format!(" ({} SnapStart restores)", thousands(f.restores))
                } else {
                    String::new()
                }
            );
        }
        if let Some(mean) = f.cost.added_mean {
            let _ = writeln!(
                s,
                "  added latency: {} in total, {mean} per cold start",
                f.cost.added_total
            );
        }
        if let Some(t) = &f.cost.traced {
            let _ = write!(
                s,
                "  traced: {} cold, {} warm",
                thousands(t.cold),
                thousands(t.warm)
            );
            if let Some(p) = t.init_p50 {
                let _ = write!(s, "; init p50 {p}");
            }
            if let (Some(c), Some(w)) = (t.cold_segment_p50, t.warm_segment_p50) {
                let d = c.0 - w.0;
                let sign = if d < 0.0 { "-" } else { "+" };
                let _ = write!(
                    s,
                    "; function segment p50 {c} cold vs {w} warm ({sign}{})",
                    Millis(d.abs())
                );
            }
            let _ = writeln!(s);
        }
        if f.invocations == 0 {
            continue;
        }
        let mut by_config = TextTable::new(&[
            ("version", Align::Left),
            ("memory", Align::Right),
            ("invocations", Align::Right),
            ("cold", Align::Right),
            ("rate", Align::Right),
            ("init p50", Align::Right),
            ("init p99", Align::Right),
        ])
        .indented("  ");
        for c in &f.by_config {
            by_config.row([
                c.version.clone(),
                c.memory_mb
                    .map_or_else(|| "-".into(), |m| format!("{m} MB")),
                thousands(c.invocations),
                thousands(c.cold_starts),
                percent(c.rate),
                opt(c.init_p50),
                opt(c.init_p99),
            ]);
        }
        let _ = write!(s, "\n{}", by_config.render());
        let mut by_hour = TextTable::new(&[
            ("hour (UTC)", Align::Left),
            ("invocations", Align::Right),
            ("cold", Align::Right),
            ("rate", Align::Right),
            ("init p50", Align::Right),
        ])
        .indented("  ");
        for h in &f.by_hour {
            by_hour.row([
                h.hour.format("%Y-%m-%d %H:%M").to_string(),
                thousands(h.invocations),
                thousands(h.cold_starts),
                percent(h.rate),
                opt(h.init_p50),
            ]);
        }
        let _ = write!(s, "\n{}", by_hour.render());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use stormwatch_analysis::coldstarts_summary::summarize;
    use stormwatch_model::PhaseWindow;
    use stormwatch_model::coldstarts::{ColdStartData, CountSource, Invocation, TracedInvocation};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn traced_cost_shows_cold_minus_warm() {
        let traced = |cold: bool, segment_ms: u64| TracedInvocation {
            function: "checkout".into(),
            trace_id: format!("1-{segment_ms}"),
            at: t("2026-11-23T10:00:00Z"),
            cold,
            init: cold.then(|| Duration::from_millis(segment_ms - 30)),
            restore: false,
            segment: Duration::from_millis(segment_ms),
            version: "unknown".into(),
        };
        let data = ColdStartData {
            range: PhaseWindow {
                start: t("2026-11-23T10:00:00Z"),
                end: t("2026-11-23T12:00:00Z"),
            },
            functions: vec!["checkout".into()],
            counts_from: CountSource::Xray,
            aggregates: Vec::new(),
            contexts: std::collections::BTreeMap::new(),
            account_wide: false,
            invocations: vec![Invocation {
                function: "checkout".into(),
                at: t("2026-11-23T10:00:01Z"),
                cold: true,
                init: Some(Duration::from_millis(300)),
                restore: false,
                duration: Duration::from_millis(20),
                memory_mb: Some(256),
                version: "$LATEST".into(),
                trace_id: None,
            }],
            traced: Some(vec![
                traced(true, 330),
                traced(false, 30),
                traced(false, 40),
            ]),
        };
        let text = describe(&summarize(&data), &Sources::default());
        assert!(text.contains("(+300 ms)"), "{text}");
        assert!(text.contains("init: p50 300 ms"), "{text}");
        assert!(
            text.contains("\ncheckout: 1 cold start in 1 invocation"),
            "{text}"
        );
        assert!(text.contains("  2026-11-23 10:00 "), "{text}");
    }
}
