//! `stormwatch coldstarts --function F --from T --to T`: the cold starts of a real account
//! without a load test. Checks the range, reads REPORT lines and X-Ray traces through the
//! telemetry crate, summarises them with the analysis crate and prints the summary as a
//! table (or JSON with `--json`); `--out DIR` also writes `coldstarts.json`. AWS errors
//! exit 3, input errors exit 2.

mod text;

use std::io::Write;

use serde::Serialize;
use stormwatch_analysis::coldstarts_summary::{ColdStartReport, summarize};
use stormwatch_telemetry::coldstarts::{self, ColdStartOptions, Sources};
use stormwatch_telemetry::target::checked_range;

use super::collect::tag;
use crate::args::ColdstartsArgs;
use crate::exit::{Exit, WithExit};

pub async fn run(args: &ColdstartsArgs) -> anyhow::Result<Exit> {
    // Validate before any network I/O.
    let range = checked_range(args.from, args.to).map_err(tag)?;
    let mut opts = ColdStartOptions {
        logs: !args.no_logs,
        xray: !args.no_xray,
        ..ColdStartOptions::default()
    };
    opts.aws.profile.clone_from(&args.profile);
    opts.aws.region.clone_from(&args.region);
    opts.aws.timeouts = args.timeouts.timeouts();

    let fetched = coldstarts::fetch(&args.function, range, &opts)
        .await
        .map_err(tag)?;
    let summary = summarize(&fetched.data);
    let report = Output {
        summary: &summary,
        sources: &fetched.sources,
    };
    if let Some(dir) = &args.out {
        let path = dir.join("coldstarts.json");
        stormwatch_model::run_dir::write_json_atomic(&path, &report).input()?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", text::describe(&summary))?;
    }
    Ok(Exit::Ok)
}

/// `coldstarts.json` and `--json`: the summary, then what was read.
#[derive(Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    summary: &'a ColdStartReport,
    sources: &'a Sources,
}
