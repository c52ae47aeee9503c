//! The X-Ray segment documents the imitated services emit for a sampled request, shaped as
//! AWS shapes them (AWS-FACTS.md): the REST stage segment (`AWS::ApiGateway::Stage`, named
//! `{api}/{stage}`, with a `Lambda` invoke subsegment), the Lambda service segment
//! (`AWS::Lambda`) and the function segment (`AWS::Lambda::Function`) with `Initialization`
//! (or `Init`; `Restore` for a SnapStart function) on a cold start, `Invocation` holding one
//! subsegment per DynamoDB/Kinesis call
//! and `Overhead`. Flags follow X-Ray: `error` for 4xx, `fault` for 5xx, `throttle` for 429.
//! Also the sampling decision: the incoming `Sampled` when given, else the default rule
//! (a reservoir of N per second, then a fixed rate). Only sampled requests build documents.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::config::ApiConfig;
use crate::config_raw::InitSubsegment;
use stormwatch_aws_emulator::REGION;

/// Account id in ARNs, as the telemetry APIs use.
const ACCOUNT: &str = "123456789012";

/// The default sampling rule: `reservoir` requests per second, then `rate` of the rest.
pub struct Sampler {
    reservoir: u32,
    rate: f64,
    window: Mutex<(u64, u32)>,
}

impl Sampler {
    /// A rule with the given reservoir (per second) and fixed rate.
    pub fn new(reservoir: u32, rate: f64) -> Self {
        Self {
            reservoir,
            rate,
            window: Mutex::new((0, 0)),
        }
    }

    /// Samples by the rule at `now`; the draw comes from the request's seeded generator.
    pub fn sample(&self, now: SystemTime, rng: &mut fastrand::Rng) -> bool {
        let second = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        {
            let mut w = self.window.lock().expect("sampler poisoned");
            if w.0 != second {
                *w = (second, 0);
            }
            if w.1 < self.reservoir {
                w.1 += 1;
                return true;
            }
        }
        rng.f64() < self.rate
    }
}

/// A new 16-hex-digit segment id.
pub fn segment_id(rng: &mut fastrand::Rng) -> String {
    format!("{:016x}", rng.u64(..))
}

/// The ids of one sampled request's segments, drawn when the request arrives so children
/// can name their parents before the parents are finished.
#[derive(Clone, Debug)]
pub struct TraceCtx {
    /// Trace id (the incoming Root exactly, or a new one).
    pub trace_id: String,
    /// The caller's segment (`Parent=` of the incoming header).
    pub upstream_parent: Option<String>,
    /// The REST stage segment and its `Lambda` invoke subsegment (REST only).
    pub stage: Option<(String, String)>,
    /// The `AWS::Lambda` segment.
    pub lambda: String,
    /// The `AWS::Lambda::Function` segment.
    pub function: String,
}

impl TraceCtx {
    /// Draws the ids; `rest` adds the stage segment.
    pub fn new(
        trace_id: String,
        upstream_parent: Option<String>,
        rest: bool,
        rng: &mut fastrand::Rng,
    ) -> Self {
        let stage = rest.then(|| (segment_id(rng), segment_id(rng)));
        Self {
            trace_id,
            upstream_parent,
            stage,
            lambda: segment_id(rng),
            function: segment_id(rng),
        }
    }

    /// The parent of the `AWS::Lambda` segment: the stage's invoke subsegment, else upstream.
    fn lambda_parent(&self) -> Option<&str> {
        self.stage
            .as_ref()
            .map(|(_, invoke)| invoke.as_str())
            .or(self.upstream_parent.as_deref())
    }
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Sets `error`/`fault`/`throttle` from an HTTP status, as X-Ray does.
fn flag_status(doc: &mut Value, status: u16) {
    if (400..500).contains(&status) {
        doc["error"] = json!(true);
    }
    if status == 429 {
        doc["throttle"] = json!(true);
    }
    if status >= 500 {
        doc["fault"] = json!(true);
    }
}

/// What the API Gateway stage saw of a request.
pub struct StageSpan<'a> {
    /// The API front.
    pub api: &'a ApiConfig,
    /// HTTP method and path as received.
    pub method: &'a str,
    /// Path as received.
    pub path: &'a str,
    /// The matched route's path pattern, if any.
    pub resource: Option<&'a str>,
    /// Request arrival and response times.
    pub start: SystemTime,
    /// Response sent.
    pub end: SystemTime,
    /// Status sent to the client.
    pub status: u16,
    /// The Lambda integration call, when one was made: start, end, function, Invoke status.
    pub invoke: Option<(SystemTime, SystemTime, &'a str, u16)>,
    /// The API Gateway request id answered in `x-amzn-RequestId`.
    pub request_id: &'a str,
}

/// The REST stage segment (`AWS::ApiGateway::Stage`), JSON.
pub fn stage_segment(ctx: &TraceCtx, s: &StageSpan<'_>) -> Option<String> {
    let (id, invoke_id) = ctx.stage.as_ref()?;
    let api = s.api;
    let mut doc = json!({
        "id": id,
        "trace_id": ctx.trace_id,
        "name": format!("{}/{}", api.name, api.stage),
        "origin": "AWS::ApiGateway::Stage",
        "start_time": epoch(s.start),
        "end_time": epoch(s.end),
        "resource_arn": format!("arn:aws:apigateway:{REGION}::/restapis/{}/stages/{}", api.name, api.stage),
        "http": {
            "request": {"url": format!("https://{}.execute-api.{REGION}.amazonaws.com{}", api.name, s.path), "method": s.method},
            "response": {"status": s.status},
        },
        // `api_gateway` as AWS documents the stage segment ("Understanding X-Ray traces for
        // REST APIs"): the request id is the one the client got in `x-amzn-RequestId`.
        "aws": {
            "api_id": api.name, "stage": api.stage, "resource_path": s.resource.unwrap_or(s.path), "account_id": ACCOUNT,
            "api_gateway": {"account_id": ACCOUNT, "rest_api_id": api.name, "stage": api.stage, "request_id": s.request_id},
        },
        "annotations": {},
        "metadata": {},
    });
    if let Some(p) = &ctx.upstream_parent {
        doc["parent_id"] = json!(p);
    }
    flag_status(&mut doc, s.status);
    if let Some((start, end, function, status)) = s.invoke {
        let mut sub = json!({
            "id": invoke_id,
            "name": "Lambda",
            "namespace": "aws",
            "start_time": epoch(start),
            "end_time": epoch(end),
            "http": {"response": {"status": status}},
            "aws": {
                "function_name": function,
                "region": REGION,
                "operation": "Invoke",
                "resource_names": [function],
            },
        });
        flag_status(&mut sub, status);
        doc["subsegments"] = json!([sub]);
    }
    Some(doc.to_string())
}

/// One downstream SDK call made by a handler.
#[derive(Clone, Debug)]
pub struct DownstreamCall {
    /// `DynamoDB` or `Kinesis`.
    pub service: &'static str,
    /// `GetItem`, `PutItem`, `PutRecord`.
    pub operation: &'static str,
    /// Table or stream name.
    pub resource: String,
    /// Call start (first attempt).
    pub start: SystemTime,
    /// Call end (last attempt).
    pub end: SystemTime,
    /// Retries after throttles.
    pub retries: u32,
    /// True when every attempt was throttled.
    pub failed: bool,
}

fn downstream_subsegment(c: &DownstreamCall, rng: &mut fastrand::Rng) -> Value {
    let key = if c.service == "Kinesis" {
        "stream_name"
    } else {
        "table_name"
    };
    let mut aws = json!({
        "operation": c.operation,
        "region": REGION,
        "resource_names": [c.resource],
        "retries": c.retries,
    });
    aws[key] = json!(c.resource);
    let mut sub = json!({
        "id": segment_id(rng),
        "name": c.service,
        "namespace": "aws",
        "start_time": epoch(c.start),
        "end_time": epoch(c.end),
        "http": {"response": {"status": if c.failed { 400 } else { 200 }}},
        "aws": aws,
    });
    if c.failed {
        // Throughput errors are HTTP 400 with a throttling code: error + throttle.
        sub["error"] = json!(true);
        sub["throttle"] = json!(true);
        sub["cause"] = json!({"exceptions": [{
            "id": segment_id(rng),
            "type": "ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput was exceeded",
            "remote": true,
        }]});
    }
    sub
}

/// What one invocation did, for the Lambda segments.
pub struct InvocationSpan<'a> {
    /// Function name.
    pub function: &'a str,
    /// Lambda request id.
    pub request_id: &'a str,
    /// When the Lambda service accepted the invoke.
    pub start: SystemTime,
    /// Init duration (zero when warm).
    pub init: Duration,
    /// True when this invocation started its environment.
    pub cold: bool,
    /// When the handler started (after init).
    pub handler_start: SystemTime,
    /// When the handler returned (or was cut at the timeout).
    pub handler_end: SystemTime,
    /// When the environment was handed back.
    pub end: SystemTime,
    /// Function error, timeout or failed downstream call.
    pub failed: bool,
    /// True when the failure was the function timeout.
    pub timed_out: bool,
    /// Downstream calls in order.
    pub calls: &'a [DownstreamCall],
    /// Cold-start subsegment name.
    pub init_kind: InitSubsegment,
    /// True when a cold start restores a SnapStart snapshot (a `Restore` subsegment).
    pub restore: bool,
}

fn function_arn(function: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")
}

/// The `AWS::Lambda` and `AWS::Lambda::Function` segments of an invocation, JSON.
pub fn lambda_segments(
    ctx: &TraceCtx,
    inv: &InvocationSpan<'_>,
    rng: &mut fastrand::Rng,
) -> [String; 2] {
    let arn = function_arn(inv.function);
    let mut service = json!({
        "id": ctx.lambda,
        "trace_id": ctx.trace_id,
        "name": inv.function,
        "origin": "AWS::Lambda",
        "start_time": epoch(inv.start),
        "end_time": epoch(inv.end),
        "resource_arn": arn,
        "http": {"response": {"status": 200}},
        "aws": {"request_id": inv.request_id},
    });
    if let Some(p) = ctx.lambda_parent() {
        service["parent_id"] = json!(p);
    }
    let mut subsegments = Vec::with_capacity(3);
    if inv.cold {
        let name = match inv.init_kind {
            _ if inv.restore => "Restore",
            InitSubsegment::Initialization => "Initialization",
            InitSubsegment::Init => "Init",
        };
        subsegments.push(json!({
            "id": segment_id(rng),
            "name": name,
            "start_time": epoch(inv.start),
            "end_time": epoch(inv.start + inv.init),
            "aws": {"function_arn": arn},
        }));
    }
    let calls: Vec<Value> = inv
        .calls
        .iter()
        .map(|c| downstream_subsegment(c, rng))
        .collect();
    let mut invocation = json!({
        "id": segment_id(rng),
        "name": "Invocation",
        "start_time": epoch(inv.handler_start),
        "end_time": epoch(inv.handler_end),
        "aws": {"function_arn": arn},
    });
    if !calls.is_empty() {
        invocation["subsegments"] = Value::Array(calls);
    }
    if inv.failed {
        invocation["fault"] = json!(true);
    }
    subsegments.push(invocation);
    subsegments.push(json!({
        "id": segment_id(rng),
        "name": "Overhead",
        "start_time": epoch(inv.handler_end),
        "end_time": epoch(inv.end.max(inv.handler_end)),
        "aws": {"function_arn": arn},
    }));
    let mut function = json!({
        "id": ctx.function,
        "trace_id": ctx.trace_id,
        "parent_id": ctx.lambda,
        "name": inv.function,
        "origin": "AWS::Lambda::Function",
        "start_time": epoch(inv.start),
        "end_time": epoch(inv.end.max(inv.handler_end)),
        "resource_arn": arn,
        "aws": {"function_arn": arn, "resource_names": [inv.function], "account_id": ACCOUNT},
        "subsegments": subsegments,
    });
    if inv.failed {
        function["fault"] = json!(true);
        let (kind, message) = if inv.timed_out {
            ("Sandbox.Timedout", "Task timed out")
        } else {
            ("Error", "handler failed")
        };
        function["cause"] =
            json!({"exceptions": [{"id": segment_id(rng), "type": kind, "message": message}]});
    }
    [service.to_string(), function.to_string()]
}

/// The `AWS::Lambda` segment of a throttled invoke (429 TooManyRequestsException, no
/// function segment: nothing ran).
pub fn throttled_lambda_segment(ctx: &TraceCtx, function: &str, at: SystemTime) -> String {
    let mut doc = json!({
        "id": ctx.lambda,
        "trace_id": ctx.trace_id,
        "name": function,
        "origin": "AWS::Lambda",
        "start_time": epoch(at),
        "end_time": epoch(at),
        "resource_arn": function_arn(function),
        "http": {"response": {"status": 429}},
        "cause": {"exceptions": [{"id": ctx.function, "type": "TooManyRequestsException", "message": "Rate Exceeded.", "remote": true}]},
    });
    if let Some(p) = ctx.lambda_parent() {
        doc["parent_id"] = json!(p);
    }
    flag_status(&mut doc, 429);
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_then_rate() {
        let s = Sampler::new(1, 0.0);
        let mut rng = fastrand::Rng::with_seed(1);
        let t = UNIX_EPOCH + Duration::from_secs(100);
        assert!(s.sample(t, &mut rng));
        assert!(!s.sample(t, &mut rng));
        assert!(s.sample(t + Duration::from_secs(1), &mut rng));
        let all = Sampler::new(0, 1.0);
        assert!(all.sample(t, &mut rng));
    }

    #[test]
    fn cold_start_has_initialization_and_failed_call_is_throttled() {
        let mut rng = fastrand::Rng::with_seed(2);
        let ctx = TraceCtx::new("1-a-b".into(), Some("p".into()), false, &mut rng);
        let t = UNIX_EPOCH + Duration::from_secs(100);
        let calls = [DownstreamCall {
            service: "DynamoDB",
            operation: "PutItem",
            resource: "orders".into(),
            start: t,
            end: t + Duration::from_millis(5),
            retries: 3,
            failed: true,
        }];
        let [svc, func] = lambda_segments(
            &ctx,
            &InvocationSpan {
                function: "f",
                request_id: "r",
                start: t,
                init: Duration::from_millis(100),
                cold: true,
                handler_start: t + Duration::from_millis(100),
                handler_end: t + Duration::from_millis(110),
                end: t + Duration::from_millis(111),
                failed: true,
                timed_out: false,
                calls: &calls,
                init_kind: InitSubsegment::Initialization,
                restore: false,
            },
            &mut rng,
        );
        let svc: Value = serde_json::from_str(&svc).unwrap();
        let func: Value = serde_json::from_str(&func).unwrap();
        assert_eq!(svc["parent_id"], "p");
        assert_eq!(func["parent_id"], svc["id"]);
        let subs = func["subsegments"].as_array().unwrap();
        let names: Vec<_> = subs.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Initialization", "Invocation", "Overhead"]);
        let ddb = &subs[1]["subsegments"][0];
        assert_eq!(ddb["aws"]["retries"], 3);
        assert_eq!(ddb["throttle"], true);
        assert_eq!(func["fault"], true);
    }

    #[test]
    fn a_snapstart_cold_start_is_a_restore() {
        let mut rng = fastrand::Rng::with_seed(3);
        let ctx = TraceCtx::new("1-a-b".into(), None, false, &mut rng);
        let t = UNIX_EPOCH + Duration::from_secs(100);
        let span = |cold| InvocationSpan {
            function: "f",
            request_id: "r",
            start: t,
            init: Duration::from_millis(if cold { 250 } else { 0 }),
            cold,
            handler_start: t + Duration::from_millis(250),
            handler_end: t + Duration::from_millis(260),
            end: t + Duration::from_millis(261),
            failed: false,
            timed_out: false,
            calls: &[],
            init_kind: InitSubsegment::Init,
            restore: true,
        };
        let names = |cold| {
            let [_, func] = lambda_segments(&ctx, &span(cold), &mut fastrand::Rng::with_seed(4));
            let func: Value = serde_json::from_str(&func).unwrap();
            func["subsegments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap().to_owned(),
                        s["end_time"].as_f64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let cold = names(true);
        assert_eq!(cold[0], ("Restore".to_owned(), 100.25));
        assert_eq!(cold.len(), 3);
        let warm: Vec<String> = names(false).into_iter().map(|(n, _)| n).collect();
        assert_eq!(warm, ["Invocation", "Overhead"]);
    }
}
