//! The HTTP server: the app (service routers behind the gateway, the test-control router) and the accept
//! loop that serves it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::gateway::{self, CloseConnection};
use crate::state::State;
use crate::{auth, control, service};

/// Everything the emulator serves. Unknown paths outside `/_emulator` go through the gateway too (logged,
/// answered with auth's `not_found`), as they always have.
pub(crate) fn app(state: Arc<State>) -> Router {
    let services =
        service::router().fallback(auth::not_found).layer(from_fn_with_state(state.clone(), gateway::observe));
    control::router().merge(services).layer(from_fn(gateway::edge)).with_state(state)
}

/// Accepts connections until `stop` changes or its sender is dropped, then aborts open connections.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let app = app(state.clone());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |req| handle(app.clone(), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(e) => {
                    // E.g. too many open files: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    tracing::debug!(url = %state.url, "cloudbase emulator stopped");
}

/// Serves one request; a reply marked [`CloseConnection`] becomes an error, which makes hyper close the
/// connection without answering.
async fn handle(app: Router, request: Request<Incoming>) -> Result<Response<Body>, io::Error> {
    let mut request = request.map(Body::new);
    trim_control_path(&mut request);
    let response = app.oneshot(request).await.unwrap_or_else(|never| match never {});
    if response.extensions().get::<CloseConnection>().is_some() {
        return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "injected fault: no reply"));
    }
    Ok(response)
}

/// Test controls have always accepted a trailing slash (`/_emulator/outbox/`); services never have.
fn trim_control_path(request: &mut Request<Body>) {
    let path = request.uri().path();
    if !(path.starts_with("/_emulator") && path.len() > 1 && path.ends_with('/')) {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}
