//! One request through the imitation: route match, stage token bucket, function concurrency,
//! cold start, handler, errors and timeouts, with the status codes each API kind answers.
//! Records CloudWatch-style metrics into the [`MetricStore`] (stamped with the invocation
//! start; Lambda metrics only when non-zero), X-Ray documents for sampled requests
//! ([`crate::xray_docs`]), the platform's log lines ([`crate::lambda_logs`]) and one
//! ground-truth line per request. Routes may also enqueue jobs ([`crate::jobs`], run by
//! worker tasks started with [`App::start_workers`]), issue tokens or require them
//! ([`crate::auth`]), and write to streams ([`crate::stream`]).

mod invoke;
mod request;
mod workers;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use request::Incoming;

use crate::auth::Authorizer;
use crate::config::Config;
use crate::config_raw::ApiKind;
use crate::data_dir::DataDir;
use crate::error::SandboxError;
use crate::iam::SignedParts;
use crate::jobs::Jobs;
use crate::lambda_logs::LambdaLogs;
use crate::platform::Platform;
use crate::stream::Stream;
use crate::table::Table;
use crate::trace;
use crate::truth::{Truth, TruthLog};
use crate::xray_docs::{Sampler, StageSpan, TraceCtx, stage_segment};
use stormwatch_aws_emulator::log_store::LogStore;
use stormwatch_aws_emulator::metric_store::{MetricStore, Unit, key};
use stormwatch_aws_emulator::segment_store::SegmentStore;
use stormwatch_aws_emulator::{LambdaFunctions, Stores};

/// What the server sends back.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// Value for the `X-Amzn-Trace-Id` response header.
    pub trace_header: String,
    /// `x-amzn-ErrorType` of a gateway response (an `iam` route's 403s).
    pub error_type: Option<&'static str>,
    /// The request-id header and its value (`x-amzn-RequestId` / `apigw-requestid`).
    pub request_id: Option<(&'static str, String)>,
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
    /// The functions as Lambda's control plane describes them.
    lambda: LambdaFunctions,
    /// Set once the segment store first dropped a trace (reported once on stderr).
    segments_dropping: AtomicBool,
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
    truth: TruthLog,
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
        let truth = TruthLog::create(ground_truth)?;
        let burst = config.api.rate_limit.map_or(0.0, |(_, b)| f64::from(b));
        // With a data directory, what the memory budgets cannot hold spills there.
        let segments = match &data_dir {
            Some(d) => SegmentStore::with_spill(config.tracing.trace_memory, d.spill("segments")?),
            None => SegmentStore::with_limit(config.tracing.trace_memory),
        };
        Ok(Self {
            platform: Platform::new(&config.functions),
            metrics: MetricStore::new(config.resolution),
            segments,
            lambda: LambdaFunctions::new(config.functions.iter().map(|(n, f)| f.info(n))),
            segments_dropping: AtomicBool::new(false),
            logs: LambdaLogs::new(
                config.functions.keys(),
                config.tracing.log_memory_per_group,
                data_dir,
            )?,
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
            truth,
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

    /// The functions Lambda's control-plane API answers for.
    pub fn lambda(&self) -> &LambdaFunctions {
        &self.lambda
    }

    /// The stores the telemetry APIs answer from.
    pub fn stores(&self) -> Stores<'_> {
        Stores::new(&self.metrics, &self.segments, self.logs.store()).with_lambda(&self.lambda)
    }

    /// Flushes the ground-truth file and the data directory; a spill file's failure is
    /// reported here too.
    pub fn flush(&self) -> Result<(), SandboxError> {
        if let Some(d) = self.logs.data_dir() {
            d.flush()?;
        }
        if let Some(e) = self
            .segments
            .spill_error()
            .or_else(|| self.logs.store().spill_error())
        {
            return Err(SandboxError::Spill(e));
        }
        self.truth.flush()
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

    /// Serves one request (`signed`: the parts of a SigV4-signed one, for `iam` routes).
    /// The work runs in a task of its own, which holds the request's
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
        signed: Option<SignedParts>,
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
                signed.as_ref(),
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
            error_type: None,
            request_id: None,
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
        signed: Option<&SignedParts>,
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
            response_request_id: String::new(),
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
            signed,
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
        // Drawn from a generator of its own: the request's other draws repeat with --seed.
        let mut id_rng =
            fastrand::Rng::with_seed(self.seed ^ seq.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let (id_header, response_id) =
            trace::response_request_id(kind, truth.request_id.as_deref(), &mut id_rng);
        truth.response_request_id = response_id;
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
                    request_id: &truth.response_request_id,
                },
            )
        {
            self.put_segment(&doc);
        }
        truth.finish_unix_ns = unix_ns(finish);
        truth.status = served.status;
        truth.client_gone = client_gone.load(Ordering::Relaxed);
        self.truth.write(&truth);
        Reply {
            status: served.status,
            body: served.body,
            trace_header: format!("Root={}", truth.trace_id),
            error_type: served.error_type,
            request_id: Some((id_header, truth.response_request_id.clone())),
        }
    }

    fn put_segment(&self, doc: &str) {
        if let Some(d) = self.logs.data_dir() {
            d.segment(doc);
        }
        // Documents built here always carry the fields the store requires.
        let _ = self.segments.put(doc);
        if !self.segments_dropping.load(Ordering::Relaxed)
            && self.segments.dropped_traces() > 0
            && !self.segments_dropping.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "stormwatch-sandbox: the trace store is full ([telemetry] trace_memory_mb = {}): \
                 the earliest traces are being dropped, and BatchGetTraces answers their ids as \
                 unknown ones (UnprocessedTraceIds); with --data-dir they spill to disk and stay answered",
                self.config.tracing.trace_memory >> 20
            );
        }
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
