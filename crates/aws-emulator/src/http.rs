//! The APIs over HTTP (hyper 1). [`respond`] reads an API request's body within
//! [`MAX_API_BODY`] and answers it; the stormwatch sandbox's front calls it for the requests
//! [`TelemetryApis::route`] claims. [`Emulator`] serves the APIs alone on a port of their own,
//! over stores of its own (conformance tests, benchmarks); it answers any other request 404.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{ApiQuotas, ApiRequest, ApiResponse, Route, TelemetryApis, signed_region};
use crate::{LambdaFunctions, LogStore, MetricStore, SegmentStore, Stores};

/// Largest API request body read (X-Ray takes up to 64 kB per document, batched).
pub const MAX_API_BODY: usize = 16 * 1024 * 1024;

/// Which telemetry API serves `req` (from its method, path and `X-Amz-Target` alone), or
/// `None` for any other request.
pub fn route_of<B>(req: &Request<B>) -> Option<Route> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    TelemetryApis::route(req.method().as_str(), req.uri().path(), target)
}

/// Answers a request on `route` (from [`TelemetryApis::route`]): reads its body, refusing
/// one over [`MAX_API_BODY`] in the request's protocol, and hands it to the API.
pub async fn respond(
    apis: &TelemetryApis,
    stores: &Stores<'_>,
    route: Route,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    // A declared length over the limit is refused before anything is read.
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_API_BODY as u64) {
        return to_http(apis.refuse_body(route, true));
    }
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_API_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return to_http(apis.refuse_body(route, too_large));
        }
    };
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    to_http(apis.handle(
        stores,
        route,
        &ApiRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            target: header("x-amz-target"),
            region: header("authorization").and_then(signed_region),
            body: &body,
        },
    ))
}

/// An API answer as an HTTP response.
fn to_http(api: ApiResponse) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(api.body)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(api.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(api.content_type),
    );
    for (name, value) in api.headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// The APIs alone on a port of their own, over stores of their own.
pub struct Emulator {
    /// Base URL of the APIs, e.g. `http://127.0.0.1:PORT`.
    pub api_url: String,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    apis: TelemetryApis,
    metrics: MetricStore,
    segments: SegmentStore,
    logs: LogStore,
    lambda: LambdaFunctions,
}

impl State {
    fn stores(&self) -> Stores<'_> {
        Stores::new(&self.metrics, &self.segments, &self.logs).with_lambda(&self.lambda)
    }
}

impl Emulator {
    /// Binds `listen` and starts serving APIs that answer at most `rate_per_sec` calls per
    /// second each, storing metrics at `resolution`, with no Lambda functions. Must be called
    /// inside a tokio runtime.
    pub async fn start(
        listen: SocketAddr,
        rate_per_sec: f64,
        resolution: Duration,
    ) -> std::io::Result<Self> {
        Self::start_with(
            listen,
            ApiQuotas::uniform(rate_per_sec),
            resolution,
            LambdaFunctions::default(),
        )
        .await
    }

    /// As [`Emulator::start`], refusing beyond `quotas` and answering Lambda calls from
    /// `lambda`.
    pub async fn start_with(
        listen: SocketAddr,
        quotas: ApiQuotas,
        resolution: Duration,
        lambda: LambdaFunctions,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            apis: TelemetryApis::with_quotas(quotas),
            metrics: MetricStore::new(resolution),
            segments: SegmentStore::new(),
            logs: LogStore::new(),
            lambda,
        });
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::clone(&state), rx));
        Ok(Self {
            api_url: format!("http://{addr}"),
            state,
            stop,
            task,
        })
    }

    /// The metrics stored so far.
    pub fn metrics(&self) -> &MetricStore {
        &self.state.metrics
    }

    /// The X-Ray segment documents stored so far.
    pub fn segments(&self) -> &SegmentStore {
        &self.state.segments
    }

    /// The log events stored so far, by log group.
    pub fn logs(&self) -> &LogStore {
        &self.state.logs
    }

    /// The Lambda functions the control-plane API answers for.
    pub fn lambda(&self) -> &LambdaFunctions {
        &self.state.lambda
    }

    /// Stops accepting connections.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Accepts connections until `stop` flips to true.
async fn serve(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let state = Arc::clone(&state);
                async move {
                    let resp = match route_of(&req) {
                        Some(route) => respond(&state.apis, &state.stores(), route, req).await,
                        None => to_http(ApiResponse {
                            status: 404,
                            content_type: "application/json",
                            headers: Vec::new(),
                            body: br#"{"message":"Not Found"}"#.to_vec(),
                        }),
                    };
                    Ok::<_, Infallible>(resp)
                }
            });
            // A client hanging up mid-request is not the emulator's problem.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
