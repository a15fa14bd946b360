//! Handles of flows that wait for a person: each can only move forward (verify the code), never re-send by
//! accident. A wrong code can be retried on the same handle.

use std::fmt;

use super::Auth;
use super::params::{Contact, SignInWithPassword, SignUp, Verification};
use crate::events::AuthEvent;
use crate::raw::auth::types::{
    EditUserBasicRequest, ResetPasswordRequest, SetPasswordRequest, SignUpRequest, SudoRequest,
};
use crate::{Error, Secret, Session, User, validate};

pub(crate) enum OtpFlow {
    /// Sign in an existing user, register a new one (the official `signUp` / default `signInWithOtp`).
    SignUp(Box<SignUp>),
    /// Sign in only.
    SignIn,
}

/// A code was sent; [`verify`](PendingOtp::verify) it to sign in. From [`Auth::sign_up`] and
/// [`Auth::sign_in_with_otp`].
#[must_use = "the code must be verified to sign in"]
pub struct PendingOtp {
    auth: Auth,
    contact: Contact,
    sent: Verification,
    flow: OtpFlow,
}

impl fmt::Debug for PendingOtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingOtp").field("contact", &self.contact).field("sent", &self.sent).finish_non_exhaustive()
    }
}

impl PendingOtp {
    pub(crate) fn new(auth: Auth, contact: Contact, sent: Verification, flow: OtpFlow) -> Self {
        PendingOtp { auth, contact, sent, flow }
    }

    /// The verification id (`messageId`), e.g. for [`Auth::verify_otp`] later.
    pub fn verification_id(&self) -> &str {
        &self.sent.verification_id
    }

    /// Whether the address belongs to a registered user.
    pub fn is_user(&self) -> Option<bool> {
        self.sent.is_user
    }

    /// Where the code went (normalised).
    pub fn contact(&self) -> &Contact {
        &self.contact
    }

    /// Checks the code, then signs in (or registers) and emits `SIGNED_IN`.
    pub async fn verify(&self, code: &str) -> Result<Session, Error> {
        let code = validate::code(code)?;
        let verified = self.auth.check_code(&self.sent.verification_id, code.expose_secret()).await?;
        match &self.flow {
            OtpFlow::SignUp(params) if self.sent.is_user != Some(true) => {
                let body = SignUpRequest {
                    email: self.contact.email_opt(),
                    phone_number: self.contact.phone_opt(),
                    verification_token: Some(verified.verification_token),
                    verification_code: Some(code),
                    password: params.password.clone(),
                    username: params.username.clone(),
                    name: params.name.clone(),
                    picture: params.picture.clone(),
                    gender: params.gender.map(|g| gender_text(g).to_owned()),
                    locale: params.locale.clone(),
                    ..Default::default()
                };
                self.auth
                    .grant("sign_up", |c| {
                        let body = &body;
                        async move { c.sign_up(body).await }
                    })
                    .await
            }
            _ => self.auth.sign_in_with_verification_token(self.contact.address(), verified.verification_token).await,
        }
    }
}

pub(crate) fn gender_text(gender: super::params::Gender) -> &'static str {
    match gender {
        super::params::Gender::Male => "MALE",
        super::params::Gender::Female => "FEMALE",
    }
}

/// The result of [`Auth::update_user`].
// Returned once per update: boxing would cost every caller a deref for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum UserUpdate {
    /// The profile changed; `USER_UPDATED` was emitted.
    Updated(User),
    /// A code was sent to the new email or phone; other fields (if any) are already changed.
    VerificationRequired(PendingUserUpdate),
}

/// A code was sent to a new email or phone; [`verify`](PendingUserUpdate::verify) it to make the change.
#[must_use = "the code must be verified to change the email or phone"]
pub struct PendingUserUpdate {
    pub(crate) auth: Auth,
    pub(crate) contact: Contact,
    pub(crate) sent: Verification,
}

impl fmt::Debug for PendingUserUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingUserUpdate").field("contact", &self.contact).field("sent", &self.sent).finish()
    }
}

impl PendingUserUpdate {
    /// The verification id of the code.
    pub fn verification_id(&self) -> &str {
        &self.sent.verification_id
    }

    /// Checks the code, changes the email or phone, and emits `USER_UPDATED`.
    pub async fn verify(&self, code: &str) -> Result<User, Error> {
        self.auth.check_code(&self.sent.verification_id, code).await?;
        let body = EditUserBasicRequest {
            email: self.contact.email_opt(),
            phone: self.contact.phone_opt(),
            ..Default::default()
        };
        self.auth
            .call_as_user("edit_user_basic", |c| {
                let body = &body;
                async move { c.edit_user_basic(body).await }
            })
            .await?;
        self.auth.reload_user(Some(AuthEvent::UserUpdated)).await
    }
}

/// A reset code was sent; [`verify`](PendingPasswordReset::verify) it with the new password.
#[must_use = "the code must be verified to reset the password"]
pub struct PendingPasswordReset {
    pub(crate) auth: Auth,
    pub(crate) contact: Contact,
    pub(crate) sent: Verification,
    pub(crate) redirect_to: Option<String>,
}

impl fmt::Debug for PendingPasswordReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingPasswordReset").field("contact", &self.contact).field("sent", &self.sent).finish()
    }
}

impl PendingPasswordReset {
    /// The verification id of the code.
    pub fn verification_id(&self) -> &str {
        &self.sent.verification_id
    }

    /// The `redirect_to` given to `reset_password_for_email`: where the app should take the user next (a
    /// Rust app navigates itself; nothing is opened).
    pub fn redirect_to(&self) -> Option<&str> {
        self.redirect_to.as_deref()
    }

    /// Checks the code, sets the new password (`PASSWORD_RECOVERY`), then signs in with it (`SIGNED_IN`).
    /// This is the Flutter SDK's `updateUser(nonce, password)` callback.
    pub async fn verify(&self, code: &str, new_password: impl Into<Secret>) -> Result<Session, Error> {
        let new_password = new_password.into();
        validate::password("new_password", &new_password)?;
        let verified = self.auth.check_code(&self.sent.verification_id, code).await?;
        let body = ResetPasswordRequest {
            email: self.contact.email_opt(),
            phone_number: self.contact.phone_opt(),
            new_password: new_password.clone(),
            verification_token: verified.verification_token,
        };
        self.auth
            .call("reset_password", super::call::As::Public, super::call::Captcha::Solve, |c| {
                let body = &body;
                async move { c.reset_password(body).await }
            })
            .await?;
        self.auth.emit(AuthEvent::PasswordRecovery, self.auth.current());
        let credentials = match &self.contact {
            Contact::Email(e) => SignInWithPassword::email(e, new_password),
            Contact::Phone(p) => SignInWithPassword::phone(p, new_password),
        };
        self.auth.sign_in_with_password(credentials).await
    }
}

/// A code was sent to the signed-in user; [`verify`](PendingReauthentication::verify) it.
#[must_use = "the code must be verified"]
pub struct PendingReauthentication {
    pub(crate) auth: Auth,
    pub(crate) contact: Contact,
    pub(crate) sent: Verification,
}

impl fmt::Debug for PendingReauthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingReauthentication").field("contact", &self.contact).field("sent", &self.sent).finish()
    }
}

impl PendingReauthentication {
    /// The verification id of the code.
    pub fn verification_id(&self) -> &str {
        &self.sent.verification_id
    }

    /// Checks the code. With `new_password`, sets it (through a sudo token); without, signs in again with
    /// the code (`SIGNED_IN`). Returns the session.
    pub async fn verify(&self, code: &str, new_password: Option<Secret>) -> Result<Session, Error> {
        if let Some(password) = &new_password {
            validate::password("new_password", password)?;
        }
        let verified = self.auth.check_code(&self.sent.verification_id, code).await?;
        let Some(new_password) = new_password else {
            return self
                .auth
                .sign_in_with_verification_token(self.contact.address(), verified.verification_token)
                .await;
        };
        let sudo_body = SudoRequest { verification_token: Some(verified.verification_token), password: None };
        let sudo = self
            .auth
            .call_as_user("get_sudo_token", |c| {
                let body = &sudo_body;
                async move { c.get_sudo_token(body).await }
            })
            .await?;
        let body = SetPasswordRequest {
            sudo_token: Some(sudo.sudo_token),
            new_password,
            old_password: None,
            confirm_password: None,
        };
        self.auth
            .call_as_user("set_password", |c| {
                let body = &body;
                async move { c.set_password(None, body).await }
            })
            .await?;
        self.auth.get_session().await?.ok_or(Error::NotSignedIn)
    }
}
