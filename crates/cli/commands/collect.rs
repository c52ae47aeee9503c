//! `stormwatch collect RUN_DIR` (or `--from/--to/--function ... --out DIR` without a run):
//! check the arguments and plan the AWS calls (printed by `--dry-run`), then pull the
//! telemetry into `telemetry/`. Errors from AWS exit 3, input errors exit 2.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use stormwatch_model::{ApiKind, ApiResource, AwsResources};
use stormwatch_telemetry::{CollectOptions, CollectSummary, CollectTarget, TelemetryError};

use crate::args::{CollectArgs, CollectHow};
use crate::exit::{Exit, WithExit};

pub async fn run(args: &CollectArgs, quiet: bool) -> anyhow::Result<Exit> {
    let target = target(args).map_err(tag)?;
    let opts = options(&args.how);
    let prepared = stormwatch_telemetry::prepare(target, &opts).map_err(tag)?;
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        write!(out, "{}", prepared.describe(&opts))?;
        return Ok(Exit::Ok);
    }
    let dir = prepared.target.out.clone();
    if !quiet {
        eprintln!("{}", prepared.cost_line(&opts));
    }
    let summary = stormwatch_telemetry::collect(prepared, &opts)
        .await
        .map_err(tag)?;
    if !quiet {
        write!(out, "{}", summary.describe())?;
    }
    writeln!(out, "{}", dir.telemetry_dir().display())?;
    Ok(Exit::Ok)
}

/// The collector's options from the flags `collect` and `diagnose` share.
pub fn options(how: &CollectHow) -> CollectOptions {
    let mut opts = CollectOptions::default();
    opts.aws.profile.clone_from(&how.profile);
    opts.aws.region.clone_from(&how.region);
    opts.aws.timeouts = how.timeouts.timeouts();
    opts.extra_queries.clone_from(&how.queries);
    opts.metrics = !how.no_metrics;
    opts.xray = !how.no_xray;
    opts.logs = !how.no_logs;
    opts.max_traces = how.max_traces;
    opts.insights_concurrency = usize::from(how.insights_concurrency);
    opts.period = how.period;
    if let Some(wait) = how.wait {
        opts.wait = Some(wait);
        // Poll often enough to notice stability inside short waits, at most once a minute.
        opts.poll_interval = (wait / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    }
    opts
}

/// Collects for the run in `dir` (its manifest's resources and windows), saying the
/// estimated cost on stderr first unless `quiet`.
pub async fn collect_run(
    dir: &Path,
    opts: &CollectOptions,
    quiet: bool,
) -> anyhow::Result<CollectSummary> {
    let target = CollectTarget::from_run(dir).map_err(tag)?;
    let prepared = stormwatch_telemetry::prepare(target, opts).map_err(tag)?;
    if !quiet {
        eprintln!("{}", prepared.cost_line(opts));
    }
    stormwatch_telemetry::collect(prepared, opts)
        .await
        .map_err(tag)
}

/// Remote errors exit 3; everything else the user can fix exits 2.
pub fn tag(e: TelemetryError) -> anyhow::Error {
    if e.is_remote() {
        Err::<(), _>(e).remote().unwrap_err()
    } else {
        Err::<(), _>(e).input().unwrap_err()
    }
}

fn target(args: &CollectArgs) -> Result<CollectTarget, TelemetryError> {
    if let Some(dir) = &args.run_dir {
        return CollectTarget::from_run(dir);
    }
    // Without a run directory clap has required --from, and --from requires --to and --out.
    let (Some(from), Some(to), Some(out)) = (args.from, args.to, args.out.clone()) else {
        return Err(TelemetryError::Usage(
            "--from, --to and --out DIR are required without a run directory".into(),
        ));
    };
    let api = match (&args.api, &args.api_id) {
        (Some(name), _) => Some(ApiResource {
            kind: ApiKind::Rest,
            name: Some(name.clone()),
            id: None,
            stage: args.stage.clone(),
        }),
        (None, Some(id)) => Some(ApiResource {
            kind: ApiKind::Http,
            name: None,
            id: Some(id.clone()),
            stage: Some(args.stage.clone().unwrap_or_else(|| "$default".into())),
        }),
        (None, None) => None,
    };
    let resources = AwsResources {
        region: args.how.region.clone(),
        functions: args.function.clone(),
        api,
        tables: args.table.clone(),
        streams: args.stream.clone(),
        queues: args.queue.clone(),
    };
    CollectTarget::from_range(from, to, resources, out)
}
