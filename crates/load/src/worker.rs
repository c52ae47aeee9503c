//! One flow iteration of one virtual user: on_start steps once, then the flow's steps in
//! order with think times, polls and extraction; every request becomes a record.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use stormwatch_model::{ErrorKind, RequestRecord, UnixNanos};
use tokio::sync::Mutex;
use tokio::time::Sleep;

use crate::client::{Exchange, send};
use crate::clock::Clock;
use crate::live::Live;
use crate::plan::Plan;
use crate::recorder::{Event, Outbox};
use crate::step::{Source, Step};
use crate::template::RenderContext;
use crate::trace::{TraceIds, TraceSampler};

/// Everything workers share.
#[derive(Debug)]
pub struct Worker {
    /// HTTP client (connection pool).
    pub client: crate::client::Transport,
    /// The plan.
    pub plan: Arc<Plan>,
    /// To the recorder.
    pub outbox: Arc<Outbox>,
    /// Live counters.
    pub live: Arc<Live>,
    /// Instant → UTC.
    pub clock: Clock,
    /// Which requests ask to be traced.
    pub sampler: TraceSampler,
    /// Run-wide request sequence.
    pub sequence: AtomicU64,
    /// Next virtual-user id.
    pub next_vu: AtomicU32,
    /// Next feeder row.
    pub feeder_pos: AtomicUsize,
    /// Idle virtual users of open phases.
    pub pool: Mutex<Vec<VuState>>,
    /// Free connections, when the plan caps them.
    pub connections: Option<Arc<tokio::sync::Semaphore>>,
    /// Set at the end or on abort: closed users start no new iteration.
    pub stopping: Arc<AtomicBool>,
}

/// A virtual user's state: its id, extracted variables, which flows ran `on_start`, and
/// the timer its requests' timeouts reuse.
#[derive(Debug)]
pub struct VuState {
    id: u32,
    vars: HashMap<String, String>,
    started: Vec<bool>,
    timer: Pin<Box<Sleep>>,
}

impl Worker {
    /// A fresh virtual user.
    pub fn new_vu(&self) -> VuState {
        VuState {
            id: self.next_vu.fetch_add(1, Ordering::Relaxed),
            vars: HashMap::new(),
            started: vec![false; self.plan.flows.len()],
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    fn pick_flow(&self) -> usize {
        let total: u32 = self.plan.flows.iter().map(|f| f.weight).sum();
        let mut r = fastrand::u32(..total.max(1));
        for (i, f) in self.plan.flows.iter().enumerate() {
            if r < f.weight {
                return i;
            }
            r -= f.weight;
        }
        0
    }
}

/// Runs one iteration whose first request was due at `intended`.
pub async fn run_iteration(w: &Worker, phase: u32, intended: Instant, vu: &mut VuState) {
    let fi = w.pick_flow();
    let flow = &w.plan.flows[fi];
    let pos = w.feeder_pos.fetch_add(1, Ordering::Relaxed);
    let rows: Vec<Vec<String>> = w
        .plan
        .feeders
        .iter()
        .map(|rows| rows[pos % rows.len()].clone())
        .collect();
    let mut due = intended;
    if !vu.started[fi] {
        vu.started[fi] = true;
        for step in &flow.on_start {
            let Some(next) = run_step(w, phase, &flow.name, step, due, vu, &rows).await else {
                // A failed on_start (no token) makes the iteration pointless; retry next time.
                vu.started[fi] = false;
                return;
            };
            due = next;
        }
    }
    for step in &flow.steps {
        match run_step(w, phase, &flow.name, step, due, vu, &rows).await {
            Some(next) => due = next,
            None => return,
        }
    }
}

/// Sends a step (repeatedly, for a poll); returns when the next step is due, or `None`
/// when the iteration should stop (failure, or the run is stopping).
async fn run_step(
    w: &Worker,
    phase: u32,
    flow: &str,
    step: &Step,
    intended: Instant,
    vu: &mut VuState,
    rows: &[Vec<String>],
) -> Option<Instant> {
    let submit = intended;
    let mut due = intended;
    loop {
        // Only touch the timer when there is something to wait for (the hot path at
        // high rates is an already-due first step).
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let intended_at = w.clock.at(due);
        let trace = TraceIds::new(
            intended_at.epoch_secs(),
            step.always_trace || w.sampler.sample(due),
        );
        // Waiting for a connection happens after `due`: it shows in corrected latency.
        let _permit = match &w.connections {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        let ex = {
            let row_refs: Vec<&[String]> = rows.iter().map(Vec::as_slice).collect();
            let ctx = RenderContext {
                vars: &vu.vars,
                rows: &row_refs,
            };
            send(&w.client, &w.plan, step, &ctx, &trace, vu.timer.as_mut()).await
        };
        let mut error = ex.error;
        if error.is_none() && !step.accepts(ex.status) {
            error = Some(ErrorKind::UnexpectedStatus);
        }
        let json = parse_json(&ex, step);
        if error.is_none() && !extract(step, &ex, json.as_ref(), &mut vu.vars) {
            error = Some(ErrorKind::Extraction);
        }
        let Some(poll) = &step.poll else {
            record(w, phase, flow, step, vu.id, intended_at, &ex, error, trace).await;
            if error.is_some() {
                return None;
            }
            let think = step
                .think
                .map_or(Duration::ZERO, crate::step::Think::sample);
            return Some(ex.end + think);
        };
        let state = json
            .as_ref()
            .and_then(|j| j.pointer(&poll.field))
            .map(value_text);
        let done = error.is_none() && state.is_some_and(|s| poll.until.contains(&s));
        let timed_out = !done && ex.end.duration_since(submit) + poll.every > poll.timeout;
        if timed_out && error.is_none() {
            error = Some(ErrorKind::PollTimeout);
        }
        record(w, phase, flow, step, vu.id, intended_at, &ex, error, trace).await;
        if done || timed_out {
            w.outbox
                .send(Event::Workflow {
                    phase,
                    name: format!("workflow {}", step.endpoint),
                    latency: ex.end.duration_since(submit),
                    ok: done,
                })
                .await;
            if !done {
                return None;
            }
            let think = step
                .think
                .map_or(Duration::ZERO, crate::step::Think::sample);
            return Some(ex.end + think);
        }
        due = ex.end + poll.every;
    }
}

#[allow(clippy::too_many_arguments)]
async fn record(
    w: &Worker,
    phase: u32,
    flow: &str,
    step: &Step,
    vu: u32,
    intended: UnixNanos,
    ex: &Exchange,
    error: Option<ErrorKind>,
    trace: TraceIds,
) {
    let r = RequestRecord {
        sequence: w.sequence.fetch_add(1, Ordering::Relaxed),
        flow: flow.to_string(),
        endpoint: step.endpoint.clone(),
        phase,
        vu,
        intended,
        sent: w.clock.at(ex.sent),
        end: w.clock.at(ex.end),
        status: ex.status,
        error,
        bytes: ex.bytes,
        trace_id: Some(trace.root),
        sampled: trace.sampled,
    };
    w.outbox.send(Event::Request(r)).await;
}

fn parse_json(ex: &Exchange, step: &Step) -> Option<serde_json::Value> {
    let needs = step.poll.is_some()
        || step
            .extract
            .iter()
            .any(|e| matches!(e.source, Source::Json(_)));
    if !needs || ex.body.is_empty() {
        return None;
    }
    serde_json::from_slice(&ex.body).ok()
}

/// Applies the step's extraction rules; false when one found nothing.
fn extract(
    step: &Step,
    ex: &Exchange,
    json: Option<&serde_json::Value>,
    vars: &mut HashMap<String, String>,
) -> bool {
    for e in &step.extract {
        let value = match &e.source {
            Source::Json(p) => json.and_then(|j| j.pointer(p)).map(value_text),
            Source::Header(h) => ex
                .headers
                .get(h.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            Source::Regex(re) => {
                let body = String::from_utf8_lossy(&ex.body);
                re.captures(&body).and_then(|c| {
                    c.get(1)
                        .or_else(|| c.get(0))
                        .map(|m| m.as_str().to_string())
                })
            }
        };
        match value {
            Some(v) => {
                vars.insert(e.var.clone(), v);
            }
            None => return false,
        }
    }
    true
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
