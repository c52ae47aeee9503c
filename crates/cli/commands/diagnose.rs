//! `stormwatch diagnose SCENARIO.toml`: the whole pipeline in one command — run the load,
//! collect the telemetry of its windows (when the scenario names AWS resources), analyze and
//! write the report. Progress goes to stderr; stdout has the run's summary table, the
//! verdict and the report's files, the HTML page last. Exit 1 when the verdict fails; exit
//! 3 when collecting failed (the client-side report is still written first).

use crate::args::DiagnoseArgs;
use crate::commands::pipeline::{self, Collect, Pipeline, Progress, TableTo};
use crate::commands::{analyze, collect, run as load};
use crate::exit::Exit;

pub async fn run(args: &DiagnoseArgs, quiet: bool) -> anyhow::Result<Exit> {
    // Every flag was checked by clap before the first request is sent.
    let Some((plan, opts)) = load::prepare(&args.run, quiet)? else {
        return Ok(Exit::Ok); // --dry-run printed the plan
    };
    let _refresh = load::sign_with_chain(&plan, opts.dir.root()).await?;
    let collect = if args.no_collect {
        Collect::Skip("--no-collect: the analysis is client-side only")
    } else if plan.aws.as_ref().is_some_and(|a| !a.is_empty()) {
        Collect::Run {
            opts: Box::new(collect::options(&args.collect)),
            what: "collecting CloudWatch metrics, X-Ray traces and Lambda logs for the run's windows",
        }
    } else {
        Collect::Skip(
            "the scenario has no [aws] block: nothing to collect; the analysis is client-side only",
        )
    };
    let pipeline = Pipeline {
        plan,
        run: opts,
        collect,
        formats: args.format.clone(),
        report_out: args.report_out.clone(),
        table: TableTo::Stdout,
    };
    let progress = Progress {
        command: "diagnose",
        quiet,
    };
    let analysis = pipeline::run(pipeline, progress).await?;
    Ok(analyze::verdict_exit(&analysis))
}
