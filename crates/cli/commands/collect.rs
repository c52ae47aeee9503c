//! `stormwatch collect RUN_DIR` (or `--from/--to/--function ... --out DIR` without a run):
//! check the arguments and plan the AWS calls (printed by `--dry-run`), then pull the
//! telemetry into `telemetry/`. Errors from AWS exit 3, input errors exit 2.

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use stormwatch_model::{ApiKind, ApiResource, AwsResources};
use stormwatch_telemetry::{CollectOptions, CollectTarget, TelemetryError};

use crate::args::CollectArgs;
use crate::exit::{self, Exit, WithExit};

pub fn run(args: &CollectArgs, quiet: bool) -> anyhow::Result<Exit> {
    let target = target(args).map_err(tag)?;
    let mut opts = CollectOptions::default();
    opts.aws.profile.clone_from(&args.profile);
    opts.aws.region.clone_from(&args.region);
    opts.extra_queries.clone_from(&args.queries);
    opts.metrics = !args.no_metrics;
    opts.xray = !args.no_xray;
    opts.logs = !args.no_logs;
    if let Some(w) = &args.wait {
        let wait =
            parse_duration(w).map_err(|m| exit::input_error(format!("--wait {w:?}: {m}")))?;
        opts.wait = Some(wait);
        // Poll often enough to notice stability inside short waits, at most once a minute.
        opts.poll_interval = (wait / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    }
    let prepared = stormwatch_telemetry::prepare(target, &opts).map_err(tag)?;
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        write!(out, "{}", prepared.describe(&opts))?;
        return Ok(Exit::Ok);
    }
    let dir = prepared.target.out.clone();
    let summary = stormwatch_telemetry::collect_blocking(prepared, &opts).map_err(tag)?;
    if !quiet {
        let incomplete: Vec<&str> = summary
            .windows
            .iter()
            .filter(|w| !w.complete)
            .map(|w| w.name.as_str())
            .collect();
        writeln!(
            out,
            "metrics: {} series, {} datapoints ({} filled zeros) in {} GetMetricData request(s)",
            summary.metrics.queries.len(),
            summary.metrics.datapoints,
            summary.metrics.filled_zero,
            summary.metrics.requests_total
        )?;
        if let Some(x) = &summary.xray {
            writeln!(
                out,
                "traces: {} of {} sampled found, {} other, {} cold starts, {} malformed documents skipped",
                x.found, x.requested, x.other_traces, x.parse.cold_starts, x.parse.malformed
            )?;
        }
        if let Some(l) = &summary.logs {
            for g in &l.groups {
                writeln!(
                    out,
                    "logs: {} REPORT lines, {} cold starts from {} ({})",
                    g.reports, g.cold_starts, g.log_group, g.source
                )?;
            }
        }
        writeln!(
            out,
            "api: {} throttled attempts, {} retries; clock skew {}",
            summary.throttles,
            summary.retries,
            summary
                .clock_skew
                .skew_ms
                .map_or_else(|| "unknown".to_string(), |ms| format!("{ms:+.0} ms"))
        )?;
        if !incomplete.is_empty() {
            writeln!(
                out,
                "may be incomplete (data arrives minutes late; try --wait 10m): {}",
                incomplete.join(", ")
            )?;
        }
    }
    writeln!(out, "{}", dir.telemetry_dir().display())?;
    Ok(Exit::Ok)
}

/// Remote errors exit 3; everything else the user can fix exits 2.
fn tag(e: TelemetryError) -> anyhow::Error {
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
    let time = |flag: &str, v: &Option<String>| -> Result<DateTime<Utc>, TelemetryError> {
        let v = v.as_deref().ok_or_else(|| {
            TelemetryError::Usage(format!("{flag} is required without a run directory"))
        })?;
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                TelemetryError::Usage(format!(
                    "{flag} {v:?}: not an RFC 3339 time ({e}), e.g. 2026-11-22T10:00:00Z"
                ))
            })
    };
    let from = time("--from", &args.from)?;
    let to = time("--to", &args.to)?;
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
        region: args.region.clone(),
        functions: args.function.clone(),
        api,
        tables: args.table.clone(),
        streams: args.stream.clone(),
        queues: args.queue.clone(),
    };
    let out = args.out.clone().ok_or_else(|| {
        TelemetryError::Usage("--out DIR is required without a run directory".into())
    })?;
    CollectTarget::from_range(from, to, resources, out)
}

/// `90s`, `10m`, `1h`, `1h30m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number
            .parse()
            .map_err(|_| "expected a duration like 90s, 10m or 1h".to_string())?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(format!("unknown unit {c:?} (use s, m or h)")),
        };
    }
    if !number.is_empty() || s.is_empty() {
        return Err("expected a duration like 90s, 10m or 1h".into());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
    }
}
