//! `stormwatch diagnose SCENARIO.toml`: the whole pipeline in one command — run the load,
//! collect the telemetry of its windows (when the scenario names AWS resources), analyze and
//! write the report. Progress goes to stderr; stdout has the run's summary table, the
//! verdict and the report's files, the HTML page last. Exit 1 when the verdict fails; exit
//! 3 when collecting failed (the client-side report is still written first).

use std::io::Write;

use crate::args::DiagnoseArgs;
use crate::commands::{analyze, collect, report, run as load};
use crate::exit::Exit;

pub fn run(args: &DiagnoseArgs, quiet: bool) -> anyhow::Result<Exit> {
    let say = |msg: &str| {
        if !quiet {
            eprintln!("diagnose: {msg}");
        }
    };
    // Every flag is checked before the first request is sent.
    let formats = report::parse_formats(&args.format)?;
    let opts = collect::options(&args.collect)?;
    let Some((dir, outcome)) = load::execute(&args.run, quiet)? else {
        return Ok(Exit::Ok); // --dry-run printed the plan
    };
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "{}",
        stormwatch_load::summary_table(&outcome.manifest, &outcome.stats, &outcome.lateness)
    )?;
    say(&format!(
        "run {}: {}",
        outcome.manifest.status,
        dir.root().display()
    ));

    let mut collect_failed = None;
    let has_resources = outcome.manifest.aws.as_ref().is_some_and(|a| !a.is_empty());
    if args.no_collect {
        say("--no-collect: the analysis is client-side only");
    } else if has_resources {
        say("collecting CloudWatch metrics, X-Ray traces and Lambda logs for the run's windows");
        match collect::collect_run(dir.root(), &opts) {
            Ok(summary) => {
                if !quiet {
                    eprint!("{}", summary.describe());
                }
            }
            Err(e) => {
                eprintln!("diagnose: collect failed, the analysis is client-side only: {e:#}");
                collect_failed = Some(e);
            }
        }
    } else {
        say(
            "the scenario has no [aws] block: nothing to collect; the analysis is client-side only",
        );
    }

    say("analyzing");
    let analysis = analyze::analyze_and_write(&dir)?;
    let out_dir = args.report_out.clone().unwrap_or_else(|| dir.report_dir());
    let written = report::write(&analysis, &formats, &out_dir)?;
    analyze::write_verdict(&mut out, &analysis)?;
    report::print_paths(&mut out, &written)?;
    if let Some(e) = collect_failed {
        return Err(e);
    }
    Ok(analyze::verdict_exit(&analysis))
}
