//! The signed-in user: profile, updates, identities, passwords, deletion.

use super::Auth;
use super::params::{Contact, Gender, UpdateUser, VerificationTarget};
use super::pending::{PendingPasswordReset, PendingReauthentication, PendingUserUpdate, UserUpdate};
use super::signin::SendAs;
use crate::events::AuthEvent;
use crate::raw::auth::types::{EditUserBasicRequest, Gender as RawGender, SetPasswordRequest, SudoRequest};
use crate::{Error, Identity, Secret, Session, User, validate};

impl Auth {
    /// Fetches `/user/me`, stores it in the session, and optionally emits `event`.
    pub(crate) async fn reload_user(&self, event: Option<AuthEvent>) -> Result<User, Error> {
        let (profile, session) =
            self.call_as_user_with_session("get_user_me", |c| async move { c.get_user_me().await }).await?;
        let user = User::from_profile(profile, session.scope.as_deref());
        self.core().update_cached_user(&session, user.clone(), event).await?;
        Ok(user)
    }

    /// The signed-in user, fetched from the service (refreshing the token first if needed).
    pub async fn get_user(&self) -> Result<User, Error> {
        self.reload_user(None).await
    }

    /// Fetches the user again and returns the session holding it.
    pub async fn refresh_user(&self) -> Result<Session, Error> {
        self.reload_user(None).await?;
        self.get_session().await?.ok_or(Error::NotSignedIn)
    }

    /// Changes profile fields. Without an email or phone the change is made at once (`USER_UPDATED`); with
    /// one, a code is sent to the new address and the result is a handle to verify it.
    ///
    /// ```no_run
    /// # async fn demo(auth: cloudbase::Auth) -> Result<(), cloudbase::Error> {
    /// use cloudbase::{UpdateUser, UserUpdate};
    /// match auth.update_user(UpdateUser::new().nickname("Ada").email("ada@example.com")).await? {
    ///     UserUpdate::Updated(user) => println!("now {:?}", user.name),
    ///     UserUpdate::VerificationRequired(pending) => {
    ///         let user = pending.verify("123456").await?;
    ///         println!("email now {:?}", user.email);
    ///     }
    ///     _ => {}
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn update_user(&self, params: UpdateUser) -> Result<UserUpdate, Error> {
        let contact = match (&params.email, &params.phone) {
            (Some(email), _) => Some(Contact::email(email.as_str()).normalised()?),
            (None, Some(phone)) => Some(Contact::phone(phone.as_str()).normalised()?),
            (None, None) => None,
        };
        for (field, value) in [("nickname", &params.nickname), ("username", &params.username)] {
            if let Some(value) = value {
                let len = value.trim().chars().count();
                if !(2..=48).contains(&len) {
                    return Err(Error::invalid(field, "must be 2 to 48 characters"));
                }
            }
        }
        let body = EditUserBasicRequest {
            nickname: params.nickname.clone(),
            username: params.username.clone(),
            description: params.description.clone(),
            avatar_url: params.avatar_url.clone(),
            gender: params.gender.map(|g| match g {
                Gender::Male => RawGender::Male,
                Gender::Female => RawGender::Female,
            }),
            ..Default::default()
        };
        let has_basic_fields = body.nickname.is_some()
            || body.username.is_some()
            || body.description.is_some()
            || body.avatar_url.is_some()
            || body.gender.is_some();
        if contact.is_none() && !has_basic_fields {
            return Err(Error::invalid("params", "nothing to update"));
        }
        if self.current().is_none() {
            return Err(Error::NotSignedIn);
        }
        let sent = match &contact {
            Some(contact) => {
                Some(self.send_code(contact, None, Some("reauthentication"), None, SendAs::SignedInUser, false).await?)
            }
            None => None,
        };
        let user = if has_basic_fields {
            self.call_as_user("edit_user_basic", |c| {
                let body = &body;
                async move { c.edit_user_basic(body).await }
            })
            .await?;
            Some(self.reload_user(Some(AuthEvent::UserUpdated)).await?)
        } else {
            None
        };
        match (contact, sent, user) {
            (Some(contact), Some(sent), _) => {
                Ok(UserUpdate::VerificationRequired(PendingUserUpdate { auth: self.clone(), contact, sent }))
            }
            (_, _, Some(user)) => Ok(UserUpdate::Updated(user)),
            _ => Err(Error::invalid("params", "nothing to update")),
        }
    }

    /// Deletes the signed-in user after confirming the password (through a sudo token), then forgets the
    /// session and emits `SIGNED_OUT` (the official SDKs keep the dead session; a Rust app should not).
    pub async fn delete_user(&self, password: impl Into<Secret>) -> Result<(), Error> {
        let password = password.into();
        validate::password("password", &password)?;
        let sudo_token = self.sudo_with_password(password).await?;
        self.call_as_user("delete_user_me", |c| {
            let token = &sudo_token;
            async move { c.delete_user_me(token).await }
        })
        .await?;
        self.replace_session(None, &[AuthEvent::SignedOut]).await
    }

    async fn sudo_with_password(&self, password: Secret) -> Result<Secret, Error> {
        let body = SudoRequest { password: Some(password), verification_token: None };
        let sudo = self
            .call_as_user("get_sudo_token", |c| {
                let body = &body;
                async move { c.get_sudo_token(body).await }
            })
            .await?;
        Ok(sudo.sudo_token)
    }

    /// The identity sources bound to the user.
    pub async fn get_user_identities(&self) -> Result<Vec<Identity>, Error> {
        let list = self.call_as_user("list_user_providers", |c| async move { c.list_user_providers().await }).await?;
        Ok(list
            .data
            .into_iter()
            .filter(|item| item.bind == Some(true))
            .map(|item| Identity {
                provider: item.id.unwrap_or_default(),
                provider_user_id: None,
                name: item.provider_user_name.or(item.name),
                picture: item.picture,
            })
            .collect())
    }

    /// Unbinds an identity source (e.g. `github`).
    pub async fn unlink_identity(&self, provider: &str) -> Result<(), Error> {
        let provider = validate::non_empty("provider", provider)?;
        if provider.contains('/') {
            return Err(Error::invalid("provider", "must not contain '/'"));
        }
        self.call_as_user("unbind_provider", |c| {
            let provider = provider.as_str();
            async move { c.unbind_provider(provider, None).await }
        })
        .await?;
        Ok(())
    }

    /// Sends a password-reset code to an email (if the text contains `@`) or phone of an existing user.
    /// The handle's [`verify`](PendingPasswordReset::verify) sets the new password and signs in.
    pub async fn reset_password_for_email(
        &self,
        email_or_phone: &str,
        redirect_to: Option<&str>,
    ) -> Result<PendingPasswordReset, Error> {
        let contact = Contact::guess(email_or_phone).normalised()?;
        let sent = self
            .send_code(&contact, Some(VerificationTarget::User), Some("recovery"), None, SendAs::Anyone, false)
            .await?;
        Ok(PendingPasswordReset { auth: self.clone(), contact, sent, redirect_to: redirect_to.map(str::to_owned) })
    }

    /// Changes the password, confirming the old one. Other devices are signed out by the service.
    pub async fn reset_password_for_old(
        &self,
        old_password: impl Into<Secret>,
        new_password: impl Into<Secret>,
    ) -> Result<Session, Error> {
        let (old_password, new_password) = (old_password.into(), new_password.into());
        validate::password("old_password", &old_password)?;
        validate::password("new_password", &new_password)?;
        let sudo_token = self.sudo_with_password(old_password).await?;
        let body = SetPasswordRequest {
            sudo_token: Some(sudo_token),
            new_password,
            old_password: None,
            confirm_password: None,
        };
        self.call_as_user("set_password", |c| {
            let body = &body;
            async move { c.set_password(None, body).await }
        })
        .await?;
        self.get_session().await?.ok_or(Error::NotSignedIn)
    }

    /// Sends a code to the signed-in user's own email (or phone) to confirm a sensitive change; the handle's
    /// [`verify`](PendingReauthentication::verify) takes it.
    pub async fn reauthenticate(&self) -> Result<PendingReauthentication, Error> {
        let session = self.current().ok_or(Error::NotSignedIn)?;
        let user =
            session.user.ok_or_else(|| Error::invalid("user", "the session has no user; call get_user first"))?;
        let contact = match (&user.email, &user.phone) {
            (Some(email), _) => Contact::email(email.as_str()),
            (None, Some(phone)) => Contact::phone(phone.as_str()),
            (None, None) => return Err(Error::invalid("user", "the user has neither an email nor a phone")),
        }
        .normalised()?;
        let sent = self.send_code(&contact, None, Some("reauthentication"), None, SendAs::SignedInUser, false).await?;
        Ok(PendingReauthentication { auth: self.clone(), contact, sent })
    }
}
