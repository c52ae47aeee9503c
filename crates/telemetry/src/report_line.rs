//! Lambda `REPORT` lines, in both log formats, and the spans they stand for.
//!
//! Text format: `REPORT RequestId: <id>\tDuration: 2.75 ms\tBilled Duration: 3 ms\t...
//! Init Duration: 113.51 ms` (Init only on a cold start; SnapStart has `Restore Duration`;
//! with active tracing a second line `XRAY TraceId: 1-...`). JSON format: a `platform.report`
//! event with `record.metrics.durationMs`, `initDurationMs`, `restoreDurationMs` and
//! `record.tracing.value` (`Root=1-...;Parent=...;Sampled=1`).
//!
//! When X-Ray is off (the common case) these lines are the only cold-start source, so each
//! becomes a `lambda_function` span (and an `init`/`restore` span when cold) in
//! `spans.parquet`, keyed by the X-Ray trace id when the line has one, else by
//! `report:<request id>`.

use std::time::Duration;

use serde_json::Value;
use stormwatch_model::{Span, SpanKind, UnixNanos};

/// One parsed REPORT line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportLine {
    /// Lambda request id.
    pub request_id: String,
    /// Handler duration.
    pub duration: Duration,
    /// Billed duration.
    pub billed: Option<Duration>,
    /// Init duration: present only on a cold start.
    pub init: Option<Duration>,
    /// SnapStart restore duration.
    pub restore: Option<Duration>,
    /// Configured memory, MB.
    pub memory_mb: Option<u32>,
    /// Peak memory, MB.
    pub max_memory_mb: Option<u32>,
    /// X-Ray root trace id, when tracing was on.
    pub trace_id: Option<String>,
    /// The invocation ran into the function's timeout (`Status: timeout` in the text
    /// format, `record.status = "timeout"` in JSON).
    pub timed_out: bool,
}

fn ms(v: f64) -> Option<Duration> {
    (0.0..1.0e9)
        .contains(&v)
        .then(|| Duration::from_secs_f64(v / 1000.0))
}

/// Parses a REPORT line in either format; `None` when `message` is not one.
pub fn parse(message: &str) -> Option<ReportLine> {
    let m = message.trim_start();
    if m.starts_with('{') {
        parse_json(m)
    } else {
        parse_text(m)
    }
}

fn parse_text(m: &str) -> Option<ReportLine> {
    let rest = m.strip_prefix("REPORT")?;
    let mut out = ReportLine::default();
    let mut have_duration = false;
    for field in rest.split(['\t', '\n']) {
        let Some((key, value)) = field.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let number = || {
            value
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        };
        match key {
            "RequestId" => out.request_id = value.to_string(),
            "Duration" => {
                out.duration = number().and_then(ms)?;
                have_duration = true;
            }
            "Billed Duration" => out.billed = number().and_then(ms),
            "Init Duration" => out.init = number().and_then(ms),
            "Restore Duration" => out.restore = number().and_then(ms),
            "Memory Size" => out.memory_mb = number().map(|v| v as u32),
            "Max Memory Used" => out.max_memory_mb = number().map(|v| v as u32),
            "XRAY TraceId" | "TraceId" => out.trace_id = Some(value.to_string()),
            "Status" => out.timed_out = value.eq_ignore_ascii_case("timeout"),
            _ => {}
        }
    }
    (have_duration && !out.request_id.is_empty()).then_some(out)
}

fn parse_json(m: &str) -> Option<ReportLine> {
    let v: Value = serde_json::from_str(m).ok()?;
    if v.get("type").and_then(Value::as_str) != Some("platform.report") {
        return None;
    }
    let record = v.get("record")?;
    let metrics = record.get("metrics")?;
    let num = |k: &str| metrics.get(k).and_then(Value::as_f64);
    let trace_id = record
        .get("tracing")
        .and_then(|t| t.get("value"))
        .and_then(Value::as_str)
        .and_then(root_of);
    Some(ReportLine {
        request_id: record.get("requestId")?.as_str()?.to_string(),
        duration: num("durationMs").and_then(ms)?,
        billed: num("billedDurationMs").and_then(ms),
        init: num("initDurationMs").and_then(ms),
        restore: num("restoreDurationMs").and_then(ms),
        memory_mb: num("memorySizeMB").map(|v| v as u32),
        max_memory_mb: num("maxMemoryUsedMB").map(|v| v as u32),
        trace_id,
        timed_out: record.get("status").and_then(Value::as_str) == Some("timeout"),
    })
}

/// The `Root=` of an `X-Amzn-Trace-Id` value (any key case), or the value itself when it
/// already is a bare root id.
pub fn root_of(header: &str) -> Option<String> {
    let header = header.trim();
    if header.starts_with("1-") && !header.contains(';') {
        return Some(header.to_string());
    }
    header.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("root")
            .then(|| v.trim().to_string())
    })
}

impl ReportLine {
    /// Whether the invocation cold-started.
    pub fn cold(&self) -> bool {
        self.init.is_some() || self.restore.is_some()
    }

    /// The spans this line stands for: the invocation, ending at `logged_at` (Lambda writes
    /// REPORT when the invocation ends), preceded by its init/restore when cold.
    pub fn spans(&self, function: &str, logged_at: UnixNanos) -> Vec<Span> {
        let trace_id = self
            .trace_id
            .clone()
            .unwrap_or_else(|| format!("report:{}", self.request_id));
        let id = format!("report:{}", self.request_id);
        let start = UnixNanos(logged_at.0.saturating_sub(nanos(self.duration)));
        let cold = self.cold();
        let span = |kind, id: String, parent: Option<String>, name: &str, start, end| Span {
            trace_id: trace_id.clone(),
            id,
            parent_id: parent,
            kind,
            origin: if kind == SpanKind::LambdaFunction {
                "AWS::Lambda::Function".into()
            } else {
                String::new()
            },
            name: name.into(),
            start,
            end,
            http_status: None,
            error: false,
            fault: false,
            throttle: false,
            cold,
            retries: 0,
            timed_out: self.timed_out && kind == SpanKind::LambdaFunction,
        };
        let mut out = vec![span(
            SpanKind::LambdaFunction,
            id.clone(),
            None,
            function,
            start,
            logged_at,
        )];
        let mut before = start;
        for (kind, name, d) in [
            (SpanKind::Restore, "Restore", self.restore),
            (SpanKind::Init, "Init", self.init),
        ] {
            if let Some(d) = d {
                let s = UnixNanos(before.0.saturating_sub(nanos(d)));
                out.push(span(
                    kind,
                    format!("{id}/{name}"),
                    Some(id.clone()),
                    name,
                    s,
                    before,
                ));
                before = s;
            }
        }
        out
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reports_cold_and_warm() {
        let cold = parse("REPORT RequestId: 3f1c\tDuration: 2.75 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 113.51 ms\t\nXRAY TraceId: 1-5759e988-bd862e3fe1be46a994272793\tSegmentId: 6b2b\tSampled: true\t").unwrap();
        assert_eq!(cold.request_id, "3f1c");
        assert_eq!(cold.duration, Duration::from_micros(2750));
        assert_eq!(cold.init, Some(Duration::from_micros(113_510)));
        assert_eq!(cold.memory_mb, Some(128));
        assert_eq!(cold.max_memory_mb, Some(56));
        assert_eq!(
            cold.trace_id.as_deref(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert!(cold.cold());
        let warm = parse("REPORT RequestId: a\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\t").unwrap();
        assert!(!warm.cold());
        assert!(warm.trace_id.is_none());
        let snap = parse("REPORT RequestId: b\tDuration: 10.00 ms\tBilled Duration: 160 ms\tMemory Size: 512 MB\tMax Memory Used: 90 MB\tRestore Duration: 300.50 ms\tBilled Restore Duration: 150 ms\t").unwrap();
        assert_eq!(snap.restore, Some(Duration::from_micros(300_500)));
        assert!(snap.cold());
        assert!(!snap.timed_out && !warm.timed_out);
    }

    #[test]
    fn a_timed_out_invocation_is_marked_in_both_formats() {
        let text = parse("REPORT RequestId: t\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\tStatus: timeout\t").unwrap();
        assert!(text.timed_out);
        let spans = text.spans("orders", UnixNanos(5_000_000_000));
        assert!(spans[0].timed_out && spans[0].kind == SpanKind::LambdaFunction);
        let json = r#"{"type":"platform.report","record":{"requestId":"t","metrics":{"durationMs":3000.0},"status":"timeout"}}"#;
        assert!(parse(json).unwrap().timed_out);
        let ok = r#"{"type":"platform.report","record":{"requestId":"t","metrics":{"durationMs":3.0},"status":"success"}}"#;
        assert!(!parse(ok).unwrap().timed_out);
    }

    #[test]
    fn json_reports() {
        let line = r#"{"time":"2026-06-01T14:00:00.000Z","type":"platform.report","record":{"requestId":"r1","metrics":{"durationMs":4.5,"billedDurationMs":5,"memorySizeMB":256,"maxMemoryUsedMB":70,"initDurationMs":240.1},"tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},"status":"success"}}"#;
        let r = parse(line).unwrap();
        assert_eq!(r.request_id, "r1");
        assert_eq!(r.init, Some(Duration::from_micros(240_100)));
        assert_eq!(
            r.trace_id.as_deref(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert!(parse(r#"{"type":"platform.start","record":{}}"#).is_none());
    }

    #[test]
    fn not_reports() {
        for m in [
            "START RequestId: a Version: $LATEST",
            "REPORT",
            "REPORT RequestId: x",
            "{bad",
            "",
            "REPORT RequestId: x\tDuration: abc ms",
        ] {
            assert!(parse(m).is_none(), "{m}");
        }
    }

    #[test]
    fn spans_line_up_before_the_log_time() {
        let r =
            parse("REPORT RequestId: r\tDuration: 10.00 ms\tInit Duration: 100.00 ms\t").unwrap();
        let end = UnixNanos(1_780_000_000_000_000_000);
        let spans = r.spans("store-products", end);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].kind, SpanKind::LambdaFunction);
        assert_eq!(spans[0].trace_id, "report:r");
        assert_eq!(spans[0].duration(), Duration::from_millis(10));
        assert_eq!(spans[1].kind, SpanKind::Init);
        assert_eq!(spans[1].end, spans[0].start);
        assert_eq!(spans[1].duration(), Duration::from_millis(100));
        assert!(spans.iter().all(|s| s.cold));
        assert_eq!(
            root_of("root=1-a-b;Sampled=?;Lineage=x").as_deref(),
            Some("1-a-b")
        );
    }
}
