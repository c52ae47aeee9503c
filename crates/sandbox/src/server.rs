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
use crate::iam::SignedParts;

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
                        None => respond(&app, req).await,
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

async fn respond(app: &Arc<App>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (head, body) = req.into_parts();
    let header = |name| head.headers.get(name).and_then(|v| v.to_str().ok());
    let trace = header("x-amzn-trace-id");
    let authorization = header(hyper::header::AUTHORIZATION.as_str());
    // Only a SigV4-signed request is captured whole (headers, body) for an `iam` route's
    // signature check; every other request keeps its lean path (its body is not read).
    let signed = match authorization {
        Some(a) if a.starts_with("AWS4-") => Some(signed_parts(&head, body).await),
        _ => None,
    };
    let reply = app
        .handle(
            head.method.as_str(),
            head.uri.path(),
            trace,
            authorization,
            signed,
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
    if let Some((name, id)) = &reply.request_id
        && let Ok(v) = hyper::header::HeaderValue::from_str(id)
    {
        h.insert(*name, v);
    }
    if let Some(kind) = reply.error_type {
        h.insert(
            "x-amzn-errortype",
            hyper::header::HeaderValue::from_static(kind),
        );
    }
    resp
}

/// API Gateway's payload limit (10 MB): a larger body is not read for the signature check
/// (the check then fails, as the signature covers the whole body).
const MAX_SIGNED_BODY: usize = 10 << 20;

/// The method, raw path and query, headers and body of a signed request.
async fn signed_parts(head: &hyper::http::request::Parts, body: Incoming) -> SignedParts {
    use http_body_util::BodyExt;
    let headers = head
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = http_body_util::Limited::new(body, MAX_SIGNED_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    SignedParts {
        method: head.method.as_str().to_owned(),
        path: head.uri.path().to_owned(),
        query: head.uri.query().map(str::to_owned),
        headers,
        body,
    }
}
