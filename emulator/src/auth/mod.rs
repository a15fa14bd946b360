//! The auth service (`/auth/v1`): the 29 operations of `openapi/auth.yaml`, as synchronous functions over
//! the locked state. This file holds the route table and the dispatch; the operations live one concern per
//! module.

mod captcha;
mod provider;
mod request;
mod session;
mod signin;
mod token;
mod user;
mod username;
mod verification;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State as AxumState};
use axum::http::{HeaderMap, Method, Response};
use axum::routing::{MethodFilter, on};
use serde_json::{Map, Value};

pub(crate) use self::captcha::issue_captcha_token;
use self::request::{Req, invalid_client};
use crate::reply::{error_response, json_response};
use crate::service::{BodyPolicy, ErrorStyle, Operation, Service};
use crate::state::{ApiError, ApiResult, Core, State, User};
use crate::util::parse_query;

/// The auth service as mounted by [`crate::service::SERVICES`].
pub(crate) const SERVICE: Service = Service {
    base: "/auth/v1",
    body: BodyPolicy::Buffered(1 << 20),
    errors: ErrorStyle::Auth,
    operations: OPERATIONS,
    router,
};

const fn op(method: &'static str, path: &'static str, id: &'static str) -> Operation {
    Operation { method, path, id }
}

/// Every operation (the spec's paths below `/auth/v1`); [`router`] is built from this table, so the table is
/// what the spec test checks.
const OPERATIONS: &[Operation] = &[
    op("POST", "/signup", "sign_up"),
    op("POST", "/signin", "sign_in"),
    op("POST", "/signin/anonymously", "sign_in_anonymously"),
    op("POST", "/signin/with/provider", "sign_in_with_provider"),
    op("POST", "/signin/custom", "sign_in_with_custom_ticket"),
    op("POST", "/token", "grant_token"),
    op("POST", "/token/clientCredential", "grant_client_credential_token"),
    op("GET", "/token/introspect", "introspect_token"),
    op("POST", "/revoke", "revoke_token"),
    op("POST", "/user/signout", "sign_out_user"),
    op("GET", "/user/me", "get_user_me"),
    op("DELETE", "/user/me", "delete_user_me"),
    op("POST", "/user/basic/edit", "edit_user_basic"),
    op("PATCH", "/user/profile", "patch_user_profile"),
    op("GET", "/user/provider", "list_user_providers"),
    op("DELETE", "/user/provider/{provider_id}", "unbind_provider"),
    op("POST", "/user/provider/bind", "bind_provider"),
    op("POST", "/user/sudo", "get_sudo_token"),
    op("PATCH", "/user/password", "set_password"),
    op("PATCH", "/user/contact", "update_user_contact"),
    op("POST", "/verification", "send_verification"),
    op("POST", "/verification/verify", "verify_verification"),
    op("GET", "/provider/uri", "get_provider_uri"),
    op("POST", "/provider/token", "get_provider_token"),
    op("POST", "/reset", "reset_password"),
    op("POST", "/captcha/data", "create_captcha_data"),
    op("POST", "/captcha/data/verify", "verify_captcha_data"),
    op("POST", "/captcha/init", "init_captcha"),
    op("GET", "/checkUsername", "check_username"),
    op("GET", "/checkIfUserExist", "check_if_user_exist"),
];

/// One route per operation of [`OPERATIONS`]; a known path with another method answers auth's
/// `not_found`, as an unknown path does.
pub(crate) fn router() -> Router<Arc<State>> {
    let mut router = Router::new();
    for operation in OPERATIONS {
        let (id, method_name) = (operation.id, operation.method);
        let method = Method::from_bytes(operation.method.as_bytes()).expect("the table holds valid methods");
        let filter = MethodFilter::try_from(method).expect("the table holds routable methods");
        router = router.route(
            operation.path,
            on(
                filter,
                move |AxumState(state): AxumState<Arc<State>>, uri: OriginalUri, headers, body: Bytes| async move {
                    handle(&state, method_name, id, &uri, &headers, &body)
                },
            ),
        );
    }
    router.method_not_allowed_fallback(not_found)
}

/// Auth's answer to anything it does not serve (also the emulator's answer to unknown paths).
pub(crate) async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response<Body> {
    error_response(&ApiError::not_found(format!("no operation {method} {}", uri.path())))
}

/// Parses the request the way the operations expect it, runs `operation` and answers its JSON.
fn handle(
    state: &State,
    method: &str,
    operation: &str,
    uri: &OriginalUri,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Response<Body> {
    let has_body = matches!(method, "POST" | "PATCH" | "PUT");
    let parsed: Option<Result<Value, String>> = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice(bytes).map_err(|e| e.to_string()))
    };
    let body = match (has_body, parsed) {
        // GET/DELETE bodies are not part of the API, but the JS SDK sends `checkUsername`'s username in one:
        // keep a JSON object if there is one, ignore anything else.
        (false, Some(Ok(Value::Object(map)))) => Ok(map),
        (false, _) | (true, None) => Ok(Map::new()),
        (true, Some(Ok(Value::Object(map)))) => Ok(map),
        (true, Some(Ok(_))) => Err(ApiError::invalid_argument("the request body must be a JSON object")),
        (true, Some(Err(e))) => Err(ApiError::invalid_argument(format!("malformed JSON body: {e}"))),
    };
    let result = body.and_then(|body| {
        let req = Req {
            path: uri.path().to_owned(),
            query: parse_query(uri.query().unwrap_or_default()),
            headers: headers.clone(),
            body,
        };
        call(state, operation, &req)
    });
    match result {
        Ok(body) => json_response(200, &body),
        Err(error) => error_response(&error),
    }
}

/// Runs one operation.
fn call(state: &State, op: &str, req: &Req) -> ApiResult<Value> {
    if req.header("x-device-id").is_some_and(|d| d.len() >= 72) {
        return Err(ApiError::invalid_argument("device id must less than 72"));
    }
    if req.query("client_id").is_some_and(|c| !c.is_empty() && c != state.env_id) {
        return Err(invalid_client());
    }
    let mut guard = state.core();
    let core = &mut *guard;
    let mut ctx = Ctx { state, core };
    match op {
        "sign_up" => ctx.sign_up(req),
        "sign_in" => ctx.sign_in(req),
        "sign_in_anonymously" => ctx.sign_in_anonymously(req),
        "sign_in_with_provider" => ctx.sign_in_with_provider(req),
        "sign_in_with_custom_ticket" => ctx.sign_in_with_custom_ticket(req),
        "grant_token" => ctx.grant_token(req),
        "grant_client_credential_token" => ctx.grant_client_credential_token(req),
        "introspect_token" => Ok(ctx.introspect_token(req)),
        "revoke_token" => ctx.revoke_token(req),
        "sign_out_user" => ctx.sign_out_user(req),
        "get_user_me" => ctx.get_user_me(req),
        "delete_user_me" => ctx.delete_user_me(req),
        "edit_user_basic" => ctx.edit_user_basic(req),
        "patch_user_profile" => ctx.patch_user_profile(req),
        "list_user_providers" => ctx.list_user_providers(req),
        "unbind_provider" => ctx.unbind_provider(req),
        "bind_provider" => ctx.bind_provider(req),
        "get_sudo_token" => ctx.get_sudo_token(req),
        "set_password" => ctx.set_password(req),
        "update_user_contact" => ctx.update_user_contact(req),
        "send_verification" => ctx.send_verification(req),
        "verify_verification" => ctx.verify_verification(req),
        "get_provider_uri" => ctx.get_provider_uri(req),
        "get_provider_token" => ctx.get_provider_token(req),
        "reset_password" => ctx.reset_password(req),
        "create_captcha_data" => ctx.create_captcha_data(req),
        "verify_captcha_data" => ctx.verify_captcha_data(req),
        "init_captcha" => ctx.init_captcha(req),
        "check_username" => ctx.check_username(req),
        "check_if_user_exist" => ctx.check_if_user_exist(req),
        other => Err(ApiError::not_found(format!("unknown operation {other}"))),
    }
}

/// An operation's view of the emulator: the shared state and the locked mutable part.
struct Ctx<'a> {
    state: &'a State,
    core: &'a mut Core,
}

impl Ctx<'_> {
    fn now(&self) -> std::time::SystemTime {
        self.core.now()
    }

    fn user(&self, id: &str) -> ApiResult<&User> {
        self.core.db.users.get(id).ok_or_else(|| ApiError::not_found("user not found"))
    }

    fn user_mut(&mut self, id: &str) -> ApiResult<&mut User> {
        self.core.db.users.get_mut(id).ok_or_else(|| ApiError::not_found("user not found"))
    }
}

#[cfg(test)]
mod spec_tests;
