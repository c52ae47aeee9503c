//! One request through the imitation: route match, stage token bucket, function concurrency,
//! cold start, handler, errors and timeouts, with the status codes each API kind answers.
//! Records CloudWatch-style metrics into the [`MetricStore`] (stamped with the invocation
//! start; Lambda metrics only when non-zero), X-Ray documents for sampled requests
//! ([`crate::xray_docs`]), the platform's log lines ([`crate::lambda_logs`]) and one
//! ground-truth line per request. Routes may also enqueue jobs ([`crate::jobs`], run by
//! worker tasks started with [`App::start_workers`]), issue tokens or require them
//! ([`crate::auth`]), and write to streams ([`crate::stream`]).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::auth::{Authorizer, Verdict};
use crate::config::{ApiKind, Config, FunctionConfig, TracingMode};
use crate::config_services::RouteAction;
use crate::data_dir::DataDir;
use crate::dist::{Dist, scale};
use crate::error::SandboxError;
use crate::jobs::Jobs;
use crate::lambda_logs::{LambdaLogs, Report};
use crate::logs::LogStore;
use crate::platform::{Lease, Platform};
use crate::segments::SegmentStore;
use crate::stream::Stream;
use crate::table::Table;
use crate::telemetry::{MetricStore, Unit, key};
use crate::trace::{self, TraceHeader};
use crate::xray_docs::{
    DownstreamCall, InvocationSpan, Sampler, StageSpan, TraceCtx, lambda_segments, stage_segment,
    throttled_lambda_segment,
};

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
    /// The stream's shard capacity (every SDK retry throttled).
    Stream,
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
    /// Lambda request id (the `RequestId` of the START/END/REPORT lines).
    pub request_id: Option<String>,
    /// Init duration in milliseconds (cold starts only).
    pub init_ms: Option<f64>,
    /// Handler duration in milliseconds.
    pub handler_ms: Option<f64>,
    /// Who throttled it, if anyone.
    pub throttled_by: Option<ThrottledBy>,
    /// True when a scheduled fault window applied to this request.
    pub fault_active: bool,
    /// True when the client had disconnected before the response was ready (the invocation
    /// ran to its end all the same, as Lambda's does).
    pub client_gone: bool,
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
    logs: LambdaLogs,
    sampler: Sampler,
    jobs: Jobs,
    streams: std::collections::BTreeMap<String, Stream>,
    authorizer: Authorizer,
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
    /// Builds the state; opens the ground-truth file and the data directory if asked.
    pub fn new(
        config: Config,
        seed: u64,
        ground_truth: Option<PathBuf>,
        data_dir: Option<&std::path::Path>,
    ) -> Result<Self, SandboxError> {
        let data_dir = data_dir
            .map(|d| DataDir::create(d, config.functions.keys()))
            .transpose()?;
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
            segments: SegmentStore::with_limit(config.tracing.trace_memory),
            logs: LambdaLogs::new(
                config.functions.keys(),
                config.tracing.log_memory_per_group,
                data_dir,
            ),
            sampler: Sampler::new(config.tracing.reservoir, config.tracing.rate),
            jobs: Jobs::new(&config.queues),
            streams: config
                .streams
                .iter()
                .map(|(n, s)| (n.clone(), Stream::new(n, s.clone())))
                .collect(),
            authorizer: Authorizer::new(seed, config.auth.token_ttl),
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
        self.logs.store()
    }

    /// Flushes the ground-truth file and the data directory.
    pub fn flush(&self) -> Result<(), SandboxError> {
        if let Some(d) = self.logs.data_dir() {
            d.flush()?;
        }
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

    /// Serves one request. The work runs in a task of its own, which holds the request's
    /// execution environment: as on Lambda, an invocation runs to its end and releases its
    /// environment whether or not the client is still there. When the returned future is
    /// dropped first (the front drops it when the client disconnects), the ground-truth line
    /// says `client_gone`.
    pub async fn handle(
        self: &Arc<Self>,
        method: &str,
        path: &str,
        trace_header: Option<&str>,
        authorization: Option<&str>,
    ) -> Reply {
        let gone = Arc::new(AtomicBool::new(false));
        let app = Arc::clone(self);
        let (method, path) = (method.to_owned(), path.to_owned());
        let (trace_header, authorization) = (
            trace_header.map(str::to_owned),
            authorization.map(str::to_owned),
        );
        let flag = Arc::clone(&gone);
        let task = tokio::spawn(async move {
            app.handle_attached(
                &method,
                &path,
                trace_header.as_deref(),
                authorization.as_deref(),
                &flag,
            )
            .await
        });
        let watch = ClientWatch(Some(gone));
        let reply = task.await;
        watch.answered();
        // The task panicked (a bug): answer as API Gateway answers an internal failure.
        reply.unwrap_or_else(|_| Reply {
            status: 500,
            body: r#"{"message":"Internal server error"}"#.into(),
            trace_header: String::new(),
        })
    }

    /// Serves one request in the caller's task; `client_gone` is read when the ground-truth
    /// line is written.
    async fn handle_attached(
        self: &Arc<Self>,
        method: &str,
        path: &str,
        trace_header: Option<&str>,
        authorization: Option<&str>,
        client_gone: &AtomicBool,
    ) -> Reply {
        let arrival = SystemTime::now();
        let start = Instant::now();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut rng = fastrand::Rng::with_seed(self.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let incoming = trace_header.map(trace::parse).unwrap_or_default();
        let trace_id = incoming
            .root
            .clone()
            .unwrap_or_else(|| trace::new_root(arrival, &mut rng));
        // Sampling and segment ids draw from a generator of their own: the default rule's
        // draw depends on the wall clock (its reservoir), and must not shift the request's
        // other draws (init, handler, errors), which repeat with --seed.
        let mut trace_rng = fastrand::Rng::with_seed(rng.u64(..));
        let kind = self.config.api.kind;
        let mut truth = Truth {
            trace_id,
            route: None,
            function: None,
            arrival_unix_ns: unix_ns(arrival),
            finish_unix_ns: 0,
            status: 0,
            cold: false,
            env_id: None,
            request_id: None,
            init_ms: None,
            handler_ms: None,
            throttled_by: None,
            fault_active: false,
            client_gone: false,
        };
        // A REST stage with tracing decides at arrival; Lambda decides for the other fronts.
        let mut traced = (kind == ApiKind::Rest
            && incoming
                .sampled
                .unwrap_or_else(|| self.sampler.sample(arrival, &mut trace_rng)))
        .then(|| {
            TraceCtx::new(
                truth.trace_id.clone(),
                incoming.parent.clone(),
                true,
                &mut trace_rng,
            )
        });
        let req = Incoming {
            method,
            path,
            authorization,
            header: &incoming,
        };
        let served = self
            .serve(
                &req,
                kind,
                (&mut rng, &mut trace_rng),
                &mut truth,
                &mut traced,
            )
            .await;
        let finish = SystemTime::now();
        self.api_metrics(arrival, served.status, start.elapsed(), served.integration);
        if let Some(ctx) = &traced
            && let Some(doc) = stage_segment(
                ctx,
                &StageSpan {
                    api: &self.config.api,
                    method,
                    path,
                    resource: truth
                        .route
                        .as_deref()
                        .and_then(|r| r.split_once(' '))
                        .map(|r| r.1),
                    start: arrival,
                    end: finish,
                    status: served.status,
                    invoke: served
                        .invoke
                        .zip(truth.function.as_deref())
                        .map(|((s, e, st), f)| (s, e, f, st)),
                },
            )
        {
            self.put_segment(&doc);
        }
        truth.finish_unix_ns = unix_ns(finish);
        truth.status = served.status;
        truth.client_gone = client_gone.load(Ordering::Relaxed);
        self.write_truth(&truth);
        Reply {
            status: served.status,
            body: served.body,
            trace_header: format!("Root={}", truth.trace_id),
        }
    }

    fn put_segment(&self, doc: &str) {
        if let Some(d) = self.logs.data_dir() {
            d.segment(doc);
        }
        // Documents built here always carry the fields the store requires.
        let _ = self.segments.put(doc);
    }

    #[allow(clippy::too_many_lines)]
    async fn serve(
        self: &Arc<Self>,
        req: &Incoming<'_>,
        kind: ApiKind,
        (rng, trace_rng): (&mut fastrand::Rng, &mut fastrand::Rng),
        truth: &mut Truth,
        traced: &mut Option<TraceCtx>,
    ) -> Served {
        let Some(route) = self
            .config
            .routes
            .iter()
            .find(|r| r.matches(req.method, req.path))
        else {
            return match kind {
                ApiKind::Rest => {
                    Served::plain(403, r#"{"message":"Missing Authentication Token"}"#)
                }
                ApiKind::Http | ApiKind::FunctionUrl => {
                    Served::plain(404, r#"{"message":"Not Found"}"#)
                }
            };
        };
        truth.route = Some(route.label.clone());
        let fault = self.active_fault(&route.function, route.table.as_ref().map(|t| t.0.as_str()));
        truth.fault_active = fault.active;
        if kind != ApiKind::FunctionUrl && !self.take_token(fault.stage_rate_limit) {
            truth.throttled_by = Some(ThrottledBy::Api);
            return Served::plain(429, r#"{"message":"Too Many Requests"}"#);
        }
        if route.protected {
            match self.authorizer.check(req.authorization, SystemTime::now()) {
                Verdict::Allow => {}
                Verdict::Missing => return Served::plain(401, r#"{"message":"Unauthorized"}"#),
                Verdict::Deny => {
                    return Served::plain(
                        403,
                        if kind == ApiKind::Rest {
                            r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#
                        } else {
                            r#"{"message":"Forbidden"}"#
                        },
                    );
                }
            }
        }
        truth.function = Some(route.function.clone());
        let function = self.platform.function(&route.function);
        if kind != ApiKind::Rest {
            let sampled = match req.header.sampled {
                Some(s) => s,
                None => {
                    function.config.tracing == TracingMode::Active
                        && self.sampler.sample(SystemTime::now(), trace_rng)
                }
            };
            if sampled {
                *traced = Some(TraceCtx::new(
                    truth.trace_id.clone(),
                    req.header.parent.clone(),
                    false,
                    trace_rng,
                ));
            }
        }
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
            if let Some(ctx) = traced.as_ref() {
                self.put_segment(&throttled_lambda_segment(ctx, &route.function, invoke_at));
            }
            let mut s = match kind {
                ApiKind::Rest | ApiKind::Http => {
                    Served::plain(500, r#"{"message":"Internal server error"}"#)
                }
                ApiKind::FunctionUrl => Served::plain(429, r#"{"message":"Rate Exceeded."}"#),
            };
            s.invoke = Some((invoke_at, SystemTime::now(), 429));
            return s;
        };
        self.record_invoke(&route.function, &lease, invoke_at);
        let cfg = &function.config;
        let (init, drawn, errored) = draw(cfg, &route.handler, &fault, lease.cold, rng);
        let request_id = request_id(rng);
        truth.cold = lease.cold;
        truth.env_id = Some(lease.env_id.clone());
        truth.request_id = Some(request_id.clone());
        truth.init_ms = lease.cold.then(|| ms(init));
        let integration_timeout = self.config.api.integration_timeout;
        let front_times_out = kind != ApiKind::FunctionUrl;
        let run = Invocation {
            function: route.function.clone(),
            request_id,
            table: route.table.clone(),
            stream: route.stream.clone(),
            table_factor: fault.table_factor,
            lease,
            at: invoke_at,
            init,
            handler: drawn,
            timeout: cfg.timeout,
            errored,
            rng_seed: rng.u64(..),
            trace: traced.clone(),
        };
        let done = if run.table.is_none() && run.stream.is_none() {
            // Known length up front: no task needed unless the front gives up first.
            let handler = drawn.min(cfg.timeout);
            let total = init.saturating_add(handler);
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
            let mut s = Served::plain(status, r#"{"message":"Endpoint request timed out"}"#);
            s.integration = Some(integration_timeout);
            s.invoke = Some((invoke_at, SystemTime::now(), 200));
            return s;
        };
        truth.handler_ms = Some(ms(done.handler));
        if done.table_throttled {
            truth.throttled_by = Some(ThrottledBy::Table);
        } else if done.stream_throttled {
            truth.throttled_by = Some(ThrottledBy::Stream);
        }
        let integration = Some(invoke_start.elapsed());
        let invoke = Some((invoke_at, SystemTime::now(), 200));
        if done.failed {
            let status = if kind == ApiKind::Http { 500 } else { 502 };
            return Served {
                status,
                body: r#"{"message":"Internal server error"}"#.into(),
                integration,
                invoke,
            };
        }
        let (status, body) = self.respond(route, req.path, rng);
        Served {
            status,
            body,
            integration,
            invoke,
        }
    }

    /// The function's answer for a successful invocation, by the route's action.
    fn respond(
        &self,
        route: &crate::config::RouteConfig,
        path: &str,
        rng: &mut fastrand::Rng,
    ) -> (u16, String) {
        match &route.action {
            RouteAction::Respond => (200, response_body(route.response_bytes)),
            RouteAction::Enqueue(q) => {
                let Some(queue) = self.jobs.queue(q) else {
                    return (500, r#"{"message":"Internal server error"}"#.into());
                };
                let id = request_id(rng);
                queue.enqueue(id.clone(), &self.metrics, SystemTime::now());
                (202, serde_json::json!({ "jobId": id }).to_string())
            }
            RouteAction::JobStatus(q) => {
                let id = path.rsplit('/').next().unwrap_or("");
                match self.jobs.queue(q).and_then(|queue| queue.status(id)) {
                    Some(s) => (
                        200,
                        serde_json::json!({ "jobId": id, "status": s.as_str() }).to_string(),
                    ),
                    None => (404, r#"{"message":"job not found"}"#.into()),
                }
            }
            RouteAction::IssueToken => {
                let token = self.authorizer.issue(SystemTime::now(), rng);
                (
                    200,
                    serde_json::json!({
                        "token": token,
                        "token_type": "Bearer",
                        "expires_in": self.authorizer.ttl().as_secs(),
                    })
                    .to_string(),
                )
            }
        }
    }

    /// Records the Lambda metrics of an accepted invoke.
    fn record_invoke(&self, function: &str, lease: &Lease, at: SystemTime) {
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

    /// Starts the job workers (each queue's concurrency) and the SQS gauge sampler; the
    /// handles are aborted at shutdown. Must be called inside a tokio runtime.
    pub fn start_workers(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for queue in self.jobs.all() {
            for slot in 0..queue.config.concurrency {
                let app = Arc::clone(self);
                let name = queue.name().to_string();
                tasks.push(tokio::spawn(async move { app.worker(&name, slot).await }));
            }
        }
        if self.jobs.all().next().is_some() {
            let app = Arc::clone(self);
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let now = SystemTime::now();
                    for q in app.jobs.all() {
                        q.sample(&app.metrics, now);
                    }
                }
            }));
        }
        tasks
    }

    /// One worker slot: takes jobs and runs the worker function on them. A throttled worker
    /// invoke puts the job back and retries after a pause, as the SQS poller backs off.
    async fn worker(self: Arc<Self>, queue_name: &str, slot: u32) {
        let Some(queue) = self.jobs.queue(queue_name) else {
            return;
        };
        let mut rng = fastrand::Rng::with_seed(
            self.seed ^ 0x51_0000 ^ u64::from(slot) ^ (queue_name.len() as u64) << 32,
        );
        loop {
            let id = queue.take().await;
            let function = self.platform.function(&queue.config.worker);
            let invoke_at = SystemTime::now();
            let fault = self.active_fault(&queue.config.worker, None);
            let Some(lease) = function.acquire(fault.reserved_concurrency) else {
                self.metrics.record(
                    key(
                        "AWS/Lambda",
                        "Throttles",
                        &[("FunctionName", &queue.config.worker)],
                    ),
                    Unit::Count,
                    invoke_at,
                    1.0,
                );
                queue.put_back(id);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.record_invoke(&queue.config.worker, &lease, invoke_at);
            let cfg = &function.config;
            let (init, handler, errored) =
                draw(cfg, &queue.config.handler, &fault, lease.cold, &mut rng);
            let run = Invocation {
                function: queue.config.worker.clone(),
                request_id: request_id(&mut rng),
                table: None,
                stream: None,
                table_factor: 1.0,
                lease,
                at: invoke_at,
                init,
                handler,
                timeout: cfg.timeout,
                errored,
                rng_seed: rng.u64(..),
                trace: None,
            };
            let done = self.invoke_ref(run).await;
            queue.finish(id, !done.failed);
        }
    }

    async fn invoke(self: Arc<Self>, run: Invocation) -> Invoked {
        self.invoke_ref(run).await
    }

    /// Runs one invocation in its environment: init, table and stream calls with retries,
    /// handler; then records Duration/Errors, writes its log lines (and segments when
    /// traced) and returns the environment.
    async fn invoke_ref(&self, run: Invocation) -> Invoked {
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

/// Marks the client gone when dropped before [`ClientWatch::answered`]: the future awaiting
/// the request's task was dropped, i.e. the connection went away first.
struct ClientWatch(Option<Arc<AtomicBool>>);

impl ClientWatch {
    fn answered(mut self) {
        self.0 = None;
    }
}

impl Drop for ClientWatch {
    fn drop(&mut self) {
        if let Some(gone) = self.0.take() {
            gone.store(true, Ordering::Relaxed);
        }
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

/// The request as the front hands it to [`App::serve`].
struct Incoming<'a> {
    method: &'a str,
    path: &'a str,
    authorization: Option<&'a str>,
    header: &'a TraceHeader,
}

/// What [`App::serve`] answers, with the integration timings the front records.
struct Served {
    status: u16,
    body: String,
    integration: Option<Duration>,
    /// The Lambda invoke as the front saw it: start, end, Invoke API status.
    invoke: Option<(SystemTime, SystemTime, u16)>,
}

impl Served {
    fn plain(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_string(),
            integration: None,
            invoke: None,
        }
    }
}

struct Invocation {
    function: String,
    request_id: String,
    table: Option<(String, u32, u32)>,
    stream: Option<(String, u32, usize)>,
    table_factor: f64,
    lease: Lease,
    at: SystemTime,
    init: Duration,
    handler: Duration,
    timeout: Duration,
    errored: bool,
    rng_seed: u64,
    trace: Option<TraceCtx>,
}

struct Invoked {
    handler: Duration,
    failed: bool,
    table_throttled: bool,
    stream_throttled: bool,
}

/// An invocation's drawn init (cold starts only), handler duration (slowed by a fault) and
/// whether it errs (at the fault's error rate when one overrides it); the API and queue
/// workers draw in this one order.
fn draw(
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
fn request_id(rng: &mut fastrand::Rng) -> String {
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

/// A JSON body of roughly `bytes` bytes.
fn response_body(bytes: usize) -> String {
    let pad = bytes.saturating_sub(12);
    format!("{{\"ok\":true,\"p\":\"{}\"}}", "x".repeat(pad))
}
