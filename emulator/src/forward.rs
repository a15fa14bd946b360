//! Forwarding to local servers (the binary's `--function`, `--cloudrun`, `--api`): a function, cloud run
//! service or API whose logic runs in any language at a URL. Each becomes an ordinary handler of
//! [`crate::registry`], so the gateway (token check, logs, faults, header rule) treats it like an in-process one.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, header};
use axum::response::IntoResponse;

use crate::gateway::{envelope, header_string};
use crate::registry::{FunctionError, FunctionFn, FunctionReply, ServiceFn};

/// How long a forwarded function may take (no limit is documented; this one keeps a stuck server from
/// holding a call forever).
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest reply read from a forwarded function.
const MAX_FUNCTION_REPLY: usize = 6 * 1024 * 1024;

/// Headers that describe one connection, not the message: never forwarded either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("a plain HTTP client builds")
    })
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// A function served at `url`: the event is POSTed there as JSON; a 2xx reply is the result.
pub(crate) fn function(url: String) -> FunctionFn {
    Arc::new(move |event, caller| {
        let url = url.clone();
        Box::pin(async move {
            let mut headers = HeaderMap::new();
            caller.write_headers(&mut headers);
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let unreachable = |e: reqwest::Error| FunctionError::new(format!("function server {url}: {e}"));
            let response = client()
                .post(&url)
                .headers(headers)
                .timeout(FUNCTION_TIMEOUT)
                .body(event.to_string())
                .send()
                .await
                .map_err(unreachable)?;
            let status = response.status();
            let content_type = header_string(response.headers(), "content-type")
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            let body =
                read_bounded(response).await.map_err(|e| FunctionError::new(format!("function server {url}: {e}")))?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned();
                return Err(FunctionError::new(format!("function server {url} answered {status}: {text}")));
            }
            Ok(FunctionReply::Raw { content_type, body: body.into() })
        })
    })
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_FUNCTION_REPLY {
            return Err(format!("reply larger than {MAX_FUNCTION_REPLY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A cloud run service or API served at `base`: the request goes to `base` + its path and query, streamed
/// both ways.
pub(crate) fn service(base: String) -> ServiceFn {
    let base = base.trim_end_matches('/').to_owned();
    Arc::new(move |request, _caller| {
        let base = base.clone();
        Box::pin(async move { forward(&base, request).await })
    })
}

async fn forward(base: &str, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let request_id = header_string(&parts.headers, "x-request-id").unwrap_or_default();
    let url = format!("{base}{}", parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
    let mut headers = parts.headers;
    // Sent with a body only when the client sent one: a GET stays a GET without `transfer-encoding`.
    let announced = header_string(&headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let has_body = headers.contains_key(header::TRANSFER_ENCODING) || announced.is_some_and(|n| n > 0);
    strip_hop_by_hop(&mut headers);
    let mut outgoing = client().request(parts.method, &url).headers(headers);
    if has_body {
        outgoing = outgoing.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let response = match outgoing.send().await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(%url, error = %e, "forwarding failed");
            let message = format!("the service at {base} is not reachable: {e}");
            return envelope(502, "SERVICE_NOT_READY", &message, &request_id);
        }
    };
    let status = response.status();
    let mut headers = response.headers().clone();
    strip_hop_by_hop(&mut headers);
    let mut reply = (status, Body::from_stream(response.bytes_stream())).into_response();
    *reply.headers_mut() = headers;
    reply
}
