//! The gateway's token check, for the services behind it (auth's own operations answer auth-style errors
//! and do not use it).
//!
//! A handler that needs to know who called takes a [`Caller`] argument:
//!
//! ```text
//! async fn invoke(caller: Caller, Path(name): Path<String>, body: Bytes) -> Response<Body> {
//!     match caller { Caller::User { user_id, .. } => ..., Caller::Client | Caller::PublishableKey => ... }
//! }
//! ```
//!
//! Without a valid credential the handler never runs: the request answers 401 with the CloudBase gateway's
//! error shape `{code, message, requestId}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Response};
use axum::response::IntoResponse;
use serde_json::json;

use super::RequestId;
use crate::reply::json_response;
use crate::state::{GUEST_SCOPE, State};

/// Who called a gateway service, as established from `Authorization: Bearer <token>` by the gateway's token
/// check. Handlers registered with [`crate::EmulatorBuilder`] receive it; forwarded services receive it as the
/// headers `x-cloudbase-caller` and `x-cloudbase-user-id`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller {
    /// A user's access token (anonymous users included).
    User {
        /// The user's id (`sub`).
        user_id: String,
        /// True for a user signed in anonymously.
        anonymous: bool,
    },
    /// A client-credentials access token: the environment itself, no user.
    Client,
    /// The configured publishable key ([`crate::EmulatorConfig::publishable_key`]): an anonymous caller with no
    /// user.
    PublishableKey,
    /// A guest token from `POST /auth/v1/token/clientCredential`, which the JS SDK asks for when it has no
    /// session: no user, the publishable key's rights.
    Guest,
}

impl Caller {
    /// The user's id, when a user (anonymous or not) called.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Caller::User { user_id, .. } => Some(user_id),
            Caller::Client | Caller::PublishableKey | Caller::Guest => None,
        }
    }

    /// True for a user signed in anonymously (the publishable key is [`is_publishable_key`](Self::is_publishable_key)).
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Caller::User { anonymous: true, .. })
    }

    /// True when the caller sent the configured publishable key.
    pub fn is_publishable_key(&self) -> bool {
        matches!(self, Caller::PublishableKey)
    }

    /// True for a caller with neither a user nor the administrator's rights: the publishable key or a guest
    /// token. Such a caller may read data but not write data models or run SQL commands.
    pub fn is_guest(&self) -> bool {
        matches!(self, Caller::PublishableKey | Caller::Guest)
    }

    /// Sets the caller headers a service receives (`x-cloudbase-caller`, `x-cloudbase-user-id` for a user),
    /// replacing any a client sent.
    pub(crate) fn write_headers(&self, headers: &mut HeaderMap) {
        headers.remove("x-cloudbase-user-id");
        headers.insert("x-cloudbase-caller", HeaderValue::from_static(self.kind()));
        if let Some(id) = self.user_id().and_then(|id| HeaderValue::from_str(id).ok()) {
            headers.insert("x-cloudbase-user-id", id);
        }
    }

    /// The value of the `x-cloudbase-caller` header: `user`, `anonymous`, `publishable_key`, `guest` or
    /// `client`.
    pub fn kind(&self) -> &'static str {
        match self {
            Caller::User { anonymous: false, .. } => "user",
            Caller::User { anonymous: true, .. } => "anonymous",
            Caller::PublishableKey => "publishable_key",
            Caller::Client => "client",
            Caller::Guest => "guest",
        }
    }
}

/// Why the token check refused a request: answered as HTTP 401 `{code, message, requestId}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenRejection {
    /// `MISSING_CREDENTIALS`, `INVALID_ACCESS_TOKEN` or `ACCESS_TOKEN_EXPIRED`.
    pub code: &'static str,
    /// A human-readable reason.
    pub message: String,
    request_id: Option<String>,
}

impl IntoResponse for TokenRejection {
    fn into_response(self) -> Response<Body> {
        json_response(401, &json!({ "code": self.code, "message": self.message, "requestId": self.request_id }))
    }
}

/// Checks the Bearer credential in `headers`: an access token this emulator issued and that is still live,
/// or the configured publishable key. No `Authorization` header: `MISSING_CREDENTIALS`; a malformed one or an
/// unknown or revoked token: `INVALID_ACCESS_TOKEN`; an expired one: `ACCESS_TOKEN_EXPIRED`.
pub(crate) fn check_token(state: &State, headers: &HeaderMap) -> Result<Caller, TokenRejection> {
    let reject = |code, message: &str| TokenRejection { code, message: message.to_owned(), request_id: None };
    if !headers.contains_key("authorization") {
        return Err(reject("MISSING_CREDENTIALS", "missing credentials: no Authorization header"));
    }
    let token = bearer(headers).ok_or_else(|| reject("INVALID_ACCESS_TOKEN", "malformed Authorization header"))?;
    let core = state.core();
    if core.config.publishable_key.as_deref().is_some_and(|key| key == token) {
        return Ok(Caller::PublishableKey);
    }
    // The same check auth's user endpoints use, so both agree on expiry and revocation.
    let session_id = core.session_of(Some(token)).map_err(|e| TokenRejection {
        code: e.gateway_code.unwrap_or("INVALID_ACCESS_TOKEN"),
        message: e.description,
        request_id: None,
    })?;
    let session = &core.db.sessions[&session_id];
    Ok(match &session.user_id {
        Some(user_id) => Caller::User {
            anonymous: core.db.users.get(user_id).is_some_and(|u| u.anonymous),
            user_id: user_id.clone(),
        },
        None if session.scope == GUEST_SCOPE => Caller::Guest,
        None => Caller::Client,
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("Bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl FromRequestParts<Arc<State>> for Caller {
    type Rejection = TokenRejection;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        check_token(state, &parts.headers).map_err(|mut rejection| {
            rejection.request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone());
            rejection
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::middleware::from_fn;
    use axum::routing::get;
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use super::*;
    use crate::EmulatorConfig;
    use crate::gateway::edge;

    fn state(config: EmulatorConfig) -> Arc<State> {
        Arc::new(State::new(config, "http://127.0.0.1:9".into()).unwrap())
    }

    /// What a future service router looks like: a handler that takes a `Caller`.
    fn whoami_router(state: Arc<State>) -> Router {
        let whoami = |caller: Caller| async move {
            let who = match caller {
                Caller::User { user_id, anonymous } => json!({"user": user_id, "anonymous": anonymous}),
                Caller::Client => json!("client"),
                Caller::PublishableKey => json!("publishable_key"),
                Caller::Guest => json!("guest"),
            };
            json_response(200, &who)
        };
        Router::new().route("/whoami", get(whoami)).layer(from_fn(edge)).with_state(state)
    }

    async fn send(router: Router, request: Request<Body>) -> (StatusCode, Value) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn whoami(state: &Arc<State>, authorization: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::get("/whoami").header("x-request-id", "rid-1");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        send(whoami_router(state.clone()), request.body(Body::empty()).unwrap()).await
    }

    /// Signs in through the real auth service and answers its token response.
    async fn sign_in(state: &Arc<State>, path: &str, body: Value, extra: Option<(&str, &str)>) -> Value {
        let mut request = Request::post(path).header("x-device-id", "0123456789abcdef");
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        let (status, body) =
            send(crate::server::app(state.clone()), request.body(Body::from(body.to_string())).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn bearer(token: &Value) -> String {
        format!("Bearer {}", token.as_str().unwrap())
    }

    #[tokio::test]
    async fn user_tokens_name_the_user() {
        let state = state(EmulatorConfig::default());
        let anon = sign_in(&state, "/auth/v1/signin/anonymously", json!({}), None).await;
        let (status, who) = whoami(&state, Some(&bearer(&anon["access_token"]))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(who, json!({"user": anon["sub"], "anonymous": true}));

        let id = state.create_user(crate::NewUser {
            username: Some("ada".into()),
            password: Some("correct-horse".into()),
            ..Default::default()
        });
        let user =
            sign_in(&state, "/auth/v1/signin", json!({"username": "ada", "password": "correct-horse"}), None).await;
        let (_, who) = whoami(&state, Some(&bearer(&user["access_token"]))).await;
        assert_eq!(who, json!({"user": id.unwrap(), "anonymous": false}));

        let client = sign_in(
            &state,
            "/auth/v1/token",
            json!({"grant_type": "client_credentials"}),
            Some(("authorization", "Basic ZW11bGF0b3ItZW52OnM=")), // emulator-env:s
        )
        .await;
        assert_eq!(whoami(&state, Some(&bearer(&client["access_token"]))).await.1, json!("client"));

        // The JS SDK's guest token (no credential at all) is not the administrator's.
        let guest =
            sign_in(&state, "/auth/v1/token/clientCredential", json!({"grant_type": "client_credentials"}), None).await;
        assert_eq!(whoami(&state, Some(&bearer(&guest["access_token"]))).await.1, json!("guest"));
    }

    #[tokio::test]
    async fn bad_tokens_are_refused_with_the_gateway_shape() {
        let state = state(EmulatorConfig::default());
        let (status, body) = whoami(&state, None).await;
        assert_eq!((status, &body["code"]), (StatusCode::UNAUTHORIZED, &json!("MISSING_CREDENTIALS")));
        assert_eq!(body["requestId"], json!("rid-1"));
        for authorization in [Some("Bearer"), Some("Bearer not-a-token"), Some("Basic abc"), Some("garbage")] {
            let (status, body) = whoami(&state, authorization).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
            assert_eq!(body["code"], json!("INVALID_ACCESS_TOKEN"), "{authorization:?}");
            assert_eq!(body["requestId"], json!("rid-1"));
            assert!(body["message"].is_string());
        }
        // Without a configured publishable key, nothing passes for one.
        assert_eq!(whoami(&state, Some("Bearer pk-1")).await.1["code"], json!("INVALID_ACCESS_TOKEN"));
    }

    #[tokio::test]
    async fn expired_and_revoked_tokens() {
        let state = state(EmulatorConfig::default());
        let anon = sign_in(&state, "/auth/v1/signin/anonymously", json!({}), None).await;
        let token = bearer(&anon["access_token"]);
        state.advance_clock(Duration::from_secs(7201));
        let (status, body) = whoami(&state, Some(&token)).await;
        assert_eq!((status, &body["code"]), (StatusCode::UNAUTHORIZED, &json!("ACCESS_TOKEN_EXPIRED")));

        let anon = sign_in(&state, "/auth/v1/signin/anonymously", json!({}), None).await;
        let token = bearer(&anon["access_token"]);
        sign_in(&state, "/auth/v1/revoke", json!({"token": anon["refresh_token"]}), None).await;
        let (status, body) = whoami(&state, Some(&token)).await;
        assert_eq!((status, &body["code"]), (StatusCode::UNAUTHORIZED, &json!("INVALID_ACCESS_TOKEN")));
    }

    #[tokio::test]
    async fn the_publishable_key_is_an_anonymous_caller() {
        let state = state(EmulatorConfig { publishable_key: Some("pk-1".into()), ..Default::default() });
        assert_eq!(whoami(&state, Some("Bearer pk-1")).await, (StatusCode::OK, json!("publishable_key")));
        assert_eq!(whoami(&state, Some("Bearer pk-2")).await.1["code"], json!("INVALID_ACCESS_TOKEN"));
    }
}
