//! The log events the Lambda platform writes per invocation into `/aws/lambda/<function>`,
//! in the stream of the execution environment (`YYYY/MM/DD/[$LATEST]<32 hex>`, dated by the
//! environment's start): `START`, `END` and `REPORT` lines in the text format (REPORT with
//! `Init Duration` only on cold starts — `Restore Duration` and `Billed Restore Duration`
//! when SnapStart restored the environment — and an `XRAY TraceId` line when traced), or
//! `platform.start` / `platform.runtimeDone` / `platform.report` records in the JSON format.
//! A timed-out invocation also gets the runtime's `Task timed out after N seconds` line.
//! Events go to the in-memory [`LogStore`] and, when a data directory is set, to its files.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::FunctionConfig;
use crate::config_raw::LogFormat;
use crate::data_dir::DataDir;
use crate::error::SandboxError;
use stormwatch_aws_emulator::log_store::{LogEvent, LogStore};

/// What one invocation reports.
pub struct Report<'a> {
    /// Function name.
    pub function: &'a str,
    /// Lambda request id.
    pub request_id: &'a str,
    /// Environment id and the time it started (names the log stream).
    pub env: (&'a str, SystemTime),
    /// Invoke accepted.
    pub start: SystemTime,
    /// Invocation finished.
    pub end: SystemTime,
    /// Handler duration (excluding init), what `Duration` reports.
    pub duration: Duration,
    /// Init duration on a cold start (the restore duration with SnapStart).
    pub init: Option<Duration>,
    /// `Max Memory Used`, MB.
    pub max_memory_mb: u32,
    /// True when the handler hit the function timeout.
    pub timed_out: bool,
    /// True when the invocation failed (error, timeout, downstream failure).
    pub failed: bool,
    /// Trace id and the `AWS::Lambda` segment id, when the invocation was sampled.
    pub trace: Option<(&'a str, &'a str)>,
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

fn iso(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `2026/11/23/[$LATEST]<32 hex>`: the environment's log stream.
pub fn stream_name(env_id: &str, born: SystemTime) -> String {
    let mut h = std::hash::DefaultHasher::new();
    env_id.hash(&mut h);
    let a = h.finish();
    0x5bd1_e995_u64.hash(&mut h);
    let b = h.finish();
    format!(
        "{}/[$LATEST]{a:016x}{b:016x}",
        DateTime::<Utc>::from(born).format("%Y/%m/%d")
    )
}

/// Milliseconds with two decimals, as REPORT prints them.
fn ms2(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Whole milliseconds, rounded up.
fn ceil_ms(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1_000_000) as u64
}

/// Billed duration in whole milliseconds: rounded up, and since August 2025 including the
/// init phase of on-demand cold starts. A SnapStart restore bills the handler's rounded
/// duration plus the billed restore duration ([`billed_restore_ms`]), as its REPORT lines
/// add up.
fn billed_ms(r: &Report<'_>, snapstart: bool) -> u64 {
    match r.init {
        Some(restore) if snapstart => ceil_ms(r.duration) + billed_restore_ms(restore),
        init => ceil_ms(r.duration + init.unwrap_or_default()),
    }
}

/// `Billed Restore Duration`: the restore duration rounded up. (Lambda bills only the part
/// spent loading the runtime and running after-restore hooks; the sandbox does not split
/// the restore, so it bills all of it.)
fn billed_restore_ms(restore: Duration) -> u64 {
    ceil_ms(restore)
}

/// The platform's log writer.
pub struct LambdaLogs {
    store: LogStore,
    groups: HashMap<String, String>,
    data_dir: Option<DataDir>,
    /// The per-group budget, MB (for the message when it is first exceeded).
    budget_mb: usize,
    /// Set once the store first dropped events (reported once on stderr).
    dropping: AtomicBool,
}

impl LambdaLogs {
    /// A writer for the given functions, keeping `max_bytes` of events per group in memory
    /// (and the earlier ones in the data directory's spill file, when there is one).
    pub fn new<'a>(
        functions: impl Iterator<Item = &'a String>,
        max_bytes: usize,
        data_dir: Option<DataDir>,
    ) -> Result<Self, SandboxError> {
        let store = match &data_dir {
            Some(d) => LogStore::with_spill(max_bytes, d.spill("logs")?),
            None => LogStore::with_limit(max_bytes),
        };
        Ok(Self {
            store,
            groups: functions
                .map(|f| (f.clone(), format!("/aws/lambda/{f}")))
                .collect(),
            data_dir,
            budget_mb: max_bytes >> 20,
            dropping: AtomicBool::new(false),
        })
    }

    /// The in-memory store.
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// The data directory, if any.
    pub fn data_dir(&self) -> Option<&DataDir> {
        self.data_dir.as_ref()
    }

    fn put(&self, function: &str, event: LogEvent) {
        if let Some(d) = &self.data_dir {
            d.log(function, &event);
        }
        if let Some(group) = self.groups.get(function) {
            self.store.put(group, event);
            if !self.dropping.load(Ordering::Relaxed)
                && self.store.dropped_events() > 0
                && !self.dropping.swap(true, Ordering::Relaxed)
            {
                eprintln!(
                    "stormwatch-sandbox: log group {group} is full ([telemetry] log_memory_mb = {}): \
                     its oldest events are being dropped; with --data-dir they spill to disk and stay readable",
                    self.budget_mb
                );
            }
        }
    }

    /// Writes the START, (timeout,) END and REPORT events of one invocation.
    pub fn invocation(&self, cfg: &FunctionConfig, r: &Report<'_>) {
        let stream = stream_name(r.env.0, r.env.1);
        let (start_ms, end_ms) = (epoch_ms(r.start), epoch_ms(r.end));
        let event = |at: u64, message: String| LogEvent {
            timestamp_ms: at,
            ingestion_ms: end_ms,
            stream: stream.clone(),
            message,
        };
        let id = r.request_id;
        match cfg.log_format {
            LogFormat::Text => {
                self.put(
                    r.function,
                    event(start_ms, format!("START RequestId: {id} Version: $LATEST")),
                );
                if r.timed_out {
                    self.put(
                        r.function,
                        event(
                            end_ms,
                            format!(
                                "{} {id} Task timed out after {:.2} seconds",
                                iso(r.end),
                                cfg.timeout.as_secs_f64()
                            ),
                        ),
                    );
                }
                self.put(r.function, event(end_ms, format!("END RequestId: {id}")));
                self.put(r.function, event(end_ms, text_report(cfg, r)));
            }
            LogFormat::Json => {
                let tracing = r.trace.map(|(trace, segment)| {
                    json!({"spanId": segment, "type": "X-Amzn-Trace-Id",
                           "value": format!("Root={trace};Parent={segment};Sampled=1")})
                });
                let mut start = json!({"time": iso(r.start), "type": "platform.start",
                    "record": {"requestId": id, "version": "$LATEST"}});
                if let Some(t) = &tracing {
                    start["record"]["tracing"] = t.clone();
                }
                self.put(r.function, event(start_ms, start.to_string()));
                let status = if r.timed_out {
                    "timeout"
                } else if r.failed {
                    "error"
                } else {
                    "success"
                };
                let done = json!({"time": iso(r.end), "type": "platform.runtimeDone",
                    "record": {"requestId": id, "status": status,
                               "metrics": {"durationMs": r.duration.as_secs_f64() * 1000.0}}});
                self.put(r.function, event(end_ms, done.to_string()));
                let mut metrics = json!({
                    "durationMs": round2(r.duration),
                    "billedDurationMs": billed_ms(r, cfg.snapstart),
                    "memorySizeMB": cfg.memory_mb,
                    "maxMemoryUsedMB": r.max_memory_mb,
                });
                match r.init {
                    Some(restore) if cfg.snapstart => {
                        metrics["restoreDurationMs"] = json!(round2(restore));
                        metrics["billedRestoreDurationMs"] = json!(billed_restore_ms(restore));
                    }
                    Some(init) => metrics["initDurationMs"] = json!(round2(init)),
                    None => {}
                }
                let mut report = json!({"time": iso(r.end), "type": "platform.report",
                    "record": {"requestId": id, "metrics": metrics, "status": status}});
                if let Some(t) = tracing {
                    report["record"]["tracing"] = t;
                }
                self.put(r.function, event(end_ms, report.to_string()));
            }
        }
    }
}

fn round2(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

fn text_report(cfg: &FunctionConfig, r: &Report<'_>) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "REPORT RequestId: {}\tDuration: {} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        r.request_id,
        ms2(r.duration),
        billed_ms(r, cfg.snapstart),
        cfg.memory_mb,
        r.max_memory_mb
    );
    match r.init {
        Some(restore) if cfg.snapstart => {
            let _ = write!(
                s,
                "Restore Duration: {} ms\tBilled Restore Duration: {} ms\t",
                ms2(restore),
                billed_restore_ms(restore)
            );
        }
        Some(init) => {
            let _ = write!(s, "Init Duration: {} ms\t", ms2(init));
        }
        None => {}
    }
    if r.timed_out {
        s.push_str("Status: timeout\t");
    }
    if let Some((trace, segment)) = r.trace {
        let _ = write!(
            s,
            "\nXRAY TraceId: {trace}\tSegmentId: {segment}\tSampled: true\t"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;

    fn cfg(format: LogFormat) -> FunctionConfig {
        FunctionConfig {
            memory_mb: 128,
            init: Dist::Fixed(Duration::ZERO),
            log_format: format,
            ..FunctionConfig::default()
        }
    }

    fn report(init: Option<Duration>) -> Report<'static> {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        Report {
            function: "f",
            request_id: "r-1",
            env: ("f-env-1", t),
            start: t,
            end: t + Duration::from_millis(120),
            duration: Duration::from_micros(2_750),
            init,
            max_memory_mb: 56,
            timed_out: false,
            failed: false,
            trace: Some(("1-6a000000-000000000000000000000001", "0000000000000002")),
        }
    }

    #[test]
    fn text_report_has_init_only_when_cold() {
        let l = LambdaLogs::new(["f".to_string()].iter(), 1 << 20, None).unwrap();
        l.invocation(
            &cfg(LogFormat::Text),
            &report(Some(Duration::from_micros(113_510))),
        );
        l.invocation(&cfg(LogFormat::Text), &report(None));
        let ev = l.store().events("/aws/lambda/f", 0, u64::MAX).unwrap();
        let reports: Vec<_> = ev
            .iter()
            .filter(|e| e.message.starts_with("REPORT"))
            .collect();
        assert_eq!(
            reports[0].message,
            "REPORT RequestId: r-1\tDuration: 2.75 ms\tBilled Duration: 117 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 113.51 ms\t\nXRAY TraceId: 1-6a000000-000000000000000000000001\tSegmentId: 0000000000000002\tSampled: true\t"
        );
        assert!(!reports[1].message.contains("Init Duration"));
        assert!(
            ev[0].stream.starts_with("2026/11/18/[$LATEST]"),
            "{}",
            ev[0].stream
        );
        assert_eq!(ev[0].stream.len(), "2026/11/18/[$LATEST]".len() + 32);
    }

    /// A SnapStart cold start is a restore: `Restore Duration` and `Billed Restore Duration`
    /// instead of `Init Duration`, billed as the handler's rounded duration plus the billed
    /// restore; JSON records carry `restoreDurationMs`.
    #[test]
    fn snapstart_reports_restore_duration() {
        let l = LambdaLogs::new(["f".to_string()].iter(), 1 << 20, None).unwrap();
        let snap = |format| FunctionConfig {
            runtime: "java21".into(),
            snapstart: true,
            ..cfg(format)
        };
        l.invocation(
            &snap(LogFormat::Text),
            &report(Some(Duration::from_micros(300_500))),
        );
        l.invocation(&snap(LogFormat::Text), &report(None));
        l.invocation(
            &snap(LogFormat::Json),
            &report(Some(Duration::from_micros(300_500))),
        );
        let ev = l.store().events("/aws/lambda/f", 0, u64::MAX).unwrap();
        let reports: Vec<_> = ev
            .iter()
            .filter(|e| e.message.starts_with("REPORT"))
            .collect();
        assert_eq!(
            reports[0].message,
            "REPORT RequestId: r-1\tDuration: 2.75 ms\tBilled Duration: 304 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tRestore Duration: 300.50 ms\tBilled Restore Duration: 301 ms\t\nXRAY TraceId: 1-6a000000-000000000000000000000001\tSegmentId: 0000000000000002\tSampled: true\t"
        );
        assert!(!reports[1].message.contains("Restore") && !reports[1].message.contains("Init"));
        let last: serde_json::Value = serde_json::from_str(&ev.last().unwrap().message).unwrap();
        let metrics = &last["record"]["metrics"];
        assert_eq!(metrics["restoreDurationMs"], 300.5);
        assert_eq!(metrics["billedRestoreDurationMs"], 301);
        assert_eq!(metrics["billedDurationMs"], 304);
        assert!(metrics.get("initDurationMs").is_none());
    }

    #[test]
    fn json_report_carries_init_duration_ms() {
        let l = LambdaLogs::new(["f".to_string()].iter(), 1 << 20, None).unwrap();
        l.invocation(
            &cfg(LogFormat::Json),
            &report(Some(Duration::from_micros(40_200))),
        );
        let ev = l.store().events("/aws/lambda/f", 0, u64::MAX).unwrap();
        let last: serde_json::Value = serde_json::from_str(&ev[2].message).unwrap();
        assert_eq!(last["type"], "platform.report");
        assert_eq!(last["record"]["metrics"]["initDurationMs"], 40.2);
        assert_eq!(last["record"]["metrics"]["durationMs"], 2.75);
    }
}
