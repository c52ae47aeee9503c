//! `stormwatch demo`: the whole pipeline on this machine, no AWS account needed. Starts the
//! sandbox with the built-in config (examples/demo/sandbox.toml: a burst after idle, a
//! reserved-concurrency cap and a table-throttle incident), runs the built-in scenario
//! (examples/demo/scenario.toml) against it, analyzes the run and writes the report. Says
//! what it is doing on stderr; prints the HTML report's path last on stdout.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use stormwatch_load::{Plan, RunOptions};
use stormwatch_model::RunDir;
use stormwatch_report::Format;

use crate::args::DemoArgs;
use crate::commands::{analyze, run::new_run_id};
use crate::exit::{Exit, WithExit};

const SANDBOX_CONFIG: &str = include_str!("../../../examples/demo/sandbox.toml");
const SCENARIO: &str = include_str!("../../../examples/demo/scenario.toml");

pub fn run(args: &DemoArgs, quiet: bool) -> anyhow::Result<Exit> {
    let say = |msg: &str| {
        if !quiet {
            eprintln!("demo: {msg}");
        }
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))
        .input()?;
    let run_id = new_run_id(Path::new("demo"), &args.out);
    let dir = RunDir::new(args.out.join(&run_id));
    std::fs::create_dir_all(dir.root())
        .with_context(|| format!("cannot create run directory {}", dir.root().display()))
        .input()?;
    // Both inputs are copied into the run so the user can read and rerun them.
    let sandbox_path = dir.root().join("sandbox.toml");
    let scenario_path = dir.root().join("scenario.toml");
    std::fs::write(&sandbox_path, SANDBOX_CONFIG)
        .with_context(|| format!("writing {}", sandbox_path.display()))?;
    std::fs::write(&scenario_path, SCENARIO)
        .with_context(|| format!("writing {}", scenario_path.display()))?;
    let config = stormwatch_sandbox::Config::parse(&sandbox_path, SANDBOX_CONFIG)
        .context("the built-in sandbox config")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let sandbox = stormwatch_sandbox::Sandbox::start(
            config,
            stormwatch_sandbox::Options {
                seed: args.seed,
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                ground_truth: Some(dir.root().join("sandbox-ground-truth.jsonl")),
            },
        )
        .await
        .context("starting the sandbox")?;
        say(&format!(
            "sandbox listening on {} (config: {})",
            sandbox.api_url,
            sandbox_path.display()
        ));
        let plan = Plan::parse(
            &scenario_path,
            SCENARIO,
            &[],
            Some(&sandbox.api_url),
            &|_| None,
        )
        .context("the built-in scenario")?;
        say(&format!(
            "running {} phases ({}) into {}",
            plan.phases.len(),
            plan.phases
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(" → "),
            dir.root().display()
        ));
        let outcome = stormwatch_load::run(
            Arc::new(plan),
            RunOptions {
                dir: dir.clone(),
                run_id,
                labels: [("demo".to_string(), "true".to_string())].into(),
                quiet,
                handle_signals: true,
            },
        )
        .await
        .context("running the demo scenario");
        sandbox.stop().await.context("stopping the sandbox")?;
        outcome
    })?;
    if !quiet {
        eprint!(
            "{}",
            stormwatch_load::summary_table(&outcome.manifest, &outcome.stats, &outcome.lateness)
        );
    }
    say(&format!(
        "run {}: {} requests",
        outcome.manifest.status,
        outcome.stats.values().map(|s| s.count).sum::<u64>()
    ));

    say("analyzing");
    let report = analyze::analyze_and_write(&dir)?;
    say("writing the report");
    let out_dir = dir.report_dir();
    let written = stormwatch_report::write(&report, &Format::ALL, &out_dir)
        .with_context(|| format!("writing the report into {}", out_dir.display()))?;
    let mut out = std::io::stdout().lock();
    analyze::write_verdict(&mut out, &report)?;
    for path in written
        .iter()
        .filter(|p| p.extension().is_none_or(|e| e != "html"))
    {
        writeln!(out, "{}", path.display())?;
    }
    for path in written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
    {
        writeln!(out, "{}", path.display())?;
    }
    // The demo's thresholds are meant to fail (it shows what a failing verdict looks like);
    // the command itself succeeded.
    Ok(Exit::Ok)
}
