//! The live view: shared counters the scheduler updates, and their display — an
//! indicatif line on a terminal, a plain log line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters shared by the scheduler, the workers and the recorder.
#[derive(Debug)]
pub struct Live {
    /// Flows in flight.
    pub in_flight: AtomicU64,
    /// Arrivals scheduled (sent or dropped), cumulative.
    pub offered: AtomicU64,
    /// Arrivals dropped at `max_in_flight`, cumulative.
    pub dropped: AtomicU64,
    phase: Mutex<Option<(u32, String, Instant, Duration)>>,
}

impl Live {
    /// Zeroed counters, no phase.
    pub fn new() -> Self {
        Self {
            in_flight: AtomicU64::new(0),
            offered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            phase: Mutex::new(None),
        }
    }

    /// Marks a phase as running.
    pub fn enter_phase(&self, index: u32, name: &str, length: Duration) {
        *self.phase.lock().expect("live lock") =
            Some((index, name.to_string(), Instant::now(), length));
    }

    /// The running phase's index.
    pub fn phase_index(&self) -> Option<u32> {
        self.phase.lock().expect("live lock").as_ref().map(|p| p.0)
    }

    fn describe(&self) -> String {
        match &*self.phase.lock().expect("live lock") {
            Some((_, name, start, length)) => {
                let el = start.elapsed().min(*length);
                format!(
                    "{name} {:.0}s/{:.0}s",
                    el.as_secs_f64(),
                    length.as_secs_f64()
                )
            }
            None => "finishing".into(),
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the live view goes.
pub struct LiveView {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
    ticks: u64,
}

impl LiveView {
    /// A progress line on a terminal, periodic log lines otherwise; nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        Self {
            bar,
            quiet,
            ticks: 0,
        }
    }

    /// Called once a second with the last second's figures.
    pub fn tick(
        &mut self,
        live: &Live,
        done: u64,
        offered: u64,
        p50_ms: f64,
        p99_ms: f64,
        errors: &[u64; 6],
    ) {
        self.ticks += 1;
        let line = format!(
            "{} | offered {offered}/s achieved {done}/s | in-flight {} | p50 {p50_ms:.1} ms p99 {p99_ms:.1} ms | errors transport {} 4xx {} 5xx {} | dropped {}",
            live.describe(),
            live.in_flight.load(Ordering::Relaxed),
            errors[0],
            errors[4],
            errors[5],
            live.dropped.load(Ordering::Relaxed),
        );
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else if !self.quiet && self.ticks.is_multiple_of(5) {
            eprintln!("{line}");
        }
    }

    /// Removes the progress line.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
