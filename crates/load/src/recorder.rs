//! The recorder task: the one place request results go.
//!
//! Workers send events over a channel; the recorder appends them to the crash-tolerant
//! request log (flushed every second, so SIGKILL loses at most ~1–2 s), keeps HDR
//! histograms per phase × endpoint, writes one line per second to `series.csv`, and
//! drives the live view. At the end it writes `histograms.json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use stormwatch_model::run_dir::write_json_atomic;
use stormwatch_model::{
    EncodedHistogram, HistogramEntry, HistogramFile, RequestLogWriter, RequestRecord, RunDir,
};
use tokio::sync::mpsc;

use crate::error::LoadError;
use crate::live::{Live, LiveView};

/// What workers report.
#[derive(Debug)]
pub enum Event {
    /// One request.
    Request(RequestRecord),
    /// A poll workflow finished: submit to completion.
    Workflow {
        /// Phase index.
        phase: u32,
        /// Metric name (`workflow <endpoint>`).
        name: String,
        /// Submit (intended) to completion.
        latency: Duration,
        /// Whether it reached a final state in time.
        ok: bool,
    },
}

/// Counts and latencies of one endpoint in one phase.
#[derive(Clone, Debug)]
pub struct EndpointStats {
    /// End minus intended send time, µs.
    pub corrected: Histogram<u64>,
    /// End minus actual send time, µs.
    pub raw: Histogram<u64>,
    /// Requests (or workflows).
    pub count: u64,
    /// Failed ones (transport, unexpected status, extraction, poll timeout).
    pub errors: u64,
    /// By status class: index 0 = transport (status 0), 1..=5 = 1xx..5xx.
    pub classes: [u64; 6],
}

impl EndpointStats {
    fn new() -> Self {
        Self {
            corrected: new_histogram(),
            raw: new_histogram(),
            count: 0,
            errors: 0,
            classes: [0; 6],
        }
    }
}

/// A latency histogram in µs from 1 µs to 1 h, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds")
}

/// Stats per (phase, endpoint).
pub type Stats = BTreeMap<(u32, String), EndpointStats>;

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Runs until every sender is dropped; returns the stats.
pub async fn run_recorder(
    dir: RunDir,
    mut rx: mpsc::Receiver<Event>,
    live: Arc<Live>,
    mut view: LiveView,
) -> Result<Stats, LoadError> {
    let mut log = RequestLogWriter::create(dir.requests_dir())?;
    let series_path = dir.root().join("series.csv");
    let mut series = std::fs::File::create(&series_path).map_err(|source| LoadError::Io {
        path: series_path.clone(),
        source,
    })?;
    let _ =
        series.write_all(b"second,phase,requests,errors,p50_ms,p99_ms,in_flight,offered,dropped\n");
    let mut stats = Stats::new();
    let mut recent = new_histogram();
    let mut recent_count = 0u64;
    let mut recent_errors = [0u64; 6];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let (mut last_offered, mut last_dropped) = (0, 0);
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    Event::Request(r) => {
                        let corrected = micros(r.corrected_latency());
                        let raw = micros(r.raw_latency());
                        let class = usize::from(r.status / 100).min(5);
                        let failed = r.error.is_some();
                        log.append(&r)?;
                        // The record is written: its endpoint moves into the key (no copy
                        // per request).
                        let s = stats.entry((r.phase, r.endpoint)).or_insert_with(EndpointStats::new);
                        s.corrected.saturating_record(corrected);
                        s.raw.saturating_record(raw);
                        s.count += 1;
                        s.classes[class] += 1;
                        if failed {
                            s.errors += 1;
                            recent_errors[class] += 1;
                        }
                        recent.saturating_record(corrected);
                        recent_count += 1;
                    }
                    Event::Workflow { phase, name, latency, ok } => {
                        let s = stats.entry((phase, name)).or_insert_with(EndpointStats::new);
                        s.corrected.saturating_record(micros(latency));
                        s.raw.saturating_record(micros(latency));
                        s.count += 1;
                        if !ok {
                            s.errors += 1;
                        }
                    }
                }
            }
            _ = tick.tick() => {
                log.flush()?;
                let offered = live.offered.load(std::sync::atomic::Ordering::Relaxed);
                let dropped = live.dropped.load(std::sync::atomic::Ordering::Relaxed);
                let second = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let (p50, p99) = if recent_count > 0 {
                    (recent.value_at_quantile(0.5) as f64 / 1e3, recent.value_at_quantile(0.99) as f64 / 1e3)
                } else {
                    (0.0, 0.0)
                };
                let phase = live.phase_index().map_or(String::new(), |p| p.to_string());
                let in_flight = live.in_flight.load(std::sync::atomic::Ordering::Relaxed);
                let errs: u64 = recent_errors.iter().sum();
                let _ = writeln!(series, "{second},{phase},{recent_count},{errs},{p50:.3},{p99:.3},{in_flight},{},{}",
                    offered - last_offered, dropped - last_dropped);
                view.tick(&live, recent_count, offered - last_offered, p50, p99, &recent_errors);
                last_offered = offered;
                last_dropped = dropped;
                recent.reset();
                recent_count = 0;
                recent_errors = [0; 6];
            }
        }
    }
    view.finish();
    log.finish()?;
    let mut file = HistogramFile::new();
    for ((phase, endpoint), s) in &stats {
        file.entries.push(HistogramEntry {
            phase: *phase,
            endpoint: endpoint.clone(),
            corrected: EncodedHistogram::encode(&s.corrected),
            raw: EncodedHistogram::encode(&s.raw),
        });
    }
    write_json_atomic(&dir.histograms_path(), &file)?;
    Ok(stats)
}
