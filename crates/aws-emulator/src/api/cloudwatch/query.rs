//! CloudWatch GetMetricData over the sandbox's metric store, as AWS documents it:
//!
//! - StartTime inclusive, EndTime exclusive; datapoints are period starts. StartTime is
//!   aligned as CloudWatch aligns it: periods under a minute that divide 60 round down to a
//!   multiple of the period; otherwise to the minute (data < 15 days old), 5 minutes
//!   (< 63 days) or the hour (older).
//! - A period finer than the data holds returns nothing, silently: not a multiple of the
//!   series' storage resolution (60 s for standard metrics), or finer than the data's age
//!   allows (1 s only within 3 h, then 60 s, 300 s after 15 days, 3600 s after 63 days).
//! - `Stat`: Sum, Average, Minimum, Maximum, SampleCount, pNN / pNN.N / pNN.NN; `Unit` filters
//!   by the series' unit; `Label`, `ReturnData`, `ScanBy`; metric math (see
//!   [`super::math`]) over other queries' ids.
//! - At most 500 queries (`ValidationError`); at most `MaxDatapoints` (default and ceiling
//!   100,800) datapoints per call, the rest behind `NextToken` (a query cut by the page says
//!   `PartialData`).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::math::{self, Expr, Series, Val};
use super::{CwError, Fields, fingerprint};
use crate::api::cbor::Value;
use crate::metric_store::{Grid, MetricStore, SeriesKey, Statistic, Unit};

/// Queries per call.
const MAX_QUERIES: usize = 500;
/// Datapoints per call.
const MAX_DATAPOINTS: usize = 100_800;
/// Periods a FILL may create for one query (keeps a silly grid from eating memory).
const MAX_GRID: u64 = 1_000_000;

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Where a NextToken resumes: query index (among returned queries) and datapoint offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    query: usize,
    offset: usize,
}

enum Kind {
    Stat {
        key: SeriesKey,
        stat: Statistic,
        unit: Option<Unit>,
        period: u64,
    },
    Math {
        expr: Expr,
        period: Option<u64>,
    },
}

struct Query {
    id: String,
    label: String,
    return_data: bool,
    kind: Kind,
}

/// The first bucket start for `start` (epoch seconds) and `period`, as CloudWatch rounds it.
pub fn align_start(start: u64, period: u64, now: u64) -> u64 {
    if period < 60 {
        return if 60 % period == 0 {
            start - start % period
        } else {
            start
        };
    }
    let age = now.saturating_sub(start);
    let unit = if age < 15 * DAY {
        60
    } else if age < 63 * DAY {
        300
    } else {
        HOUR
    };
    start - start % unit
}

/// Whether data of `resolution` seconds, starting `start`, can be returned at `period`.
pub fn period_available(start: u64, period: u64, resolution: u64, now: u64) -> bool {
    let age = now.saturating_sub(start);
    let finest = if age < 3 * HOUR {
        1
    } else if age < 15 * DAY {
        60
    } else if age < 63 * DAY {
        300
    } else {
        HOUR
    };
    period.is_multiple_of(resolution.max(1)) && period.is_multiple_of(finest)
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && id.len() <= 255
}

fn period_of(f: &Fields<'_>, member: &str) -> Result<Option<u64>, CwError> {
    match f.i64(member)? {
        None => Ok(None),
        Some(p) if p >= 1 => Ok(Some(p as u64)),
        Some(p) => Err(CwError::validation(format!(
            "The value {p} for parameter {} must be at least 1.",
            f.path_of(member)
        ))),
    }
}

fn parse_query(q: &Fields<'_>) -> Result<Query, CwError> {
    let id = q.req_str("Id")?;
    if !valid_id(id) {
        return Err(CwError::validation(format!(
            "The value {id:?} for parameter {} must start with a lowercase letter and hold only letters, digits and '_'.",
            q.path_of("Id")
        )));
    }
    let label = q.str("Label")?;
    let return_data = q.bool("ReturnData")?.unwrap_or(true);
    let period = period_of(q, "Period")?;
    let kind = match (q.object("MetricStat")?, q.str("Expression")?) {
        (Some(ms), None) => {
            let metric = ms
                .object("Metric")?
                .ok_or_else(|| CwError::missing(&ms.path_of("Metric")))?;
            let mut dimensions = Vec::new();
            for d in metric.list("Dimensions")? {
                dimensions.push((
                    d.req_str("Name")?.to_owned(),
                    d.req_str("Value")?.to_owned(),
                ));
            }
            dimensions.sort();
            let stat_name = ms.req_str("Stat")?;
            let stat = Statistic::parse(stat_name).ok_or_else(|| {
                CwError::validation(format!(
                    "The value {stat_name} for parameter {} is not a supported statistic (Sum, Average, Minimum, Maximum, SampleCount, pNN.NN).",
                    ms.path_of("Stat")
                ))
            })?;
            let unit = match ms.str("Unit")? {
                None => None,
                Some(u) => Some(Unit::parse(u).ok_or_else(|| {
                    CwError::validation(format!(
                        "The value {u} for parameter {} is invalid.",
                        ms.path_of("Unit")
                    ))
                })?),
            };
            let key = SeriesKey {
                namespace: metric.req_str("Namespace")?.to_owned(),
                metric: metric.req_str("MetricName")?.to_owned(),
                dimensions,
            };
            let period =
                period_of(&ms, "Period")?.ok_or_else(|| CwError::missing(&ms.path_of("Period")))?;
            Kind::Stat {
                key,
                stat,
                unit,
                period,
            }
        }
        (None, Some(text)) => {
            if text.is_empty() || text.len() > 2048 {
                return Err(CwError::validation(format!(
                    "{} must be 1 to 2048 characters.",
                    q.path_of("Expression")
                )));
            }
            let expr = math::parse(text).map_err(|e| {
                CwError::validation(format!(
                    "Error in expression {id} ({}): {e}",
                    q.path_of("Expression")
                ))
            })?;
            Kind::Math { expr, period }
        }
        _ => {
            return Err(CwError::validation(format!(
                "{} must specify exactly one of MetricStat and Expression.",
                q.path_of("Id").trim_end_matches(".Id")
            )));
        }
    };
    let label = label.map_or_else(
        || match &kind {
            Kind::Stat { key, .. } => key.metric.clone(),
            Kind::Math { .. } => id.to_owned(),
        },
        str::to_owned,
    );
    Ok(Query {
        id: id.to_owned(),
        label,
        return_data,
        kind,
    })
}

fn secs(f: f64) -> u64 {
    if f <= 0.0 { 0 } else { f as u64 }
}

/// Evaluates every query; results by query index.
fn evaluate(
    store: &MetricStore,
    queries: &[Query],
    start: f64,
    end: f64,
    now: u64,
) -> Result<Vec<Series>, CwError> {
    let (start_s, end_s) = (secs(start), secs(end.ceil()));
    let by_id: HashMap<&str, usize> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), i))
        .collect();
    let metric_ids: Vec<&str> = queries
        .iter()
        .filter(|q| matches!(q.kind, Kind::Stat { .. }))
        .map(|q| q.id.as_str())
        .collect();
    let mut results: Vec<Option<Series>> = vec![None; queries.len()];
    for (i, q) in queries.iter().enumerate() {
        if let Kind::Stat {
            key,
            stat,
            unit,
            period,
        } = &q.kind
        {
            let aligned = align_start(start_s, *period, now);
            let points = match store.describe(key) {
                Some((u, res))
                    if unit.is_none_or(|want| want == u)
                        && period_available(aligned, *period, res, now) =>
                {
                    let grid = Grid {
                        start: aligned,
                        end: end_s,
                        period: *period,
                    };
                    store.query(key, grid, *stat).points
                }
                _ => Vec::new(),
            };
            results[i] = Some(points.into_iter().collect());
        }
    }
    // Expressions in dependency order (depth-first, with cycle detection).
    let mut state = vec![0u8; queries.len()]; // 0 new, 1 in progress, 2 done
    for i in 0..queries.len() {
        eval_math(
            i,
            queries,
            &by_id,
            &metric_ids,
            &mut results,
            &mut state,
            (start_s, end_s, now),
        )?;
    }
    Ok(results.into_iter().map(Option::unwrap_or_default).collect())
}

/// The period an expression's grid uses: its own, else the finest of the metrics it reads.
fn math_period(
    i: usize,
    queries: &[Query],
    by_id: &HashMap<&str, usize>,
    metric_ids: &[&str],
    depth: usize,
) -> Option<u64> {
    match &queries[i].kind {
        Kind::Stat { period, .. } => Some(*period),
        Kind::Math {
            period: Some(p), ..
        } => Some(*p),
        Kind::Math { expr, period: None } if depth < 32 => {
            let mut refs = Vec::new();
            expr.refs(metric_ids, &mut refs);
            refs.iter()
                .filter_map(|r| by_id.get(r.as_str()))
                .filter_map(|j| math_period(*j, queries, by_id, metric_ids, depth + 1))
                .min()
        }
        Kind::Math { .. } => None,
    }
}

fn eval_math(
    i: usize,
    queries: &[Query],
    by_id: &HashMap<&str, usize>,
    metric_ids: &[&str],
    results: &mut Vec<Option<Series>>,
    state: &mut Vec<u8>,
    (start, end, now): (u64, u64, u64),
) -> Result<(), CwError> {
    let Kind::Math { expr, .. } = &queries[i].kind else {
        return Ok(());
    };
    match state[i] {
        2 => return Ok(()),
        1 => {
            return Err(CwError::validation(format!(
                "Expression {} refers to itself through other expressions.",
                queries[i].id
            )));
        }
        _ => state[i] = 1,
    }
    let mut refs = Vec::new();
    expr.refs(metric_ids, &mut refs);
    for r in &refs {
        let j = *by_id.get(r.as_str()).ok_or_else(|| {
            CwError::validation(format!(
                "Error in expression {}: unknown metric id {r:?}.",
                queries[i].id
            ))
        })?;
        eval_math(
            j,
            queries,
            by_id,
            metric_ids,
            results,
            state,
            (start, end, now),
        )?;
    }
    let period = math_period(i, queries, by_id, metric_ids, 0).unwrap_or(60);
    let aligned = align_start(start, period, now);
    let grid = Grid {
        start: aligned,
        end,
        period,
    };
    if end.saturating_sub(aligned) / period > MAX_GRID {
        return Err(CwError::validation(format!(
            "Expression {} spans more than {MAX_GRID} periods of {period} s.",
            queries[i].id
        )));
    }
    let snapshot: &Vec<Option<Series>> = results;
    let lookup = |id: &str| by_id.get(id).and_then(|j| snapshot[*j].as_ref());
    let env = math::Env {
        lookup: &lookup,
        metric_ids,
        grid,
    };
    let value = math::eval(expr, &env)
        .map_err(|e| CwError::validation(format!("Error in expression {}: {e}", queries[i].id)))?;
    let series = match value {
        Val::Series(s) => s,
        Val::Scalar(v) if v.is_finite() => {
            // A scalar result is drawn as a constant over the query's periods.
            let mut s = Series::new();
            let mut t = aligned;
            while t < end {
                s.insert(t, v);
                t += period;
            }
            s
        }
        Val::Scalar(_) => Series::new(),
        Val::Array(mut a) if a.len() == 1 => a.pop().unwrap_or_default(),
        Val::Array(a) => {
            return Err(CwError::validation(format!(
                "Expression {} returns {} time series; a query must return one.",
                queries[i].id,
                a.len()
            )));
        }
    };
    results[i] = Some(series);
    state[i] = 2;
    Ok(())
}

fn request_fingerprint(queries: &[Query], start: f64, end: f64, ascending: bool) -> u64 {
    let mut parts = vec![start.to_string(), end.to_string(), ascending.to_string()];
    for q in queries {
        parts.push(q.id.clone());
        parts.push(q.return_data.to_string());
        match &q.kind {
            Kind::Stat {
                key, stat, period, ..
            } => parts.push(format!("{key:?}{stat:?}{period}")),
            Kind::Math { expr, period } => parts.push(format!("{expr:?}{period:?}")),
        }
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    fingerprint(&refs)
}

fn parse_token(token: &str, fp: u64) -> Option<Cursor> {
    let mut it = token.strip_prefix("gmd1:")?.split(':');
    let tfp = u64::from_str_radix(it.next()?, 16).ok()?;
    let query = it.next()?.parse().ok()?;
    let offset = it.next()?.parse().ok()?;
    (tfp == fp && it.next().is_none()).then_some(Cursor { query, offset })
}

/// GetMetricData.
pub fn get_metric_data(
    store: &MetricStore,
    input: &Value,
    now: SystemTime,
) -> Result<Value, CwError> {
    let f = Fields::root(input);
    let list = f.list("MetricDataQueries")?;
    if list.is_empty() {
        return Err(CwError::missing("MetricDataQueries"));
    }
    if list.len() > MAX_QUERIES {
        return Err(CwError::validation(format!(
            "1 validation error detected: Value at 'metricDataQueries' failed to satisfy constraint: Member must have length less than or equal to {MAX_QUERIES} (got {})",
            list.len()
        )));
    }
    let start = f
        .time("StartTime")?
        .ok_or_else(|| CwError::missing("StartTime"))?;
    let end = f
        .time("EndTime")?
        .ok_or_else(|| CwError::missing("EndTime"))?;
    if start >= end {
        return Err(CwError::validation(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let ascending = match f.str("ScanBy")? {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(CwError::validation(format!(
                "The value {other} for parameter ScanBy is invalid (TimestampDescending or TimestampAscending)."
            )));
        }
    };
    let max = match f.i64("MaxDatapoints")? {
        None => MAX_DATAPOINTS,
        Some(n) if n >= 1 => (n as usize).min(MAX_DATAPOINTS),
        Some(n) => {
            return Err(CwError::validation(format!(
                "The value {n} for parameter MaxDatapoints must be at least 1."
            )));
        }
    };
    let queries = list
        .iter()
        .map(parse_query)
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for q in &queries {
        if !seen.insert(q.id.as_str()) {
            return Err(CwError::validation(format!(
                "The value {} for parameter MetricDataQueries.Id is not unique.",
                q.id
            )));
        }
    }
    if !queries.iter().any(|q| q.return_data) {
        return Err(CwError::validation(
            "At least one query must have ReturnData set to true.",
        ));
    }
    let fp = request_fingerprint(&queries, start, end, ascending);
    let cursor = match f.str("NextToken")? {
        None => Cursor {
            query: 0,
            offset: 0,
        },
        Some(t) => parse_token(t, fp).ok_or_else(CwError::next_token)?,
    };
    let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let series = evaluate(store, &queries, start, end, now_s)?;
    let returned: Vec<(&Query, Series)> = queries
        .iter()
        .zip(series)
        .filter(|(q, _)| q.return_data)
        .collect();
    if cursor.query > returned.len() {
        return Err(CwError::next_token());
    }
    page(&returned, cursor, max, ascending, fp)
}

/// One page of results from `cursor`, at most `max` datapoints.
fn page(
    returned: &[(&Query, Series)],
    cursor: Cursor,
    max: usize,
    ascending: bool,
    fp: u64,
) -> Result<Value, CwError> {
    let mut budget = max;
    let mut results = Vec::new();
    let mut next = None;
    for (qi, (q, s)) in returned.iter().enumerate().skip(cursor.query) {
        let from = if qi == cursor.query { cursor.offset } else { 0 };
        if from > s.len() {
            return Err(CwError::next_token());
        }
        if budget == 0 {
            next = Some(Cursor {
                query: qi,
                offset: from,
            });
            break;
        }
        let take = budget.min(s.len() - from);
        budget -= take;
        let ordered: Box<dyn Iterator<Item = (&u64, &f64)>> = if ascending {
            Box::new(s.iter())
        } else {
            Box::new(s.iter().rev())
        };
        let (mut ts, mut vs) = (Vec::with_capacity(take), Vec::with_capacity(take));
        for (t, v) in ordered.skip(from).take(take) {
            ts.push(Value::Timestamp(*t as f64));
            vs.push(Value::Float(*v));
        }
        let partial = from + take < s.len();
        results.push(Value::map([
            ("Id", Some(Value::text(q.id.clone()))),
            ("Label", Some(Value::text(q.label.clone()))),
            ("Timestamps", Some(Value::Array(ts))),
            ("Values", Some(Value::Array(vs))),
            (
                "StatusCode",
                Some(Value::text(if partial {
                    "PartialData"
                } else {
                    "Complete"
                })),
            ),
        ]));
        if partial {
            next = Some(Cursor {
                query: qi,
                offset: from + take,
            });
            break;
        }
    }
    let token = next.map(|c| Value::text(format!("gmd1:{fp:016x}:{}:{}", c.query, c.offset)));
    Ok(Value::map([
        ("MetricDataResults", Some(Value::Array(results))),
        ("NextToken", token),
        ("Messages", Some(Value::Array(Vec::new()))),
    ]))
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "values computed from exact inputs")]
mod tests;
