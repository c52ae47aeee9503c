//! `stormwatch demo`: the whole pipeline on this machine, no AWS account needed. Starts the
//! sandbox with the built-in config (examples/demo/sandbox.toml: a burst after idle, a
//! reserved-concurrency cap and a table-throttle incident), runs the built-in scenario
//! (examples/demo/scenario.toml) against it, analyzes the run and writes the report. Says
//! what it is doing on stderr; prints the HTML report's path last on stdout.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stormwatch_load::{Plan, RunOptions};
use stormwatch_model::RunDir;
use stormwatch_report::Format;
use stormwatch_telemetry::{CollectOptions, CollectSummary, CollectTarget};

use crate::args::DemoArgs;
use crate::commands::{analyze, collect, report, run::new_run_id};
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
    runtime.block_on(async {
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
        // Collect while the sandbox still serves its CloudWatch, X-Ray and Logs APIs.
        let collected = match &outcome {
            Ok(o) => {
                if !quiet {
                    eprint!(
                        "{}",
                        stormwatch_load::summary_table(&o.manifest, &o.stats, &o.lateness)
                    );
                }
                say(&format!(
                    "run {}: {} requests",
                    o.manifest.status,
                    o.stats.values().map(|s| s.count).sum::<u64>()
                ));
                say("collecting the sandbox's CloudWatch metrics, X-Ray traces and Lambda logs for the run's windows");
                Some(collect_from_sandbox(&dir, &sandbox.api_url).await)
            }
            Err(_) => None,
        };
        sandbox.stop().await.context("stopping the sandbox")?;
        outcome?;
        if let Some(summary) = collected.transpose()?
            && !quiet
        {
            eprint!("{}", summary.describe());
        }
        anyhow::Ok(())
    })?;

    say("analyzing and writing the report");
    let analysis = analyze::analyze_and_write(&dir)?;
    let written = report::write(&analysis, &Format::ALL, &dir.report_dir())?;
    let mut out = std::io::stdout().lock();
    analyze::write_verdict(&mut out, &analysis)?;
    report::print_paths(&mut out, &written)?;
    // The demo's thresholds are meant to fail (it shows what a failing verdict looks like);
    // the command itself succeeded.
    Ok(Exit::Ok)
}

/// The collector against the in-process sandbox: its endpoint and dummy credentials, the
/// sandbox's 1-second period, and a short wait (its data is complete at once, so the first
/// poll finds the last window stable).
async fn collect_from_sandbox(dir: &RunDir, endpoint: &str) -> anyhow::Result<CollectSummary> {
    let mut opts = CollectOptions {
        period: Some(1),
        wait: Some(Duration::from_secs(5)),
        poll_interval: Duration::from_secs(1),
        pad: Duration::from_secs(5),
        ..CollectOptions::default()
    };
    opts.aws.use_local_endpoint(endpoint);
    let target = CollectTarget::from_run(dir.root()).map_err(collect::tag)?;
    let prepared = stormwatch_telemetry::prepare(target, &opts).map_err(collect::tag)?;
    stormwatch_telemetry::collect(prepared, &opts)
        .await
        .map_err(collect::tag)
        .context("collecting from the sandbox")
}
