//! `stormwatch import FORMAT FILE...`: read another tool's results into a new run directory
//! (`requests/`, `histograms.json`, `series.csv`, `manifest.json` with its `source`) that
//! `collect`, `analyze` and `report` read like any run. Prints what was imported and the
//! run directory's path; what was skipped goes to stderr too.

use std::io::Write;

use anyhow::Context;
use stormwatch_import::{Format, ImportError, Options, RunMeta};
use stormwatch_model::AwsResources;

use crate::args::{ImportArgs, ImportFormat, JtlTimestamp};
use crate::exit::{Exit, WithExit};

pub fn run(args: &ImportArgs, quiet: bool) -> anyhow::Result<Exit> {
    let format = match args.format {
        ImportFormat::Jmeter => Format::Jmeter,
        ImportFormat::K6 => Format::K6,
        ImportFormat::Gatling => Format::Gatling,
        ImportFormat::Newman => Format::Newman,
        ImportFormat::Har => Format::Har,
        ImportFormat::Locust => Format::Locust,
    };
    let opts = Options {
        jtl_timestamp: match args.jtl_timestamp {
            JtlTimestamp::Start => stormwatch_import::JtlTimestamp::Start,
            JtlTimestamp::End => stormwatch_import::JtlTimestamp::End,
        },
        phases: args.phase.clone(),
        jtl_columns: (!args.jtl_columns.is_empty()).then(|| args.jtl_columns.clone()),
    };
    let aws = aws_resources(args)?;
    // Read (and check) everything before creating the run directory.
    let imported = stormwatch_import::read(format, &args.files, &opts)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("importing {} results", format.tool()))
        .input()?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format.tool().to_string());
    let dir = super::run::create_run_dir(&args.out, &name)?;
    let manifest = stormwatch_import::write_run(
        &dir,
        &imported,
        RunMeta {
            aws,
            scenario: None,
        },
    )
    .map_err(|e: ImportError| anyhow::Error::new(e))
    .with_context(|| format!("writing {}", dir.root().display()))?;
    let source = manifest.source.as_ref().expect("an import has a source");
    if source.skipped > 0 && !quiet {
        eprintln!(
            "warning: {} line(s) or entries not imported:",
            source.skipped
        );
        for note in &source.notes {
            eprintln!("  {note}");
        }
    }
    let mut out = std::io::stdout().lock();
    if source.per_request {
        writeln!(
            out,
            "imported {} requests from {} file(s) ({}), {} with an X-Ray trace id, {} skipped",
            source.records,
            source.files.len(),
            source.format,
            source.trace_ids_from_headers,
            source.skipped
        )?;
    } else {
        writeln!(
            out,
            "imported {} aggregate rows from {} file(s) ({}): no per-request records, {} skipped",
            source.records,
            source.files.len(),
            source.format,
            source.skipped
        )?;
    }
    for p in &manifest.phases {
        let w = p.planned;
        writeln!(
            out,
            "phase {}: {} .. {}",
            p.name,
            w.start.to_rfc3339(),
            w.end.to_rfc3339()
        )?;
    }
    writeln!(out, "{}", dir.root().display())?;
    Ok(Exit::Ok)
}

/// The AWS resources for `collect`: `--function` names, or a scenario's `[aws]` block.
fn aws_resources(args: &ImportArgs) -> anyhow::Result<Option<AwsResources>> {
    if let Some(path) = &args.aws_from {
        let plan = stormwatch_load::Plan::load(path, &[], None)
            .with_context(|| format!("reading the [aws] block of {}", path.display()))
            .input()?;
        return Ok(plan.aws);
    }
    Ok((!args.function.is_empty()).then(|| AwsResources {
        functions: args.function.clone(),
        ..AwsResources::default()
    }))
}
