//! The 29 operations of `openapi/auth.yaml`, as synchronous functions over the locked state.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::SentCode;
use crate::state::{
    AccessRecord, Address, ApiError, ApiResult, CAPTCHA_CHALLENGE_TTL, CAPTCHA_TOKEN_TTL, CUSTOM_REFRESH_TTL,
    Challenge, Core, Identity, PROVIDER_TOKEN_TTL, ProviderGrant, RefreshRecord, RefreshState, SUDO_TTL, Session,
    State, SudoToken, User, VERIFICATION_TOKEN_TTL, Verification, VerificationToken, verify_password,
};
use crate::util::{
    self, canonical_email, canonical_phone, is_blankish, percent_encode, phone_digits, random_hex, random_token,
    unix_secs,
};

/// Every operation: (method, path, operationId). `DELETE /auth/v1/user/provider/{provider_id}` is matched
/// separately (see [`route`]).
pub(crate) const OPERATIONS: &[(&str, &str, &str)] = &[
    ("POST", "/auth/v1/signup", "sign_up"),
    ("POST", "/auth/v1/signin", "sign_in"),
    ("POST", "/auth/v1/signin/anonymously", "sign_in_anonymously"),
    ("POST", "/auth/v1/signin/with/provider", "sign_in_with_provider"),
    ("POST", "/auth/v1/signin/custom", "sign_in_with_custom_ticket"),
    ("POST", "/auth/v1/token", "grant_token"),
    ("GET", "/auth/v1/token/introspect", "introspect_token"),
    ("POST", "/auth/v1/revoke", "revoke_token"),
    ("POST", "/auth/v1/user/signout", "sign_out_user"),
    ("GET", "/auth/v1/user/me", "get_user_me"),
    ("DELETE", "/auth/v1/user/me", "delete_user_me"),
    ("POST", "/auth/v1/user/basic/edit", "edit_user_basic"),
    ("PATCH", "/auth/v1/user/profile", "patch_user_profile"),
    ("GET", "/auth/v1/user/provider", "list_user_providers"),
    ("DELETE", "/auth/v1/user/provider/{provider_id}", "unbind_provider"),
    ("POST", "/auth/v1/user/provider/bind", "bind_provider"),
    ("POST", "/auth/v1/user/sudo", "get_sudo_token"),
    ("PATCH", "/auth/v1/user/password", "set_password"),
    ("PATCH", "/auth/v1/user/contact", "update_user_contact"),
    ("POST", "/auth/v1/verification", "send_verification"),
    ("POST", "/auth/v1/verification/verify", "verify_verification"),
    ("GET", "/auth/v1/provider/uri", "get_provider_uri"),
    ("POST", "/auth/v1/provider/token", "get_provider_token"),
    ("POST", "/auth/v1/reset", "reset_password"),
    ("POST", "/auth/v1/captcha/data", "create_captcha_data"),
    ("POST", "/auth/v1/captcha/data/verify", "verify_captcha_data"),
    ("POST", "/auth/v1/captcha/init", "init_captcha"),
    ("GET", "/auth/v1/checkUsername", "check_username"),
    ("GET", "/auth/v1/checkIfUserExist", "check_if_user_exist"),
];

const UNBIND_PREFIX: &str = "/auth/v1/user/provider/";

/// The operation a request addresses.
pub(crate) fn route(method: &str, path: &str) -> Option<&'static str> {
    if let Some(&(_, _, op)) = OPERATIONS.iter().find(|(m, p, _)| *m == method && *p == path) {
        return Some(op);
    }
    let id = path.strip_prefix(UNBIND_PREFIX)?;
    (method == "DELETE" && !id.is_empty() && !id.contains('/')).then_some("unbind_provider")
}

/// Built-in identity providers listed by `GET /user/provider`: (id, name, homepage).
const PROVIDERS: &[(&str, &str, &str)] = &[
    ("github", "GitHub", "https://github.com"),
    ("google", "Google", "https://accounts.google.com"),
    ("wx_open", "WeChat Open Platform", "https://open.weixin.qq.com"),
];

const CAPTCHA_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// One parsed request.
pub(crate) struct Req {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Map<String, Value>,
}

impl Req {
    fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    fn device_id(&self) -> Option<&str> {
        self.header("x-device-id").map(str::trim).filter(|d| !d.is_empty())
    }

    fn require_device_id(&self) -> ApiResult<&str> {
        self.device_id().ok_or_else(|| ApiError::invalid_argument("x-device-id header is required"))
    }

    fn authorization(&self, scheme: &str) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (s, rest) = value.split_once(' ')?;
        s.eq_ignore_ascii_case(scheme).then(|| rest.trim()).filter(|t| !t.is_empty())
    }

    fn bearer(&self) -> Option<&str> {
        self.authorization("Bearer")
    }

    fn basic(&self) -> Option<(String, String)> {
        let decoded = base64::engine::general_purpose::STANDARD.decode(self.authorization("Basic")?).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':').unwrap_or((&text, ""));
        Some((id.to_owned(), secret.to_owned()))
    }

    /// The captcha token: header `x-captcha-token` (docs) or query `captcha_token` (JS SDK).
    fn captcha_token(&self) -> Option<&str> {
        self.header("x-captcha-token").or_else(|| self.query("captcha_token")).map(str::trim).filter(|t| !t.is_empty())
    }

    fn body<T: DeserializeOwned>(&self) -> ApiResult<T> {
        serde_json::from_value(Value::Object(self.body.clone()))
            .map_err(|e| ApiError::invalid_argument(format!("invalid request body: {e}")))
    }
}

/// A non-empty string field, or `None`.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn required<'a>(value: &'a Option<String>, name: &str) -> ApiResult<&'a str> {
    given(value).ok_or_else(|| ApiError::invalid_argument(format!("{name} is required")))
}

fn invalid_client() -> ApiError {
    ApiError::new(401, "invalid_client", 16, "client not found: client_id must be the environment id")
}

/// Runs one operation.
pub(crate) fn call(state: &State, op: &str, req: &Req) -> ApiResult<Value> {
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

/// The signed-in caller of a user endpoint.
struct Caller {
    session_id: String,
    user_id: String,
}

struct Ctx<'a> {
    state: &'a State,
    core: &'a mut Core,
}

// ---------------------------------------------------------------------------------------------------------
// Request bodies (unknown fields ignored; `null` = absent).

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignUpBody {
    email: Option<String>,
    phone_number: Option<String>,
    verification_token: Option<String>,
    provider_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    name: Option<String>,
    gender: Option<String>,
    picture: Option<String>,
    locale: Option<String>,
    anonymous_token: Option<String>,
    client_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignInBody {
    username: Option<String>,
    password: Option<String>,
    verification_token: Option<String>,
    provider_token: Option<String>,
    params: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProviderTokenOnly {
    provider_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProviderSignInBody {
    provider_token: Option<String>,
    provider_id: Option<String>,
    force_disable_sign_up: Option<bool>,
    sync_profile: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CustomSignInBody {
    provider_id: Option<String>,
    ticket: Option<String>,
}

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

#[derive(Deserialize, Default)]
#[serde(default)]
struct EditBasicBody {
    user_id: Option<String>,
    nickname: Option<String>,
    username: Option<String>,
    description: Option<String>,
    avatar_url: Option<String>,
    gender: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    new_password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PatchProfileBody {
    name: Option<String>,
    picture: Option<String>,
    username: Option<String>,
    gender: Option<String>,
    locale: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SudoBody {
    password: Option<String>,
    verification_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SetPasswordBody {
    sudo_token: Option<String>,
    old_password: Option<String>,
    new_password: Option<String>,
    confirm_password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContactBody {
    email: Option<String>,
    phone_number: Option<String>,
    sudo_token: Option<String>,
    verification_token: Option<String>,
    conflict_resolution: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VerificationBody {
    email: Option<String>,
    phone_number: Option<String>,
    target: Option<String>,
    usage: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VerifyBody {
    verification_id: Option<String>,
    verification_code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProviderTokenBody {
    provider_id: Option<String>,
    provider_code: Option<String>,
    provider_redirect_uri: Option<String>,
    provider_access_token: Option<String>,
    provider_id_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetBody {
    email: Option<String>,
    phone_number: Option<String>,
    new_password: Option<String>,
    verification_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CaptchaDataBody {
    state: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CaptchaVerifyBody {
    token: Option<String>,
    key: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CaptchaInitBody {
    redirect_uri: Option<String>,
    state: Option<String>,
}

/// Password rule: 8 to 64 characters (the service default also wants character classes; the emulator
/// does not, so tests can use simple passwords).
fn check_new_password(password: &str) -> ApiResult<()> {
    let len = password.chars().count();
    if (8..=64).contains(&len) {
        Ok(())
    } else {
        Err(ApiError::invalid_argument("password must be 8 to 64 characters"))
    }
}

fn password_not_set() -> ApiError {
    ApiError::new(400, "password_not_set", 9, "the user has no password")
}

/// Exactly one of an email and a phone number, validated.
fn parse_address(email: &Option<String>, phone: &Option<String>) -> ApiResult<Address> {
    match (given(email), given(phone).filter(|p| !is_blankish(p))) {
        (Some(_), Some(_)) => Err(ApiError::invalid_argument("email and phone number cannot both be set")),
        (None, None) => Err(ApiError::invalid_argument("email or phone number is empty")),
        (Some(e), None) => canonical_email(e)
            .map(Address::Email)
            .ok_or_else(|| ApiError::invalid_argument(format!("invalid email address {e:?}"))),
        (None, Some(p)) => canonical_phone(p).map(Address::Phone).ok_or_else(|| {
            ApiError::invalid_argument(format!("invalid phone number {p:?}: expected \"+<country code> <number>\""))
        }),
    }
}

/// Whether a loosely formatted address (as the SDK may send it) names `address`.
fn address_matches(address: &Address, input: &str) -> bool {
    match address {
        Address::Email(e) => canonical_email(input).as_deref() == Some(e.as_str()),
        Address::Phone(p) => phone_digits(input).is_some() && phone_digits(input) == phone_digits(p),
    }
}

fn address_mismatch() -> ApiError {
    ApiError::invalid_argument("phone or email does not match validation code")
}

fn gender(value: &str) -> ApiResult<String> {
    match value {
        "MALE" | "FEMALE" => Ok(value.to_owned()),
        other => Err(ApiError::invalid_argument(format!("gender must be MALE or FEMALE, not {other:?}"))),
    }
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

    // ----- tokens ------------------------------------------------------------------------------------------

    /// Resolves a Bearer token to its session (any kind), with the documented 401 answers.
    fn session_of(&self, token: Option<&str>) -> ApiResult<String> {
        let token = token.ok_or_else(|| ApiError::invalid_token("missing access token"))?;
        let record = self.core.db.access.get(token).ok_or_else(|| ApiError::invalid_token("invalid access token"))?;
        let session = self
            .core
            .db
            .sessions
            .get(&record.session_id)
            .ok_or_else(|| ApiError::invalid_token("invalid access token"))?;
        if session.revoked {
            return Err(ApiError::invalid_token("access token has been revoked"));
        }
        if self.now() >= record.expires_at {
            return Err(ApiError::expired_token());
        }
        if let Some(uid) = &session.user_id
            && !self.core.db.users.contains_key(uid)
        {
            return Err(ApiError::invalid_token("the token's user no longer exists"));
        }
        Ok(record.session_id.clone())
    }

    /// The signed-in user of a user endpoint.
    fn caller(&self, req: &Req) -> ApiResult<Caller> {
        let session_id = self.session_of(req.bearer())?;
        let user_id = self.core.db.sessions[&session_id]
            .user_id
            .clone()
            .ok_or_else(|| ApiError::permission_denied("a client-credentials token has no user"))?;
        Ok(Caller { session_id, user_id })
    }

    fn mint_access(&mut self, session_id: &str) -> String {
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

    fn new_refresh(&mut self, session_id: &str) -> String {
        let now = self.now();
        let ttl = self.core.db.sessions[session_id].refresh_ttl;
        let token = random_token::<48>("m.");
        self.core.db.refresh.insert(
            token.clone(),
            RefreshRecord { session_id: session_id.to_owned(), expires_at: now + ttl, state: RefreshState::Active },
        );
        token
    }

    fn token_response(&mut self, session_id: &str, refresh: bool) -> Value {
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
    fn sign_in_user(&mut self, user_id: &str, scope: &str, provider_type: &str, refresh_ttl: Duration) -> Value {
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

    fn default_refresh_ttl(&self) -> Duration {
        self.core.config.refresh_token_ttl
    }

    // ----- short-lived tokens ------------------------------------------------------------------------------

    fn verification_token(&self, token: &str) -> ApiResult<Address> {
        match self.core.db.verification_tokens.get(token) {
            Some(t) if self.now() < t.expires_at => Ok(t.address.clone()),
            _ => Err(ApiError::invalid_argument("verification token invalid or expired")),
        }
    }

    fn consume_verification_token(&mut self, token: &str) {
        self.core.db.verification_tokens.remove(token);
    }

    fn check_sudo(&self, token: &str, user_id: &str) -> ApiResult<()> {
        match self.core.db.sudo_tokens.get(token) {
            Some(s) if s.user_id == user_id && self.now() < s.expires_at => Ok(()),
            _ => Err(ApiError::permission_denied("sudo token invalid or expired")),
        }
    }

    fn provider_grant(&self, token: &str) -> ApiResult<ProviderGrant> {
        match self.core.db.provider_tokens.get(token) {
            Some(g) if self.now() < g.expires_at => Ok(g.clone()),
            _ => Err(ApiError::invalid_grant("provider token invalid or expired")),
        }
    }

    /// Checks that `grant`'s identity can be bound to `user_id` (`None`: a user about to be created).
    fn check_bindable(&self, grant: &ProviderGrant, user_id: Option<&str>) -> ApiResult<bool> {
        if let Some(owner) = self.core.db.user_by_identity(&grant.provider_id, &grant.provider_user_id) {
            if Some(owner.id.as_str()) == user_id {
                return Ok(false); // already bound to this user
            }
            return Err(ApiError::failed_precondition("this third-party account is bound to another user"));
        }
        if let Some(user) = user_id.and_then(|id| self.core.db.users.get(id))
            && user.identities.iter().any(|i| i.provider_id == grant.provider_id)
        {
            return Err(ApiError::failed_precondition(format!(
                "another {} account is already bound to this user",
                grant.provider_id
            )));
        }
        Ok(true)
    }

    fn bind(&mut self, user_id: &str, grant: &ProviderGrant) -> ApiResult<()> {
        let now = self.now();
        let user = self.user_mut(user_id)?;
        user.identities.push(Identity {
            provider_id: grant.provider_id.clone(),
            provider_user_id: grant.provider_user_id.clone(),
            name: grant.name.clone(),
            picture: grant.picture.clone(),
        });
        user.updated_at = now;
        Ok(())
    }

    /// The captcha check: `Ok(())` when a valid captcha token is present; `captcha_required` when none is;
    /// `captcha_invalid` when the one present is unknown or expired.
    fn require_captcha(&self, req: &Req) -> ApiResult<()> {
        let token = req.captcha_token().ok_or_else(ApiError::captcha_required)?;
        match self.core.db.captcha_tokens.get(token) {
            Some(expires_at) if self.now() < *expires_at => Ok(()),
            _ => Err(ApiError::captcha_invalid("captcha token invalid or expired")),
        }
    }

    /// Password check shared by `signin` and the password grant, with the failed-password captcha rule.
    fn password_sign_in(&mut self, req: &Req, login: &str, password: &str) -> ApiResult<(String, &'static str)> {
        let key = login.trim().to_lowercase();
        if let Some(limit) = self.core.config.captcha_after_failed_passwords
            && self.core.db.failed_passwords.get(&key).copied().unwrap_or(0) >= limit
        {
            self.require_captcha(req)?;
        }
        let user = self.core.db.user_by_login(login).ok_or_else(|| ApiError::not_found("user not found"))?;
        let hash = user.password_hash.clone().ok_or_else(password_not_set)?;
        let user_id = user.id.clone();
        let kind = if user.username.as_deref() == Some(login.trim()) {
            "username"
        } else if canonical_email(login).is_some() {
            "email"
        } else {
            "phone"
        };
        if !verify_password(&hash, password) {
            *self.core.db.failed_passwords.entry(key).or_default() += 1;
            return Err(ApiError::invalid_password("wrong password"));
        }
        self.core.db.failed_passwords.remove(&key);
        Ok((user_id, kind))
    }

    // ----- sign-up and sign-in -----------------------------------------------------------------------------

    fn sign_up(&mut self, req: &Req) -> ApiResult<Value> {
        let body: SignUpBody = req.body()?;
        if given(&body.client_id).is_some_and(|c| c != self.state.env_id) {
            return Err(invalid_client());
        }
        let has_address = given(&body.email).is_some() || given(&body.phone_number).is_some_and(|p| !is_blankish(p));
        let mut address = None;
        if has_address {
            let addr = parse_address(&body.email, &body.phone_number)?;
            let token =
                given(&body.verification_token).ok_or_else(|| ApiError::invalid_argument("verification required"))?;
            if self.verification_token(token)? != addr {
                return Err(address_mismatch());
            }
            address = Some(addr);
        } else if let Some(token) = given(&body.verification_token) {
            address = Some(self.verification_token(token)?);
        }
        let grant = match given(&body.provider_token) {
            Some(t) => Some(self.provider_grant(t)?),
            None => None,
        };
        if address.is_none() && grant.is_none() {
            return Err(ApiError::invalid_argument("email or phone number is empty"));
        }
        if let Some(addr) = &address
            && self.core.db.user_by_address(addr).is_some()
        {
            return Err(ApiError::already_exists("user already exists"));
        }
        if let Some(grant) = &grant
            && self.core.db.user_by_identity(&grant.provider_id, &grant.provider_user_id).is_some()
        {
            return Err(ApiError::already_exists("this third-party account is already registered"));
        }
        let username = given(&body.username).map(str::to_owned);
        if let Some(u) = &username
            && !util::valid_username(u)
        {
            return Err(ApiError::invalid_argument(
                "username must be 2 to 48 letters, digits or -_.:+@ and start with a letter or digit",
            ));
        }
        let password_hash = match body.password.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => {
                check_new_password(p)?;
                Some(self.core.hash_password(p)?)
            }
            None => None,
        };
        // Upgrading an anonymous user keeps its id.
        let anonymous_id = match given(&body.anonymous_token) {
            Some(token) => {
                let session_id = self
                    .session_of(Some(token))
                    .map_err(|_| ApiError::invalid_argument("anonymous_token invalid or expired"))?;
                let uid = self.core.db.sessions[&session_id].user_id.clone();
                match uid.filter(|id| self.core.db.users.get(id).is_some_and(|u| u.anonymous)) {
                    Some(id) => Some(id),
                    None => return Err(ApiError::invalid_argument("anonymous_token is not an anonymous user's token")),
                }
            }
            None => None,
        };
        if let Some(u) = &username
            && self.core.db.username_taken(u, anonymous_id.as_deref())
        {
            return Err(ApiError::already_exists(format!("username {u} already exists")));
        }

        let now = self.now();
        let created_from = match (&address, &grant) {
            (Some(Address::Email(_)), _) => "email".to_owned(),
            (Some(Address::Phone(_)), _) => "phone".to_owned(),
            (None, Some(g)) => g.provider_id.clone(),
            (None, None) => unreachable!("checked above"),
        };
        let id = match &anonymous_id {
            Some(id) => id.clone(),
            None => self.core.new_user_id(),
        };
        let mut user = match anonymous_id.as_ref().and_then(|id| self.core.db.users.get(id)) {
            Some(existing) => existing.clone(),
            None => User::new(id.clone(), now, &created_from),
        };
        user.anonymous = false;
        user.updated_at = now;
        match &address {
            Some(Address::Email(e)) => {
                user.email = Some(e.clone());
                user.email_verified = true;
            }
            Some(Address::Phone(p)) => user.phone = Some(p.clone()),
            None => {}
        }
        if let Some(g) = &grant {
            user.identities.push(Identity {
                provider_id: g.provider_id.clone(),
                provider_user_id: g.provider_user_id.clone(),
                name: g.name.clone(),
                picture: g.picture.clone(),
            });
            if user.picture.is_empty() {
                user.picture = g.picture.clone();
            }
        }
        if let Some(u) = username {
            user.username = Some(u);
        }
        if let Some(hash) = password_hash {
            user.password_hash = Some(hash);
            user.password_updated_at = Some(now);
        }
        if let Some(g) = given(&body.gender) {
            user.gender = Some(g.to_owned());
        }
        if let Some(p) = given(&body.picture) {
            user.picture = p.to_owned();
        }
        if let Some(l) = given(&body.locale) {
            user.locale = Some(l.to_owned());
        }
        user.name = given(&body.name)
            .map(str::to_owned)
            .or_else(|| user.username.clone())
            .or_else(|| user.email.clone())
            .or_else(|| user.phone.clone())
            .or_else(|| grant.as_ref().map(|g| g.name.clone()))
            .unwrap_or_default();
        self.core.db.users.insert(id.clone(), user);
        if anonymous_id.is_some() {
            self.core.db.anon_by_device.retain(|_, uid| *uid != id);
        }
        if let Some(token) = given(&body.verification_token) {
            self.consume_verification_token(token);
        }
        Ok(self.sign_in_user(&id, "user", &created_from, self.default_refresh_ttl()))
    }

    fn sign_in(&mut self, req: &Req) -> ApiResult<Value> {
        let body: SignInBody = req.body()?;
        let grant = match given(&body.provider_token) {
            Some(t) => Some(self.provider_grant(t)?),
            None => None,
        };
        let (user_id, kind) = if let Some(password) = body.password.as_deref().filter(|p| !p.is_empty()) {
            let login = required(&body.username, "username")?.to_owned();
            self.password_sign_in(req, &login, password)?
        } else if let Some(token) = given(&body.verification_token) {
            let address = self.verification_token(token)?;
            if let Some(username) = given(&body.username).filter(|u| !is_blankish(u))
                && !address_matches(&address, username)
            {
                return Err(address_mismatch());
            }
            let user = self.core.db.user_by_address(&address).ok_or_else(|| ApiError::not_found("user not found"))?;
            let user_id = user.id.clone();
            self.consume_verification_token(token);
            (user_id, if matches!(address, Address::Email(_)) { "email" } else { "phone" })
        } else if given(&body.params).is_some() {
            return Err(ApiError::invalid_argument(
                "encrypted-password sign-in is not available: send username and password",
            ));
        } else {
            return Err(ApiError::invalid_argument("password or verification_token is required"));
        };
        if let Some(grant) = &grant
            && self.check_bindable(grant, Some(&user_id))?
        {
            self.bind(&user_id, grant)?;
        }
        Ok(self.sign_in_user(&user_id, "user", kind, self.default_refresh_ttl()))
    }

    fn sign_in_anonymously(&mut self, req: &Req) -> ApiResult<Value> {
        if !self.core.config.anonymous_enabled {
            return Err(ApiError::new(403, "unimplemented", 12, "anonymous sign-in is not enabled"));
        }
        let device = req.require_device_id()?.to_owned();
        let body: ProviderTokenOnly = req.body()?;
        let grant = match given(&body.provider_token) {
            Some(t) => Some(self.provider_grant(t)?),
            None => None,
        };
        let existing =
            self.core.db.anon_by_device.get(&device).filter(|id| self.core.db.users.contains_key(*id)).cloned();
        let user_id = match existing {
            Some(id) => id,
            None => {
                let id = random_token::<16>("");
                let mut user = User::new(id.clone(), self.now(), "anonymous");
                user.anonymous = true;
                user.name = "anonymous".to_owned();
                self.core.db.users.insert(id.clone(), user);
                self.core.db.anon_by_device.insert(device, id.clone());
                id
            }
        };
        if let Some(grant) = &grant
            && self.check_bindable(grant, Some(&user_id))?
        {
            self.bind(&user_id, grant)?;
        }
        Ok(self.sign_in_user(&user_id, "anonymous", "anonymous", self.default_refresh_ttl()))
    }

    fn sign_in_with_provider(&mut self, req: &Req) -> ApiResult<Value> {
        req.require_device_id()?;
        let body: ProviderSignInBody = req.body()?;
        let grant = self.provider_grant(required(&body.provider_token, "provider_token")?)?;
        if given(&body.provider_id).is_some_and(|p| p != grant.provider_id) {
            return Err(ApiError::invalid_argument("provider_id does not match the provider token"));
        }
        let existing = self.core.db.user_by_identity(&grant.provider_id, &grant.provider_user_id).map(|u| u.id.clone());
        let user_id = match existing {
            Some(id) => {
                if body.sync_profile == Some(true) {
                    let now = self.now();
                    let user = self.user_mut(&id)?;
                    user.name = grant.name.clone();
                    user.picture = grant.picture.clone();
                    user.updated_at = now;
                }
                id
            }
            None if body.force_disable_sign_up == Some(true) => return Err(ApiError::not_found("user not found")),
            None => {
                let id = self.core.new_user_id();
                let mut user = User::new(id.clone(), self.now(), &grant.provider_id);
                user.name = grant.name.clone();
                user.picture = grant.picture.clone();
                self.core.db.users.insert(id.clone(), user);
                self.bind(&id, &grant)?;
                id
            }
        };
        Ok(self.sign_in_user(&user_id, "user sso", &grant.provider_id, self.default_refresh_ttl()))
    }

    fn sign_in_with_custom_ticket(&mut self, req: &Req) -> ApiResult<Value> {
        let body: CustomSignInBody = req.body()?;
        let provider = required(&body.provider_id, "provider_id")?;
        if provider != "custom" {
            return Err(ApiError::invalid_argument("provider_id must be \"custom\""));
        }
        let ticket = required(&body.ticket, "ticket")?;
        let custom_user_id = match self.core.db.tickets.get(ticket) {
            Some(t) if self.now() < t.expires_at => t.custom_user_id.clone(),
            _ => return Err(ApiError::invalid_grant("ticket invalid or expired")),
        };
        let existing = self.core.db.user_by_identity("custom", &custom_user_id).map(|u| u.id.clone());
        let user_id = match existing {
            Some(id) => id,
            None => {
                let id = self.core.new_user_id();
                let mut user = User::new(id.clone(), self.now(), "custom");
                user.name = custom_user_id.clone();
                user.identities.push(Identity {
                    provider_id: "custom".into(),
                    provider_user_id: custom_user_id.clone(),
                    name: custom_user_id,
                    picture: String::new(),
                });
                self.core.db.users.insert(id.clone(), user);
                id
            }
        };
        Ok(self.sign_in_user(&user_id, "user", "custom", CUSTOM_REFRESH_TTL))
    }

    fn grant_token(&mut self, req: &Req) -> ApiResult<Value> {
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
                let session_id = random_hex::<16>();
                self.core.db.sessions.insert(
                    session_id.clone(),
                    Session {
                        user_id: None,
                        scope: "client".into(),
                        provider_type: None,
                        revoked: false,
                        refresh_ttl: Duration::ZERO,
                    },
                );
                Ok(self.token_response(&session_id, false))
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

    fn introspect_token(&self, req: &Req) -> Value {
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

    fn revoke_token(&mut self, req: &Req) -> ApiResult<Value> {
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

    fn sign_out_user(&mut self, req: &Req) -> ApiResult<Value> {
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

    // ----- the user ----------------------------------------------------------------------------------------

    fn get_user_me(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        Ok(self.user(&caller.user_id)?.profile())
    }

    fn delete_user_me(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let sudo = req
            .query("sudo_token")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::invalid_argument("sudo_token is required"))?;
        self.check_sudo(sudo, &caller.user_id)?;
        self.core.db.delete_user(&caller.user_id);
        Ok(json!({}))
    }

    fn edit_user_basic(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let body: EditBasicBody = req.body()?;
        if given(&body.user_id).is_some_and(|id| id != caller.user_id) {
            return Err(ApiError::permission_denied("editing another user needs administrator rights"));
        }
        let uid = caller.user_id.clone();
        // Validate everything first so a refused edit changes nothing.
        if let Some(nick) = &body.nickname
            && !(2..=48).contains(&nick.chars().count())
        {
            return Err(ApiError::invalid_argument("nickname must be 2 to 48 characters"));
        }
        if let Some(u) = &body.username {
            if !util::valid_username(u) {
                return Err(ApiError::invalid_argument(
                    "username must be 2 to 48 letters, digits or -_.:+@ and start with a letter or digit",
                ));
            }
            if self.core.db.username_taken(u, Some(&uid)) {
                return Err(ApiError::already_exists(format!("username {u} already exists")));
            }
        }
        let gender = body.gender.as_deref().map(gender).transpose()?;
        let email = match given(&body.email) {
            Some(e) => {
                let e = canonical_email(e).ok_or_else(|| ApiError::invalid_argument(format!("invalid email {e:?}")))?;
                if self.core.db.user_by_address(&Address::Email(e.clone())).is_some_and(|u| u.id != uid) {
                    return Err(ApiError::failed_precondition("email already bound to another user"));
                }
                Some(e)
            }
            None => None,
        };
        let phone = match given(&body.phone) {
            Some(p) => {
                let p = canonical_phone(p).ok_or_else(|| {
                    ApiError::invalid_argument(format!(
                        "invalid phone number {p:?}: expected \"+<country code> <number>\""
                    ))
                })?;
                if self.core.db.user_by_address(&Address::Phone(p.clone())).is_some_and(|u| u.id != uid) {
                    return Err(ApiError::failed_precondition("phone number already bound to another user"));
                }
                Some(p)
            }
            None => None,
        };
        let new_hash = match body.new_password.as_deref().filter(|p| !p.is_empty()) {
            Some(new_password) => {
                if let Some(hash) = &self.user(&uid)?.password_hash {
                    let old = body.password.as_deref().unwrap_or_default();
                    if !verify_password(hash, old) {
                        return Err(ApiError::invalid_password("wrong password"));
                    }
                }
                check_new_password(new_password)?;
                Some(self.core.hash_password(new_password)?)
            }
            None => None,
        };
        let now = self.now();
        let changed_password = new_hash.is_some();
        let user = self.user_mut(&uid)?;
        if let Some(nick) = body.nickname {
            user.name = nick;
        }
        if let Some(u) = body.username {
            user.username = Some(u);
        }
        if let Some(d) = body.description {
            user.description = Some(d);
        }
        if let Some(a) = body.avatar_url {
            user.picture = a;
        }
        if let Some(g) = gender {
            user.gender = Some(g);
        }
        if let Some(e) = email
            && user.email.as_deref() != Some(e.as_str())
        {
            user.email = Some(e);
            user.email_verified = false;
        }
        if let Some(p) = phone {
            user.phone = Some(p);
        }
        if let Some(hash) = new_hash {
            user.password_hash = Some(hash);
            user.password_updated_at = Some(now);
        }
        user.updated_at = now;
        if changed_password {
            self.core.db.revoke_user_sessions(&uid, Some(&caller.session_id));
        }
        Ok(json!({}))
    }

    fn patch_user_profile(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let body: PatchProfileBody = req.body()?;
        let uid = caller.user_id;
        if let Some(u) = &body.username {
            if !util::valid_username(u) {
                return Err(ApiError::invalid_argument(
                    "username must be 2 to 48 letters, digits or -_.:+@ and start with a letter or digit",
                ));
            }
            if self.core.db.username_taken(u, Some(&uid)) {
                return Err(ApiError::already_exists(format!("username {u} already exists")));
            }
        }
        let now = self.now();
        let user = self.user_mut(&uid)?;
        if let Some(v) = body.name {
            user.name = v;
        }
        if let Some(v) = body.picture {
            user.picture = v;
        }
        if let Some(v) = body.username {
            user.username = Some(v);
        }
        if let Some(v) = body.gender {
            user.gender = Some(v);
        }
        if let Some(v) = body.locale {
            user.locale = Some(v);
        }
        user.updated_at = now;
        Ok(user.profile())
    }

    fn list_user_providers(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let user = self.user(&caller.user_id)?;
        let bound = |id: &str| user.identities.iter().find(|i| i.provider_id == id);
        let mut data: Vec<Value> = PROVIDERS
            .iter()
            .map(|(id, name, homepage)| {
                let mut item = json!({
                    "id": id, "name": name, "homepage": homepage, "picture": "",
                    "provider_type": "oauth", "bind": bound(id).is_some(),
                });
                if let Some(identity) = bound(id) {
                    item["provider_user_name"] = json!(identity.name);
                }
                item
            })
            .collect();
        for identity in user.identities.iter().filter(|i| !PROVIDERS.iter().any(|(id, ..)| *id == i.provider_id)) {
            data.push(json!({
                "id": identity.provider_id, "name": identity.provider_id, "homepage": "", "picture": "",
                "provider_type": if identity.provider_id == "custom" { "custom" } else { "oauth" },
                "provider_user_name": identity.name, "bind": true,
            }));
        }
        Ok(json!({ "total": data.len(), "data": data }))
    }

    fn unbind_provider(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let provider_id = util::percent_decode(req.path.strip_prefix(UNBIND_PREFIX).unwrap_or_default());
        if let Some(flag) = req.query("with_user_center")
            && flag != "true"
            && flag != "false"
        {
            return Err(ApiError::invalid_argument("with_user_center must be true or false"));
        }
        let now = self.now();
        let user = self.user_mut(&caller.user_id)?;
        let Some(index) = user.identities.iter().position(|i| i.provider_id == provider_id) else {
            return Err(ApiError::new(
                404,
                "provider_not_found",
                5,
                format!("provider {provider_id} is not bound to this user"),
            ));
        };
        if user.identities.len() == 1 && !user.has_first_party_login() && !user.anonymous {
            return Err(ApiError::failed_precondition("cannot unbind the user's only sign-in method"));
        }
        user.identities.remove(index);
        user.updated_at = now;
        Ok(json!({}))
    }

    fn bind_provider(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let body: ProviderTokenOnly = req.body()?;
        let grant = self.provider_grant(required(&body.provider_token, "provider_token")?)?;
        if self.check_bindable(&grant, Some(&caller.user_id))? {
            self.bind(&caller.user_id, &grant)?;
        }
        Ok(json!({}))
    }

    fn get_sudo_token(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let body: SudoBody = req.body()?;
        let password = body.password.as_deref().filter(|p| !p.is_empty());
        match (password, given(&body.verification_token)) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ApiError::invalid_argument("exactly one of password and verification_token is required"));
            }
            (Some(password), None) => {
                let hash = self.user(&caller.user_id)?.password_hash.clone().ok_or_else(password_not_set)?;
                if !verify_password(&hash, password) {
                    return Err(ApiError::invalid_password("wrong password"));
                }
            }
            (None, Some(token)) => {
                let address = self.verification_token(token)?;
                let user = self.user(&caller.user_id)?;
                let own = match &address {
                    Address::Email(e) => user.email.as_deref() == Some(e.as_str()),
                    Address::Phone(p) => user.phone.as_deref() == Some(p.as_str()),
                };
                if !own {
                    return Err(address_mismatch());
                }
                self.consume_verification_token(token);
            }
        }
        let token = random_token::<32>("st.");
        let expires_at = self.now() + SUDO_TTL;
        self.core.db.sudo_tokens.insert(token.clone(), SudoToken { user_id: caller.user_id, expires_at });
        Ok(json!({ "sudo_token": token, "expires_in": util::secs(SUDO_TTL) }))
    }

    fn set_password(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let body: SetPasswordBody = req.body()?;
        let new_password = body
            .new_password
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::invalid_argument("new_password is required"))?;
        let sudo = given(&body.sudo_token).or_else(|| req.query("sudo_token").filter(|s| !s.is_empty()));
        if let Some(sudo) = sudo {
            self.check_sudo(sudo, &caller.user_id)?;
        } else if let Some(old) = body.old_password.as_deref().filter(|p| !p.is_empty()) {
            let hash = self.user(&caller.user_id)?.password_hash.clone().ok_or_else(password_not_set)?;
            if !verify_password(&hash, old) {
                return Err(ApiError::invalid_password("wrong password"));
            }
        } else {
            return Err(ApiError::invalid_argument("sudo_token is required"));
        }
        if body.confirm_password.as_deref().is_some_and(|c| c != new_password) {
            return Err(ApiError::invalid_argument("confirm_password does not match new_password"));
        }
        check_new_password(new_password)?;
        let hash = self.core.hash_password(new_password)?;
        let now = self.now();
        let user = self.user_mut(&caller.user_id)?;
        user.password_hash = Some(hash);
        user.password_updated_at = Some(now);
        user.updated_at = now;
        self.core.db.revoke_user_sessions(&caller.user_id, Some(&caller.session_id));
        Ok(json!({}))
    }

    fn update_user_contact(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let body: ContactBody = req.body()?;
        let sudo = required(&body.sudo_token, "sudo_token")?;
        self.check_sudo(sudo, &caller.user_id)?;
        let token = required(&body.verification_token, "verification_token")?;
        let verified = self.verification_token(token)?;
        let address = if given(&body.email).is_some() || given(&body.phone_number).is_some() {
            parse_address(&body.email, &body.phone_number)?
        } else {
            verified.clone()
        };
        if address != verified {
            return Err(address_mismatch());
        }
        let resolution = given(&body.conflict_resolution).unwrap_or("DEFAULT");
        if !matches!(resolution, "DEFAULT" | "TRANSFER" | "DELETE_ACCOUNT_TRANSFER") {
            return Err(ApiError::invalid_argument(format!("unknown conflict_resolution {resolution:?}")));
        }
        let holder = self.core.db.user_by_address(&address).map(|u| u.id.clone()).filter(|id| *id != caller.user_id);
        if let Some(other) = holder {
            match resolution {
                "TRANSFER" => {
                    if let Some(u) = self.core.db.users.get_mut(&other) {
                        match address {
                            Address::Email(_) => u.email = None,
                            Address::Phone(_) => u.phone = None,
                        }
                    }
                }
                "DELETE_ACCOUNT_TRANSFER" => self.core.db.delete_user(&other),
                _ => {
                    let what = if matches!(address, Address::Email(_)) { "email" } else { "phone number" };
                    return Err(ApiError::failed_precondition(format!("{what} already bound to another user")));
                }
            }
        }
        let now = self.now();
        let user = self.user_mut(&caller.user_id)?;
        match address {
            Address::Email(e) => {
                user.email = Some(e);
                user.email_verified = true;
            }
            Address::Phone(p) => user.phone = Some(p),
        }
        user.updated_at = now;
        self.consume_verification_token(token);
        Ok(json!({}))
    }

    // ----- verification codes ------------------------------------------------------------------------------

    fn send_verification(&mut self, req: &Req) -> ApiResult<Value> {
        let body: VerificationBody = req.body()?;
        let target = given(&body.target).unwrap_or("ANY");
        if !matches!(target, "ANY" | "USER" | "NOT_USER" | "CUR_USER") {
            return Err(ApiError::invalid_argument(format!(
                "target must be ANY, USER, NOT_USER or CUR_USER, not {target:?}"
            )));
        }
        let (address, shown) = if target == "CUR_USER" {
            let caller = self.caller(req)?;
            let user = self.user(&caller.user_id)?;
            let want_phone = match (given(&body.email), given(&body.phone_number)) {
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid_argument("email and phone number cannot both be set"));
                }
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (None, None) => user.email.is_none(),
            };
            let address = if want_phone {
                user.phone.clone().map(Address::Phone)
            } else {
                user.email.clone().map(Address::Email)
            };
            let address = address.ok_or_else(|| {
                ApiError::failed_precondition(if want_phone {
                    "the current user has no phone number"
                } else {
                    "the current user has no email"
                })
            })?;
            let shown = match &address {
                Address::Email(v) | Address::Phone(v) => v.clone(),
            };
            (address, shown)
        } else {
            let address = parse_address(&body.email, &body.phone_number)?;
            let shown = given(&body.email).or(given(&body.phone_number)).unwrap_or_default().to_owned();
            (address, shown)
        };
        let device = req.device_id().unwrap_or_default().to_owned();
        if let Some(limit) = self.core.config.captcha_after_code_requests
            && self.core.db.code_requests.get(&device).copied().unwrap_or(0) >= limit
        {
            self.require_captcha(req)?;
        }
        let is_user = self.core.db.user_by_address(&address).is_some();
        match target {
            "USER" if !is_user => return Err(ApiError::failed_precondition("user does not exist")),
            "NOT_USER" if is_user => return Err(ApiError::failed_precondition("user already exists")),
            _ => {}
        }

        let now = self.now();
        let code = util::random_digits(6);
        let verification_id = random_hex::<16>();
        let ttl = self.core.config.code_ttl;
        let db = &mut self.core.db;
        if let Some(previous) = db.latest_verification.insert(address.key(), verification_id.clone())
            && let Some(v) = db.verifications.get_mut(&previous)
        {
            v.dead.get_or_insert("verification code superseded by a newer one");
        }
        db.verifications.insert(
            verification_id.clone(),
            Verification { address, code: code.clone(), expires_at: now + ttl, attempts: 0, dead: None },
        );
        *db.code_requests.entry(device).or_default() += 1;
        if self.core.config.print_codes {
            println!("cloudbase-emulator: code {code} sent to {shown} (verification_id {verification_id})");
        }
        tracing::debug!(target = %shown, %verification_id, "verification code sent");
        self.core.db.outbox.push(SentCode {
            target: shown,
            code,
            verification_id: verification_id.clone(),
            usage: given(&body.usage).map(str::to_owned),
            sent_at: now,
        });
        if self.core.db.outbox.len() > 10_000 {
            self.core.db.outbox.remove(0);
        }
        Ok(json!({ "verification_id": verification_id, "expires_in": util::secs(ttl), "is_user": is_user }))
    }

    fn verify_verification(&mut self, req: &Req) -> ApiResult<Value> {
        let body: VerifyBody = req.body()?;
        let id = required(&body.verification_id, "verification_id")?;
        let code = required(&body.verification_code, "verification_code")?;
        let now = self.now();
        let max_attempts = self.core.config.code_max_attempts;
        let verification =
            self.core.db.verifications.get_mut(id).ok_or_else(|| ApiError::not_found("verification id not found"))?;
        if let Some(reason) = verification.dead {
            return Err(ApiError::invalid_argument(reason));
        }
        if now >= verification.expires_at {
            return Err(ApiError::invalid_argument("verification code expired"));
        }
        if verification.code != code {
            verification.attempts += 1;
            if verification.attempts >= max_attempts {
                verification.dead = Some("too many wrong verification codes: request a new code");
            }
            return Err(ApiError::invalid_argument("verification code does not match"));
        }
        verification.dead = Some("verification code already used");
        let address = verification.address.clone();
        let token = random_token::<32>("vt.");
        self.core
            .db
            .verification_tokens
            .insert(token.clone(), VerificationToken { address, expires_at: now + VERIFICATION_TOKEN_TTL });
        Ok(json!({ "verification_token": token, "expires_in": util::secs(VERIFICATION_TOKEN_TTL) }))
    }

    fn reset_password(&mut self, req: &Req) -> ApiResult<Value> {
        let body: ResetBody = req.body()?;
        let input = match (given(&body.email), given(&body.phone_number)) {
            (Some(_), Some(_)) => return Err(ApiError::invalid_argument("email and phone number cannot both be set")),
            (None, None) => return Err(ApiError::invalid_argument("email or phone number is empty")),
            (Some(v), None) | (None, Some(v)) => v.to_owned(),
        };
        let token =
            given(&body.verification_token).ok_or_else(|| ApiError::invalid_argument("verification required"))?;
        let address = self.verification_token(token)?;
        let kind_ok = match address {
            Address::Email(_) => given(&body.email).is_some(),
            Address::Phone(_) => given(&body.phone_number).is_some(),
        };
        if !kind_ok || !address_matches(&address, &input) {
            return Err(address_mismatch());
        }
        let new_password = body
            .new_password
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::invalid_argument("new_password is required"))?;
        check_new_password(new_password)?;
        let user_id = self
            .core
            .db
            .user_by_address(&address)
            .map(|u| u.id.clone())
            .ok_or_else(|| ApiError::not_found("user not found"))?;
        let hash = self.core.hash_password(new_password)?;
        let now = self.now();
        let user = self.user_mut(&user_id)?;
        user.password_hash = Some(hash);
        user.password_updated_at = Some(now);
        user.updated_at = now;
        self.core.db.revoke_user_sessions(&user_id, None);
        self.consume_verification_token(token);
        Ok(json!({}))
    }

    // ----- providers ---------------------------------------------------------------------------------------

    fn get_provider_uri(&mut self, req: &Req) -> ApiResult<Value> {
        req.require_device_id()?;
        let provider_id = req
            .query("provider_id")
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| ApiError::invalid_argument("provider_id is required"))?;
        let mut uri = format!(
            "{}/_emulator/oauth/authorize?client_id={}&provider_id={}",
            self.state.url,
            percent_encode(&self.state.env_id),
            percent_encode(provider_id)
        );
        for key in ["redirect_uri", "state", "scope", "response_type"] {
            if let Some(value) = req.query(key) {
                uri.push_str(&format!("&{key}={}", percent_encode(value)));
            }
        }
        Ok(json!({ "uri": uri }))
    }

    fn get_provider_token(&mut self, req: &Req) -> ApiResult<Value> {
        req.require_device_id()?;
        let body: ProviderTokenBody = req.body()?;
        let provider_id = required(&body.provider_id, "provider_id")?.to_owned();
        let now = self.now();
        let login = if let Some(code) = given(&body.provider_code) {
            let issued = match self.core.db.provider_codes.get(code) {
                Some(c) if now < c.expires_at => c.clone(),
                _ => return Err(ApiError::invalid_grant("provider code invalid, expired or already used")),
            };
            if issued.provider_id != provider_id {
                return Err(ApiError::invalid_grant("provider code was issued for another provider"));
            }
            if issued.redirect_uri.is_some() && issued.redirect_uri.as_deref() != given(&body.provider_redirect_uri) {
                return Err(ApiError::invalid_grant("provider_redirect_uri does not match the authorization request"));
            }
            self.core.db.provider_codes.remove(code);
            issued.login
        } else if let Some(token) = given(&body.provider_access_token).or(given(&body.provider_id_token)) {
            // The emulator has no real provider: a provider access/id token stands for the login it names.
            token.to_owned()
        } else {
            return Err(ApiError::invalid_argument("provider_code is required"));
        };
        let grant = ProviderGrant {
            provider_user_id: login.clone(),
            name: login.clone(),
            email: format!("{login}@{provider_id}.example"),
            picture: String::new(),
            provider_id: provider_id.clone(),
            expires_at: now + PROVIDER_TOKEN_TTL,
        };
        let token = random_token::<32>("pt.");
        let profile = json!({
            "provider_id": provider_id,
            "sub": grant.provider_user_id,
            "name": grant.name,
            "picture": grant.picture,
            "email": grant.email,
            "provider": provider_id,
        });
        self.core.db.provider_tokens.insert(token.clone(), grant);
        Ok(json!({
            "provider_token": token,
            "expires_in": util::secs(PROVIDER_TOKEN_TTL),
            "provider_profile": profile,
        }))
    }

    // ----- captcha -----------------------------------------------------------------------------------------

    fn create_captcha_data(&mut self, req: &Req) -> ApiResult<Value> {
        let body: CaptchaDataBody = req.body()?;
        if body.state.is_none() {
            return Err(ApiError::invalid_argument("state is required"));
        }
        let answer = util::random_chars(CAPTCHA_ALPHABET, 4);
        let token = random_token::<24>("cc.");
        let now = self.now();
        let db = &mut self.core.db;
        db.challenges.retain(|_, c| c.expires_at > now);
        db.challenge_seq += 1;
        let data = util::captcha_image(&answer);
        db.challenges.insert(
            token.clone(),
            Challenge { seq: db.challenge_seq, answer, expires_at: now + CAPTCHA_CHALLENGE_TTL },
        );
        Ok(json!({ "data": data, "type": "image", "token": token, "expires_in": util::secs(CAPTCHA_CHALLENGE_TTL) }))
    }

    fn verify_captcha_data(&mut self, req: &Req) -> ApiResult<Value> {
        let body: CaptchaVerifyBody = req.body()?;
        let token = required(&body.token, "token")?;
        let key = required(&body.key, "key")?;
        let now = self.now();
        // One attempt per challenge: a wrong answer needs a new image.
        let challenge = match self.core.db.challenges.remove(token) {
            Some(c) if now < c.expires_at => c,
            _ => return Err(ApiError::captcha_invalid("captcha token invalid or expired")),
        };
        if !challenge.answer.eq_ignore_ascii_case(key) {
            return Err(ApiError::captcha_invalid("captcha answer does not match"));
        }
        Ok(self.issue_captcha_token())
    }

    pub(crate) fn issue_captcha_token(&mut self) -> Value {
        let now = self.now();
        let token = random_token::<32>("ct.");
        self.core.db.captcha_tokens.retain(|_, expires_at| *expires_at > now);
        self.core.db.captcha_tokens.insert(token.clone(), now + CAPTCHA_TOKEN_TTL);
        json!({ "captcha_token": token, "expires_in": util::secs(CAPTCHA_TOKEN_TTL) })
    }

    fn init_captcha(&mut self, req: &Req) -> ApiResult<Value> {
        let body: CaptchaInitBody = req.body()?;
        let mut url = format!("{}/_emulator/captcha/page", self.state.url);
        let mut sep = '?';
        for (key, value) in [("state", &body.state), ("redirect_uri", &body.redirect_uri)] {
            if let Some(v) = value {
                url.push_str(&format!("{sep}{key}={}", percent_encode(v)));
                sep = '&';
            }
        }
        Ok(json!({ "url": url, "expires_in": util::secs(CAPTCHA_CHALLENGE_TTL) }))
    }

    // ----- usernames ---------------------------------------------------------------------------------------

    fn check_username(&mut self, req: &Req) -> ApiResult<Value> {
        // The spec sends `username` in the query; the JS SDK puts it in a GET body.
        let username = req
            .query("username")
            .or_else(|| req.body.get("username").and_then(Value::as_str))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::invalid_argument("username is required"))?;
        if !util::valid_username(username) {
            return Err(ApiError::invalid_argument(
                "username must be 2 to 48 letters, digits or -_.:+@ and start with a letter or digit",
            ));
        }
        Ok(json!({ "exist": self.core.db.username_taken(username, None) }))
    }

    fn check_if_user_exist(&mut self, req: &Req) -> ApiResult<Value> {
        let username = req
            .query("username")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::invalid_argument("username is required"))?;
        Ok(json!({ "exist": self.core.db.user_by_login(username).is_some() }))
    }
}

/// A captcha token issued outside a challenge (the `/_emulator/captcha/page` behavioural-captcha stand-in).
pub(crate) fn issue_captcha_token(state: &State) -> Value {
    let mut guard = state.core();
    let mut ctx = Ctx { state, core: &mut guard };
    ctx.issue_captcha_token()
}
