//! The gateway every service router sits behind, as two middleware functions:
//!
//! - [`edge`] (every request, test controls included): request id, common response headers, CORS preflight,
//!   the request-body size limit (per service: buffered up to a limit, or streamed).
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
use serde_json::{Value, json};

pub(crate) use self::fault::CloseConnection;
use self::fault::Plan;
pub use self::token::Caller;
use crate::reply::{cos_error, error_response, json_response, text_response};
use crate::service::{BodyPolicy, ErrorStyle};
use crate::state::{ApiError, State};
use crate::{Exchange, service, util};

/// Largest request body read outside the services (test controls, unknown paths); bigger ones answer 413.
const MAX_BODY: usize = 1 << 20;
/// The longest a `Fault::Hang` waits.
pub(crate) const MAX_HANG: Duration = Duration::from_secs(120);

/// The request id of the current request (echoed from `x-request-id` or made up), for handlers and error
/// bodies that name it.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub String);

/// The gateway's error envelope `{code, message, requestId}` with `status`.
pub(crate) fn envelope(status: u16, code: &str, message: &str, request_id: &str) -> Response<Body> {
    json_response(status, &json!({ "code": code, "message": message, "requestId": request_id }))
}

/// Request id, CORS and body limit for every request; see the module docs.
pub(crate) async fn edge(mut request: Request, next: Next) -> Response<Body> {
    let request_id = header_string(request.headers(), "x-request-id")
        .filter(|id| !id.is_empty())
        .unwrap_or_else(util::random_hex::<16>);
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let service = service::service_of(request.uri().path());
    let (policy, style) = match service {
        Some(s) => (s.body, s.errors),
        None => (BodyPolicy::Buffered(MAX_BODY), ErrorStyle::Auth),
    };
    // Services that take OPTIONS themselves (cloud run, APIs) get every OPTIONS but a real CORS preflight (one
    // naming `Access-Control-Request-Method`); elsewhere every OPTIONS is a preflight, as it always was.
    let is_preflight = request.method() == Method::OPTIONS
        && (request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            || !matches!(policy, BodyPolicy::Streamed(_)));
    let too_large = |limit: u64| match style {
        ErrorStyle::Auth => {
            error_response(&ApiError::new(413, "invalid_argument", 3, "request body too large or unreadable"))
        }
        ErrorStyle::Gateway => envelope(
            413,
            "EXCEED_MAX_PAYLOAD_SIZE",
            &format!("request body larger than the limit of {limit} bytes"),
            &request_id,
        ),
        ErrorStyle::Cos => cos_error(
            413,
            "EntityTooLarge",
            &format!("request body larger than the limit of {limit} bytes"),
            &request_id,
            false,
        ),
    };
    let mut response = if is_preflight {
        preflight(request.headers())
    } else {
        let (parts, body) = request.into_parts();
        match policy {
            // Buffered here once so that `observe` and the handlers see the whole body and the limit answers
            // alike for services and test controls.
            BodyPolicy::Buffered(limit) => match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
                Err(_) => too_large(limit as u64),
            },
            BodyPolicy::Streamed(limit) => {
                let announced =
                    header_string(&parts.headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
                if announced.is_some_and(|n| n > limit) {
                    too_large(limit)
                } else {
                    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
                    next.run(Request::from_parts(parts, Body::new(limited))).await
                }
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
    let service = service::service_of(request.uri().path());
    let streamed = service.is_some_and(|s| matches!(s.body, BodyPolicy::Streamed(_)));
    let style = service.map_or(ErrorStyle::Auth, |s| s.errors);
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let (parts, body) = request.into_parts();
    // `edge` already buffered and bounded the body, unless the service streams it (then it is not logged).
    let (body, request_body) = if streamed {
        (body, None)
    } else {
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let json = parse_json(&bytes);
        (Body::from(bytes), json)
    };
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
    let request = Request::from_parts(parts, body);

    let response = match fault::plan(fault, style, &request_id) {
        Plan::Answer(response, body) => {
            exchange.response_body = body;
            response
        }
        Plan::Process { after } => {
            if !after.is_zero() {
                tokio::time::sleep(after.min(MAX_HANG)).await;
            }
            let (response, body) = run(next, request, streamed).await;
            exchange.response_body = body;
            response
        }
        Plan::Close { process } => {
            if process {
                // The operation's state changes happen; only its reply is lost.
                run(next, request, streamed).await;
            }
            state.record_exchange(exchange);
            return fault::close_connection();
        }
    };
    exchange.status = response.status().as_u16();
    state.record_exchange(exchange);
    response
}

/// Runs the handler and reads back a JSON reply for the exchange log (other replies, and every reply of a
/// streaming service, pass through untouched).
async fn run(next: Next, request: Request, streamed: bool) -> (Response<Body>, Option<Value>) {
    let response = next.run(request).await;
    let is_json = !streamed
        && response
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
