//! Markdown: a summary short enough for a pull-request comment — verdict, findings,
//! a per-phase table, the thresholds and the data sources' notes (what an imported run cannot
//! say). User strings are escaped (GitHub renders HTML).

use std::fmt::Write as _;

use stormwatch_model::AnalysisReport;
use stormwatch_model::Severity;

use crate::Artifact;
use crate::text::{escape_markdown as esc, percent};

pub fn render(report: &AnalysisReport) -> Artifact {
    let mut md = String::new();
    let mark = if report.verdict.passed {
        "✅ passed"
    } else {
        "❌ failed"
    };
    let _ = writeln!(
        md,
        "## stormwatch: {} — {mark}\n",
        esc(&report.run.scenario)
    );
    let _ = writeln!(md, "**{}**\n", esc(&report.verdict.headline));
    for d in &report.verdict.details {
        let _ = writeln!(md, "- {}", esc(d));
    }
    if !report.verdict.details.is_empty() {
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "Run `{}` against {} — status {}.\n",
        esc(&report.run.run_id),
        esc(&report.run.target),
        report.run.status
    );

    if !report.findings.is_empty() {
        md.push_str("### Findings\n\n");
        for f in &report.findings {
            let sev = match f.severity {
                Severity::Critical => "🔴 critical",
                Severity::Warning => "🟠 warning",
                Severity::Info => "🔵 info",
            };
            let _ = writeln!(md, "- **{sev}** {}", esc(&f.title));
            for e in &f.evidence {
                let _ = writeln!(md, "  - {}: {}", esc(&e.label), esc(&e.value));
            }
            let _ = writeln!(md, "  - ➜ {}", esc(&f.recommendation));
        }
        md.push('\n');
    }

    if !report.phases.is_empty() {
        md.push_str("### Phases\n\n");
        md.push_str("| phase | model | requests | rate/s | p50 | p99 | max | errors | dropped |\n");
        md.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
        for p in &report.phases {
            // The phase's own percentiles over all its requests (thresholds use the same).
            let (p50, p99, max) = if p.requests == 0 {
                ("–".into(), "–".into(), "–".into())
            } else {
                (
                    p.corrected.p50.to_string(),
                    p.corrected.p99.to_string(),
                    p.corrected.max.to_string(),
                )
            };
            let err = if p.requests == 0 {
                "–".to_string()
            } else {
                format!(
                    "{} ({})",
                    p.errors,
                    percent(p.errors as f64 / p.requests as f64)
                )
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.1} | {p50} | {p99} | {max} | {err} | {} |",
                esc(&p.name),
                esc(&p.model),
                p.requests,
                p.achieved_rate_per_sec,
                p.dropped
            );
        }
        md.push('\n');
    }

    let resources: Vec<_> = report
        .phases
        .iter()
        .flat_map(|p| {
            p.server
                .iter()
                .flat_map(|s| s.resources.iter())
                .map(move |r| (p, r))
        })
        .filter(|(_, r)| {
            r.requests.unwrap_or(0) + r.throttles.unwrap_or(0) + r.errors.unwrap_or(0) > 0
        })
        .collect();
    if !resources.is_empty() {
        md.push_str(
            "### Server side, per resource

",
        );
        md.push_str("| phase | resource | requests | throttles | errors | timeouts | peak concurrency | p99 |
");
        md.push_str(
            "|---|---|--:|--:|--:|--:|--:|--:|
",
        );
        let n = |v: Option<u64>| v.map_or_else(|| "–".to_string(), |v| v.to_string());
        for (p, r) in resources {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                esc(&p.name),
                esc(&r.display_name()),
                n(r.requests),
                n(r.throttles),
                n(r.errors),
                n(r.timeouts),
                n(r.peak_concurrency),
                r.duration_p99
                    .map_or_else(|| "–".to_string(), |d| d.to_string())
            );
        }
        md.push('\n');
    }

    if let Some(c) = &report.cold_starts {
        let _ = writeln!(
            md,
            "### Cold starts\n\n{} cold starts ({} of invocations, from {}); init p50 {}, p99 {}, max {}{}.\n",
            c.count,
            percent(c.share),
            esc(&c.source),
            c.init.p50,
            c.init.p99,
            c.init.max,
            c.penalty
                .map(|p| format!("; each cost about {p} of client latency"))
                .unwrap_or_default()
        );
    }

    if !report.run.shards.is_empty() {
        md.push_str(
            "### Shards\n\n| shard | run | status | requests | errors | p99 | start skew |\n|---|---|---|---|---|---|---|\n",
        );
        for s in &report.run.shards {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                s.index,
                esc(&s.run_id),
                s.status,
                s.requests,
                s.errors,
                s.p99_ms
                    .map_or_else(|| "-".into(), |p| format!("{p:.1} ms")),
                s.start_skew_ms
                    .map_or_else(|| "-".into(), |k| format!("{k:+.1} ms"))
            );
        }
        if !report.run.missing_shards.is_empty() {
            let _ = writeln!(
                md,
                "\nMissing shard(s): {} — their share of the load is not in this run.",
                report
                    .run
                    .missing_shards
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        md.push('\n');
    }

    if !report.thresholds.is_empty() {
        md.push_str("### Thresholds\n\n| | threshold | observed |\n|---|---|---|\n");
        for t in &report.thresholds {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                if t.passed { "✅" } else { "❌" },
                esc(&t.name),
                esc(t.observed.as_deref().unwrap_or("no data"))
            );
        }
        md.push('\n');
    }

    // How the data was obtained and what it cannot say (an imported run: no coordinated
    // omission correction, aggregate-only files, approximate times).
    if !report.sources.notes.is_empty() {
        md.push_str("### Notes\n\n");
        for n in &report.sources.notes {
            let _ = writeln!(md, "- {}", esc(n));
        }
        md.push('\n');
    }
    Artifact {
        name: "summary.md".into(),
        bytes: md.into_bytes(),
    }
}
