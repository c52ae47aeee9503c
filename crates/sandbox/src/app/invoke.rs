//! One invocation in its environment: the draws (init, handler, error), the fault windows
//! active now, the table and stream calls with their retries, the handler, and what it
//! records (Lambda metrics, log lines, segments when traced).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{App, ms};
use crate::config::FunctionConfig;
use crate::dist::{Dist, scale};
use crate::lambda_logs::Report;
use crate::platform::Lease;
use crate::xray_docs::{DownstreamCall, InvocationSpan, TraceCtx, lambda_segments};
use stormwatch_aws_emulator::metric_store::{Unit, key};

impl App {
    /// Records the Lambda metrics of an accepted invoke.
    pub(super) fn record_invoke(&self, function: &str, lease: &Lease, at: SystemTime) {
        let fdim = [("FunctionName", function)];
        let m = &self.metrics;
        m.record(
            key("AWS/Lambda", "Invocations", &fdim),
            Unit::Count,
            at,
            1.0,
        );
        m.record(
            key("AWS/Lambda", "ConcurrentExecutions", &fdim),
            Unit::Count,
            at,
            f64::from(lease.concurrent),
        );
        if lease.spillover {
            m.record(
                key(
                    "AWS/Lambda",
                    "ProvisionedConcurrencySpilloverInvocations",
                    &fdim,
                ),
                Unit::Count,
                at,
                1.0,
            );
        }
    }
    pub(super) async fn invoke(self: Arc<Self>, run: Invocation) -> Invoked {
        self.invoke_ref(run).await
    }

    /// Runs one invocation in its environment: init, table and stream calls with retries,
    /// handler; then records Duration/Errors, writes its log lines (and segments when
    /// traced) and returns the environment.
    pub(super) async fn invoke_ref(&self, run: Invocation) -> Invoked {
        let mut rng = fastrand::Rng::with_seed(run.rng_seed);
        if !run.init.is_zero() {
            tokio::time::sleep(run.init).await;
        }
        let handler_start = SystemTime::now();
        let mut spent = Duration::ZERO;
        let mut table_throttled = false;
        let mut stream_throttled = false;
        let mut calls = Vec::new();
        if let Some((name, reads, writes)) = &run.table {
            let table = &self.tables[name];
            for write in std::iter::repeat_n(false, *reads as usize)
                .chain(std::iter::repeat_n(true, *writes as usize))
            {
                let t0 = SystemTime::now();
                let out = table
                    .call(write, run.table_factor, &mut rng, &self.metrics, run.at)
                    .await;
                spent = spent.saturating_add(out.backoff);
                if run.trace.is_some() {
                    calls.push(DownstreamCall {
                        service: "DynamoDB",
                        operation: if write { "PutItem" } else { "GetItem" },
                        resource: name.clone(),
                        start: t0,
                        end: SystemTime::now(),
                        retries: out.retries,
                        failed: out.failed,
                    });
                }
                if out.failed {
                    table_throttled = true;
                    break;
                }
            }
        }
        if let Some((name, records, bytes)) = &run.stream
            && !table_throttled
        {
            let stream = &self.streams[name];
            for _ in 0..*records {
                let t0 = SystemTime::now();
                let out = stream
                    .put_record(*bytes, &mut rng, &self.metrics, run.at)
                    .await;
                spent = spent.saturating_add(out.backoff);
                if run.trace.is_some() {
                    calls.push(DownstreamCall {
                        service: "Kinesis",
                        operation: "PutRecord",
                        resource: name.clone(),
                        start: t0,
                        end: SystemTime::now(),
                        retries: out.retries,
                        failed: out.failed,
                    });
                }
                if out.failed {
                    stream_throttled = true;
                    break;
                }
            }
        }
        let handler = spent
            .saturating_add(run.handler)
            .min(run.timeout.max(spent));
        let timed_out = spent.saturating_add(run.handler) > run.timeout;
        let rest = handler.saturating_sub(spent);
        if !rest.is_zero() {
            tokio::time::sleep(rest).await;
        }
        let handler_end = SystemTime::now();
        let failed = run.errored || timed_out || table_throttled || stream_throttled;
        let fdim = [("FunctionName", run.function.as_str())];
        self.metrics.record(
            key("AWS/Lambda", "Duration", &fdim),
            Unit::Milliseconds,
            run.at,
            ms(handler),
        );
        if failed {
            self.metrics
                .record(key("AWS/Lambda", "Errors", &fdim), Unit::Count, run.at, 1.0);
        }
        let function = self.platform.function(&run.function);
        let cfg = &function.config;
        let end = SystemTime::now();
        self.logs.invocation(
            cfg,
            &Report {
                function: &run.function,
                request_id: &run.request_id,
                env: (&run.lease.env_id, run.lease.born),
                start: run.at,
                end,
                duration: handler,
                init: run.lease.cold.then_some(run.init),
                max_memory_mb: max_memory_used(&cfg.runtime, cfg.memory_mb, &mut rng),
                timed_out,
                failed,
                trace: run
                    .trace
                    .as_ref()
                    .map(|t| (t.trace_id.as_str(), t.lambda.as_str())),
            },
        );
        if let Some(ctx) = &run.trace {
            for doc in lambda_segments(
                ctx,
                &InvocationSpan {
                    function: &run.function,
                    request_id: &run.request_id,
                    start: run.at,
                    init: run.init,
                    cold: run.lease.cold,
                    handler_start,
                    handler_end,
                    end,
                    failed,
                    timed_out,
                    calls: &calls,
                    init_kind: self.config.tracing.init_subsegment,
                    restore: cfg.snapstart,
                },
                &mut rng,
            ) {
                self.put_segment(&doc);
            }
        }
        // Returns the environment (also when this future is dropped before getting here).
        drop(run.lease);
        Invoked {
            handler,
            failed,
            table_throttled,
            stream_throttled,
        }
    }

    /// The overrides of every fault window active now for this function and table.
    pub(super) fn active_fault(&self, function: &str, table: Option<&str>) -> ActiveFault {
        let now = self.started.elapsed();
        let mut a = ActiveFault {
            active: false,
            slowdown: 1.0,
            error_rate: None,
            reserved_concurrency: None,
            stage_rate_limit: None,
            table_factor: 1.0,
        };
        for f in &self.config.faults {
            if now < f.at || now >= f.at.saturating_add(f.duration) {
                continue;
            }
            if f.function.as_deref().is_some_and(|n| n != function) {
                continue;
            }
            // Active for this request only when one of its overrides reaches it: a table
            // fault does not mark requests of routes without that table.
            let function_level = f.slowdown.is_some()
                || f.error_rate.is_some()
                || f.reserved_concurrency.is_some()
                || f.stage_rate_limit.is_some();
            if let Some(x) = f.slowdown {
                a.slowdown = x;
            }
            a.error_rate = f.error_rate.or(a.error_rate);
            a.reserved_concurrency = f.reserved_concurrency.or(a.reserved_concurrency);
            a.stage_rate_limit = f.stage_rate_limit.or(a.stage_rate_limit);
            let table_level = if let Some(x) = f.table_capacity_factor
                && table.is_some()
                && (f.table.is_none() || f.table.as_deref() == table)
            {
                a.table_factor = x;
                true
            } else {
                false
            };
            a.active |= function_level || table_level;
        }
        a
    }
}

pub(super) struct ActiveFault {
    pub(super) active: bool,
    pub(super) slowdown: f64,
    pub(super) error_rate: Option<f64>,
    pub(super) reserved_concurrency: Option<u32>,
    pub(super) stage_rate_limit: Option<f64>,
    pub(super) table_factor: f64,
}

pub(super) struct Invocation {
    pub(super) function: String,
    pub(super) request_id: String,
    pub(super) table: Option<(String, u32, u32)>,
    pub(super) stream: Option<(String, u32, usize)>,
    pub(super) table_factor: f64,
    pub(super) lease: Lease,
    pub(super) at: SystemTime,
    pub(super) init: Duration,
    pub(super) handler: Duration,
    pub(super) timeout: Duration,
    pub(super) errored: bool,
    pub(super) rng_seed: u64,
    pub(super) trace: Option<TraceCtx>,
}

pub(super) struct Invoked {
    pub(super) handler: Duration,
    pub(super) failed: bool,
    pub(super) table_throttled: bool,
    pub(super) stream_throttled: bool,
}

/// An invocation's drawn init (cold starts only), handler duration (slowed by a fault) and
/// whether it errs (at the fault's error rate when one overrides it); the API and queue
/// workers draw in this one order.
pub(super) fn draw(
    cfg: &FunctionConfig,
    handler: &Dist,
    fault: &ActiveFault,
    cold: bool,
    rng: &mut fastrand::Rng,
) -> (Duration, Duration, bool) {
    let init = if cold {
        cfg.init.sample(rng)
    } else {
        Duration::ZERO
    };
    // Saturating: a slowdown that slipped past the config checks must not panic.
    let handler = scale(handler.sample(rng), fault.slowdown);
    let errored = rng.f64() < fault.error_rate.unwrap_or(cfg.error_rate);
    (init, handler, errored)
}

/// A Lambda request id (UUID v4 form) from the request's seeded generator.
pub(super) fn request_id(rng: &mut fastrand::Rng) -> String {
    let (a, b) = (rng.u64(..), rng.u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// `Max Memory Used`: what a small function of this runtime typically uses, plus jitter,
/// never above the memory size.
fn max_memory_used(runtime: &str, memory_mb: u32, rng: &mut fastrand::Rng) -> u32 {
    let base = match runtime.split(|c: char| c.is_ascii_digit()).next() {
        Some("java" | "dotnet") => 110,
        Some("python") => 45,
        Some("provided.al" | "go") => 20,
        _ => 70,
    };
    (base + rng.u32(0..16)).min(memory_mb)
}
