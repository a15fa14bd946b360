//! Third-party identity providers: listing, binding and unbinding identities, and the OAuth test provider's
//! authorize URI and token exchange.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::request::{Req, given, required};
use super::signin::ProviderTokenOnly;
use crate::state::{ApiError, ApiResult, Identity, PROVIDER_TOKEN_TTL, ProviderGrant};
use crate::util::{self, percent_encode, random_token};

/// Where `unbind_provider`'s path parameter starts.
const UNBIND_PREFIX: &str = "/auth/v1/user/provider/";

/// Built-in identity providers listed by `GET /user/provider`: (id, name, homepage).
const PROVIDERS: &[(&str, &str, &str)] = &[
    ("github", "GitHub", "https://github.com"),
    ("google", "Google", "https://accounts.google.com"),
    ("wx_open", "WeChat Open Platform", "https://open.weixin.qq.com"),
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProviderTokenBody {
    provider_id: Option<String>,
    provider_code: Option<String>,
    provider_redirect_uri: Option<String>,
    provider_access_token: Option<String>,
    provider_id_token: Option<String>,
}

impl Ctx<'_> {
    pub(super) fn provider_grant(&self, token: &str) -> ApiResult<ProviderGrant> {
        match self.core.db.provider_tokens.get(token) {
            Some(g) if self.now() < g.expires_at => Ok(g.clone()),
            _ => Err(ApiError::invalid_grant("provider token invalid or expired")),
        }
    }

    /// Checks that `grant`'s identity can be bound to `user_id` (`None`: a user about to be created).
    pub(super) fn check_bindable(&self, grant: &ProviderGrant, user_id: Option<&str>) -> ApiResult<bool> {
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

    pub(super) fn bind(&mut self, user_id: &str, grant: &ProviderGrant) -> ApiResult<()> {
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

    pub(super) fn list_user_providers(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn unbind_provider(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn bind_provider(&mut self, req: &Req) -> ApiResult<Value> {
        let caller = self.caller(req)?;
        let body: ProviderTokenOnly = req.body()?;
        let grant = self.provider_grant(required(&body.provider_token, "provider_token")?)?;
        if self.check_bindable(&grant, Some(&caller.user_id))? {
            self.bind(&caller.user_id, &grant)?;
        }
        Ok(json!({}))
    }

    pub(super) fn get_provider_uri(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn get_provider_token(&mut self, req: &Req) -> ApiResult<Value> {
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
}
