//! The gateway every service router sits behind, as two middleware functions:
//!
//! - [`edge`] (every request, test controls included): request id, common response headers, CORS preflight,
//!   the request-body size limit.
//! - [`observe`] (service requests only): names the operation from the route axum matched, records the
//!   request and the exchange, and applies injected faults.
//!
//! Services that need a signed-in caller take a [`Caller`] (see [`token`]).

mod fault;
mod record;
pub(crate) mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, Response, header};
use axum::middleware::Next;
use serde_json::Value;

pub(crate) use self::fault::CloseConnection;
use self::fault::Plan;
#[allow(unused_imports)] // the services to come use it; the tests already do
pub(crate) use self::token::Caller;
use crate::reply::{error_response, text_response};
use crate::state::{ApiError, State};
use crate::{Exchange, service, util};

/// Largest request body read (bigger ones answer 413).
const MAX_BODY: usize = 1 << 20;
/// The longest a `Fault::Hang` waits.
pub(crate) const MAX_HANG: Duration = Duration::from_secs(120);

/// The request id of the current request (echoed from `x-request-id` or made up), for handlers and error
/// bodies that name it.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub String);

/// Request id, CORS and body limit for every request; see the module docs.
pub(crate) async fn edge(request: Request, next: Next) -> Response<Body> {
    let request_id = header_string(request.headers(), "x-request-id")
        .filter(|id| !id.is_empty())
        .unwrap_or_else(util::random_hex::<16>);
    let mut response = if request.method() == Method::OPTIONS {
        preflight(request.headers())
    } else {
        let (mut parts, body) = request.into_parts();
        // Buffered here once so that `observe` and the handlers see the whole body and the limit answers
        // alike for services and test controls.
        match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(bytes) => {
                parts.extensions.insert(RequestId(request_id.clone()));
                next.run(Request::from_parts(parts, Body::from(bytes))).await
            }
            Err(_) => {
                error_response(&ApiError::new(413, "invalid_argument", 3, "request body too large or unreadable"))
            }
        }
    };
    add_common_headers(&mut response, &request_id);
    response
}

fn preflight(request_headers: &HeaderMap) -> Response<Body> {
    let mut response = text_response(204, "text/plain", Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PATCH, PUT, DELETE, OPTIONS"),
    );
    let allowed = request_headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

fn add_common_headers(response: &mut Response<Body>, request_id: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-request-id"));
}

pub(crate) fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Logs, counts and faults for service requests; see the module docs.
pub(crate) async fn observe(AxumState(state): AxumState<Arc<State>>, request: Request, next: Next) -> Response<Body> {
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|matched| service::operation(request.method().as_str(), matched.as_str()));
    let (parts, body) = request.into_parts();
    // `edge` already buffered and bounded the body.
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let request_body = parse_json(&bytes);
    state.record_request(record::recorded_request(&parts, request_body.as_ref(), operation));

    let fault = operation.and_then(|op| state.take_fault(op));
    if let Some(op) = operation {
        tracing::debug!(operation = op, method = %parts.method, path = parts.uri.path(), fault = ?fault, "request");
    }
    let mut exchange = Exchange {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        request_content_type: header_string(&parts.headers, "content-type"),
        request_body,
        status: 0,
        response_body: None,
        operation_id: operation.map(str::to_owned),
        fault: fault.is_some(),
    };
    let request = Request::from_parts(parts, Body::from(bytes));

    let response = match fault::plan(fault) {
        Plan::Answer(response, body) => {
            exchange.response_body = body;
            response
        }
        Plan::Process { after } => {
            if !after.is_zero() {
                tokio::time::sleep(after.min(MAX_HANG)).await;
            }
            let (response, body) = run(next, request).await;
            exchange.response_body = body;
            response
        }
        Plan::Close { process } => {
            if process {
                // The operation's state changes happen; only its reply is lost.
                run(next, request).await;
            }
            state.record_exchange(exchange);
            return fault::close_connection();
        }
    };
    exchange.status = response.status().as_u16();
    state.record_exchange(exchange);
    response
}

/// Runs the handler and reads back a JSON reply for the exchange log (other replies, which later services
/// may stream, pass through untouched).
async fn run(next: Next, request: Request) -> (Response<Body>, Option<Value>) {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_else(|_| Bytes::new());
    let json = serde_json::from_slice(&bytes).ok();
    (Response::from_parts(parts, Body::from(bytes)), json)
}

/// The body as JSON, whatever the content type; `None` if absent or not JSON.
fn parse_json(bytes: &[u8]) -> Option<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) { None } else { serde_json::from_slice(bytes).ok() }
}
