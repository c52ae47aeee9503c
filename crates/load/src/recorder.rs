//! The recorder task: the one place request results go.
//!
//! Workers put events in an [`Outbox`]; the recorder takes them in batches and appends
//! them to the crash-tolerant request log (flushed every second, so SIGKILL loses at most
//! ~1–2 s), keeps HDR histograms per phase × endpoint, writes one line per second to
//! `series.csv`, and drives the live view. At the end it writes `histograms.json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use stormwatch_model::run_dir::write_json_atomic;
use stormwatch_model::{
    EncodedHistogram, HistogramEntry, HistogramFile, RequestLogWriter, RequestRecord, RunDir,
};
use tokio::sync::Notify;

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

/// Events on their way to the recorder. Workers push into a vector under a lock; the
/// recorder swaps it out every [`Outbox::DRAIN_EVERY`]. A channel woke the recorder task for
/// every request (it then ran for that one record), which at 100,000 requests per second
/// was a visible share of the client's CPU. Memory stays bounded: a worker finding
/// [`Outbox::CAPACITY`] events waiting waits for the next drain.
#[derive(Debug, Default)]
pub struct Outbox {
    state: std::sync::Mutex<OutboxState>,
    drained: Notify,
}

#[derive(Debug, Default)]
struct OutboxState {
    events: Vec<Event>,
    /// No more events will be sent.
    closed: bool,
    /// The recorder has ended (on an error, say): events are dropped, nobody waits.
    gone: bool,
}

impl Outbox {
    /// Events held before senders wait.
    pub const CAPACITY: usize = 65_536;
    /// How often the recorder takes the waiting events.
    pub const DRAIN_EVERY: Duration = Duration::from_millis(10);

    /// Queues an event, waiting while the outbox is full.
    pub async fn send(&self, event: Event) {
        let mut event = Some(event);
        loop {
            let drained = self.drained.notified();
            {
                let mut s = self.lock();
                if s.gone {
                    return;
                }
                if s.events.len() < Self::CAPACITY {
                    s.events.extend(event.take());
                    return;
                }
            }
            drained.await;
        }
    }

    /// No more events will come; the recorder ends once it has taken the last ones.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Swaps the waiting events into `into` (which must be empty); true once closed and
    /// empty.
    fn take(&self, into: &mut Vec<Event>) -> bool {
        let done = {
            let mut s = self.lock();
            std::mem::swap(&mut s.events, into);
            s.closed && into.is_empty()
        };
        self.drained.notify_waiters();
        done
    }

    /// The recorder has ended: later events are dropped and waiting senders released.
    fn hang_up(&self) {
        {
            let mut s = self.lock();
            s.gone = true;
            s.events = Vec::new();
        }
        self.drained.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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

/// Runs until the outbox is closed and empty; returns the stats.
pub async fn run_recorder(
    dir: RunDir,
    outbox: Arc<Outbox>,
    live: Arc<Live>,
    view: LiveView,
) -> Result<Stats, LoadError> {
    let result = record(dir, &outbox, &live, view).await;
    outbox.hang_up();
    result
}

async fn record(
    dir: RunDir,
    outbox: &Outbox,
    live: &Live,
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
    let mut drain = tokio::time::interval(Outbox::DRAIN_EVERY);
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = drain.tick() => {
                let done = outbox.take(&mut batch);
                for ev in batch.drain(..) {
                    match ev {
                        Event::Request(r) => {
                            let corrected = micros(r.corrected_latency());
                            let raw = micros(r.raw_latency());
                            let class = usize::from(r.status / 100).min(5);
                            let failed = r.error.is_some();
                            log.append(&r)?;
                            // The record is written: its endpoint moves into the key (no
                            // copy per request).
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
                if done {
                    break;
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
                view.tick(live, recent_count, offered - last_offered, p50, p99, &recent_errors);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: u32) -> Event {
        Event::Workflow {
            phase: i,
            name: String::new(),
            latency: Duration::ZERO,
            ok: true,
        }
    }

    #[tokio::test]
    async fn a_full_outbox_holds_senders_until_a_drain_and_keeps_order() {
        let outbox = Arc::new(Outbox::default());
        let cap = u32::try_from(Outbox::CAPACITY).unwrap();
        for i in 0..cap {
            outbox.send(event(i)).await;
        }
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.send(event(cap)).await }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "the sender waits while the outbox is full"
        );
        let mut batch = Vec::new();
        assert!(!outbox.take(&mut batch));
        waiting.await.unwrap();
        let phases: Vec<u32> = batch
            .iter()
            .map(|e| match e {
                Event::Workflow { phase, .. } => *phase,
                Event::Request(_) => unreachable!(),
            })
            .collect();
        assert_eq!(phases, (0..cap).collect::<Vec<_>>());
        batch.clear();
        outbox.close();
        assert!(
            !outbox.take(&mut batch),
            "one event still came after the drain"
        );
        assert_eq!(batch.len(), 1);
        batch.clear();
        assert!(outbox.take(&mut batch), "closed and empty");
    }

    #[tokio::test]
    async fn senders_are_released_when_the_recorder_ends() {
        let outbox = Arc::new(Outbox::default());
        for i in 0..u32::try_from(Outbox::CAPACITY).unwrap() {
            outbox.send(event(i)).await;
        }
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.send(event(0)).await }
        });
        tokio::task::yield_now().await;
        outbox.hang_up();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("released")
            .unwrap();
        outbox.send(event(1)).await;
        assert!(
            outbox.lock().events.is_empty(),
            "events after the end are dropped"
        );
    }
}
