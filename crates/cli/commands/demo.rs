//! `stormwatch demo`: the whole pipeline on this machine, no AWS account needed. Starts the
//! sandbox with the built-in config (examples/demo/sandbox.toml: a burst after idle, a
//! reserved-concurrency cap and a table-throttle incident), runs the built-in scenario
//! (examples/demo/scenario.toml) against it through the pipeline `diagnose` uses, and
//! stops the sandbox. Says what it is doing on stderr; prints the HTML report's path last
//! on stdout.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use stormwatch_load::{Plan, RunOptions};
use stormwatch_report::Format;
use stormwatch_telemetry::CollectOptions;

use crate::args::DemoArgs;
use crate::commands::pipeline::{self, Collect, Pipeline, Progress, TableTo};
use crate::commands::run::create_run_dir;
use crate::exit::Exit;

const SANDBOX_CONFIG: &str = include_str!("../../../examples/demo/sandbox.toml");
const SCENARIO: &str = include_str!("../../../examples/demo/scenario.toml");

pub async fn run(args: &DemoArgs, quiet: bool) -> anyhow::Result<Exit> {
    let progress = Progress {
        command: "demo",
        quiet,
    };
    let dir = create_run_dir(&args.out, "demo")?;
    // Both inputs are copied into the run so the user can read and rerun them.
    let sandbox_path = dir.root().join("sandbox.toml");
    let scenario_path = dir.root().join("scenario.toml");
    std::fs::write(&sandbox_path, SANDBOX_CONFIG)
        .with_context(|| format!("writing {}", sandbox_path.display()))?;
    std::fs::write(&scenario_path, SCENARIO)
        .with_context(|| format!("writing {}", scenario_path.display()))?;
    let config = stormwatch_sandbox::Config::parse(&sandbox_path, SANDBOX_CONFIG)
        .context("the built-in sandbox config")?;

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
    progress.say(&format!(
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
    progress.say(&format!(
        "running {} phases ({}) into {}",
        plan.phases.len(),
        plan.phases
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(" → "),
        dir.root().display()
    ));
    let pipeline = Pipeline {
        plan,
        run: RunOptions {
            run_id: dir.id(),
            dir,
            labels: [("demo".to_string(), "true".to_string())].into(),
            quiet,
            handle_signals: true,
            shard: stormwatch_load::Shard::WHOLE,
            start_at: None,
        },
        collect: Collect::Run {
            opts: Box::new(sandbox_collect_options(&sandbox.api_url)),
            what: "collecting the sandbox's CloudWatch metrics, X-Ray traces and Lambda logs for the run's windows",
        },
        formats: Format::ALL.to_vec(),
        report_out: None,
        table: TableTo::Stderr,
    };
    let outcome = pipeline::run(pipeline, progress).await;
    sandbox.stop().await.context("stopping the sandbox")?;
    outcome?;
    // The demo's thresholds are meant to fail (it shows what a failing verdict looks like);
    // the command itself succeeded.
    Ok(Exit::Ok)
}

/// The collector against the in-process sandbox: its endpoint and dummy credentials, the
/// sandbox's 1-second period, and a short wait (its data is complete at once, so the first
/// poll finds the last window stable).
fn sandbox_collect_options(endpoint: &str) -> CollectOptions {
    let mut opts = CollectOptions {
        period: Some(1),
        wait: Some(Duration::from_secs(5)),
        poll_interval: Duration::from_secs(1),
        pad: Duration::from_secs(5),
        ..CollectOptions::default()
    };
    opts.aws.use_local_endpoint(endpoint);
    opts
}
