//! The HTTP front: hyper 1 (HTTP/1.1, keep-alive) on a tokio listener, one task per
//! connection. AWS telemetry API calls (see [`stormwatch_aws_emulator::api`]) go to [`TelemetryApis`];
//! every other request is handed to [`App::handle`]. Stops accepting on shutdown.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use stormwatch_aws_emulator::api::TelemetryApis;
use stormwatch_aws_emulator::http;

use crate::app::App;

/// Accepts connections until `stop` flips to true.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    apis: Arc<TelemetryApis>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let apis = Arc::clone(&apis);
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let app = Arc::clone(&app);
                let apis = Arc::clone(&apis);
                async move {
                    let resp = match http::route_of(&req) {
                        Some(route) => http::respond(&apis, &app.stores(), route, req).await,
                        None => respond(&app, &req).await,
                    };
                    Ok::<_, Infallible>(resp)
                }
            });
            // A client hanging up mid-request is not the sandbox's problem.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn respond(app: &Arc<App>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let trace = req
        .headers()
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok());
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let reply = app
        .handle(
            req.method().as_str(),
            req.uri().path(),
            trace,
            authorization,
        )
        .await;
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&reply.trace_header) {
        h.insert("x-amzn-trace-id", v);
    }
    resp
}
