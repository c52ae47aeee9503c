//! Runs a plan: one scheduler loop walks the phases, hands every flow iteration its
//! *intended* start time (as oha's client does) and updates the manifest as phases start
//! and end; workers send requests and report to the recorder.
//!
//! Open phases pace arrivals from the plan's rate curve whatever the server does, so a
//! stalled server shows up in corrected latency (end − intended) instead of silently
//! slowing the load (coordinated omission). Closed phases run virtual users back to back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use stormwatch_model::UnixNanos;
use stormwatch_model::distribution::{Distribution, plan_hash};
use stormwatch_model::{
    MANIFEST_SCHEMA_VERSION, Phase, PhaseModel, PhaseWindow, RunDir, RunManifest, RunStatus,
    ScenarioCopy,
};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::error::LoadError;
use crate::live::{Live, LiveView};
use crate::pacing::Pacer;
use crate::plan::Plan;
use crate::recorder::{Outbox, Stats, run_recorder};
use crate::shard::{Shard, StartAt, phase_seed};
use crate::trace::{Sampling, TraceSampler};
use crate::worker::{VuState, Worker, run_iteration};

/// How to run.
#[derive(Debug)]
pub struct RunOptions {
    /// The run directory to create and fill.
    pub dir: RunDir,
    /// The run's id (the directory's name).
    pub run_id: String,
    /// Labels stored in the manifest.
    pub labels: BTreeMap<String, String>,
    /// No live view.
    pub quiet: bool,
    /// Stop on Ctrl-C / SIGTERM (off in tests, which run several engines in one process).
    pub handle_signals: bool,
    /// This process's shard of the plan ([`Shard::WHOLE`] when not distributed).
    pub shard: Shard,
    /// The instant phase 0 starts at (`--start-at`), and how late it may still start.
    pub start_at: Option<StartAt>,
}

/// How far behind the intended start times the scheduler dispatched flows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Lateness {
    /// Flows dispatched.
    pub dispatched: u64,
    /// Mean lateness.
    pub mean: Duration,
    /// Worst lateness.
    pub max: Duration,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The final manifest (also on disk).
    pub manifest: RunManifest,
    /// Per phase × endpoint stats.
    pub stats: Stats,
    /// Scheduling lateness per phase.
    pub lateness: Vec<Lateness>,
}

/// How often the running phase's end is brought up to date in `manifest.json`.
const MANIFEST_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Runs every phase of `plan`, writing the run directory. With a start instant, waits for
/// it first, or refuses to start when it passed more than the allowed skew ago.
pub async fn run(plan: Arc<Plan>, opts: RunOptions) -> Result<RunOutcome, LoadError> {
    if plan.sigv4.as_ref().is_some_and(|s| !s.has_credentials()) {
        return Err(LoadError::NoCredentials {
            path: plan.path.display().to_string(),
        });
    }
    // With a start instant, the run's clock is anchored on it: every shard plans its
    // arrivals from the same instant, however late it woke (the lateness is recorded).
    let (clock, woke) = match opts.start_at {
        Some(start) => {
            let anchor = wait_for(start).await?;
            (anchor, Some(UnixNanos::now().to_datetime()))
        }
        None => (Clock::now(), None),
    };
    let mut manifest = initial_manifest(&plan, &opts, &clock, woke);
    opts.dir.write_manifest(&manifest)?;
    let shard = opts.shard;
    let plan_hash = manifest.distribution.as_ref().map(|d| d.plan_hash.clone());

    let live = Arc::new(Live::new());
    let outbox = Arc::new(Outbox::default());
    let recorder = tokio::spawn(run_recorder(
        opts.dir.clone(),
        outbox.clone(),
        live.clone(),
        LiveView::new(opts.quiet),
    ));
    let (abort_tx, mut abort) = watch::channel(false);
    if opts.handle_signals {
        // On its own thread and runtime: an overloaded open phase can queue hundreds of
        // thousands of flows on the run's runtime, and a signal watcher waiting behind them
        // left Ctrl-C and SIGTERM unanswered until the run ended.
        let tx = abort_tx.clone();
        let _ = std::thread::Builder::new()
            .name("stormwatch-signals".into())
            .spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(watch_signals(tx));
                }
            });
    }
    let stopping = Arc::new(AtomicBool::new(false));
    let worker = Arc::new(Worker {
        client: crate::client::build_client(&plan)?,
        plan: plan.clone(),
        outbox: outbox.clone(),
        live: live.clone(),
        clock,
        // The trace budget is the plan's total: each shard keeps its share.
        sampler: TraceSampler::new(
            match plan.sampling {
                Sampling::Budget { per_sec, floor } => Sampling::Budget {
                    per_sec: shard.rate(per_sec),
                    floor,
                },
                fixed @ Sampling::Fixed(_) => fixed,
            },
            Instant::now(),
        ),
        sequence: AtomicU64::new(0),
        next_vu: AtomicU32::new(0),
        feeder_pos: AtomicUsize::new(0),
        pool: Mutex::new(Vec::new()),
        stopping: stopping.clone(),
        connections: plan
            .connections
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
    });

    let mut tasks = JoinSet::new();
    let mut lateness = Vec::new();
    let mut aborted = false;
    let mut phase_start = clock.start();
    for (i, phase) in plan.phases.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        if *abort.borrow() {
            aborted = true;
            break;
        }
        // Shards keep the planned boundaries exactly; a single process never starts a
        // phase before the previous one's end.
        let start = if opts.start_at.is_some() {
            phase_start
        } else {
            Instant::now().max(phase_start)
        };
        let end = start + phase.duration;
        live.enter_phase(index, &phase.name, phase.duration);
        let w = clock.at(start).to_datetime();
        tracing::debug!(
            phase = %phase.name,
            model = ?phase.model,
            duration_s = phase.duration.as_secs_f64(),
            start = %w,
            "phase started"
        );
        manifest.phases[i].actual = Some(PhaseWindow { start: w, end: w });
        opts.dir.write_manifest(&manifest)?;
        let pacer = Pacer::seeded(
            &phase.model,
            end - start,
            plan_hash.as_deref().map(|h| phase_seed(h, i)),
        );
        let phase_run = run_phase(
            &worker,
            (index, &phase.model, pacer, shard),
            start,
            end,
            &mut tasks,
            &mut abort,
        );
        tokio::pin!(phase_run);
        // The running phase's end moves forward in the manifest every second, so a run
        // killed with SIGKILL leaves a window that ends within a second of its last records
        // (not a zero-length one that makes every rate absurd).
        let mut progress = tokio::time::interval(MANIFEST_PROGRESS_EVERY);
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        progress.tick().await;
        // The write runs on a blocking thread: file I/O on this task would stall the
        // arrivals it schedules. One write at a time, in order, awaited before the next
        // manifest write below.
        let mut pending: Option<tokio::task::JoinHandle<()>> = None;
        let (dropped, late, cut) = loop {
            tokio::select! {
                r = &mut phase_run => break r,
                _ = progress.tick() => {
                    if pending.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
                        manifest.phases[i].actual = Some(PhaseWindow {
                            start: w,
                            end: clock.at(Instant::now()).to_datetime(),
                        });
                        let (dir, snapshot) = (opts.dir.clone(), manifest.clone());
                        pending = Some(tokio::task::spawn_blocking(move || {
                            if let Err(e) = dir.write_manifest(&snapshot) {
                                tracing::warn!("updating the running phase's end: {e}");
                            }
                        }));
                    }
                }
            }
        };
        if let Some(h) = pending.take() {
            let _ = h.await;
        }
        let stop = if cut { Instant::now() } else { end };
        manifest.phases[i].actual = Some(PhaseWindow {
            start: w,
            end: clock.at(stop).to_datetime(),
        });
        manifest.phases[i].dropped = dropped;
        opts.dir.write_manifest(&manifest)?;
        tracing::debug!(
            phase = %phase.name,
            dropped,
            cut_short = cut,
            mean_lateness_ms = late.mean.as_secs_f64() * 1e3,
            "phase ended"
        );
        lateness.push(late);
        phase_start = end;
        if cut {
            aborted = true;
            break;
        }
    }

    // Let in-flight flows finish within the grace period, then cut them off.
    stopping.store(true, Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + plan.grace;
    let drained = tokio::time::timeout_at(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        // Once, then drain: aborting again on every join would cost O(n²) with the hundreds
        // of thousands of flows an overloaded open phase can leave in flight.
        tracing::debug!(
            in_flight = tasks.len(),
            "grace period over: cutting off in-flight flows"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    drop(worker);
    outbox.close();
    let stats = recorder.await.map_err(LoadError::Recorder)??;
    manifest.status = if aborted {
        RunStatus::Aborted
    } else {
        RunStatus::Completed
    };
    manifest.ended_at = Some(clock.at(Instant::now()).to_datetime());
    opts.dir.write_manifest(&manifest)?;
    Ok(RunOutcome {
        manifest,
        stats,
        lateness,
    })
}

fn initial_manifest(
    plan: &Plan,
    opts: &RunOptions,
    clock: &Clock,
    woke: Option<chrono::DateTime<chrono::Utc>>,
) -> RunManifest {
    let mut t = clock.start_nanos().to_datetime();
    let phases = plan
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let planned = PhaseWindow::starting_at(t, p.duration);
            t = planned.end;
            Phase {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                name: p.name.clone(),
                model: p.model.clone(),
                planned,
                actual: None,
                dropped: 0,
            }
        })
        .collect();
    RunManifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        run_id: opts.run_id.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: ScenarioCopy {
            path: plan.path.display().to_string(),
            sha256: plan.sha256.clone(),
            content: plan.redacted.clone(),
        },
        target: plan.target.clone(),
        aws: plan.aws.clone(),
        status: RunStatus::Incomplete,
        trace_sampling: match plan.sampling {
            Sampling::Fixed(p) => p,
            Sampling::Budget { floor, .. } => floor,
        },
        trace_budget_per_sec: match plan.sampling {
            Sampling::Fixed(_) => None,
            Sampling::Budget { per_sec, .. } => Some(per_sec),
        },
        started_at: clock.start_nanos().to_datetime(),
        ended_at: None,
        phases,
        thresholds: plan.thresholds.clone(),
        labels: opts.labels.clone(),
        distribution: (!opts.shard.is_whole() || opts.start_at.is_some()).then(|| Distribution {
            plan_hash: plan_hash(
                &plan.sha256,
                opts.shard.count,
                opts.start_at.map(|s| s.at),
                env!("CARGO_PKG_VERSION"),
            ),
            shard_count: opts.shard.count,
            start_at: opts.start_at.map(|s| s.at),
            shard_index: Some(opts.shard.index),
            actual_start: Some(woke.unwrap_or_else(|| clock.start_nanos().to_datetime())),
            shards: Vec::new(),
            missing: Vec::new(),
        }),
        source: None,
    }
}

/// Waits for `start.at` and returns the run's clock anchored on it; refuses when it passed
/// more than `start.max_skew` ago.
async fn wait_for(start: StartAt) -> Result<Clock, LoadError> {
    let reading = Clock::now();
    let now = reading.start_nanos().to_datetime();
    let late = now - start.at;
    if late > chrono::Duration::from_std(start.max_skew).unwrap_or(chrono::Duration::MAX) {
        return Err(LoadError::LateStart {
            at: start.at.to_rfc3339(),
            late_ms: u64::try_from(late.num_milliseconds()).unwrap_or(u64::MAX),
            max_ms: u64::try_from(start.max_skew.as_millis()).unwrap_or(u64::MAX),
        });
    }
    let anchor = match (start.at - now).to_std() {
        Ok(ahead) => reading.start() + ahead,
        Err(_) => reading
            .start()
            .checked_sub(late.to_std().unwrap_or_default())
            .unwrap_or(reading.start()),
    };
    tokio::time::sleep_until(anchor.into()).await;
    Ok(Clock::anchored(anchor, UnixNanos::from_datetime(start.at)))
}

/// Runs one phase (its index, model, pacer and this process's shard of it); returns
/// (dropped, lateness, whether it was cut short by an abort).
async fn run_phase(
    worker: &Arc<Worker>,
    (index, model, mut pacer, shard): (u32, &PhaseModel, Pacer, Shard),
    start: Instant,
    end: Instant,
    tasks: &mut JoinSet<()>,
    abort: &mut watch::Receiver<bool>,
) -> (u64, Lateness, bool) {
    // Arrivals of the phase's one planned sequence, this shard taking its stripe.
    let mut arrival = 0u64;
    let mut dropped = 0u64;
    let mut late_sum = Duration::ZERO;
    let mut late = Lateness::default();
    let users = Arc::new(AtomicU32::new(0));
    let mut spawned_users = 0u32;
    // The pacer says when the next thing is due: an arrival (open), a check of the
    // user count (closed), or nothing (idle: wait for the phase's end).
    while let Some(next) = pacer.next_offset() {
        let at = start + next;
        if at >= end {
            break;
        }
        if matches!(model, PhaseModel::Open { .. }) {
            arrival += 1;
            if !shard.takes(arrival - 1) {
                continue;
            }
        }
        tokio::select! {
            () = tokio::time::sleep_until(at.into()) => {}
            _ = abort.changed() => return (dropped, finish(late, late_sum), true),
        }
        while tasks.try_join_next().is_some() {}
        match model {
            PhaseModel::Open { max_in_flight, .. } => {
                worker.live.offered.fetch_add(1, Ordering::Relaxed);
                let in_flight = worker.live.in_flight.load(Ordering::Relaxed);
                if max_in_flight.is_some_and(|m| in_flight >= u64::from(m)) {
                    dropped += 1;
                    worker.live.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let lag = Instant::now().saturating_duration_since(at);
                late_sum += lag;
                late.max = late.max.max(lag);
                late.dispatched += 1;
                worker.live.in_flight.fetch_add(1, Ordering::Relaxed);
                let w = worker.clone();
                tasks.spawn(async move {
                    let mut vu = w.take_vu().await;
                    run_iteration(&w, index, at, &mut vu).await;
                    w.pool.lock().await.push(vu);
                    w.live.in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
            PhaseModel::Closed { .. } => {
                let want = shard.users(pacer.users_at(next));
                users.store(want, Ordering::Relaxed);
                while spawned_users < want {
                    spawned_users += 1;
                    late.dispatched += 1;
                    let (w, users, slot) = (worker.clone(), users.clone(), spawned_users - 1);
                    tasks.spawn(async move {
                        let mut vu = w.new_vu();
                        while Instant::now() < end
                            && slot < users.load(Ordering::Relaxed)
                            && !w.stopping.load(Ordering::Relaxed)
                        {
                            w.live.in_flight.fetch_add(1, Ordering::Relaxed);
                            run_iteration(&w, index, Instant::now(), &mut vu).await;
                            w.live.in_flight.fetch_sub(1, Ordering::Relaxed);
                        }
                    });
                }
            }
            PhaseModel::Idle => {}
        }
    }
    // Idle, or nothing more to schedule: wait for the phase's end.
    tokio::select! {
        () = tokio::time::sleep_until(end.into()) => {}
        _ = abort.changed() => return (dropped, finish(late, late_sum), true),
    }
    (dropped, finish(late, late_sum), false)
}

fn finish(mut late: Lateness, sum: Duration) -> Lateness {
    if late.dispatched > 0 {
        late.mean = sum / u32::try_from(late.dispatched).unwrap_or(u32::MAX);
    }
    late
}

async fn watch_signals(abort: watch::Sender<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    let _ = abort.send(true);
}

impl Worker {
    /// A virtual user from the open model's pool, or a new one.
    async fn take_vu(&self) -> VuState {
        if let Some(vu) = self.pool.lock().await.pop() {
            return vu;
        }
        self.new_vu()
    }
}
