//! JMeter JTL CSV: columns by header name (Taurus and BlazeMeter choose their own), or the
//! default column order when the file has no header line.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use chrono::NaiveDateTime;
use stormwatch_model::request_ids::{RequestIdKind, valid_request_id};

use crate::file_read::{FileRead, TimeBase};
use crate::input::Stream;
use crate::sample::{Sample, transport_error};
use crate::{ImportError, JtlTimestamp};

/// JMeter 5.x's default columns (`jmeter.properties` as shipped).
const DEFAULT_COLUMNS: [&str; 17] = [
    "timeStamp",
    "elapsed",
    "label",
    "responseCode",
    "responseMessage",
    "threadName",
    "dataType",
    "success",
    "failureMessage",
    "bytes",
    "sentBytes",
    "grpThreads",
    "allThreads",
    "URL",
    "Latency",
    "IdleTime",
    "Connect",
];

/// The default layout a header-less line's fields fit, JMeter's column order less what the
/// version does not write: 3.1+'s 17 columns (16 without `URL`), or 2.13's 12 (no
/// `failureMessage`, `sentBytes`, `URL`, `IdleTime`, `Connect`; 13 with `failureMessage`,
/// told by the text where `bytes`, a number, would be).
fn default_layout(fields: &[&str]) -> Option<Vec<&'static str>> {
    let without = |left_out: &[&str]| {
        DEFAULT_COLUMNS
            .into_iter()
            .filter(|c| !left_out.contains(c))
            .collect()
    };
    match fields.len() {
        17 => Some(without(&[])),
        16 => Some(without(&["URL"])),
        12 => Some(without(&[
            "failureMessage",
            "sentBytes",
            "URL",
            "IdleTime",
            "Connect",
        ])),
        13 if fields[8].trim().parse::<u64>().is_err() => {
            Some(without(&["sentBytes", "URL", "IdleTime", "Connect"]))
        }
        _ => None,
    }
}

/// The date formats JMeter's reader falls back to for a formatted `timeStamp`.
const DATE_FORMATS: [&str; 5] = [
    "%Y/%m/%d %H:%M:%S%.3f",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.3f",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%y %H:%M:%S",
];

/// A `timeStamp` and which base it was written in.
fn timestamp(text: &str) -> Option<(i64, &'static str)> {
    let t = text.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return Some((ms, "epoch milliseconds"));
    }
    DATE_FORMATS.iter().find_map(|f| {
        NaiveDateTime::parse_from_str(t, f).ok().map(|d| {
            (
                d.and_utc().timestamp_millis(),
                "formatted date (read as UTC)",
            )
        })
    })
}

/// The thread group of a JMeter thread name: `Checkout 1-5` → `Checkout`.
pub fn thread_group(thread: &str) -> Option<&str> {
    let (group, suffix) = thread.trim().rsplit_once(' ')?;
    let (a, b) = suffix.split_once('-')?;
    (!a.is_empty()
        && !b.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.bytes().all(|c| c.is_ascii_digit()))
    .then_some(group)
}

/// The thread number of a JMeter thread name: `Checkout 1-5` → 5.
fn thread_number(thread: &str) -> Option<u32> {
    thread.rsplit_once('-')?.1.trim().parse().ok()
}

/// A transaction controller's parent sample (its message counts its children).
pub fn is_transaction_parent(data_type: &str, message: &str) -> bool {
    data_type.is_empty() && message.starts_with("Number of samples in transaction")
}

/// Reads a JTL CSV file; `columns` names the columns of a file without a header line (the
/// default layouts are recognised without).
pub fn read(
    path: &Path,
    mut input: Stream<impl BufRead>,
    basis: JtlTimestamp,
    columns: Option<&[String]>,
) -> Result<FileRead, ImportError> {
    let first_line = input.peek_first_line();
    let first_line = first_line.as_str();
    let delimiter = if first_line.contains('\t') && !first_line.contains(',') {
        b'\t'
    } else {
        b','
    };
    let has_header = first_line
        .split(char::from(delimiter))
        .next()
        .is_some_and(|f| timestamp(f).is_none());
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(input.reader);
    let mut records = reader.records();
    let names: Vec<String> = if has_header {
        let header = records
            .next()
            .transpose()
            .map_err(|e| ImportError::at(path, 1, "header", e.to_string()))?
            .unwrap_or_default();
        header
            .iter()
            .map(|h| h.trim().trim_matches('"').to_string())
            .collect()
    } else if let Some(columns) = columns {
        columns.to_vec()
    } else {
        // The first line's fields, quotes and all, as the reader will see them.
        let first = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .from_reader(first_line.as_bytes())
            .records()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default();
        let fields: Vec<&str> = first.iter().collect();
        default_layout(&fields)
            .ok_or_else(|| {
                ImportError::at(
                    path,
                    1,
                    "header",
                    format!(
                        "no header line and {} columns, which is none of the default JTL layouts \
                         (17 or 16 of JMeter 3.1+, 12 or 13 of 2.13): name them with \
                         --jtl-columns, or save the header \
                         (jmeter.save.saveservice.print_field_names=true)",
                        fields.len()
                    ),
                )
            })?
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let col: HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_ascii_lowercase(), i))
        .collect();
    for required in ["timeStamp", "elapsed", "label"] {
        if !col.contains_key(&required.to_ascii_lowercase()) {
            return Err(ImportError::at(
                path,
                1,
                required,
                format!(
                    "missing column (the header has {}): is this a JMeter JTL CSV file?",
                    names.join(",")
                ),
            ));
        }
    }
    let idx = |n: &str| col.get(&n.to_ascii_lowercase()).copied();
    let (ts_i, el_i, lb_i) = (
        idx("timeStamp").unwrap_or(0),
        idx("elapsed").unwrap_or(1),
        idx("label").unwrap_or(2),
    );
    let trace_i = ["x-amzn-trace-id", "x_amzn_trace_id", "trace_id", "traceid"]
        .iter()
        .find_map(|n| idx(n));
    // JMeter `sample_variables` columns, named as the variable: an `x-amzn-RequestId`
    // (REST API or function URL) or an `apigw-requestid` (HTTP API).
    let request_id_i = [
        ("x-amzn-requestid", RequestIdKind::Amzn),
        ("request_id", RequestIdKind::Amzn),
        ("requestid", RequestIdKind::Amzn),
        ("apigw-requestid", RequestIdKind::HttpApi),
        ("apigw_requestid", RequestIdKind::HttpApi),
    ]
    .into_iter()
    .find_map(|(n, kind)| Some((idx(n)?, kind)));
    let basis_text = match basis {
        JtlTimestamp::Start => "timeStamp = sample start",
        JtlTimestamp::End => "timeStamp = sample end (start = timeStamp - elapsed)",
    };
    let mut out = FileRead::new("jtl-csv", String::new());
    let mut base = TimeBase::default();
    let mut parents = 0u64;
    let ends_with_newline = input.ends_with_newline;
    let (message_i, data_type_i, code_i, success_i, failure_i, thread_i, bytes_i) = (
        idx("responseMessage"),
        idx("dataType"),
        idx("responseCode"),
        idx("success"),
        idx("failureMessage"),
        idx("threadName"),
        idx("bytes"),
    );
    let mut records = records.peekable();
    while let Some(row) = records.next() {
        let is_last = records.peek().is_none();
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                out.skip(path, line, "line", &e.to_string());
                continue;
            }
        };
        let line = row.position().map_or(0, csv::Position::line);
        let torn = is_last && !ends_with_newline;
        let get = |i: Option<usize>| i.and_then(|i| row.get(i)).unwrap_or("");
        if row.len() < names.len() {
            let why = if torn {
                "torn last line (fewer columns than the header)"
            } else {
                "fewer columns than the header"
            };
            out.skip(
                path,
                line,
                names.get(row.len()).map_or("line", String::as_str),
                why,
            );
            continue;
        }
        let Some((ts, this_base)) = timestamp(get(Some(ts_i))) else {
            out.skip(
                path,
                line,
                "timeStamp",
                "not epoch milliseconds or a JMeter date",
            );
            continue;
        };
        base.check(this_base, path, line, "timeStamp")?;
        let Ok(elapsed) = get(Some(el_i)).trim().parse::<i64>() else {
            out.skip(path, line, "elapsed", "not a whole number of milliseconds");
            continue;
        };
        let message = get(message_i);
        if is_transaction_parent(get(data_type_i), message) {
            parents += 1;
            continue;
        }
        let start_ms = match basis {
            JtlTimestamp::Start => ts,
            JtlTimestamp::End => ts - elapsed,
        };
        let mut s = Sample::new(
            get(Some(lb_i)),
            start_ms * 1_000_000,
            (start_ms + elapsed) * 1_000_000,
        );
        let code = get(code_i);
        let status = code.trim().parse::<u16>().unwrap_or(0);
        let success = success_i.is_none_or(|i| {
            row.get(i)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        });
        s.outcome(status, success, code);
        if status == 0 && !success {
            s.error = Some(transport_error(&format!("{code} {}", get(failure_i))));
        }
        let thread = get(thread_i);
        s.group = thread_group(thread)
            .map(str::to_string)
            .or_else(|| (!thread.is_empty()).then(|| thread.to_string()));
        s.flow = s.group.clone().unwrap_or_default();
        s.actor = thread_number(thread);
        s.bytes = get(bytes_i).trim().parse().unwrap_or(0);
        s.trace = trace_i
            .and_then(|i| row.get(i))
            .and_then(crate::trace_from_header);
        s.request_id = request_id_i.and_then(|(i, kind)| {
            let id = row.get(i)?.trim();
            valid_request_id(id).then(|| (id.to_string(), kind))
        });
        out.samples.push(&s);
    }
    if parents > 0 {
        out.notes.push(format!(
            "{parents} transaction-controller parent row(s) left out of the request statistics"
        ));
    }
    out.time_basis = format!(
        "JMeter JTL CSV: {basis_text}, {}",
        base.get().unwrap_or("epoch milliseconds")
    );
    out.require_some(path, "JTL samples")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str, basis: JtlTimestamp) -> Result<FileRead, ImportError> {
        read(Path::new("t.jtl"), Stream::text(text), basis, None)
    }

    const HEADER: &str = "timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect\n";

    #[test]
    fn reads_by_header_name_with_quoted_commas_and_transaction_parents() {
        let text = format!(
            "{HEADER}1700000000000,120,GET /a,200,OK,Shop 1-1,text,true,,100,50,1,1,http://h/a,100,0,10\n\
             1700000000100,30,GET /b,500,\"Server, Error\",Shop 1-2,text,false,\"boom, \"\"x\"\"\",10,50,2,2,http://h/b,30,0,0\n\
             1700000000000,150,Buy,200,\"Number of samples in transaction : 2, number of failing samples : 1\",Shop 1-1,,false,,110,100,2,2,null,0,0,0\n"
        );
        let r = read_str(&text, JtlTimestamp::Start).unwrap();
        assert_eq!(r.samples.len(), 2);
        let b = r.samples.get(1);
        assert_eq!(b.status, 500);
        assert!(b.error.is_some());
        assert_eq!(b.group.as_deref(), Some("Shop"));
        assert_eq!(b.actor, Some(2));
        assert_eq!(b.end_ns - b.start_ns, 30_000_000);
        assert!(r.notes[0].contains("1 transaction-controller"));
    }

    #[test]
    fn a_sample_variables_column_gives_request_ids() {
        let text = "timeStamp,elapsed,label,responseCode,success,threadName,x-amzn-RequestId\n\
            1700000000000,12,GET /a,200,true,T 1-1,c8ba2a7e-4f0b\n\
            1700000000100,12,GET /a,200,true,T 1-1,\n";
        let r = read_str(text, JtlTimestamp::Start).unwrap();
        assert_eq!(
            r.samples.get(0).request_id,
            Some(("c8ba2a7e-4f0b".into(), RequestIdKind::Amzn))
        );
        assert_eq!(r.samples.get(1).request_id, None);
        let text = "timeStamp,elapsed,label,responseCode,success,apigw-requestid\n\
            1700000000000,12,GET /a,200,true,Jx1yzhXYIAMEVcQ=\n";
        let r = read_str(text, JtlTimestamp::Start).unwrap();
        assert_eq!(
            r.samples.get(0).request_id,
            Some(("Jx1yzhXYIAMEVcQ=".into(), RequestIdKind::HttpApi))
        );
    }

    #[test]
    fn end_timestamps_subtract_elapsed() {
        let text =
            format!("{HEADER}1700000000120,120,GET /a,200,OK,T 1-1,text,true,,1,1,1,1,u,1,0,0\n");
        let r = read_str(&text, JtlTimestamp::End).unwrap();
        assert_eq!(r.samples.get(0).start_ns, 1_700_000_000_000_000_000);
    }

    #[test]
    fn header_less_files_use_the_default_order() {
        let r = read_str(
            "1700000000000,5,L,200,OK,G 1-1,text,true,,1,1,1,1,u,1,0,0\n",
            JtlTimestamp::Start,
        )
        .unwrap();
        assert_eq!(r.samples.get(0).endpoint, "L");
        let e = read_str("1700000000000,5,L,200\n", JtlTimestamp::Start)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.jtl:1: header: no header line and 4 columns")
                && e.contains("--jtl-columns"),
            "{e}"
        );
        let names = ["timeStamp", "label", "elapsed"].map(String::from);
        let r = read(
            Path::new("t.jtl"),
            Stream::text("1700000000000,L,7\n"),
            JtlTimestamp::Start,
            Some(&names),
        )
        .unwrap();
        let s = r.samples.get(0);
        assert_eq!(
            (s.endpoint.as_str(), s.end_ns - s.start_ns),
            ("L", 7_000_000)
        );
    }

    #[test]
    fn bad_inputs_name_file_line_and_field() {
        let e = read_str("time,elapsed,label\n1,2,3\n", JtlTimestamp::Start)
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.jtl:1: timeStamp: missing column"), "{e}");
        let mixed = format!(
            "{HEADER}1700000000000,5,L,200,OK,G 1-1,text,true,,1,1,1,1,u,1,0,0\n2023/11/14 22:13:20.000,5,L,200,OK,G 1-1,text,true,,1,1,1,1,u,1,0,0\n"
        );
        let e = read_str(&mixed, JtlTimestamp::Start)
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.jtl:3: timeStamp: mixed time bases"), "{e}");
        let torn = format!(
            "{HEADER}1700000000000,5,L,200,OK,G 1-1,text,true,,1,1,1,1,u,1,0,0\n1700000000001,5,L,20"
        );
        let r = read_str(&torn, JtlTimestamp::Start).unwrap();
        assert_eq!((r.samples.len(), r.skipped), (1, 1));
        assert!(
            r.skipped_examples[0].starts_with("t.jtl:3: "),
            "{:?}",
            r.skipped_examples
        );
        assert!(r.skipped_examples[0].contains("torn last line"));
        let e = read_str(HEADER, JtlTimestamp::Start)
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no JTL samples"), "{e}");
    }

    #[test]
    fn jmeter_2_13_default_layouts() {
        // 2.13's shipped jmeter.properties: 12 columns, no failureMessage/sentBytes/URL.
        let r = read_str(
            "1796225440326,148,GET /items/{id},502,\"Bad, Gateway\",burst 1-2,text,false,374,4,4,148\n",
            JtlTimestamp::Start,
        )
        .unwrap();
        let s = r.samples.get(0);
        assert_eq!((s.status, s.bytes, s.actor), (502, 374, Some(2)));
        assert_eq!(s.group.as_deref(), Some("burst"));
        // With assertion_results_failure_message=true: failureMessage after success.
        let r = read_str(
            "1796225440326,148,GET /a,200,OK,warm 1-1,text,true,,374,2,2,148\n",
            JtlTimestamp::Start,
        )
        .unwrap();
        assert_eq!(r.samples.get(0).bytes, 374);
    }

    #[test]
    fn thread_groups_come_from_thread_names() {
        assert_eq!(thread_group("Thread Group 1-5"), Some("Thread Group"));
        assert_eq!(thread_group("main"), None);
    }
}
