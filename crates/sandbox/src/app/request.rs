//! The request path: route match, stage token bucket, authorizer, the function's
//! concurrency, then the invocation (in a task of its own when the front may time out first)
//! and the status code each API kind answers; and the function's answer by route action.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::invoke::{Invocation, draw, request_id};
use super::{App, ms};
use crate::auth::Verdict;
use crate::config::RouteConfig;
use crate::config_raw::{ApiKind, TracingMode};
use crate::config_services::RouteAction;
use crate::iam::SignedParts;
use crate::trace::TraceHeader;
use crate::truth::{ThrottledBy, Truth};
use crate::xray_docs::{TraceCtx, throttled_lambda_segment};
use stormwatch_aws_emulator::REGION;
use stormwatch_aws_emulator::metric_store::{Unit, key};

impl App {
    #[allow(clippy::too_many_lines)]
    pub(super) async fn serve(
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
        if route.iam
            && let Some(denied) = iam_denial(req, kind)
        {
            return denied;
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
                error_type: None,
            };
        }
        let (status, body) = self.respond(route, req.path, rng);
        Served {
            status,
            body,
            integration,
            invoke,
            error_type: None,
        }
    }

    /// The function's answer for a successful invocation, by the route's action.
    fn respond(&self, route: &RouteConfig, path: &str, rng: &mut fastrand::Rng) -> (u16, String) {
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
}

/// The request as the front hands it to [`App::serve`].
pub(super) struct Incoming<'a> {
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) authorization: Option<&'a str>,
    /// The signed request's parts, when `authorization` is a SigV4 one.
    pub(super) signed: Option<&'a SignedParts>,
    pub(super) header: &'a TraceHeader,
}

/// What [`App::serve`] answers, with the integration timings the front records.
pub(super) struct Served {
    pub(super) status: u16,
    pub(super) body: String,
    pub(super) integration: Option<Duration>,
    /// The Lambda invoke as the front saw it: start, end, Invoke API status.
    pub(super) invoke: Option<(SystemTime, SystemTime, u16)>,
    /// `x-amzn-ErrorType` of a gateway response.
    pub(super) error_type: Option<&'static str>,
}

impl Served {
    fn plain(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_string(),
            integration: None,
            invoke: None,
            error_type: None,
        }
    }
}

/// The 403 of an `auth = "iam"` route, as API Gateway answers (a function URL answers
/// `{"Message":"Forbidden"}`), or `None` when the signature passes.
fn iam_denial(req: &Incoming<'_>, kind: ApiKind) -> Option<Served> {
    let service = if kind == ApiKind::FunctionUrl {
        "lambda"
    } else {
        "execute-api"
    };
    let verdict = crate::iam::check(
        req.authorization,
        req.signed,
        SystemTime::now(),
        REGION,
        service,
    );
    let (error_type, body) = verdict.answer()?;
    let (error_type, body) = if kind == ApiKind::FunctionUrl {
        (
            "AccessDeniedException",
            r#"{"Message":"Forbidden"}"#.to_string(),
        )
    } else {
        (error_type, body)
    };
    let mut s = Served::plain(403, &body);
    s.error_type = Some(error_type);
    Some(s)
}

/// A JSON body of roughly `bytes` bytes.
fn response_body(bytes: usize) -> String {
    let pad = bytes.saturating_sub(12);
    format!("{{\"ok\":true,\"p\":\"{}\"}}", "x".repeat(pad))
}
