//! What cloud run (`/v1/cloudrun`) and APIs (`/v1/apis`) share: `{METHOD} {base}/{name}[/{path}]` reaches the
//! service registered as `name` with the method, the remaining path, the query, the headers (without
//! `Authorization`, plus the caller headers) and the body as a stream; its response is passed back streamed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State as AxumState};
use axum::http::{HeaderValue, Method, Response, Uri, header};
use axum::routing::{MethodFilter, on};

use crate::gateway::{RequestId, envelope, token::check_token};
use crate::registry::{ServiceFn, Targets, is_valid_name};
use crate::service::Operation;
use crate::state::State;

/// Largest request body: 100 MB, counted as it streams.
pub(crate) const MAX_BODY: u64 = 100 * 1024 * 1024;

/// The methods served, in the order of the operation ids.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// The route templates below the base: the service root with and without a slash, and any path below it.
const PATHS: [&str; 3] = ["/{name}", "/{name}/", "/{name}/{*path}"];

/// The operation table: one id per method (`ids` in the order of [`METHODS`]), each on every template.
pub(crate) const fn operations(ids: [&'static str; 7]) -> [Operation; 21] {
    let mut out = [Operation { method: "", path: "", id: "" }; 21];
    let mut i = 0;
    while i < 21 {
        out[i] = Operation { method: METHODS[i / 3], path: PATHS[i % 3], id: ids[i / 3] };
        i += 1;
    }
    out
}

/// One of the two services.
pub(crate) struct Kind {
    /// `/v1/cloudrun` or `/v1/apis`.
    pub base: &'static str,
    /// The code of an unknown name (`SERVICE_NOT_FOUND`, `API_NOT_FOUND`).
    pub not_found: &'static str,
    /// `cloud run service` or `API`, for messages.
    pub what: &'static str,
    /// Its registrations.
    pub targets: fn(&Targets) -> &HashMap<String, ServiceFn>,
}

/// The router of `kind`: every method on every template of [`PATHS`].
pub(crate) fn router(kind: &'static Kind) -> Router<Arc<State>> {
    let filter = METHODS.iter().fold(None, |acc: Option<MethodFilter>, m| {
        let f = MethodFilter::try_from(Method::from_bytes(m.as_bytes()).expect("valid")).expect("routable");
        Some(acc.map_or(f, |a| a.or(f)))
    });
    let handler =
        on(filter.expect("methods"), move |AxumState(state): AxumState<Arc<State>>, request: Request| async move {
            call(kind, &state, request).await
        });
    PATHS.iter().fold(Router::new(), |router, path| router.route(path, handler.clone())).method_not_allowed_fallback(
        |request: Request| async move {
            let id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
            envelope(405, "METHOD_NOT_ALLOWED", &format!("{} is not supported", request.method()), &id)
        },
    )
}

async fn call(kind: &Kind, state: &State, request: Request) -> Response<Body> {
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let fail = |status: u16, code: &str, message: &str| envelope(status, code, message, &request_id);
    let caller = match check_token(state, request.headers()) {
        Ok(caller) => caller,
        Err(rejection) => return fail(401, rejection.code, &rejection.message),
    };
    let full = request.extensions().get::<OriginalUri>().map_or_else(|| request.uri().clone(), |u| u.0.clone());
    let below = full.path().strip_prefix(kind.base).unwrap_or(full.path()).trim_start_matches('/');
    let (name, rest) = below.split_once('/').map_or((below, ""), |(n, r)| (n, r));
    if !is_valid_name(name) {
        return fail(400, "INVALID_PARAM", &format!("invalid {} name {name:?}", kind.what));
    }
    let Some(handler) = (kind.targets)(&state.targets).get(name).cloned() else {
        return fail(404, kind.not_found, &format!("{} {name} not found", kind.what));
    };
    let path_and_query = match full.query() {
        Some(query) => format!("/{rest}?{query}"),
        None => format!("/{rest}"),
    };
    let (mut parts, body) = request.into_parts();
    parts.uri = path_and_query.parse().unwrap_or_else(|_| Uri::from_static("/"));
    parts.headers.remove(header::AUTHORIZATION);
    caller.write_headers(&mut parts.headers);
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        parts.headers.insert("x-request-id", id);
    }
    parts.extensions = Default::default();
    let method = parts.method.clone();
    tracing::debug!(service = kind.what, %name, %method, path = %parts.uri, caller = caller.kind(), "calling");
    let mut response = handler(Request::from_parts(parts, body), caller).await;
    add_content_disposition(&method, &mut response);
    response
}

/// The gateway's header rule: `Content-Disposition: attachment` on every reply to a GET and on every non-text
/// reply (text: `application/json`, `application/x-www-form-urlencoded`, `text/plain`); server-sent events are
/// exempt. A reply already marked `attachment` keeps its own value (and file name).
pub(crate) fn add_content_disposition(method: &Method, response: &mut Response<Body>) {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type == "text/event-stream" {
        return;
    }
    let text = matches!(content_type.as_str(), "application/json" | "application/x-www-form-urlencoded" | "text/plain");
    if *method != Method::GET && text {
        return;
    }
    let already = response
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("attachment"));
    if !already {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disposition(
        method: Method,
        content_type: Option<&'static str>,
        existing: Option<&'static str>,
    ) -> Option<String> {
        let mut response = Response::new(Body::empty());
        if let Some(ct) = content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        if let Some(cd) = existing {
            response.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(cd));
        }
        add_content_disposition(&method, &mut response);
        response.headers().get(header::CONTENT_DISPOSITION).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn content_disposition_rule() {
        let attachment = Some("attachment".to_owned());
        assert_eq!(disposition(Method::GET, Some("application/json"), None), attachment);
        assert_eq!(disposition(Method::GET, Some("text/event-stream"), None), None);
        assert_eq!(disposition(Method::POST, Some("application/json; charset=utf-8"), None), None);
        assert_eq!(disposition(Method::POST, Some("text/plain"), None), None);
        assert_eq!(disposition(Method::POST, Some("application/x-www-form-urlencoded"), None), None);
        assert_eq!(disposition(Method::POST, Some("text/html"), None), attachment);
        assert_eq!(disposition(Method::PUT, Some("application/octet-stream"), None), attachment);
        assert_eq!(disposition(Method::DELETE, None, None), attachment);
        assert_eq!(disposition(Method::POST, Some("text/event-stream"), None), None);
        assert_eq!(disposition(Method::POST, Some("image/png"), Some("inline")), attachment);
        assert_eq!(
            disposition(Method::GET, Some("image/png"), Some("attachment; filename=a.png")),
            Some("attachment; filename=a.png".to_owned())
        );
    }

    #[test]
    fn operation_table() {
        let ops = operations(["g", "p", "u", "pa", "d", "h", "o"]);
        assert_eq!(ops[0], Operation { method: "GET", path: "/{name}", id: "g" });
        assert_eq!(ops[20], Operation { method: "OPTIONS", path: "/{name}/{*path}", id: "o" });
    }
}
