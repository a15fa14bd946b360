//! Cloud functions (`/v1/functions`): `POST /v1/functions/{name}` calls a function registered with
//! [`crate::EmulatorBuilder::function`] (or forwarded to a local server) with the request's JSON object as
//! its event, and answers what it returned. Errors are the gateway envelope `{code, message, requestId}`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts as _, Path, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Response, header};
use axum::routing::post;
use serde_json::{Map, Value};

use crate::gateway::{RequestId, envelope, header_string, token::check_token};
use crate::registry::{FunctionReply, LATEST};
use crate::reply::{json_response, text_response};
use crate::service::{BodyPolicy, ErrorStyle, Operation, Service};
use crate::state::State;

/// Largest body with a text content type (`text/*` or none): 100 KB.
pub(crate) const MAX_TEXT_BODY: usize = 100 * 1024;
/// Largest body with another content type: 6 MB (the gateway's edge enforces it).
pub(crate) const MAX_BODY: usize = 6 * 1024 * 1024;

/// The functions service as mounted by [`crate::service::SERVICES`].
pub(crate) const SERVICE: Service = Service {
    base: "/v1/functions",
    body: BodyPolicy::Buffered(MAX_BODY),
    errors: ErrorStyle::Gateway,
    operations: &[Operation { method: "POST", path: "/{name}", id: "call_function" }],
    router,
};

fn router() -> Router<Arc<State>> {
    Router::new().route("/{name}", post(call)).method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed(request: Request) -> Response<Body> {
    let request_id = request_id(request.headers(), &request);
    envelope(
        405,
        "METHOD_NOT_ALLOWED",
        &format!("{} is not allowed: call a function with POST", request.method()),
        &request_id,
    )
}

fn request_id(headers: &HeaderMap, request: &Request) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .or_else(|| header_string(headers, "x-request-id"))
        .unwrap_or_default()
}

/// Whether a content type counts as text for the payload limit: `text/*`, or none at all.
fn is_text(headers: &HeaderMap) -> bool {
    header_string(headers, "content-type").is_none_or(|v| v.trim().to_ascii_lowercase().starts_with("text/"))
}

async fn call(AxumState(state): AxumState<Arc<State>>, request: Request) -> Response<Body> {
    let request_id = request_id(request.headers(), &request);
    let fail = |status: u16, code: &str, message: &str| envelope(status, code, message, &request_id);
    let (mut parts, body) = request.into_parts();
    // The edge already bounded the body at 6 MB.
    let bytes: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    if bytes.len() > MAX_TEXT_BODY && is_text(&parts.headers) {
        let message =
            format!("request body of {} bytes with a text content type exceeds {MAX_TEXT_BODY} bytes", bytes.len());
        return fail(413, "EXCEED_MAX_PAYLOAD_SIZE", &message);
    }
    let caller = match check_token(&state, &parts.headers) {
        Ok(caller) => caller,
        Err(rejection) => return fail(401, rejection.code, &rejection.message),
    };
    let name = match Path::<String>::from_request_parts(&mut parts, &state).await {
        Ok(Path(name)) if crate::registry::is_valid_name(&name) => name,
        Ok(Path(name)) => return fail(400, "FUNCTION_PARAM_INVALID", &format!("invalid function name {name:?}")),
        Err(e) => return fail(400, "FUNCTION_PARAM_INVALID", &format!("invalid function name: {e}")),
    };
    let Some(versions) = state.targets.functions.get(&name) else {
        return fail(404, "FUNCTION_NOT_FOUND", &format!("function {name} not found"));
    };
    let qualifier = header_string(&parts.headers, "x-qualifier").filter(|q| !q.trim().is_empty());
    let qualifier = qualifier.as_deref().map_or(LATEST, str::trim);
    let Some(handler) = versions.get(qualifier) else {
        return fail(404, "FUNCTION_QUALIFIER_NOT_FOUND", &format!("function {name} has no version {qualifier}"));
    };
    let event = match parse_event(&bytes) {
        Ok(event) => event,
        Err(reason) => return fail(400, "FUNCTION_PARAM_INVALID", &format!("bad http request body: {reason}")),
    };
    tracing::debug!(function = %name, qualifier, caller = caller.kind(), "calling function");
    // A task of its own, so that a panicking handler answers FUNCTION_INVOCATION_FAILED.
    match tokio::spawn(handler(Value::Object(event), caller)).await {
        Ok(Ok(reply)) => success(reply),
        Ok(Err(error)) => {
            let code = error.code.as_deref().unwrap_or("FUNCTION_INVOCATION_FAILED");
            fail(500, code, &error.message)
        }
        Err(e) => fail(500, "FUNCTION_INVOCATION_FAILED", &format!("the function panicked: {e}")),
    }
}

/// The event: the body as a JSON object (`{}` for an empty body).
fn parse_event(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the body must be a JSON object".to_owned()),
        Err(e) => Err(format!("malformed JSON: {e}")),
    }
}

fn success(reply: FunctionReply) -> Response<Body> {
    match reply {
        FunctionReply::Json(value) => json_response(200, &value),
        FunctionReply::Text(text) => text_response(200, "text/plain; charset=utf-8", text),
        FunctionReply::Raw { content_type, body } => {
            let mut response = text_response(200, "application/octet-stream", body);
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_json_objects() {
        assert_eq!(parse_event(b"").unwrap(), Map::new());
        assert_eq!(parse_event(b" \n").unwrap(), Map::new());
        assert_eq!(parse_event(br#"{"a":1}"#).unwrap()["a"], 1);
        assert!(parse_event(b"[1]").is_err());
        assert!(parse_event(b"{").is_err());
    }

    #[test]
    fn text_content_types() {
        let mut headers = HeaderMap::new();
        assert!(is_text(&headers));
        headers.insert("content-type", HeaderValue::from_static("Text/Plain;charset=UTF-8"));
        assert!(is_text(&headers));
        headers.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
        assert!(!is_text(&headers));
    }
}
