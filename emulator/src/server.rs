//! The HTTP layer: accept loop, request recording, fault injection, CORS, and dispatch to the operations
//! (`/auth/v1/...`) and test controls (`/_emulator/...`).

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{self, Req};
use crate::state::{ApiError, State};
use crate::util::{self, parse_query};
use crate::{Exchange, Fault, RecordedRequest, control};

/// Largest request body read (bigger ones answer 413).
const MAX_BODY: usize = 1 << 20;
/// The longest a `Fault::Hang` waits.
pub(crate) const MAX_HANG: Duration = Duration::from_secs(120);
/// Query parameters whose values never reach the request log.
const SECRET_PARAMS: &[&str] = &[
    "sudo_token",
    "captcha_token",
    "token",
    "access_token",
    "refresh_token",
    "code",
    "provider_code",
    "ticket",
    "password",
    "verification_token",
    "verification_code",
    "client_secret",
];
/// Headers that never reach the request log.
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "x-captcha-token", "cookie"];

/// Accepts connections until `stop` changes or its sender is dropped, then aborts open connections.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
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

/// A response body that sends one chunk and then fails, so the connection closes before the promised
/// `Content-Length` is reached.
struct TruncatedBody(Option<Bytes>);

impl hyper::body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(match self.0.take() {
            Some(chunk) => Ok(Frame::data(chunk)),
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "injected fault: truncated body")),
        }))
    }
}

pub(crate) fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

pub(crate) fn error_response(error: &ApiError) -> Response<Body> {
    json_response(error.status, &error.body())
}

fn text_response(status: u16, content_type: &'static str, body: impl Into<Body>) -> Response<Body> {
    let mut response = Response::new(body.into());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The query string with secret values replaced.
fn redact_query(raw: &str) -> String {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if SECRET_PARAMS.contains(&util::percent_decode(key).as_str()) {
                format!("{key}=REDACTED")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn add_common_headers(response: &mut Response<Body>, request_id: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-request-id"));
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Body>, io::Error> {
    let (parts, incoming) = request.into_parts();
    let request_id = header_string(&parts.headers, "x-request-id")
        .filter(|id| !id.is_empty())
        .unwrap_or_else(util::random_hex::<16>);

    if parts.method == Method::OPTIONS {
        let mut response = text_response(204, "text/plain", Body::empty());
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PATCH, PUT, DELETE, OPTIONS"),
        );
        let allowed = parts
            .headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("*"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        add_common_headers(&mut response, &request_id);
        return Ok(response);
    }

    let bytes = match axum::body::to_bytes(Body::new(incoming), MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let error = ApiError::new(413, "invalid_argument", 3, "request body too large or unreadable");
            let mut response = error_response(&error);
            add_common_headers(&mut response, &request_id);
            return Ok(response);
        }
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();

    if path == "/_emulator" || path.starts_with("/_emulator/") {
        let mut response = control::handle(&state, &method, &path, &raw_query, &bytes).await;
        add_common_headers(&mut response, &request_id);
        return Ok(response);
    }

    let operation = api::route(&method, &path);
    let parsed: Option<Result<Value, String>> = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    };
    let parsed_ok = parsed.as_ref().and_then(|p| p.as_ref().ok()).cloned();

    state.record_request(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: redact_query(&raw_query),
        headers: parts.headers.iter().filter(|(name, _)| !SECRET_HEADERS.contains(&name.as_str())).fold(
            BTreeMap::new(),
            |mut map: BTreeMap<String, String>, (name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                map.entry(name.as_str().to_owned())
                    .and_modify(|existing| {
                        existing.push_str(", ");
                        existing.push_str(&value);
                    })
                    .or_insert(value);
                map
            },
        ),
        body_fields: match &parsed_ok {
            Some(Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        },
        operation_id: operation.map(str::to_owned),
    });

    let fault = operation.and_then(|op| state.take_fault(op));
    let mut exchange = Exchange {
        method: method.clone(),
        path: path.clone(),
        query: raw_query.clone(),
        request_content_type: header_string(&parts.headers, "content-type"),
        request_body: parsed_ok,
        status: 0,
        response_body: None,
        operation_id: operation.map(str::to_owned),
        fault: fault.is_some(),
    };
    if let Some(op) = operation {
        tracing::debug!(operation = op, %method, %path, fault = ?fault, "request");
    }

    let mut response = match fault {
        Some(Fault::DropConnection) => {
            state.record_exchange(exchange);
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "injected fault: drop connection"));
        }
        Some(Fault::Status500) => {
            let body = ApiError::internal("injected fault: internal error").body();
            exchange.response_body = Some(body.clone());
            json_response(500, &body)
        }
        Some(Fault::Status502Html) => text_response(
            502,
            "text/html; charset=utf-8",
            "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        Some(Fault::JunkBody) => text_response(200, "text/html; charset=utf-8", "<html>not json"),
        Some(Fault::TruncatedBody) => {
            let chunk = Bytes::from_static(b"{\"token_type\":\"Bearer\",\"access_token\":\"eyJhbGciOi");
            let promised = chunk.len() + 256;
            let mut response = text_response(200, "application/json", Body::new(TruncatedBody(Some(chunk))));
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(promised));
            response
        }
        Some(Fault::ErrorWith200) => {
            let body = json!({
                "error": "internal",
                "error_code": 13,
                "error_description": "injected fault: an error body with HTTP 200",
            });
            exchange.response_body = Some(body.clone());
            json_response(200, &body)
        }
        Some(Fault::Hang(wait)) => {
            tokio::time::sleep(wait.min(MAX_HANG)).await;
            operate(&state, operation, &parts.method, &path, &raw_query, &parts.headers, parsed, &mut exchange)
        }
        None => operate(&state, operation, &parts.method, &path, &raw_query, &parts.headers, parsed, &mut exchange),
    };
    exchange.status = response.status().as_u16();
    state.record_exchange(exchange);
    add_common_headers(&mut response, &request_id);
    Ok(response)
}

/// Runs the addressed operation (or answers why it cannot) and fills in the exchange's response body.
#[allow(clippy::too_many_arguments)]
fn operate(
    state: &State,
    operation: Option<&str>,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    parsed: Option<Result<Value, String>>,
    exchange: &mut Exchange,
) -> Response<Body> {
    let result = match operation {
        None => Err(ApiError::not_found(format!("no operation {method} {path}"))),
        Some(op) => {
            let has_body = matches!(*method, Method::POST | Method::PATCH | Method::PUT);
            let body = match (has_body, parsed) {
                // GET/DELETE bodies are not part of the API, but the JS SDK sends `checkUsername`'s
                // username in one: keep a JSON object if there is one, ignore anything else.
                (false, Some(Ok(Value::Object(map)))) => Ok(map),
                (false, _) | (true, None) => Ok(Map::new()),
                (true, Some(Ok(Value::Object(map)))) => Ok(map),
                (true, Some(Ok(_))) => Err(ApiError::invalid_argument("the request body must be a JSON object")),
                (true, Some(Err(e))) => Err(ApiError::invalid_argument(format!("malformed JSON body: {e}"))),
            };
            body.and_then(|body| {
                let req = Req { path: path.to_owned(), query: parse_query(raw_query), headers: headers.clone(), body };
                api::call(state, op, &req)
            })
        }
    };
    let (status, body) = match result {
        Ok(body) => (200, body),
        Err(error) => (error.status, error.body()),
    };
    exchange.response_body = Some(body.clone());
    json_response(status, &body)
}
