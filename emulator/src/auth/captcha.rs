//! Captcha: image challenges, their answers, the behavioural-captcha page, and the check the rate limits
//! use.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::request::{Req, required};
use crate::state::{ApiError, ApiResult, CAPTCHA_CHALLENGE_TTL, CAPTCHA_TOKEN_TTL, Challenge, State};
use crate::util::{self, percent_encode, random_token};

const CAPTCHA_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

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

impl Ctx<'_> {
    /// The captcha check: `Ok(())` when a valid captcha token is present; `captcha_required` when none is;
    /// `captcha_invalid` when the one present is unknown or expired.
    pub(super) fn require_captcha(&self, req: &Req) -> ApiResult<()> {
        let token = req.captcha_token().ok_or_else(ApiError::captcha_required)?;
        match self.core.db.captcha_tokens.get(token) {
            Some(expires_at) if self.now() < *expires_at => Ok(()),
            _ => Err(ApiError::captcha_invalid("captcha token invalid or expired")),
        }
    }

    pub(super) fn create_captcha_data(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn verify_captcha_data(&mut self, req: &Req) -> ApiResult<Value> {
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

    pub(super) fn issue_captcha_token(&mut self) -> Value {
        let now = self.now();
        let token = random_token::<32>("ct.");
        self.core.db.captcha_tokens.retain(|_, expires_at| *expires_at > now);
        self.core.db.captcha_tokens.insert(token.clone(), now + CAPTCHA_TOKEN_TTL);
        json!({ "captcha_token": token, "expires_in": util::secs(CAPTCHA_TOKEN_TTL) })
    }

    pub(super) fn init_captcha(&mut self, req: &Req) -> ApiResult<Value> {
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
}

/// A captcha token issued outside a challenge (the `/_emulator/captcha/page` behavioural-captcha stand-in).
pub(crate) fn issue_captcha_token(state: &State) -> Value {
    let mut guard = state.core();
    let mut ctx = Ctx { state, core: &mut guard };
    ctx.issue_captcha_token()
}
