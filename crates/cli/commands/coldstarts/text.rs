//! The table `stormwatch coldstarts` prints: per function its headline, init percentiles
//! and cost, then the breakdowns by version × memory size and by UTC hour.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use stormwatch_model::Millis;
use stormwatch_model::text_table::{Align, TextTable};

use stormwatch_analysis::coldstarts_summary::{ColdStartReport, percent, thousands};

fn opt(m: Option<Millis>) -> String {
    m.map_or_else(|| "-".to_string(), |m| m.to_string())
}

/// The text table: per function its headline, percentiles and cost, then the breakdowns
/// by version × memory size and by UTC hour.
pub fn describe(report: &ColdStartReport) -> String {
    let mut s = String::new();
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let _ = writeln!(
        s,
        "cold starts {} .. {}\n{}",
        time(report.from),
        time(report.to),
        report.note
    );
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
    s
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
            counts_from: CountSource::Logs,
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
        let text = describe(&summarize(&data));
        assert!(text.contains("(+300 ms)"), "{text}");
        assert!(text.contains("init: p50 300 ms"), "{text}");
        assert!(
            text.contains("\ncheckout: 1 cold start in 1 invocation"),
            "{text}"
        );
        assert!(text.contains("  2026-11-23 10:00 "), "{text}");
    }
}
