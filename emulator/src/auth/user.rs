//! The signed-in user's own account: profile, deletion, edits, sudo tokens, password and contact changes.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::request::{
    Req, address_mismatch, check_new_password, gender, given, parse_address, password_not_set, required,
};
use crate::state::{Address, ApiError, ApiResult, SUDO_TTL, SudoToken, verify_password};
use crate::util::{self, canonical_email, canonical_phone, random_token};

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

impl Ctx<'_> {
    pub(super) fn check_sudo(&self, token: &str, user_id: &str) -> ApiResult<()> {
        match self.core.db.sudo_tokens.get(token) {
            Some(s) if s.user_id == user_id && self.now() < s.expires_at => Ok(()),
            _ => Err(ApiError::permission_denied("sudo token invalid or expired")),
        }
    }

    pub(super) fn get_user_me(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        Ok(self.user(&caller.user_id)?.profile())
    }

    pub(super) fn delete_user_me(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let sudo = req
            .query("sudo_token")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::invalid_argument("sudo_token is required"))?;
        self.check_sudo(sudo, &caller.user_id)?;
        self.core.db.delete_user(&caller.user_id);
        Ok(json!({}))
    }

    pub(super) fn edit_user_basic(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn patch_user_profile(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn get_sudo_token(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn set_password(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn update_user_contact(&mut self, req: &Req) -> ApiResult<Value> {
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
}
