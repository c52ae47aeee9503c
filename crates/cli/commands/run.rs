//! `stormwatch run SCENARIO`: check the scenario into a plan, run it (or print it with
//! `--dry-run`), then print the summary table, the threshold verdicts and the run
//! directory's path. Exit 1 when a client-side threshold fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use stormwatch_load::{Plan, RunOptions, RunOutcome};
use stormwatch_model::RunDir;

use crate::args::RunArgs;
use crate::exit::{Exit, WithExit};

pub async fn run(args: &RunArgs, quiet: bool) -> anyhow::Result<Exit> {
    let Some((plan, opts)) = prepare(args, quiet)? else {
        return Ok(Exit::Ok);
    };
    let dir = opts.dir.clone();
    let outcome = execute(plan, opts).await?;
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

/// Checks the scenario into a plan and creates its run directory. With `--dry-run` it
/// prints the plan instead and returns `None`.
pub fn prepare(args: &RunArgs, quiet: bool) -> anyhow::Result<Option<(Plan, RunOptions)>> {
    // Validate before doing: every scenario error surfaces here, before any request.
    let plan = Plan::load(&args.scenario, &args.set, args.target.as_deref()).input()?;
    if args.dry_run {
        write!(
            std::io::stdout().lock(),
            "{}",
            stormwatch_load::dry_run_text(&plan)
        )?;
        return Ok(None);
    }
    let mut labels = BTreeMap::new();
    for s in &args.set {
        // Only keys: values may be secrets.
        if let Some((k, _)) = s.split_once('=') {
            labels.insert(format!("set.{k}"), "(overridden)".to_string());
        }
    }
    let dir = create_run_dir(&args.out, &scenario_stem(&args.scenario))?;
    let opts = RunOptions {
        run_id: dir.id(),
        dir,
        labels,
        quiet,
        handle_signals: true,
    };
    Ok(Some((plan, opts)))
}

/// Runs `plan` into its run directory.
pub async fn execute(plan: Plan, opts: RunOptions) -> anyhow::Result<RunOutcome> {
    let root = opts.dir.root().to_path_buf();
    stormwatch_load::run(Arc::new(plan), opts)
        .await
        .with_context(|| format!("running into {}", root.display()))
}

/// A new run directory in `out`, named after `name` (see [`RunDir::create`]).
pub fn create_run_dir(out: &Path, name: &str) -> anyhow::Result<RunDir> {
    RunDir::create(out, name)
        .with_context(|| format!("cannot create a run directory in {}", out.display()))
        .input()
}

/// The scenario file's name without its extension (`run` when it has none).
fn scenario_stem(scenario: &Path) -> String {
    scenario
        .file_stem()
        .map_or_else(|| "run".to_string(), |s| s.to_string_lossy().into_owned())
}
