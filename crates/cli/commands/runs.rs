//! `stormwatch runs list`: a table of the run directories in a folder.
//!
//! Reads only manifests. A corrupt or unreadable manifest is reported with its path on
//! stderr and skipped; it does not stop the listing.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::SecondsFormat;
use stormwatch_model::text_table::{Align, TextTable};
use stormwatch_model::{RunDir, RunManifest};

use crate::args::RunsListArgs;
use crate::exit::{Exit, WithExit};

pub fn list(args: &RunsListArgs) -> anyhow::Result<Exit> {
    let mut runs = read_runs(&args.dir)?;
    runs.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then(a.run_id.cmp(&b.run_id))
    });
    let mut out = std::io::stdout().lock();
    if args.json {
        for m in &runs {
            writeln!(out, "{}", serde_json::to_string(&summary(m))?)?;
        }
    } else {
        write_table(&mut out, &runs)?;
    }
    Ok(Exit::Ok)
}

/// Every readable manifest under `dir`; unreadable ones are reported and skipped.
fn read_runs(dir: &Path) -> anyhow::Result<Vec<RunManifest>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list run directories in {}", dir.display()))
        .input()?;
    let mut runs = Vec::new();
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let run = RunDir::new(&path);
        if !run.manifest_path().is_file() {
            continue;
        }
        match run.read_manifest() {
            Ok(m) => runs.push(m),
            Err(e) => tracing::warn!("skipping {}: {e}", path.display()),
        }
    }
    Ok(runs)
}

fn duration_text(m: &RunManifest) -> String {
    let Some(end) = m
        .ended_at
        .or_else(|| m.phases.iter().rev().find_map(|p| p.actual.map(|w| w.end)))
    else {
        return "-".into();
    };
    let secs = (end - m.started_at).num_milliseconds().max(0) as f64 / 1000.0;
    if secs >= 60.0 {
        format!("{}m{:02.0}s", (secs / 60.0).floor(), secs % 60.0)
    } else {
        format!("{secs:.1}s")
    }
}

fn phases_text(m: &RunManifest) -> String {
    m.phases
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn scenario_name(m: &RunManifest) -> String {
    Path::new(&m.scenario.path).file_name().map_or_else(
        || m.scenario.path.clone(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn summary(m: &RunManifest) -> serde_json::Value {
    serde_json::json!({
        "run_id": m.run_id,
        "scenario": scenario_name(m),
        "status": m.status,
        "started_at": m.started_at,
        "duration": duration_text(m),
        "phases": m.phases.iter().map(|p| &p.name).collect::<Vec<_>>(),
    })
}

fn write_table(out: &mut impl Write, runs: &[RunManifest]) -> std::io::Result<()> {
    let header = [
        "RUN",
        "SCENARIO",
        "STATUS",
        "START (UTC)",
        "DURATION",
        "PHASES",
    ];
    let rows: Vec<[String; 6]> = runs
        .iter()
        .map(|m| {
            [
                m.run_id.clone(),
                scenario_name(m),
                m.status.to_string(),
                m.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                duration_text(m),
                phases_text(m),
            ]
        })
        .collect();
    let mut table = TextTable::new(&header.map(|h| (h, Align::Left)));
    for row in rows {
        table.row(row);
    }
    write!(out, "{}", table.render())?;
    if runs.is_empty() {
        writeln!(out, "(no runs)")?;
    }
    Ok(())
}
