//! `stormwatch run SCENARIO`: check the scenario into a plan, run it (or print it with
//! `--dry-run`), then print the summary table, the threshold verdicts and the run
//! directory's path. Exit 1 when a client-side threshold fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use stormwatch_load::{Plan, RunOptions, RunOutcome};
use stormwatch_model::RunDir;

use crate::args::RunArgs;
use crate::exit::{self, Exit, WithExit};

pub fn run(args: &RunArgs, quiet: bool) -> anyhow::Result<Exit> {
    let Some((dir, outcome)) = execute(args, quiet)? else {
        return Ok(Exit::Ok);
    };
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "{}",
        stormwatch_load::summary_table(&outcome.manifest, &outcome.stats, &outcome.lateness)
    )?;
    let verdicts = stormwatch_load::evaluate_thresholds(&outcome.manifest, &outcome.stats);
    for v in &verdicts {
        writeln!(out, "{}", v.describe())?;
    }
    writeln!(out, "status: {}", outcome.manifest.status)?;
    writeln!(out, "{}", dir.root().display())?;
    if verdicts.iter().any(|v| !v.passed) {
        return Ok(Exit::ThresholdFailed);
    }
    Ok(Exit::Ok)
}

/// Checks the scenario and runs it into a new run directory. With `--dry-run` it prints
/// the plan instead and returns `None`.
pub fn execute(args: &RunArgs, quiet: bool) -> anyhow::Result<Option<(RunDir, RunOutcome)>> {
    // Validate before doing: every scenario error surfaces here, before any request.
    let plan = Plan::load(&args.scenario, &args.set, args.target.as_deref())
        .map_err(|e| exit::input_error(e.to_string()))?;
    if args.dry_run {
        write!(
            std::io::stdout().lock(),
            "{}",
            stormwatch_load::dry_run_text(&plan)
        )?;
        return Ok(None);
    }
    let run_id = new_run_id(&args.scenario, &args.out);
    let dir = RunDir::new(args.out.join(&run_id));
    std::fs::create_dir_all(dir.root())
        .with_context(|| format!("cannot create run directory {}", dir.root().display()))
        .input()?;
    let mut labels = BTreeMap::new();
    for s in &args.set {
        // Only keys: values may be secrets.
        if let Some((k, _)) = s.split_once('=') {
            labels.insert(format!("set.{k}"), "(overridden)".to_string());
        }
    }
    let opts = RunOptions {
        dir: dir.clone(),
        run_id,
        labels,
        quiet,
        handle_signals: true,
    };
    let outcome = stormwatch_load::run_blocking(Arc::new(plan), opts)
        .with_context(|| format!("running into {}", dir.root().display()))?;
    Ok(Some((dir, outcome)))
}

/// `20261122T140102Z-<scenario stem>`, with a suffix if that directory already exists.
pub(crate) fn new_run_id(scenario: &std::path::Path, out: &std::path::Path) -> String {
    let stem = scenario
        .file_stem()
        .map_or_else(|| "run".to_string(), |s| s.to_string_lossy().into_owned());
    let base = format!("{}-{stem}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let mut id = base.clone();
    let mut n = 2;
    while out.join(&id).exists() {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}
