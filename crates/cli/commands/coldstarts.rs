//! `stormwatch coldstarts [--function F | --filter P | --tag K=V] (--since D | --from T
//! [--to T])`: the cold starts of a real account without a load test, for named functions
//! or every function of one or more regions. Checks the range and flags, discovers the
//! functions and has Logs Insights aggregate their REPORT lines (plus X-Ray traces) through
//! the telemetry crate, summarises them with the analysis crate and prints the summary as
//! a table (or JSON with `--json`); `--out DIR` also writes `coldstarts.json`, an HTML page
//! and PNG charts through the report crate. AWS errors exit 3, input errors exit 2.

mod text;

use std::io::Write;

use anyhow::Context as _;
use chrono::Utc;
use serde::Serialize;
use stormwatch_analysis::coldstarts_summary::{ColdStartReport, summarize};
use stormwatch_telemetry::coldstarts::{self, ColdStartOptions, Sources};
use stormwatch_telemetry::lambda::{NameFilter, Selection};
use stormwatch_telemetry::target::checked_range;

use super::collect::tag;
use crate::args::ColdstartsArgs;
use crate::exit::{Exit, WithExit};

pub async fn run(args: &ColdstartsArgs) -> anyhow::Result<Exit> {
    // Validate before any network I/O.
    // "Now" on the next whole second: Insights ranges are whole seconds, and a range that
    // ended mid-second would leave out that second's last invocations.
    let now = {
        let t = Utc::now();
        chrono::DateTime::from_timestamp(t.timestamp() + 1, 0).unwrap_or(t)
    };
    let (from, to) = match (args.from, args.since.or(args.last)) {
        (Some(from), _) => (from, args.to.unwrap_or(now)),
        (None, Some(back)) => (
            now - chrono::Duration::from_std(back).map_err(|e| anyhow::anyhow!("{e}"))?,
            now,
        ),
        (None, None) => unreachable!("clap requires --from, --since or --last"),
    };
    let range = checked_range(from, to).map_err(tag)?;
    let filter = args
        .filter
        .as_deref()
        .map(|f| NameFilter::parse(f).map_err(|m| anyhow::anyhow!("--filter {f:?}: {m}")))
        .transpose()
        .input()?;
    let selection = Selection {
        names: args.function.clone(),
        filter,
        tags: args.tag.clone(),
    };
    let mut opts = ColdStartOptions {
        logs: !args.no_logs,
        xray: !args.no_xray,
        insights_concurrency: usize::from(args.insights_concurrency),
        regions: args.regions.clone(),
        ..ColdStartOptions::default()
    };
    opts.aws.profile.clone_from(&args.profile);
    opts.aws.region.clone_from(&args.region);
    opts.aws.timeouts = args.timeouts.timeouts();

    let fetched = coldstarts::fetch(&selection, range, &opts)
        .await
        .map_err(tag)?;
    let summary = summarize(&fetched.data);
    let report = Output {
        summary: &summary,
        sources: &fetched.sources,
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))
            .input()?;
        let path = dir.join("coldstarts.json");
        stormwatch_model::run_dir::write_json_atomic(&path, &report).input()?;
        stormwatch_report::write_coldstarts(&summary, dir).input()?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", text::describe(&summary, &fetched.sources))?;
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
