//! The parts of the sandbox config beyond functions and routes: the async job queues
//! (`[queues.NAME]`), Kinesis-like streams (`[streams.NAME]`), the token authorizer
//! (`[auth]`) and the per-route actions that use them. Raw (TOML) types are checked here
//! into typed values; errors name the file, line and field like the rest of the config.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use crate::config_check::{NameKind, brief, key_path};
use crate::config_ctx::Ctx;
use crate::config_limits::{MAX_CALLS, MAX_RETRIES};
use crate::config_raw::{RawAuth, RawQueue, RawStream};
use crate::dist::Dist;
use crate::error::SandboxError;

/// Most jobs a queue processes at once: the SQS event source mapping's maximum concurrency
/// is 2-1000 (each is a worker task here).
const MAX_QUEUE_CONCURRENCY: u32 = 1000;
/// Most shards per stream (each holds its own buckets).
const MAX_SHARDS: u32 = 10_000;
/// Largest record: what a shard accepts per second (1 MiB); a larger one could never be
/// written.
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// An SQS-like queue drained by a worker function (an SQS event source mapping).
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// The worker function (a name in `[functions]`): its init, error rate, timeout,
    /// environments and metrics apply to every job.
    pub worker: String,
    /// How long the worker's handler runs per job.
    pub handler: Dist,
    /// Jobs processed at once (the event source mapping's maximum concurrency).
    pub concurrency: u32,
}

/// A Kinesis-like stream: each shard takes 1,000 records/s and 1 MiB/s of writes.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// Shard count.
    pub shards: u32,
    /// SDK retries after `ProvisionedThroughputExceededException` before the call fails.
    pub max_retries: u32,
    /// First retry delay, doubled per retry with equal jitter.
    pub base_backoff: Duration,
}

/// The API's token authorizer.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// How long an issued token stays valid.
    pub token_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// What a route does besides running its function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteAction {
    /// Answers 200 with `response_bytes` of JSON.
    Respond,
    /// Enqueues a job on this queue and answers 202 `{"jobId": ...}`.
    Enqueue(String),
    /// Answers the status of the job named by the path's last segment on this queue.
    JobStatus(String),
    /// Issues a bearer token: 200 `{"token": ...}`.
    IssueToken,
}

/// Route fields that select a [`RouteAction`], a stream and protection (moved out of the
/// raw route, which cannot `flatten` while it denies unknown fields).
pub(crate) struct RawRouteServices {
    pub enqueue: Option<Spanned<String>>,
    pub job_status: Option<Spanned<String>>,
    pub issues_token: bool,
    pub protected: bool,
    pub auth: Option<Spanned<String>>,
    pub stream: Option<Spanned<String>>,
    pub records: Option<Spanned<u32>>,
    pub record_bytes: Option<Spanned<usize>>,
}

/// The checked service parts of a route.
pub(crate) struct RouteServices {
    pub action: RouteAction,
    pub protected: bool,
    pub iam: bool,
    pub stream: Option<(String, u32, usize)>,
}

pub(crate) fn check_queues(
    cx: &Ctx<'_>,
    raw: BTreeMap<String, RawQueue>,
    is_function: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, QueueConfig>, SandboxError> {
    let mut out = BTreeMap::new();
    for (name, q) in raw {
        cx.name(NameKind::Queue, "queues", &name)?;
        let table = key_path("queues", &name);
        let field = |k: &str| key_path(&table, k);
        if !is_function(q.worker.get_ref()) {
            return Err(cx.err(
                q.worker.span(),
                &field("worker"),
                format!(
                    "no function named `{}` in [functions]",
                    brief(q.worker.get_ref())
                ),
            ));
        }
        let concurrency = cx.count_or(
            q.concurrency.as_ref(),
            &field("concurrency"),
            1..=MAX_QUEUE_CONCURRENCY,
            5,
        )?;
        out.insert(
            name.clone(),
            QueueConfig {
                worker: q.worker.into_inner(),
                handler: match &q.handler {
                    Some(v) => cx.dist(v, &field("handler"))?,
                    None => Dist::Fixed(Duration::ZERO),
                },
                concurrency,
            },
        );
    }
    Ok(out)
}

pub(crate) fn check_streams(
    cx: &Ctx<'_>,
    raw: BTreeMap<String, RawStream>,
) -> Result<BTreeMap<String, StreamConfig>, SandboxError> {
    let mut out = BTreeMap::new();
    for (name, s) in raw {
        cx.name(NameKind::Stream, "streams", &name)?;
        let table = key_path("streams", &name);
        let field = |k: &str| key_path(&table, k);
        out.insert(
            name.clone(),
            StreamConfig {
                shards: cx.count_or(s.shards.as_ref(), &field("shards"), 1..=MAX_SHARDS, 1)?,
                max_retries: cx.count_or(
                    s.max_retries.as_ref(),
                    &field("max_retries"),
                    0..=MAX_RETRIES,
                    3,
                )?,
                base_backoff: match &s.base_backoff {
                    Some(v) => cx.duration(v, &field("base_backoff"))?,
                    None => Duration::from_millis(50),
                },
            },
        );
    }
    Ok(out)
}

pub(crate) fn check_auth(cx: &Ctx<'_>, raw: &RawAuth) -> Result<AuthConfig, SandboxError> {
    let mut a = AuthConfig::default();
    if let Some(v) = &raw.token_ttl {
        a.token_ttl = cx.long_duration(v, "auth.token_ttl")?;
        if a.token_ttl.is_zero() {
            return Err(cx.err(v.span(), "auth.token_ttl", "must be > 0"));
        }
    }
    Ok(a)
}

/// Checks one route's service fields; `route_span` locates errors about the route itself.
pub(crate) fn check_route_services(
    cx: &Ctx<'_>,
    i: usize,
    raw: &RawRouteServices,
    route_span: std::ops::Range<usize>,
    last_segment_is_param: bool,
    queues: &BTreeMap<String, QueueConfig>,
    streams: &BTreeMap<String, StreamConfig>,
) -> Result<RouteServices, SandboxError> {
    let field = |k: &str| format!("routes[{i}].{k}");
    let queue = |v: &Spanned<String>, k: &str| -> Result<String, SandboxError> {
        if queues.contains_key(v.get_ref()) {
            Ok(v.get_ref().clone())
        } else {
            Err(cx.err(
                v.span(),
                &field(k),
                format!("no queue named `{}` in [queues]", brief(v.get_ref())),
            ))
        }
    };
    let chosen = usize::from(raw.enqueue.is_some())
        + usize::from(raw.job_status.is_some())
        + usize::from(raw.issues_token);
    if chosen > 1 {
        return Err(cx.err(
            route_span,
            &field("enqueue"),
            "a route takes at most one of `enqueue`, `job_status` and `issues_token`",
        ));
    }
    let action = if let Some(q) = &raw.enqueue {
        RouteAction::Enqueue(queue(q, "enqueue")?)
    } else if let Some(q) = &raw.job_status {
        if !last_segment_is_param {
            return Err(cx.err(
                route_span,
                &field("job_status"),
                "the path must end in a `{param}` segment naming the job, e.g. \"GET /prod/reports/{jobId}\"",
            ));
        }
        RouteAction::JobStatus(queue(q, "job_status")?)
    } else if raw.issues_token {
        if raw.protected {
            return Err(cx.err(
                route_span,
                &field("protected"),
                "the token route cannot itself require a token",
            ));
        }
        RouteAction::IssueToken
    } else {
        RouteAction::Respond
    };
    let stream = match &raw.stream {
        Some(s) if !streams.contains_key(s.get_ref()) => {
            return Err(cx.err(
                s.span(),
                &field("stream"),
                format!("no stream named `{}` in [streams]", brief(s.get_ref())),
            ));
        }
        Some(s) => Some((
            s.get_ref().clone(),
            cx.count_or(raw.records.as_ref(), &field("records"), 0..=MAX_CALLS, 1)?,
            cx.count_or(
                raw.record_bytes.as_ref(),
                &field("record_bytes"),
                0..=MAX_RECORD_BYTES,
                100,
            )?,
        )),
        None => None,
    };
    if stream.is_none() && (raw.records.is_some() || raw.record_bytes.is_some()) {
        return Err(cx.err(
            route_span,
            &field("records"),
            "`records`/`record_bytes` need a `stream`",
        ));
    }
    let (protected, iam) = match raw.auth.as_ref().map(|a| (a, a.get_ref().as_str())) {
        None => (raw.protected, false),
        Some((_, "token")) => (true, false),
        Some((a, "iam")) if raw.protected => {
            return Err(cx.err(
                a.span(),
                &field("auth"),
                "`auth = \"iam\"` and `protected = true` (the token authorizer) exclude each other",
            ));
        }
        Some((_, "iam")) => (false, true),
        Some((a, other)) => {
            return Err(cx.err(
                a.span(),
                &field("auth"),
                format!(
                    "`{}`: expected \"iam\" (SigV4, as API Gateway's AWS_IAM) or \"token\" (the bearer-token authorizer, as `protected = true`)",
                    brief(other)
                ),
            ));
        }
    };
    Ok(RouteServices {
        action,
        protected,
        iam,
        stream,
    })
}
