//! Runs a parsed Logs Insights pipeline over discovered records: each command turns a table
//! of records into another (after `stats` the rows are the groups), then the output columns
//! are chosen (the `fields` list, else every field) and, for event rows, `@ptr` is added as
//! AWS does.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::fields::{FieldValue, Record, format_number, format_timestamp};
use super::query::{Agg, AggFn, Cmp, Command, Cond, GroupKey, Matcher, Operand};

/// What a query produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOutput {
    /// Result rows, each a list of (field, value) in column order.
    pub rows: Vec<Vec<(String, String)>>,
    /// Records that passed every filter (before stats).
    pub records_matched: u64,
    /// Records scanned.
    pub records_scanned: u64,
}

/// One input event: its discovered fields, its timestamp and its `@ptr`.
pub struct Input {
    /// Discovered fields.
    pub record: Record,
    /// Event time, epoch ms (for `bin()`).
    pub timestamp_ms: u64,
    /// Opaque pointer to the event.
    pub ptr: String,
}

struct Row {
    record: Record,
    timestamp_ms: u64,
    ptr: Option<String>,
}

fn operand<'a>(rec: &'a Record, op: &'a Operand) -> Option<std::borrow::Cow<'a, FieldValue>> {
    match op {
        Operand::Field(f) => rec.get(f).map(std::borrow::Cow::Borrowed),
        Operand::Num(n) => Some(std::borrow::Cow::Owned(FieldValue::Num(*n))),
        Operand::Str(s) => Some(std::borrow::Cow::Owned(FieldValue::Str(s.clone()))),
    }
}

fn compare_values(a: &FieldValue, b: &FieldValue) -> Option<Ordering> {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(a.render().cmp(&b.render())),
    }
}

fn holds(cmp: Cmp, ord: Ordering) -> bool {
    match cmp {
        Cmp::Eq => ord == Ordering::Equal,
        Cmp::Ne => ord != Ordering::Equal,
        Cmp::Lt => ord == Ordering::Less,
        Cmp::Le => ord != Ordering::Greater,
        Cmp::Gt => ord == Ordering::Greater,
        Cmp::Ge => ord != Ordering::Less,
    }
}

fn eval(cond: &Cond, rec: &Record) -> bool {
    match cond {
        Cond::And(a, b) => eval(a, rec) && eval(b, rec),
        Cond::Or(a, b) => eval(a, rec) || eval(b, rec),
        Cond::Not(a) => !eval(a, rec),
        Cond::IsPresent(f) => rec.contains_key(f),
        Cond::Compare(left, cmp, right) => match (operand(rec, left), operand(rec, right)) {
            (Some(l), Some(r)) => compare_values(&l, &r).is_some_and(|o| holds(*cmp, o)),
            _ => false,
        },
        Cond::Like(f, m) => rec.get(f).is_some_and(|v| {
            let text = v.render();
            match m {
                Matcher::Regex(re) => re.is_match(&text),
                Matcher::Substring(s) => text.contains(s.as_str()),
            }
        }),
    }
}

/// Natural order as Insights documents it: text before numbers, numbers by value; a
/// missing value sorts first.
fn sort_cmp(left: Option<&FieldValue>, right: Option<&FieldValue>) -> Ordering {
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(l), Some(r)) => match (l.as_f64(), r.as_f64()) {
            (Some(ln), Some(rn)) => ln.total_cmp(&rn),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (None, None) => l.render().cmp(&r.render()),
        },
    }
}

fn aggregate(func: &AggFn, rows: &[&Row]) -> Option<FieldValue> {
    let values = |f: &str| -> Vec<f64> {
        rows.iter()
            .filter_map(|r| r.record.get(f).and_then(FieldValue::as_f64))
            .collect()
    };
    match func {
        AggFn::CountAll => Some(FieldValue::Num(rows.len() as f64)),
        AggFn::Count(f) => Some(FieldValue::Num(
            rows.iter().filter(|r| r.record.contains_key(f)).count() as f64,
        )),
        AggFn::Sum(f) => {
            let v = values(f);
            (!v.is_empty()).then(|| FieldValue::Num(v.iter().sum()))
        }
        AggFn::Avg(f) => {
            let v = values(f);
            (!v.is_empty()).then(|| FieldValue::Num(v.iter().sum::<f64>() / v.len() as f64))
        }
        AggFn::Min(f) => values(f).into_iter().reduce(f64::min).map(FieldValue::Num),
        AggFn::Max(f) => values(f).into_iter().reduce(f64::max).map(FieldValue::Num),
        AggFn::Pct(f, p) => {
            let mut v = values(f);
            if v.is_empty() {
                return None;
            }
            v.sort_by(f64::total_cmp);
            // Nearest rank.
            let rank = stormwatch_model::percentile::nearest_rank(*p, v.len() as u64);
            Some(FieldValue::Num(
                v[usize::try_from(rank).unwrap_or(v.len()) - 1],
            ))
        }
    }
}

fn stats(rows: Vec<Row>, aggs: &[Agg], by: &[GroupKey]) -> Vec<Row> {
    // Group key: rendered values of the `by` keys, in order; BTreeMap keeps groups sorted.
    let mut groups: BTreeMap<Vec<(u64, String)>, Vec<Row>> = BTreeMap::new();
    for row in rows {
        let mut key = Vec::with_capacity(by.len());
        let mut complete = true;
        for k in by {
            match k {
                GroupKey::Bin(period, _) => {
                    let start = row.timestamp_ms - row.timestamp_ms % period;
                    key.push((start, format_timestamp(start)));
                }
                GroupKey::Field(f, _) => match row.record.get(f) {
                    Some(v) => key.push((0, v.render())),
                    None => complete = false,
                },
            }
        }
        // Insights leaves out events missing a `by` field.
        if complete {
            groups.entry(key).or_default().push(row);
        }
    }
    if by.is_empty() && groups.is_empty() {
        groups.insert(Vec::new(), Vec::new());
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            let refs: Vec<&Row> = members.iter().collect();
            let mut record = Record::new();
            let mut ts = 0;
            for (k, (start, text)) in by.iter().zip(key) {
                let name = match k {
                    GroupKey::Bin(_, name) => {
                        ts = start;
                        name
                    }
                    GroupKey::Field(_, name) => name,
                };
                record.insert(name.clone(), FieldValue::Str(text));
            }
            for a in aggs {
                if let Some(v) = aggregate(&a.func, &refs) {
                    record.insert(a.name.clone(), v);
                }
            }
            Row {
                record,
                timestamp_ms: ts,
                ptr: None,
            }
        })
        .collect()
}

/// Runs `commands` over `inputs` (already in time order), keeping at most `limit` rows.
pub fn run(commands: &[Command], inputs: Vec<Input>, limit: usize) -> QueryOutput {
    let scanned = inputs.len() as u64;
    let mut rows: Vec<Row> = inputs
        .into_iter()
        .map(|i| Row {
            record: i.record,
            timestamp_ms: i.timestamp_ms,
            ptr: Some(i.ptr),
        })
        .collect();
    let mut columns: Option<Vec<String>> = None;
    let mut stats_columns: Option<Vec<String>> = None;
    let mut matched: Option<u64> = None;
    let mut limit = limit;
    for cmd in commands {
        match cmd {
            Command::Filter(cond) => rows.retain(|r| eval(cond, &r.record)),
            Command::Parse(spec) => {
                for r in &mut rows {
                    let Some(text) = r.record.get(&spec.field).map(FieldValue::render) else {
                        continue;
                    };
                    let Some(caps) = spec.regex.captures(&text) else {
                        continue;
                    };
                    for (i, name) in spec.names.iter().enumerate() {
                        let m = caps.name(name).or_else(|| caps.get(i + 1));
                        if let Some(m) = m {
                            r.record
                                .insert(name.clone(), FieldValue::Str(m.as_str().to_owned()));
                        }
                    }
                }
            }
            Command::Fields(names) => columns = Some(names.clone()),
            Command::Stats(aggs, by) => {
                matched.get_or_insert(rows.len() as u64);
                let mut cols: Vec<String> = by
                    .iter()
                    .map(|k| match k {
                        GroupKey::Bin(_, n) | GroupKey::Field(_, n) => n.clone(),
                    })
                    .collect();
                cols.extend(aggs.iter().map(|a| a.name.clone()));
                stats_columns = Some(cols);
                columns = None;
                rows = stats(std::mem::take(&mut rows), aggs, by);
            }
            Command::Sort(keys) => rows.sort_by(|a, b| {
                keys.iter()
                    .map(|(f, desc)| {
                        let o = sort_cmp(a.record.get(f), b.record.get(f));
                        if *desc { o.reverse() } else { o }
                    })
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            }),
            Command::Limit(n) => limit = limit.min(*n),
        }
    }
    let records_matched = matched.unwrap_or(rows.len() as u64);
    rows.truncate(limit);
    let out_rows = rows
        .into_iter()
        .map(|row| {
            let names: Vec<String> = match (&columns, &stats_columns) {
                (Some(c), _) | (None, Some(c)) => c.clone(),
                (None, None) => row.record.keys().cloned().collect(),
            };
            let mut fields: Vec<(String, String)> = names
                .iter()
                .filter_map(|n| row.record.get(n).map(|v| (n.clone(), render(v))))
                .collect();
            if let Some(ptr) = row.ptr {
                fields.push(("@ptr".to_owned(), ptr));
            }
            fields
        })
        .collect();
    QueryOutput {
        rows: out_rows,
        records_matched,
        records_scanned: scanned,
    }
}

fn render(v: &FieldValue) -> String {
    match v {
        FieldValue::Num(n) => format_number(*n),
        FieldValue::Str(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogEvent;
    use crate::api::logs::fields::discover;
    use crate::api::logs::query::parse;

    fn inputs() -> Vec<Input> {
        let lines = [
            (60_000, "START RequestId: a Version: $LATEST"),
            (
                60_100,
                "REPORT RequestId: a\tDuration: 10 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\tInit Duration: 100 ms\t",
            ),
            (
                61_000,
                "REPORT RequestId: b\tDuration: 20 ms\tBilled Duration: 20 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\t",
            ),
            (
                125_000,
                "REPORT RequestId: c\tDuration: 30 ms\tBilled Duration: 30 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\tInit Duration: 300 ms\t",
            ),
        ];
        lines
            .iter()
            .enumerate()
            .map(|(i, (t, m))| {
                let e = LogEvent {
                    timestamp_ms: *t,
                    ingestion_ms: *t,
                    stream: "s".into(),
                    message: (*m).into(),
                };
                Input {
                    record: discover("/aws/lambda/f", &e, "1"),
                    timestamp_ms: *t,
                    ptr: format!("p{i}"),
                }
            })
            .collect()
    }

    fn q(query: &str) -> QueryOutput {
        run(&parse(query).unwrap(), inputs(), 10_000)
    }

    #[test]
    fn cold_start_stats_by_minute() {
        let out = q(
            r#"filter @type = "REPORT" and ispresent(@initDuration) | stats count(*), avg(@initDuration), max(@initDuration) by bin(1m)"#,
        );
        assert_eq!(out.records_matched, 2);
        assert_eq!(out.records_scanned, 4);
        assert_eq!(
            out.rows,
            vec![
                vec![
                    ("bin(1m)".into(), "1970-01-01 00:01:00.000".into()),
                    ("count(*)".into(), "1".into()),
                    ("avg(@initDuration)".into(), "100".into()),
                    ("max(@initDuration)".into(), "100".into()),
                ],
                vec![
                    ("bin(1m)".into(), "1970-01-01 00:02:00.000".into()),
                    ("count(*)".into(), "1".into()),
                    ("avg(@initDuration)".into(), "300".into()),
                    ("max(@initDuration)".into(), "300".into()),
                ],
            ]
        );
    }

    #[test]
    fn fields_sort_limit_and_ptr() {
        let out = q(
            r#"filter @type = "REPORT" | fields @requestId, @duration | sort @duration desc | limit 2"#,
        );
        assert_eq!(out.rows.len(), 2);
        assert_eq!(out.rows[0][0], ("@requestId".into(), "c".into()));
        assert_eq!(out.rows[0][2].0, "@ptr");
    }

    #[test]
    fn parse_like_pct_and_group_by_field() {
        let out = q(
            r#"parse @message "Duration: * ms" as d | filter @message like /REPORT/ and d >= 20 | stats pct(d, 50) as p50, count(*) as n by @type"#,
        );
        assert_eq!(
            out.rows,
            vec![vec![
                ("@type".into(), "REPORT".into()),
                ("p50".into(), "20".into()),
                ("n".into(), "2".into()),
            ]]
        );
        let out = q("stats count(*) as n");
        assert_eq!(out.rows, vec![vec![("n".into(), "4".into())]]);
        let out = q(r#"filter @message not like "REPORT" | fields @type"#);
        assert_eq!(out.rows.len(), 1);
    }
}
