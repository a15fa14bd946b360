//! Sessions and the tokens that stand for them: resolving a Bearer token, minting access and refresh
//! tokens, opening a session on sign-in.

use std::time::Duration;

use serde_json::{Value, json};

use super::Ctx;
use super::request::Req;
use crate::state::{AccessRecord, ApiError, ApiResult, RefreshRecord, RefreshState, Session};
use crate::util::{self, random_hex, random_token, unix_secs};

/// The signed-in caller of a user endpoint.
pub(super) struct Caller {
    pub session_id: String,
    pub user_id: String,
}

impl Ctx<'_> {
    /// Resolves a Bearer token to its session (any kind), with the documented 401 answers.
    pub(super) fn session_of(&self, token: Option<&str>) -> ApiResult<String> {
        self.core.session_of(token)
    }

    /// The signed-in user of a user endpoint.
    pub(super) fn caller(&self, req: &Req) -> ApiResult<Caller> {
        let session_id = self.session_of(req.bearer())?;
        let user_id = self.core.db.sessions[&session_id]
            .user_id
            .clone()
            .ok_or_else(|| ApiError::permission_denied("a client-credentials token has no user"))?;
        Ok(Caller { session_id, user_id })
    }

    pub(super) fn mint_access(&mut self, session_id: &str) -> String {
        let now = self.now();
        let ttl = self.core.config.access_token_ttl;
        let session = &self.core.db.sessions[session_id];
        let user = session.user_id.as_ref().and_then(|id| self.core.db.users.get(id));
        let env = &self.state.env_id;
        let mut claims = json!({
            "iss": self.state.url,
            "aud": env,
            "iat": unix_secs(now),
            "exp": unix_secs(now + ttl),
            "jti": random_hex::<12>(),
            "scope": session.scope,
            "project_id": env,
        });
        let c = claims.as_object_mut().expect("object");
        match user {
            Some(user) => {
                let group = if user.anonymous { "anonymous" } else { "user" };
                c.insert("sub".into(), json!(user.id));
                c.insert("user_id".into(), json!(user.id));
                c.insert("name".into(), json!(user.name));
                c.insert("groups".into(), json!([group]));
                c.insert("roles".into(), json!([group]));
                c.insert("user_type".into(), json!(if user.anonymous { "anonymous" } else { "external" }));
                c.insert("client_type".into(), json!("client_user"));
                c.insert("is_system_admin".into(), json!(false));
                if !user.picture.is_empty() {
                    c.insert("picture".into(), json!(user.picture));
                }
                if let Some(email) = &user.email {
                    c.insert("email".into(), json!(email));
                }
                if let Some(phone) = &user.phone {
                    c.insert("phone_number".into(), json!(phone));
                }
            }
            None => {
                c.insert("sub".into(), json!(env));
                c.insert("user_id".into(), json!(env));
                c.insert("name".into(), json!(env));
                c.insert("groups".into(), json!(["admin"]));
                c.insert("roles".into(), json!(["admin"]));
                c.insert("user_type".into(), json!("internal"));
                c.insert("client_type".into(), json!("client"));
                c.insert("is_system_admin".into(), json!(true));
            }
        }
        if let Some(provider_type) = &session.provider_type {
            c.insert("provider_type".into(), json!(provider_type));
        }
        let token = util::sign_jwt(&self.state.jwt_key, &self.state.kid, &claims);
        let db = &mut self.core.db;
        if db.access.len() > 50_000 {
            db.access.retain(|_, r| r.expires_at > now);
        }
        db.access.insert(token.clone(), AccessRecord { session_id: session_id.to_owned(), expires_at: now + ttl });
        token
    }

    pub(super) fn new_refresh(&mut self, session_id: &str) -> String {
        let now = self.now();
        let ttl = self.core.db.sessions[session_id].refresh_ttl;
        let token = random_token::<48>("m.");
        self.core.db.refresh.insert(
            token.clone(),
            RefreshRecord { session_id: session_id.to_owned(), expires_at: now + ttl, state: RefreshState::Active },
        );
        token
    }

    pub(super) fn token_response(&mut self, session_id: &str, refresh: bool) -> Value {
        let access = self.mint_access(session_id);
        let session = self.core.db.sessions[session_id].clone();
        let mut body = json!({
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": util::secs(self.core.config.access_token_ttl),
            "scope": session.scope,
        });
        if let Some(uid) = &session.user_id {
            let anonymous = self.core.db.users.get(uid).is_some_and(|u| u.anonymous);
            body["sub"] = json!(uid);
            body["groups"] = json!([if anonymous { "anonymous" } else { "user" }]);
        }
        if refresh {
            body["refresh_token"] = json!(self.new_refresh(session_id));
        }
        body
    }

    /// Opens a session for a user and answers its tokens.
    pub(super) fn sign_in_user(
        &mut self,
        user_id: &str,
        scope: &str,
        provider_type: &str,
        refresh_ttl: Duration,
    ) -> Value {
        let now = self.now();
        if let Some(user) = self.core.db.users.get_mut(user_id) {
            user.last_login = Some(now);
        }
        let session_id = random_hex::<16>();
        self.core.db.sessions.insert(
            session_id.clone(),
            Session {
                user_id: Some(user_id.to_owned()),
                scope: scope.to_owned(),
                provider_type: Some(provider_type.to_owned()),
                revoked: false,
                refresh_ttl,
            },
        );
        self.token_response(&session_id, true)
    }

    pub(super) fn default_refresh_ttl(&self) -> Duration {
        self.core.config.refresh_token_ttl
    }
}
