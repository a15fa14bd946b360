//! Verification codes: sending, verifying, the tokens a verified code yields, and the password reset they
//! allow.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::request::{Req, address_matches, address_mismatch, check_new_password, given, parse_address, required};
use crate::SentCode;
use crate::state::{Address, ApiError, ApiResult, VERIFICATION_TOKEN_TTL, Verification, VerificationToken};
use crate::util::{self, random_hex, random_token};

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
struct ResetBody {
    email: Option<String>,
    phone_number: Option<String>,
    new_password: Option<String>,
    verification_token: Option<String>,
}

impl Ctx<'_> {
    pub(super) fn verification_token(&self, token: &str) -> ApiResult<Address> {
        match self.core.db.verification_tokens.get(token) {
            Some(t) if self.now() < t.expires_at => Ok(t.address.clone()),
            _ => Err(ApiError::invalid_argument("verification token invalid or expired")),
        }
    }

    pub(super) fn consume_verification_token(&mut self, token: &str) {
        self.core.db.verification_tokens.remove(token);
    }

    pub(super) fn send_verification(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn verify_verification(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn reset_password(&mut self, req: &Req) -> ApiResult<Value> {
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
}
