//! The token endpoint (refresh, password and client-credentials grants), introspection, revocation and
//! sign-out.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::request::{Req, given, invalid_client, required};
use crate::state::{ApiError, ApiResult, GUEST_SCOPE, RefreshState, Session};
use crate::util::{percent_encode, random_hex};

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenBody {
    grant_type: Option<String>,
    client_id: Option<String>,
    refresh_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RevokeBody {
    token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignOutBody {
    redirect_uri: Option<String>,
    state: Option<String>,
}

impl Ctx<'_> {
    pub(super) fn grant_token(&mut self, req: &Req) -> ApiResult<Value> {
        let body: TokenBody = req.body()?;
        if given(&body.client_id).is_some_and(|c| c != self.state.env_id) {
            return Err(invalid_client());
        }
        match required(&body.grant_type, "grant_type")? {
            "refresh_token" => {
                let token = required(&body.refresh_token, "refresh_token")?;
                let now = self.now();
                let record = self
                    .core
                    .db
                    .refresh
                    .get(token)
                    .cloned()
                    .ok_or_else(|| ApiError::invalid_grant("refresh token not found"))?;
                if record.state == RefreshState::Used {
                    return Err(ApiError::invalid_grant("refresh token already used"));
                }
                if now >= record.expires_at {
                    return Err(ApiError::invalid_grant("refresh token expired"));
                }
                let session = self
                    .core
                    .db
                    .sessions
                    .get(&record.session_id)
                    .ok_or_else(|| ApiError::invalid_grant("refresh token revoked"))?;
                if session.revoked {
                    return Err(ApiError::invalid_grant("refresh token revoked"));
                }
                if session.user_id.as_ref().is_some_and(|id| !self.core.db.users.contains_key(id)) {
                    return Err(ApiError::invalid_grant("the refresh token's user no longer exists"));
                }
                if !self.core.config.rotate_refresh_tokens {
                    return Ok(self.token_response(&record.session_id, false));
                }
                if let Some(r) = self.core.db.refresh.get_mut(token) {
                    r.state = RefreshState::Used;
                }
                Ok(self.token_response(&record.session_id, true))
            }
            "password" => {
                let login = required(&body.username, "username")?.to_owned();
                let password = body
                    .password
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| ApiError::invalid_argument("password is required"))?;
                let (user_id, kind) = self.password_sign_in(req, &login, password)?;
                Ok(self.sign_in_user(&user_id, "user", kind, self.default_refresh_ttl()))
            }
            "client_credentials" => {
                let (id, secret) = req.basic().ok_or_else(|| {
                    ApiError::new(401, "invalid_client", 16, "client_credentials needs Authorization: Basic")
                })?;
                if id != self.state.env_id {
                    return Err(invalid_client());
                }
                if self.core.config.client_secret.as_ref().is_some_and(|s| *s != secret) {
                    return Err(ApiError::new(401, "unauthorized_client", 4022, "wrong client secret"));
                }
                Ok(self.userless_tokens("client"))
            }
            other => Err(ApiError::new(
                400,
                "unsupported_grant_type",
                3,
                format!(
                    "grant_type {other:?} is not supported here (use refresh_token, password or client_credentials)"
                ),
            )),
        }
    }

    /// A guest's token for a client with no session (see `grant_client_credential_token` in the spec): no user,
    /// no refresh token, the publishable key's rights.
    pub(super) fn grant_client_credential_token(&mut self, req: &Req) -> ApiResult<Value> {
        let body: TokenBody = req.body()?;
        match required(&body.grant_type, "grant_type")? {
            "client_credentials" => {}
            other => {
                return Err(ApiError::new(
                    400,
                    "unsupported_grant_type",
                    3,
                    format!("grant_type {other:?} is not supported here (use client_credentials)"),
                ));
            }
        }
        Ok(self.userless_tokens(GUEST_SCOPE))
    }

    /// Opens a session with no user (`scope` tells the administrator's from a guest's) and answers its access
    /// token: there is no refresh token, the client asks again.
    fn userless_tokens(&mut self, scope: &str) -> Value {
        let session_id = random_hex::<16>();
        let session = Session {
            user_id: None,
            scope: scope.into(),
            provider_type: None,
            revoked: false,
            refresh_ttl: Duration::ZERO,
        };
        self.core.db.sessions.insert(session_id.clone(), session);
        self.token_response(&session_id, false)
    }

    pub(super) fn introspect_token(&self, req: &Req) -> Value {
        let Ok(session_id) = self.session_of(req.bearer()) else {
            return json!({});
        };
        let session = &self.core.db.sessions[&session_id];
        json!({
            "token_type": "Bearer",
            "client_id": self.state.env_id,
            "sub": session.user_id.clone().unwrap_or_else(|| self.state.env_id.clone()),
            "scope": session.scope,
        })
    }

    pub(super) fn revoke_token(&mut self, req: &Req) -> ApiResult<Value> {
        let body: RevokeBody = req.body()?;
        let token = given(&body.token)
            .or_else(|| req.bearer())
            .ok_or_else(|| ApiError::invalid_argument("token is required (body `token` or Authorization: Bearer)"))?;
        let session_id = self
            .core
            .db
            .access
            .get(token)
            .map(|r| r.session_id.clone())
            .or_else(|| self.core.db.refresh.get(token).map(|r| r.session_id.clone()));
        // RFC 7009: an unknown token is not an error.
        if let Some(session) = session_id.and_then(|id| self.core.db.sessions.get_mut(&id)) {
            session.revoked = true;
        }
        Ok(json!({}))
    }

    pub(super) fn sign_out_user(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let body: SignOutBody = req.body()?;
        if let Some(session) = self.core.db.sessions.get_mut(&caller.session_id) {
            session.revoked = true;
        }
        Ok(match given(&body.redirect_uri) {
            Some(uri) => {
                let mut uri = uri.to_owned();
                if let Some(state) = given(&body.state) {
                    uri.push(if uri.contains('?') { '&' } else { '?' });
                    uri.push_str(&format!("state={}", percent_encode(state)));
                }
                json!({ "redirect_uri": uri })
            }
            None => json!({}),
        })
    }
}
