//! One request through the imitation: route match, stage token bucket, function concurrency,
//! cold start, handler, errors and timeouts, with the status codes each API kind answers.
//! Records CloudWatch-style metrics into the [`MetricStore`] (stamped with the invocation
//! start; Lambda metrics only when non-zero) and one ground-truth line per request.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::{ApiKind, Config};
use crate::error::SandboxError;
use crate::logs::LogStore;
use crate::platform::{Lease, Platform};
use crate::segments::SegmentStore;
use crate::table::Table;
use crate::telemetry::{MetricStore, Unit, key};
use crate::trace;

/// What the server sends back.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// Value for the `X-Amzn-Trace-Id` response header.
    pub trace_header: String,
}

/// Who throttled a request.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ThrottledBy {
    /// The API stage's token bucket.
    Api,
    /// The function's concurrency cap.
    Lambda,
    /// The table's capacity (every SDK retry throttled).
    Table,
}

/// One ground-truth line (JSON), what actually happened to a request.
#[derive(Debug, Serialize)]
pub struct Truth {
    /// X-Ray trace id (the incoming Root when one was sent).
    pub trace_id: String,
    /// Route as configured, or `null` for an unknown route.
    pub route: Option<String>,
    /// Function name, or `null` when no function was reached.
    pub function: Option<String>,
    /// Arrival, Unix nanoseconds.
    pub arrival_unix_ns: u128,
    /// Response sent, Unix nanoseconds.
    pub finish_unix_ns: u128,
    /// HTTP status sent.
    pub status: u16,
    /// True when the invocation started a new environment.
    pub cold: bool,
    /// Execution environment id.
    pub env_id: Option<String>,
    /// Init duration in milliseconds (cold starts only).
    pub init_ms: Option<f64>,
    /// Handler duration in milliseconds.
    pub handler_ms: Option<f64>,
    /// Who throttled it, if anyone.
    pub throttled_by: Option<ThrottledBy>,
    /// True when a scheduled fault window applied to this request.
    pub fault_active: bool,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The running application state shared by all connections.
pub struct App {
    config: Config,
    platform: Platform,
    metrics: MetricStore,
    segments: SegmentStore,
    logs: LogStore,
    seed: u64,
    seq: AtomicU64,
    started: Instant,
    tables: std::collections::BTreeMap<String, Table>,
    bucket: Mutex<Bucket>,
    truth: Mutex<Option<(PathBuf, std::io::BufWriter<std::fs::File>)>>,
}

fn unix_ns(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl App {
    /// Builds the state; opens the ground-truth file if asked.
    pub fn new(
        config: Config,
        seed: u64,
        ground_truth: Option<PathBuf>,
    ) -> Result<Self, SandboxError> {
        let truth = match ground_truth {
            Some(path) => {
                let f = std::fs::File::create(&path).map_err(|source| SandboxError::Write {
                    path: path.clone(),
                    source,
                })?;
                Some((path, std::io::BufWriter::new(f)))
            }
            None => None,
        };
        let burst = config.api.rate_limit.map_or(0.0, |(_, b)| f64::from(b));
        Ok(Self {
            platform: Platform::new(&config.functions),
            metrics: MetricStore::new(config.resolution),
            segments: SegmentStore::new(),
            logs: LogStore::new(),
            seed,
            seq: AtomicU64::new(0),
            started: Instant::now(),
            tables: config
                .tables
                .iter()
                .map(|(n, t)| (n.clone(), Table::new(n, t.clone())))
                .collect(),
            bucket: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            }),
            truth: Mutex::new(truth),
            config,
        })
    }

    /// The telemetry recorded so far.
    pub fn metrics(&self) -> &MetricStore {
        &self.metrics
    }

    /// The X-Ray segment documents recorded so far.
    pub fn segments(&self) -> &SegmentStore {
        &self.segments
    }

    /// The CloudWatch Logs events recorded so far.
    pub fn logs(&self) -> &LogStore {
        &self.logs
    }

    /// Flushes the ground-truth file.
    pub fn flush(&self) -> Result<(), SandboxError> {
        let mut g = self.truth.lock().expect("truth poisoned");
        if let Some((path, w)) = g.as_mut() {
            w.flush().map_err(|source| SandboxError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn take_token(&self, rate_override: Option<f64>) -> bool {
        let (rate, burst) = match (self.config.api.rate_limit, rate_override) {
            (_, Some(r)) => (r, r.ceil().max(1.0) as u32),
            (Some(limit), None) => limit,
            (None, None) => return true,
        };
        let mut b = self.bucket.lock().expect("bucket poisoned");
        let now = Instant::now();
        b.tokens =
            (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(f64::from(burst));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn write_truth(&self, t: &Truth) {
        let mut g = self.truth.lock().expect("truth poisoned");
        if let Some((_, w)) = g.as_mut() {
            // A failed write surfaces at flush time, where it is reported with the path.
            let mut line = serde_json::to_vec(t).unwrap_or_default();
            line.push(b'\n');
            let _ = w.write_all(&line);
        }
    }

    /// Records the API front's metrics for a finished request.
    fn api_metrics(
        &self,
        at: SystemTime,
        status: u16,
        latency: Duration,
        integration: Option<Duration>,
    ) {
        let api = &self.config.api;
        let (dims, four, five): ([(&'static str, &str); 2], &'static str, &'static str) =
            match api.kind {
                ApiKind::Rest => (
                    [("ApiName", &api.name), ("Stage", &api.stage)],
                    "4XXError",
                    "5XXError",
                ),
                ApiKind::Http => ([("ApiId", &api.name), ("Stage", &api.stage)], "4xx", "5xx"),
                ApiKind::FunctionUrl => return,
            };
        let m = &self.metrics;
        let ns = "AWS/ApiGateway";
        m.record(key(ns, "Count", &dims), Unit::Count, at, 1.0);
        m.record(
            key(ns, four, &dims),
            Unit::Count,
            at,
            f64::from(u8::from((400..500).contains(&status))),
        );
        m.record(
            key(ns, five, &dims),
            Unit::Count,
            at,
            f64::from(u8::from(status >= 500)),
        );
        m.record(
            key(ns, "Latency", &dims),
            Unit::Milliseconds,
            at,
            ms(latency),
        );
        if let Some(i) = integration {
            m.record(
                key(ns, "IntegrationLatency", &dims),
                Unit::Milliseconds,
                at,
                ms(i),
            );
        }
    }

    /// Serves one request.
    pub async fn handle(
        self: &Arc<Self>,
        method: &str,
        path: &str,
        trace_header: Option<&str>,
    ) -> Reply {
        let arrival = SystemTime::now();
        let start = Instant::now();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut rng = fastrand::Rng::with_seed(self.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let incoming = trace_header.map(trace::parse).unwrap_or_default();
        let trace_id = incoming
            .root
            .unwrap_or_else(|| trace::new_root(arrival, &mut rng));
        let kind = self.config.api.kind;
        let mut truth = Truth {
            trace_id: trace_id.clone(),
            route: None,
            function: None,
            arrival_unix_ns: unix_ns(arrival),
            finish_unix_ns: 0,
            status: 0,
            cold: false,
            env_id: None,
            init_ms: None,
            handler_ms: None,
            throttled_by: None,
            fault_active: false,
        };
        let (status, body, integration) =
            self.serve(method, path, kind, &mut rng, &mut truth).await;
        let finish = SystemTime::now();
        self.api_metrics(arrival, status, start.elapsed(), integration);
        truth.finish_unix_ns = unix_ns(finish);
        truth.status = status;
        self.write_truth(&truth);
        Reply {
            status,
            body,
            trace_header: format!("Root={trace_id}"),
        }
    }

    async fn serve(
        self: &Arc<Self>,
        method: &str,
        path: &str,
        kind: ApiKind,
        rng: &mut fastrand::Rng,
        truth: &mut Truth,
    ) -> (u16, String, Option<Duration>) {
        let Some(route) = self.config.routes.iter().find(|r| r.matches(method, path)) else {
            return match kind {
                ApiKind::Rest => (
                    403,
                    r#"{"message":"Missing Authentication Token"}"#.into(),
                    None,
                ),
                ApiKind::Http | ApiKind::FunctionUrl => {
                    (404, r#"{"message":"Not Found"}"#.into(), None)
                }
            };
        };
        truth.route = Some(route.label.clone());
        let fault = self.active_fault(&route.function, route.table.as_ref().map(|t| t.0.as_str()));
        truth.fault_active = fault.active;
        if kind != ApiKind::FunctionUrl && !self.take_token(fault.stage_rate_limit) {
            truth.throttled_by = Some(ThrottledBy::Api);
            return (429, r#"{"message":"Too Many Requests"}"#.into(), None);
        }
        truth.function = Some(route.function.clone());
        let function = self.platform.function(&route.function);
        let fdim = [("FunctionName", route.function.as_str())];
        let invoke_at = SystemTime::now();
        let invoke_start = Instant::now();
        let Some(lease) = function.acquire(fault.reserved_concurrency) else {
            truth.throttled_by = Some(ThrottledBy::Lambda);
            self.metrics.record(
                key("AWS/Lambda", "Throttles", &fdim),
                Unit::Count,
                invoke_at,
                1.0,
            );
            return match kind {
                ApiKind::Rest | ApiKind::Http => {
                    (500, r#"{"message":"Internal server error"}"#.into(), None)
                }
                ApiKind::FunctionUrl => (429, r#"{"message":"Rate Exceeded."}"#.into(), None),
            };
        };
        let cfg = &function.config;
        let m = &self.metrics;
        m.record(
            key("AWS/Lambda", "Invocations", &fdim),
            Unit::Count,
            invoke_at,
            1.0,
        );
        m.record(
            key("AWS/Lambda", "ConcurrentExecutions", &fdim),
            Unit::Count,
            invoke_at,
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
                invoke_at,
                1.0,
            );
        }
        let init = if lease.cold {
            cfg.init.sample(rng)
        } else {
            Duration::ZERO
        };
        let drawn = route.handler.sample(rng).mul_f64(fault.slowdown);
        let error_rate = fault.error_rate.unwrap_or(cfg.error_rate);
        let errored = rng.f64() < error_rate;
        truth.cold = lease.cold;
        truth.env_id = Some(lease.env_id.clone());
        truth.init_ms = lease.cold.then(|| ms(init));
        let integration_timeout = self.config.api.integration_timeout;
        let front_times_out = kind != ApiKind::FunctionUrl;
        let run = Invocation {
            function: route.function.clone(),
            table: route.table.clone(),
            table_factor: fault.table_factor,
            lease,
            at: invoke_at,
            init,
            handler: drawn,
            timeout: cfg.timeout,
            errored,
            rng_seed: rng.u64(..),
        };
        let done = if run.table.is_none() {
            // Known length up front: no task needed unless the front gives up first.
            let handler = drawn.min(cfg.timeout);
            let total = init + handler;
            if front_times_out && total > integration_timeout {
                tokio::spawn(Arc::clone(self).invoke(run));
                None
            } else {
                Some(self.invoke_ref(run).await)
            }
        } else {
            let task = tokio::spawn(Arc::clone(self).invoke(run));
            if front_times_out {
                match tokio::time::timeout(integration_timeout, task).await {
                    Ok(r) => r.ok(),
                    Err(_) => None,
                }
            } else {
                task.await.ok()
            }
        };
        let Some(done) = done else {
            if front_times_out {
                tokio::time::sleep(integration_timeout.saturating_sub(invoke_start.elapsed()))
                    .await;
            }
            let status = if kind == ApiKind::Rest { 504 } else { 503 };
            return (
                status,
                r#"{"message":"Endpoint request timed out"}"#.into(),
                Some(integration_timeout),
            );
        };
        truth.handler_ms = Some(ms(done.handler));
        if done.table_throttled {
            truth.throttled_by = Some(ThrottledBy::Table);
        }
        let integration = Some(invoke_start.elapsed());
        if done.failed {
            let status = if kind == ApiKind::Http { 500 } else { 502 };
            return (
                status,
                r#"{"message":"Internal server error"}"#.into(),
                integration,
            );
        }
        (200, response_body(route.response_bytes), integration)
    }

    async fn invoke(self: Arc<Self>, run: Invocation) -> Invoked {
        self.invoke_ref(run).await
    }

    /// Runs one invocation in its environment: init, table calls with retries, handler;
    /// then records Duration/Errors and returns the environment.
    async fn invoke_ref(&self, run: Invocation) -> Invoked {
        let mut rng = fastrand::Rng::with_seed(run.rng_seed);
        if !run.init.is_zero() {
            tokio::time::sleep(run.init).await;
        }
        let mut spent = Duration::ZERO;
        let mut table_throttled = false;
        if let Some((name, reads, writes)) = &run.table {
            let table = &self.tables[name];
            for write in std::iter::repeat_n(false, *reads as usize)
                .chain(std::iter::repeat_n(true, *writes as usize))
            {
                let out = table
                    .call(write, run.table_factor, &mut rng, &self.metrics, run.at)
                    .await;
                spent += out.backoff;
                if out.failed {
                    table_throttled = true;
                    break;
                }
            }
        }
        let handler = (spent + run.handler).min(run.timeout.max(spent));
        let timed_out = spent + run.handler > run.timeout;
        let rest = handler.saturating_sub(spent);
        if !rest.is_zero() {
            tokio::time::sleep(rest).await;
        }
        let failed = run.errored || timed_out || table_throttled;
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
        self.platform.function(&run.function).release(run.lease);
        Invoked {
            handler,
            failed,
            table_throttled,
        }
    }

    /// The overrides of every fault window active now for this function and table.
    fn active_fault(&self, function: &str, table: Option<&str>) -> ActiveFault {
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
            if now < f.at || now >= f.at + f.duration {
                continue;
            }
            if f.function.as_deref().is_some_and(|n| n != function) {
                continue;
            }
            a.active = true;
            if let Some(x) = f.slowdown {
                a.slowdown = x;
            }
            a.error_rate = f.error_rate.or(a.error_rate);
            a.reserved_concurrency = f.reserved_concurrency.or(a.reserved_concurrency);
            a.stage_rate_limit = f.stage_rate_limit.or(a.stage_rate_limit);
            if let Some(x) = f.table_capacity_factor
                && (f.table.is_none() || f.table.as_deref() == table)
            {
                a.table_factor = x;
            }
        }
        a
    }
}

struct ActiveFault {
    active: bool,
    slowdown: f64,
    error_rate: Option<f64>,
    reserved_concurrency: Option<u32>,
    stage_rate_limit: Option<f64>,
    table_factor: f64,
}

struct Invocation {
    function: String,
    table: Option<(String, u32, u32)>,
    table_factor: f64,
    lease: Lease,
    at: SystemTime,
    init: Duration,
    handler: Duration,
    timeout: Duration,
    errored: bool,
    rng_seed: u64,
}

struct Invoked {
    handler: Duration,
    failed: bool,
    table_throttled: bool,
}

/// A JSON body of roughly `bytes` bytes.
fn response_body(bytes: usize) -> String {
    let pad = bytes.saturating_sub(12);
    format!("{{\"ok\":true,\"p\":\"{}\"}}", "x".repeat(pad))
}
