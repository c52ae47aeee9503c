//! Cold starts aggregated server side: Logs Insights counts REPORT lines (invocations,
//! inits, restores), their init-duration percentiles and busy time per function, version ×
//! memory size and UTC hour, so an account with billions of invocations costs a few
//! queries, not a download. One query covers up to [`GROUPS_PER_QUERY`] log groups (the
//! `StartQuery` limit); a query whose answer reaches the 10,000-row limit is asked again
//! in halves (fewer groups, or, for the hourly one, a shorter range cut on whole hours).
//! Functions logging in the JSON format are queried with the `platform.report` field
//! names. A log group that does not exist (a function that never ran) counts no
//! invocations.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::DateTime;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use stormwatch_model::PhaseWindow;
use stormwatch_model::coldstarts::{
    FunctionAggregate, HourAggregate, ReportAggregate, UNKNOWN_VERSION, version_order,
};

use crate::TelemetryError;
use crate::aws::{ApiStats, AwsClients};
use crate::lambda::Discovered;
use crate::logs::{self, INSIGHTS_ROW_LIMIT, Row};
use crate::pacing::Pacer;

/// Log groups one `StartQuery` may name.
pub const GROUPS_PER_QUERY: usize = 50;
/// Rows a query is planned for (under the 10,000-row limit, so a full answer means "cut").
const PLANNED_ROWS: usize = 9_000;

/// What the queries did, for the report's `sources`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AggregateReport {
    /// Log groups covered.
    pub log_groups: usize,
    /// Of those, groups that do not exist (functions that never logged).
    pub missing_groups: Vec<String>,
    /// Insights queries run.
    pub queries: usize,
    /// Queries asked again in halves because their answer reached the row limit.
    pub splits: usize,
    /// Bytes the queries scanned (what Insights bills).
    pub bytes_scanned: u64,
}

/// The query's field names in one log format.
struct Fields {
    filter: &'static str,
    init: &'static str,
    restore: &'static str,
    duration: &'static str,
    memory: &'static str,
    /// Multiplier from the memory field to MB.
    memory_to_mb: f64,
}

const TEXT: Fields = Fields {
    filter: r#"@type = "REPORT""#,
    init: "@initDuration",
    restore: "@restoreDuration",
    duration: "@duration",
    memory: "@memorySize",
    // Insights reports `Memory Size: 128 MB` as 128,000,000 bytes.
    memory_to_mb: 1e-6,
};

const JSON: Fields = Fields {
    filter: r#"type = "platform.report""#,
    init: "record.metrics.initDurationMs",
    restore: "record.metrics.restoreDurationMs",
    duration: "record.metrics.durationMs",
    memory: "record.metrics.memorySizeMB",
    memory_to_mb: 1.0,
};

/// What a query groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grouping {
    /// Function × version × memory, over the whole range.
    Config,
    /// Function, over the whole range.
    Function,
    /// Function × UTC hour.
    Hour,
}

/// The Insights query text.
fn query(f: &Fields, grouping: Grouping) -> String {
    let Fields {
        filter,
        init,
        restore,
        duration,
        memory,
        ..
    } = f;
    let counts =
        format!("count(*) as invocations, count({init}) as inits, count({restore}) as restores");
    match grouping {
        Grouping::Config | Grouping::Function => {
            let pcts = format!(
                "sum({init}) as init_sum, sum({restore}) as restore_sum, \
                 pct({init}, 50) as init_p50, pct({init}, 95) as init_p95, \
                 pct({init}, 99) as init_p99, max({init}) as init_max, \
                 pct({restore}, 50) as restore_p50, pct({restore}, 95) as restore_p95, \
                 pct({restore}, 99) as restore_p99, max({restore}) as restore_max"
            );
            if grouping == Grouping::Config {
                format!(
                    "filter {filter}\n| parse @logStream /\\[(?<version>[^\\]]+)\\]/\n| stats {counts}, {pcts} by @log, version, {memory}"
                )
            } else {
                format!("filter {filter}\n| stats {counts}, {pcts} by @log")
            }
        }
        Grouping::Hour => format!(
            "filter {filter}\n| stats {counts}, pct({init}, 50) as init_p50, pct({restore}, 50) as restore_p50, sum({duration}) as busy by @log, bin(1h)"
        ),
    }
}

/// The queries a dry run would show: the configuration, function and hourly queries in
/// the text log format.
pub fn query_texts() -> [String; 3] {
    [
        query(&TEXT, Grouping::Config),
        query(&TEXT, Grouping::Function),
        query(&TEXT, Grouping::Hour),
    ]
}

/// One query to run: these groups over this range.
#[derive(Clone, Debug)]
struct Job {
    groups: Vec<String>,
    json: bool,
    grouping: Grouping,
    range: PhaseWindow,
}

/// Aggregates the REPORT lines of `functions` over `range`, `concurrency` queries at once.
///
/// # Errors
/// A query failed (other than for a missing log group), or did not complete.
pub async fn aggregate(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    pacer: &Arc<Pacer>,
    functions: &[Discovered],
    range: PhaseWindow,
    concurrency: usize,
) -> Result<(Vec<FunctionAggregate>, AggregateReport), TelemetryError> {
    let mut report = AggregateReport {
        log_groups: functions.len(),
        ..AggregateReport::default()
    };
    let by_group: HashMap<&str, &Discovered> = functions
        .iter()
        .map(|f| (f.log_group.as_str(), f))
        .collect();
    let mut jobs = Vec::new();
    for json in [false, true] {
        let groups: Vec<String> = functions
            .iter()
            .filter(|f| f.json_logs == json)
            .map(|f| f.log_group.clone())
            .collect();
        for batch in groups.chunks(GROUPS_PER_QUERY) {
            jobs.push(Job {
                groups: batch.to_vec(),
                json,
                grouping: Grouping::Config,
                range,
            });
            jobs.extend(hour_jobs(batch, json, range));
        }
    }
    let mut rows: Vec<(Grouping, Row)> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    run_all(
        clients,
        stats,
        pacer,
        jobs,
        concurrency,
        &mut report,
        &mut rows,
        &mut missing,
    )
    .await?;

    // Functions with more than one configuration: their own percentiles over the range.
    let mut configs_of: HashMap<String, usize> = HashMap::new();
    for (g, row) in &rows {
        if *g == Grouping::Config
            && let Some(group) = row.get("@log").map(|l| group_of(l))
        {
            *configs_of.entry(group.to_string()).or_default() += 1;
        }
    }
    let mut again = Vec::new();
    for json in [false, true] {
        let several: Vec<String> = functions
            .iter()
            .filter(|f| f.json_logs == json && configs_of.get(&f.log_group).copied() > Some(1))
            .map(|f| f.log_group.clone())
            .collect();
        for batch in several.chunks(GROUPS_PER_QUERY) {
            again.push(Job {
                groups: batch.to_vec(),
                json,
                grouping: Grouping::Function,
                range,
            });
        }
    }
    run_all(
        clients,
        stats,
        pacer,
        again,
        concurrency,
        &mut report,
        &mut rows,
        &mut missing,
    )
    .await?;
    missing.sort();
    missing.dedup();
    report.missing_groups = missing;

    let mut out: BTreeMap<&str, FunctionAggregate> = functions
        .iter()
        .map(|f| {
            (
                f.log_group.as_str(),
                FunctionAggregate {
                    function: f.name.clone(),
                    overall: ReportAggregate::default(),
                    by_config: Vec::new(),
                    by_hour: Vec::new(),
                },
            )
        })
        .collect();
    let mut own_overall: HashMap<String, ReportAggregate> = HashMap::new();
    for (grouping, row) in rows {
        let Some(group) = row.get("@log").map(|l| group_of(l).to_string()) else {
            continue;
        };
        let Some(f) = by_group.get(group.as_str()) else {
            continue;
        };
        let fields = if f.json_logs { &JSON } else { &TEXT };
        let Some(agg) = out.get_mut(group.as_str()) else {
            continue;
        };
        match grouping {
            Grouping::Config => agg.by_config.push(report_aggregate(&row, fields, true)),
            Grouping::Function => {
                own_overall.insert(group, report_aggregate(&row, fields, false));
            }
            Grouping::Hour => {
                if let Some(h) = hour_aggregate(&row) {
                    agg.by_hour.push(h);
                }
            }
        }
    }
    let mut result = Vec::new();
    for (group, mut agg) in out {
        agg.by_config.sort_by(|a, b| {
            version_order(&a.version)
                .cmp(&version_order(&b.version))
                .then(a.memory_mb.cmp(&b.memory_mb))
        });
        agg.by_hour = merge_hours(std::mem::take(&mut agg.by_hour));
        agg.overall = match own_overall.remove(group) {
            Some(o) => o,
            None => overall_of(&agg.by_config),
        };
        result.push(agg);
    }
    Ok((result, report))
}

/// Hourly jobs for a batch: ranges of whole hours holding at most [`PLANNED_ROWS`] rows.
fn hour_jobs(batch: &[String], json: bool, range: PhaseWindow) -> Vec<Job> {
    let hours_per_query = (PLANNED_ROWS / batch.len().max(1)).max(1) as i64;
    let mut out = Vec::new();
    let mut t = range.start;
    while t < range.end {
        // The first cut lands on an hour boundary, so no hour is split between queries.
        let next_hour = DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(3600), 0)
            .unwrap_or(t)
            + chrono::Duration::hours(hours_per_query);
        let end = next_hour.min(range.end);
        out.push(Job {
            groups: batch.to_vec(),
            json,
            grouping: Grouping::Hour,
            range: PhaseWindow { start: t, end },
        });
        t = end;
    }
    out
}

/// Runs `jobs` (up to `concurrency` at once), splitting any whose answer reached the row
/// limit and dropping log groups that do not exist.
#[allow(
    clippy::too_many_arguments,
    reason = "one private driver of the two query rounds"
)]
async fn run_all(
    clients: &AwsClients,
    stats: &Arc<ApiStats>,
    pacer: &Arc<Pacer>,
    mut jobs: Vec<Job>,
    concurrency: usize,
    report: &mut AggregateReport,
    rows: &mut Vec<(Grouping, Row)>,
    missing: &mut Vec<String>,
) -> Result<(), TelemetryError> {
    while !jobs.is_empty() {
        let wave: Vec<_> = stream::iter(jobs.drain(..))
            .map(|job| async move {
                let f = if job.json { &JSON } else { &TEXT };
                // Insights takes whole seconds, both ends inclusive: up to the second that
                // holds the range's last instant.
                let last = job.range.end - chrono::Duration::milliseconds(1);
                let end = last.timestamp().max(job.range.start.timestamp());
                let got = logs::run_query(
                    &clients.logs,
                    pacer,
                    stats,
                    &job.groups,
                    (job.range.start.timestamp(), end),
                    &query(f, job.grouping),
                )
                .await;
                (job, got)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for (job, got) in wave {
            match got {
                Ok(Some((got_rows, scanned))) => {
                    report.queries += 1;
                    report.bytes_scanned += scanned;
                    if got_rows.len() >= INSIGHTS_ROW_LIMIT {
                        report.splits += 1;
                        jobs.extend(halves(job).ok_or_else(|| TelemetryError::Usage(
                            "one log group's hourly REPORT aggregates over one hour reached Logs Insights' 10,000-row limit".into(),
                        ))?);
                    } else {
                        rows.extend(got_rows.into_iter().map(|r| (job.grouping, r)));
                    }
                }
                Ok(None) => {
                    return Err(TelemetryError::Usage(format!(
                        "a Logs Insights query over {} did not complete in time; try a shorter range",
                        job.groups.join(", ")
                    )));
                }
                Err(TelemetryError::NotFound { message, .. }) if !job.groups.is_empty() => {
                    // Which group is missing: named in the message, else found by halving.
                    let named: Vec<&String> = job
                        .groups
                        .iter()
                        .filter(|g| message.contains(g.as_str()))
                        .collect();
                    if let [g] = named.as_slice() {
                        missing.push((*g).clone());
                        let rest: Vec<String> =
                            job.groups.iter().filter(|x| x != g).cloned().collect();
                        if !rest.is_empty() {
                            jobs.push(Job {
                                groups: rest,
                                ..job
                            });
                        }
                    } else if job.groups.len() == 1 {
                        missing.push(job.groups[0].clone());
                    } else {
                        let mid = job.groups.len() / 2;
                        jobs.push(Job {
                            groups: job.groups[..mid].to_vec(),
                            ..job.clone()
                        });
                        jobs.push(Job {
                            groups: job.groups[mid..].to_vec(),
                            ..job
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A job asked again in two: fewer groups, or (one group, hourly) a range cut on a whole
/// hour. `None` when it cannot be cut.
fn halves(job: Job) -> Option<[Job; 2]> {
    if job.groups.len() > 1 {
        let mid = job.groups.len() / 2;
        return Some([
            Job {
                groups: job.groups[..mid].to_vec(),
                ..job.clone()
            },
            Job {
                groups: job.groups[mid..].to_vec(),
                ..job
            },
        ]);
    }
    let hours = (job.range.end - job.range.start).num_hours();
    if job.grouping != Grouping::Hour || hours < 2 {
        return None;
    }
    let start_hour = job.range.start.timestamp() - job.range.start.timestamp().rem_euclid(3600);
    let mid = DateTime::from_timestamp(start_hour + hours / 2 * 3600, 0)?;
    Some([
        Job {
            range: PhaseWindow {
                start: job.range.start,
                end: mid,
            },
            ..job.clone()
        },
        Job {
            range: PhaseWindow {
                start: mid,
                end: job.range.end,
            },
            ..job
        },
    ])
}

/// `123456789012:/aws/lambda/orders` → `/aws/lambda/orders`.
fn group_of(log: &str) -> &str {
    log.split_once(':').map_or(log, |(_, g)| g)
}

fn num(row: &Row, field: &str) -> Option<f64> {
    row.get(field)?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

fn count(row: &Row, field: &str) -> u64 {
    num(row, field).map_or(0, |v| v.max(0.0).round() as u64)
}

fn report_aggregate(row: &Row, f: &Fields, with_config: bool) -> ReportAggregate {
    let inits = count(row, "inits");
    let restores = count(row, "restores");
    let kind = if inits == 0 && restores > 0 {
        "restore"
    } else {
        "init"
    };
    let pcts = [
        num(row, &format!("{kind}_p50")),
        num(row, &format!("{kind}_p95")),
        num(row, &format!("{kind}_p99")),
        num(row, &format!("{kind}_max")),
    ];
    ReportAggregate {
        version: if with_config {
            row.get("version")
                .filter(|v| !v.is_empty())
                .map_or_else(|| UNKNOWN_VERSION.to_string(), Clone::clone)
        } else {
            String::new()
        },
        memory_mb: if with_config {
            num(row, f.memory).map(|m| (m * f.memory_to_mb).round() as u32)
        } else {
            None
        },
        invocations: count(row, "invocations"),
        inits,
        restores,
        init_sum_ms: num(row, "init_sum").unwrap_or(0.0) + num(row, "restore_sum").unwrap_or(0.0),
        init_pct_ms: match pcts {
            [Some(p50), Some(p95), Some(p99), Some(max)] => Some([p50, p95, p99, max]),
            _ => None,
        },
    }
}

fn hour_aggregate(row: &Row) -> Option<HourAggregate> {
    let hour = logs::parse_insights_time(row.get("bin(1h)")?)?;
    let inits = count(row, "inits");
    let restores = count(row, "restores");
    Some(HourAggregate {
        hour,
        invocations: count(row, "invocations"),
        cold_starts: inits + restores,
        init_p50_ms: if inits == 0 && restores > 0 {
            num(row, "restore_p50")
        } else {
            num(row, "init_p50")
        },
        busy_ms: num(row, "busy").unwrap_or(0.0),
    })
}

/// Hours sorted; an hour answered by two queries (it cannot be, hours are never split,
/// but a clock at the range's edge could) adds its counts.
fn merge_hours(mut hours: Vec<HourAggregate>) -> Vec<HourAggregate> {
    hours.sort_by_key(|h| h.hour);
    let mut out: Vec<HourAggregate> = Vec::new();
    for h in hours {
        match out.last_mut() {
            Some(last) if last.hour == h.hour => {
                last.invocations += h.invocations;
                last.cold_starts += h.cold_starts;
                last.busy_ms += h.busy_ms;
                last.init_p50_ms = last.init_p50_ms.or(h.init_p50_ms);
            }
            _ => out.push(h),
        }
    }
    out
}

/// The whole function from its single configuration (percentiles carry over exactly), or
/// counts only when there is none.
fn overall_of(configs: &[ReportAggregate]) -> ReportAggregate {
    let mut o = ReportAggregate::default();
    for c in configs {
        o.invocations += c.invocations;
        o.inits += c.inits;
        o.restores += c.restores;
        o.init_sum_ms += c.init_sum_ms;
    }
    if let [only] = configs {
        o.init_pct_ms = only.init_pct_ms;
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(h0: i64, h1: i64) -> PhaseWindow {
        let t = |h: i64| {
            DateTime::from_timestamp(1_780_000_000 - 1_780_000_000 % 3600 + h * 3600 + 600, 0)
                .unwrap()
        };
        PhaseWindow {
            start: t(h0),
            end: t(h1),
        }
    }

    #[test]
    fn hourly_queries_cover_the_range_on_whole_hours_under_the_row_limit() {
        let groups: Vec<String> = (0..50).map(|i| format!("/aws/lambda/f{i}")).collect();
        // 7 days × 50 groups = 8,400 rows: one query.
        assert_eq!(hour_jobs(&groups, false, window(0, 168)).len(), 1);
        // 30 days: cut at whole hours, each ≤ 180 hours (9,000 rows).
        let jobs = hour_jobs(&groups, false, window(0, 720));
        assert!(jobs.len() >= 4, "{}", jobs.len());
        for pair in jobs.windows(2) {
            assert_eq!(pair[0].range.end, pair[1].range.start);
            assert_eq!(pair[0].range.end.timestamp() % 3600, 0);
        }
        assert_eq!(jobs[0].range.start, window(0, 720).start);
        assert_eq!(jobs.last().unwrap().range.end, window(0, 720).end);
    }

    #[test]
    fn rows_become_aggregates_in_both_log_formats() {
        let row: Row = [
            ("@log", "123456789012:/aws/lambda/orders"),
            ("version", "$LATEST"),
            ("@memorySize", "1.28e+08"),
            ("invocations", "1000"),
            ("inits", "12"),
            ("restores", "0"),
            ("init_sum", "2400.5"),
            ("init_p50", "190"),
            ("init_p95", "240"),
            ("init_p99", "250"),
            ("init_max", "260"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let a = report_aggregate(&row, &TEXT, true);
        assert_eq!(a.memory_mb, Some(128));
        assert_eq!((a.invocations, a.cold_starts()), (1000, 12));
        assert_eq!(a.init_pct_ms, Some([190.0, 240.0, 250.0, 260.0]));
        assert!((a.init_sum_ms - 2400.5).abs() < 1e-9);
        let mut json = row.clone();
        json.remove("@memorySize");
        json.insert("record.metrics.memorySizeMB".into(), "512".into());
        assert_eq!(report_aggregate(&json, &JSON, true).memory_mb, Some(512));
        assert_eq!(
            group_of("123456789012:/aws/lambda/orders"),
            "/aws/lambda/orders"
        );
    }

    #[test]
    fn a_full_answer_is_asked_again_in_halves() {
        let job = Job {
            groups: vec![
                "/aws/lambda/a".into(),
                "/aws/lambda/b".into(),
                "/aws/lambda/c".into(),
            ],
            json: false,
            grouping: Grouping::Hour,
            range: window(0, 10),
        };
        let [a, b] = halves(job.clone()).unwrap();
        assert_eq!((a.groups.len(), b.groups.len()), (1, 2));
        let one = Job {
            groups: vec!["/aws/lambda/a".into()],
            ..job
        };
        let [a, b] = halves(one.clone()).unwrap();
        assert_eq!(a.range.end, b.range.start);
        assert_eq!(a.range.end.timestamp() % 3600, 0);
        let short = Job {
            range: window(0, 1),
            ..one
        };
        assert!(halves(short).is_none());
    }
}
