//! Sign-up, the sign-in methods, and the verification-code methods they are built from.

use std::fmt::Display;
use std::future::Future;

use super::Auth;
use super::call::{As, Captcha};
use super::params::{
    Contact, GetVerification, OtpType, ResendType, SignInWithOtp, SignInWithPassword, SignUp, Verification,
    VerificationTarget, VerificationToken, VerifyOtp,
};
use super::pending::{OtpFlow, PendingOtp};
use crate::raw::auth::types::{
    AnonymousSignInRequest, CustomSignInRequest, ProviderSignInRequest, SignInRequest, VerificationRequest,
    VerifyRequest,
};
use crate::{Error, Secret, Session, validate};

/// How a code request is authenticated: as the user when one is signed in (the official SDKs do so), else
/// with the publishable key or the client id.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendAs {
    Anyone,
    SignedInUser,
}

impl Auth {
    /// Sends a code (`POST /auth/v1/verification`) to an already normalised contact.
    pub(crate) async fn send_code(
        &self,
        contact: &Contact,
        target: Option<VerificationTarget>,
        usage: Option<&str>,
        email_redirect_to: Option<String>,
        send_as: SendAs,
        presolved_captcha: bool,
    ) -> Result<Verification, Error> {
        let body = VerificationRequest {
            email: contact.email_opt(),
            phone_number: contact.phone_opt(),
            target,
            // The official SDK sends `usage` for email codes only.
            usage: contact.email_opt().and(usage.map(str::to_owned)),
            email_redirect_to,
            ..Default::default()
        };
        let send = |c: crate::raw::auth::Client| {
            let body = &body;
            async move { c.send_verification(body).await }
        };
        let as_user = send_as == SendAs::SignedInUser || self.current().is_some();
        let response = if as_user {
            self.call_as_user("send_verification", send).await?
        } else if presolved_captcha {
            let token = self.get_captcha_token().await?.captcha_token;
            self.call_with_captcha("send_verification", As::Public, token, send).await?
        } else {
            self.call("send_verification", As::Public, Captcha::Solve, send).await?
        };
        Ok(Verification {
            verification_id: response.verification_id,
            is_user: response.is_user,
            expires_in: response.expires_in,
        })
    }

    /// Checks a code (`POST /auth/v1/verification/verify`).
    pub(crate) async fn check_code(&self, verification_id: &str, code: &str) -> Result<VerificationToken, Error> {
        let verification_id = validate::non_empty("verification_id", verification_id)?;
        let body =
            VerifyRequest { verification_id, verification_code: validate::code(code)?, verification_token: None };
        let response = self
            .call("verify_verification", As::Public, Captcha::Solve, |c| {
                let body = &body;
                async move { c.verify_verification(body).await }
            })
            .await?;
        Ok(VerificationToken { verification_token: response.verification_token, expires_in: response.expires_in })
    }

    /// Signs in with a verification token for `address` (`POST /auth/v1/signin`).
    pub(crate) async fn sign_in_with_verification_token(&self, address: &str, token: Secret) -> Result<Session, Error> {
        let body =
            SignInRequest { username: Some(address.to_owned()), verification_token: Some(token), ..Default::default() };
        self.grant("sign_in", |c| {
            let body = &body;
            async move { c.sign_in(body).await }
        })
        .await
    }

    /// Registers a user: sends a code to the email or phone and returns a handle; the handle's
    /// [`verify`](PendingOtp::verify) checks the code, then signs in an existing user or registers a new one
    /// with the given fields. Emits `SIGNED_IN` on success.
    pub async fn sign_up(&self, params: SignUp) -> Result<PendingOtp, Error> {
        let contact = params.contact.normalised()?;
        if let Some(password) = &params.password {
            validate::password("password", password)?;
        }
        if let Some(username) = &params.username {
            validate::non_empty("username", username)?;
        }
        let sent = self.send_code(&contact, None, Some("email"), None, SendAs::Anyone, false).await?;
        Ok(PendingOtp::new(self.clone(), contact, sent, OtpFlow::SignUp(Box::new(params))))
    }

    /// Signs in as the anonymous user of this device (the same device id always gets the same user).
    /// Emits `SIGNED_IN`.
    pub async fn sign_in_anonymously(&self) -> Result<Session, Error> {
        self.anonymous(None).await
    }

    /// [`sign_in_anonymously`](Self::sign_in_anonymously), associating a third-party identity (mini-program
    /// flow).
    pub async fn sign_in_anonymously_with(&self, provider_token: impl Into<Secret>) -> Result<Session, Error> {
        let token = validate::non_empty_secret("provider_token", provider_token.into())?;
        self.anonymous(Some(token)).await
    }

    async fn anonymous(&self, provider_token: Option<Secret>) -> Result<Session, Error> {
        let body = AnonymousSignInRequest { provider_token };
        self.grant("sign_in_anonymously", |c| {
            let body = &body;
            async move { c.sign_in_anonymously(body).await }
        })
        .await
    }

    /// Signs in with a username, email or phone and a password. Emits `SIGNED_IN`.
    ///
    /// ```no_run
    /// # async fn demo(auth: cloudbase::Auth) -> Result<(), cloudbase::Error> {
    /// use cloudbase::SignInWithPassword;
    /// let session = auth.sign_in_with_password(SignInWithPassword::email("someone@example.com", "Passw0rd!")).await?;
    /// # let _ = session; Ok(()) }
    /// ```
    pub async fn sign_in_with_password(&self, params: SignInWithPassword) -> Result<Session, Error> {
        let body = SignInRequest {
            username: Some(params.username_field()?),
            password: Some(params.password),
            ..Default::default()
        };
        self.grant("sign_in", |c| {
            let body = &body;
            async move { c.sign_in(body).await }
        })
        .await
    }

    /// Sends a sign-in code by email or SMS and returns the handle to verify it with. By default an unknown
    /// address registers a new user (exactly [`sign_up`](Self::sign_up)); with
    /// [`should_create_user(false)`](SignInWithOtp::should_create_user) only existing users get a code.
    pub async fn sign_in_with_otp(&self, params: SignInWithOtp) -> Result<PendingOtp, Error> {
        let contact = params.contact.normalised()?;
        if params.email_redirect_to.is_some() && matches!(contact, Contact::Phone(_)) {
            return Err(Error::invalid("email_redirect_to", "magic links are for email only"));
        }
        if params.should_create_user && params.email_redirect_to.is_none() {
            let sent = self.send_code(&contact, None, Some("email"), None, SendAs::Anyone, false).await?;
            return Ok(PendingOtp::new(
                self.clone(),
                contact.clone(),
                sent,
                OtpFlow::SignUp(Box::new(SignUp::contact(contact))),
            ));
        }
        let target = if params.should_create_user { VerificationTarget::Any } else { VerificationTarget::User };
        let sent = self
            .send_code(&contact, Some(target), Some("email"), params.email_redirect_to, SendAs::Anyone, false)
            .await?;
        Ok(PendingOtp::new(self.clone(), contact, sent, OtpFlow::SignIn))
    }

    /// Signs in with a provider token (from a provider's code exchange, see
    /// [`verify_oauth`](Self::verify_oauth)). `provider` is sent as `provider_id` when given. Emits
    /// `SIGNED_IN`.
    pub async fn sign_in_with_id_token(
        &self,
        token: impl Into<Secret>,
        provider: Option<&str>,
    ) -> Result<Session, Error> {
        let token = validate::non_empty_secret("token", token.into())?;
        let provider_id = provider.map(|p| validate::non_empty("provider", p)).transpose()?;
        let body = ProviderSignInRequest {
            provider_token: token,
            provider_id,
            force_disable_sign_up: None,
            sync_profile: None,
        };
        self.grant("sign_in_with_provider", |c| {
            let body = &body;
            async move { c.sign_in_with_provider(body).await }
        })
        .await
    }

    /// Signs in with a custom-login ticket that `get_ticket` obtains from your server (which issues it with
    /// the CloudBase server SDK). Emits `SIGNED_IN`.
    ///
    /// ```no_run
    /// # async fn demo(auth: cloudbase::Auth) -> Result<(), cloudbase::Error> {
    /// let session = auth
    ///     .sign_in_with_custom_ticket(|| async { Ok::<_, std::io::Error>("ticket-from-my-server".to_owned()) })
    ///     .await?;
    /// # let _ = session; Ok(()) }
    /// ```
    pub async fn sign_in_with_custom_ticket<F, Fut, E>(&self, get_ticket: F) -> Result<Session, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, E>>,
        E: Display,
    {
        let ticket = get_ticket().await.map_err(|e| Error::invalid("ticket", format!("get_ticket failed: {e}")))?;
        let ticket = validate::non_empty_secret("ticket", Secret::new(ticket))?;
        let body = CustomSignInRequest { provider_id: "custom".to_owned(), ticket };
        self.grant("sign_in_with_custom_ticket", |c| {
            let body = &body;
            async move { c.sign_in_with_custom_ticket(body).await }
        })
        .await
    }

    /// Sends a verification code with full control of the request (`POST /auth/v1/verification`).
    pub async fn get_verification(&self, params: GetVerification) -> Result<Verification, Error> {
        let contact = params.contact.normalised()?;
        if params.email_redirect_to.is_some() && matches!(contact, Contact::Phone(_)) {
            return Err(Error::invalid("email_redirect_to", "magic links are for email only"));
        }
        let send_as =
            if params.target == Some(VerificationTarget::CurUser) { SendAs::SignedInUser } else { SendAs::Anyone };
        self.send_code(
            &contact,
            params.target,
            params.usage.as_deref(),
            params.email_redirect_to,
            send_as,
            params.with_captcha,
        )
        .await
    }

    /// Checks a code and returns its verification token; changes no state.
    pub async fn verify(&self, verification_id: &str, code: &str) -> Result<VerificationToken, Error> {
        self.check_code(verification_id, code).await
    }

    /// Verifies a code sent earlier under `message_id`. For sign-in kinds it then signs in (`SIGNED_IN`) and
    /// returns the session; for `EmailChange`/`PhoneChange` it only verifies and returns the current session.
    pub async fn verify_otp(&self, params: VerifyOtp) -> Result<Option<Session>, Error> {
        let contact = params.contact.normalised()?;
        let verified = self.check_code(&params.message_id, &params.token).await?;
        if matches!(params.kind, OtpType::EmailChange | OtpType::PhoneChange) {
            return self.get_session().await;
        }
        self.sign_in_with_verification_token(contact.address(), verified.verification_token).await.map(Some)
    }

    /// Sends a new code (`signup` kind: to anyone; other kinds: to existing users only).
    pub async fn resend(&self, contact: Contact, kind: ResendType) -> Result<Verification, Error> {
        let contact = contact.normalised()?;
        let target = if kind == ResendType::Signup { VerificationTarget::Any } else { VerificationTarget::User };
        self.send_code(&contact, Some(target), Some("email"), None, SendAs::Anyone, false).await
    }
}
