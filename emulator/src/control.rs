//! Test controls under `/_emulator/`: outbox, clock, faults, logs, users, tickets, captcha answers, reset,
//! configuration, and the pages a browser would visit (OAuth consent, behavioural captcha). Their own
//! router: they sit behind the gateway's edge (request id, CORS) but are never logged, counted or faulted.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, RawQuery, State as AxumState};
use axum::http::{HeaderValue, Method, Response, StatusCode, header};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::auth;
use crate::gateway::MAX_HANG;
use crate::reply::{error_response, json_response};
use crate::service;
use crate::state::{ApiError, PROVIDER_CODE_TTL, ProviderCode, State};
use crate::util::{self, parse_query, percent_encode};
use crate::{EmulatorConfig, Fault, NewUser};

type Reply = Result<Response<Body>, ApiError>;
type St = AxumState<Arc<State>>;

/// The test-control routes, full paths (`/_emulator/...`).
pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/_emulator", get(|AxumState(state): St| async move { info(&state) }))
        .route(
            "/_emulator/outbox",
            get(|AxumState(state): St| async move { json_response(200, &json!(state.outbox())) }).delete(
                |AxumState(state): St| async move {
                    state.clear_outbox();
                    json_response(200, &json!({}))
                },
            ),
        )
        .route(
            "/_emulator/clock",
            post(|AxumState(state): St, body: Bytes| async move { done(advance_clock(&state, &body)) }),
        )
        .route(
            "/_emulator/faults",
            post(|AxumState(state): St, body: Bytes| async move { done(inject_fault(&state, &body)) }),
        )
        .route(
            "/_emulator/requests",
            get(|AxumState(state): St| async move { json_response(200, &json!(state.requests())) }),
        )
        .route(
            "/_emulator/exchanges",
            get(|AxumState(state): St| async move { json_response(200, &json!(state.exchanges())) }),
        )
        .route(
            "/_emulator/users",
            post(|AxumState(state): St, body: Bytes| async move { done(create_user(&state, &body)) }),
        )
        .route(
            "/_emulator/tickets",
            post(|AxumState(state): St, body: Bytes| async move { done(create_ticket(&state, &body)) }),
        )
        .route(
            "/_emulator/storage/cut-download",
            post(|AxumState(state): St, body: Bytes| async move { done(cut_download(&state, &body)) }),
        )
        .route(
            "/_emulator/sql",
            post(|AxumState(state): St, body: Bytes| async move {
                let result = tokio::task::spawn_blocking(move || run_sql(&state, &body)).await;
                done(result.unwrap_or_else(|e| Err(ApiError::invalid_argument(format!("the batch failed: {e}")))))
            }),
        )
        .route(
            "/_emulator/models",
            post(|AxumState(state): St, body: Bytes| async move { done(create_model(&state, &body)) }),
        )
        .route("/_emulator/captcha", get(|AxumState(state): St| async move { captcha_list(&state) }))
        .route(
            "/_emulator/reset",
            post(|AxumState(state): St| async move {
                state.reset();
                json_response(200, &json!({}))
            }),
        )
        .route(
            "/_emulator/config",
            get(|AxumState(state): St| async move { json_response(200, &config_json(&state.core().config)) })
                .post(|AxumState(state): St, body: Bytes| async move { done(update_config(&state, &body)) }),
        )
        .route(
            "/_emulator/oauth/authorize",
            get(|AxumState(state): St, RawQuery(query): RawQuery| async move {
                done(oauth_authorize(&state, &query_fn(query)))
            }),
        )
        .route(
            "/_emulator/captcha/page",
            get(|AxumState(state): St, RawQuery(query): RawQuery| async move {
                done(captcha_page(&state, &query_fn(query)))
            }),
        )
        .route("/_emulator/{*rest}", axum::routing::any(not_found))
        .method_not_allowed_fallback(not_found)
}

async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response<Body> {
    error_response(&ApiError::not_found(format!("no emulator control {method} {}", uri.path())))
}

fn done(reply: Reply) -> Response<Body> {
    reply.unwrap_or_else(|e| error_response(&e))
}

fn query_fn(raw: Option<String>) -> impl Fn(&str) -> Option<String> {
    let query = parse_query(&raw.unwrap_or_default());
    move |key| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn info(state: &State) -> Response<Body> {
    json_response(
        200,
        &json!({
            "env_id": state.env_id,
            "url": state.url,
            "operations": service::operations()
                .map(|(m, p, op)| json!({"method": m, "path": p, "operation_id": op}))
                .collect::<Vec<_>>(),
        }),
    )
}

fn captcha_list(state: &State) -> Response<Body> {
    let list: Vec<Value> =
        state.captcha_list().into_iter().map(|(token, answer)| json!({"token": token, "answer": answer})).collect();
    json_response(200, &json!(list))
}

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_argument("the request body must be a JSON object")),
        Err(e) => Err(ApiError::invalid_argument(format!("malformed JSON body: {e}"))),
    }
}

fn u64_field(map: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid_argument(format!("{key} must be a non-negative integer"))),
    }
}

fn advance_clock(state: &State, body: &[u8]) -> Reply {
    let map = object(body)?;
    let secs = match map.get("advance_secs") {
        Some(v) => v.as_f64().filter(|s| *s >= 0.0 && s.is_finite()),
        None => None,
    }
    .ok_or_else(|| ApiError::invalid_argument("advance_secs (a non-negative number) is required"))?;
    state.advance_clock(Duration::from_secs_f64(secs));
    let offset = state.core().clock_offset;
    Ok(json_response(200, &json!({ "offset_secs": offset.as_secs_f64() })))
}

fn inject_fault(state: &State, body: &[u8]) -> Reply {
    let map = object(body)?;
    let operation_id = map
        .get("operation_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_argument("operation_id is required"))?;
    if !service::is_operation(operation_id) {
        return Err(ApiError::invalid_argument(format!("unknown operation_id {operation_id:?}")));
    }
    let hang = Duration::from_millis(u64_field(&map, "hang_ms")?.unwrap_or(0)).min(MAX_HANG);
    let fault = match map.get("fault").and_then(Value::as_str).unwrap_or_default() {
        "status500" => Fault::Status500,
        "status502_html" => Fault::Status502Html,
        "hang" => Fault::Hang(hang),
        "drop_connection" => Fault::DropConnection,
        "drop_reply" => Fault::DropReply,
        "junk_body" => Fault::JunkBody,
        "truncated_body" => Fault::TruncatedBody,
        "error_with_200" => Fault::ErrorWith200,
        other => {
            return Err(ApiError::invalid_argument(format!(
                "fault must be one of status500, status502_html, hang, drop_connection, drop_reply, \
                 junk_body, truncated_body, error_with_200; not {other:?}"
            )));
        }
    };
    let times = u64_field(&map, "times")?.unwrap_or(1);
    let times = u32::try_from(times).map_err(|_| ApiError::invalid_argument("times is too large"))?;
    state.inject_fault(operation_id, fault, times);
    Ok(json_response(200, &json!({})))
}

fn cut_download(state: &State, body: &[u8]) -> Reply {
    let map = object(body)?;
    let after = u64_field(&map, "after_bytes")?
        .ok_or_else(|| ApiError::invalid_argument("after_bytes (a non-negative integer) is required"))?;
    state.storage.cut_next_download(after);
    Ok(json_response(200, &json!({})))
}

/// `{"sql": "...", "instance"?: "...", "schema"?: "..."}`: runs the batch (creating the database if missing).
fn run_sql(state: &State, body: &[u8]) -> Reply {
    let map = object(body)?;
    let text = |key: &str| -> Result<Option<&str>, ApiError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::invalid_argument(format!("{key} must be a string"))),
        }
    };
    let sql = text("sql")?.ok_or_else(|| ApiError::invalid_argument("sql (a string of SQL statements) is required"))?;
    state.data.exec(text("instance")?, text("schema")?, sql).map_err(ApiError::invalid_argument)?;
    Ok(json_response(200, &json!({ "ok": true })))
}

/// A `ModelDef` as JSON: creates (or replaces) the model.
fn create_model(state: &State, body: &[u8]) -> Reply {
    let map = object(body)?;
    let model: crate::ModelDef = serde_json::from_value(Value::Object(map))
        .map_err(|e| ApiError::invalid_argument(format!("invalid model: {e}")))?;
    state.data.create_model(model).map_err(ApiError::invalid_argument)?;
    Ok(json_response(200, &json!({ "ok": true })))
}

fn create_user(state: &State, body: &[u8]) -> Reply {
    let map = object(body)?;
    let user: NewUser = serde_json::from_value(Value::Object(map))
        .map_err(|e| ApiError::invalid_argument(format!("invalid user: {e}")))?;
    let id = state.create_user(user)?;
    Ok(json_response(200, &json!({ "id": id })))
}

fn create_ticket(state: &State, body: &[u8]) -> Reply {
    let map = object(body)?;
    let id = map
        .get("custom_user_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_argument("custom_user_id is required"))?;
    Ok(json_response(200, &json!({ "ticket": state.create_ticket(id) })))
}

fn config_json(c: &EmulatorConfig) -> Value {
    json!({
        "env_id": c.env_id,
        "access_token_ttl_secs": c.access_token_ttl.as_secs(),
        "refresh_token_ttl_secs": c.refresh_token_ttl.as_secs(),
        "code_ttl_secs": c.code_ttl.as_secs(),
        "code_max_attempts": c.code_max_attempts,
        "captcha_after_code_requests": c.captcha_after_code_requests,
        "captcha_after_failed_passwords": c.captcha_after_failed_passwords,
        "anonymous_enabled": c.anonymous_enabled,
        "print_codes": c.print_codes,
        "storage_url_ttl_secs": c.storage_url_ttl.as_secs(),
    })
}

fn update_config(state: &State, body: &[u8]) -> Reply {
    let map = object(body)?;
    let mut config = state.core().config.clone();
    let u32_of = |key: &str| -> Result<Option<u32>, ApiError> {
        u64_field(&map, key)?
            .map(|v| u32::try_from(v).map_err(|_| ApiError::invalid_argument(format!("{key} is too large"))))
            .transpose()
    };
    let bool_of = |key: &str| -> Result<bool, ApiError> {
        map.get(key)
            .and_then(Value::as_bool)
            .ok_or_else(|| ApiError::invalid_argument(format!("{key} must be a boolean")))
    };
    let secs_of = |key: &str| -> Result<Duration, ApiError> {
        u64_field(&map, key)?
            .map(Duration::from_secs)
            .ok_or_else(|| ApiError::invalid_argument(format!("{key} must be a non-negative integer")))
    };
    for key in map.keys() {
        match key.as_str() {
            "captcha_after_code_requests" => config.captcha_after_code_requests = u32_of(key)?,
            "captcha_after_failed_passwords" => config.captcha_after_failed_passwords = u32_of(key)?,
            "code_max_attempts" => {
                config.code_max_attempts =
                    u32_of(key)?.ok_or_else(|| ApiError::invalid_argument("code_max_attempts must be a number"))?;
            }
            "access_token_ttl_secs" => config.access_token_ttl = secs_of(key)?,
            "refresh_token_ttl_secs" => config.refresh_token_ttl = secs_of(key)?,
            "code_ttl_secs" => config.code_ttl = secs_of(key)?,
            "anonymous_enabled" => config.anonymous_enabled = bool_of(key)?,
            "print_codes" => config.print_codes = bool_of(key)?,
            "storage_url_ttl_secs" => config.storage_url_ttl = secs_of(key)?,
            other => return Err(ApiError::invalid_argument(format!("unknown or read-only config key {other:?}"))),
        }
    }
    let reply = config_json(&config);
    state.update_config(|c| *c = config);
    Ok(json_response(200, &reply))
}

fn redirect(location: &str) -> Reply {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    let value =
        HeaderValue::from_str(location).map_err(|_| ApiError::invalid_argument("redirect_uri is not a valid URL"))?;
    response.headers_mut().insert(header::LOCATION, value);
    Ok(response)
}

fn with_params(base: &str, params: &[(&str, Option<String>)]) -> String {
    let mut url = base.to_owned();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (key, value) in params {
        if let Some(value) = value {
            url.push_str(&format!("{sep}{key}={}", percent_encode(value)));
            sep = '&';
        }
    }
    url
}

/// The OAuth test provider's consent page: consents at once and redirects back with a one-time code.
/// Query: `provider_id`, `redirect_uri` (required), `state`, `login` (the provider identity, default
/// `octocat`), `deny=1` (redirect back with `error=access_denied` instead).
fn oauth_authorize(state: &State, q: &dyn Fn(&str) -> Option<String>) -> Reply {
    let provider_id = q("provider_id")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid_argument("provider_id is required"))?;
    let redirect_uri = q("redirect_uri")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::invalid_argument("redirect_uri is required"))?;
    let state_param = q("state");
    if q("deny").is_some_and(|d| d == "1" || d == "true") {
        return redirect(&with_params(
            &redirect_uri,
            &[
                ("error", Some("access_denied".into())),
                ("error_description", Some("the user denied access".into())),
                ("state", state_param),
            ],
        ));
    }
    let login = q("login").filter(|l| !l.is_empty()).unwrap_or_else(|| "octocat".to_owned());
    let code = util::random_token::<24>("pc.");
    {
        let mut core = state.core();
        let expires_at = core.now() + PROVIDER_CODE_TTL;
        core.db.provider_codes.insert(
            code.clone(),
            ProviderCode { provider_id, redirect_uri: Some(redirect_uri.clone()), login, expires_at },
        );
    }
    redirect(&with_params(&redirect_uri, &[("code", Some(code)), ("state", state_param)]))
}

/// The behavioural-captcha page `captcha/init` points at: it passes everyone. With `redirect_uri` it
/// redirects there with `captcha_token` and `state`; otherwise it shows the token.
fn captcha_page(state: &State, q: &dyn Fn(&str) -> Option<String>) -> Reply {
    let issued = auth::issue_captcha_token(state);
    let token = issued["captcha_token"].as_str().unwrap_or_default().to_owned();
    match q("redirect_uri").filter(|r| !r.is_empty()) {
        Some(uri) => redirect(&with_params(
            &uri,
            &[
                ("captcha_token", Some(token)),
                ("expires_in", Some(issued["expires_in"].to_string())),
                ("state", q("state")),
            ],
        )),
        None => {
            let mut response = Response::new(Body::from(format!(
                "<!doctype html><html><body><p>Captcha passed.</p><p>captcha_token: <code id=\"captcha_token\">{token}</code></p></body></html>"
            )));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            Ok(response)
        }
    }
}
