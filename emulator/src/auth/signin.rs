//! Sign-up and the sign-in operations (password, verification code, anonymous, provider, custom ticket).

use serde::Deserialize;
use serde_json::Value;

use super::Ctx;
use super::request::{
    Req, address_matches, address_mismatch, check_new_password, given, invalid_client, parse_address, password_not_set,
    required,
};
use crate::state::{Address, ApiError, ApiResult, CUSTOM_REFRESH_TTL, Identity, User, verify_password};
use crate::util::{self, canonical_email, is_blankish, random_token};

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
pub(super) struct ProviderTokenOnly {
    pub(super) provider_token: Option<String>,
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

impl Ctx<'_> {
    /// Password check shared by `signin` and the password grant, with the failed-password captcha rule.
    pub(super) fn password_sign_in(
        &mut self,
        req: &Req,
        login: &str,
        password: &str,
    ) -> ApiResult<(String, &'static str)> {
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

    pub(super) fn sign_up(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn sign_in(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn sign_in_anonymously(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn sign_in_with_provider(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn sign_in_with_custom_ticket(&mut self, req: &Req) -> ApiResult<Value> {
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
}
