//! Inputs and plain results of the auth methods. Inputs are checked before any request is sent.

use crate::validate;
use crate::{Error, Secret};

/// An email address or a phone number to send a code to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contact {
    /// An email address.
    Email(String),
    /// A phone number; normalised with [`format_phone`](crate::format_phone) before it is sent.
    Phone(String),
}

impl Contact {
    /// An email address.
    pub fn email(email: impl Into<String>) -> Self {
        Contact::Email(email.into())
    }

    /// A phone number (`13800138000`, `+8613800138000` or `+86 13800138000`).
    pub fn phone(phone: impl Into<String>) -> Self {
        Contact::Phone(phone.into())
    }

    /// Email if the text contains `@`, else phone (the rule of `resetPasswordForEmail`).
    pub fn guess(email_or_phone: impl Into<String>) -> Self {
        let text = email_or_phone.into();
        if text.contains('@') { Contact::Email(text) } else { Contact::Phone(text) }
    }

    /// The contact checked and normalised.
    pub(crate) fn normalised(&self) -> Result<Contact, Error> {
        Ok(match self {
            Contact::Email(e) => Contact::Email(validate::email(e)?),
            Contact::Phone(p) => Contact::Phone(validate::format_phone(p)?),
        })
    }

    /// The address as sent (`username` in sign-in calls).
    pub(crate) fn address(&self) -> &str {
        match self {
            Contact::Email(s) | Contact::Phone(s) => s,
        }
    }

    pub(crate) fn email_opt(&self) -> Option<String> {
        matches!(self, Contact::Email(_)).then(|| self.address().to_owned())
    }

    pub(crate) fn phone_opt(&self) -> Option<String> {
        matches!(self, Contact::Phone(_)).then(|| self.address().to_owned())
    }
}

/// Profile genders the service knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Gender {
    /// `MALE`
    Male,
    /// `FEMALE`
    Female,
}

/// `sign_up`: register by a code sent to an email or phone, with optional profile fields.
///
/// ```
/// use cloudbase::SignUp;
/// let params = SignUp::email("someone@example.com").password("Example-Passw0rd").username("someone");
/// # let _ = params;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct SignUp {
    pub(crate) contact: Contact,
    pub(crate) password: Option<Secret>,
    pub(crate) username: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) picture: Option<String>,
    pub(crate) gender: Option<Gender>,
    pub(crate) locale: Option<String>,
}

impl SignUp {
    /// Registers by email.
    pub fn email(email: impl Into<String>) -> Self {
        Self::contact(Contact::email(email))
    }

    /// Registers by phone.
    pub fn phone(phone: impl Into<String>) -> Self {
        Self::contact(Contact::phone(phone))
    }

    /// Registers by a contact.
    pub fn contact(contact: Contact) -> Self {
        SignUp { contact, password: None, username: None, name: None, picture: None, gender: None, locale: None }
    }

    /// A password to sign in with later.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// A username.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// A display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// An avatar URL.
    pub fn picture(mut self, url: impl Into<String>) -> Self {
        self.picture = Some(url.into());
        self
    }

    /// A gender.
    pub fn gender(mut self, gender: Gender) -> Self {
        self.gender = Some(gender);
        self
    }

    /// A locale, e.g. `zh-CN`.
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }
}

/// `sign_in_with_password`: a username, email or phone, and a password.
///
/// ```
/// use cloudbase::SignInWithPassword;
/// let by_email = SignInWithPassword::email("someone@example.com", "Example-Passw0rd");
/// let by_phone = SignInWithPassword::phone("13800138000", "Example-Passw0rd");
/// let by_name = SignInWithPassword::username("someone", "Example-Passw0rd");
/// # let _ = (by_email, by_phone, by_name);
/// ```
#[derive(Clone, Debug)]
pub struct SignInWithPassword {
    pub(crate) identifier: Identifier,
    pub(crate) password: Secret,
}

#[derive(Clone, Debug)]
pub(crate) enum Identifier {
    Username(String),
    Contact(Contact),
}

impl SignInWithPassword {
    /// By username.
    pub fn username(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        SignInWithPassword { identifier: Identifier::Username(username.into()), password: password.into() }
    }

    /// By email.
    pub fn email(email: impl Into<String>, password: impl Into<Secret>) -> Self {
        SignInWithPassword { identifier: Identifier::Contact(Contact::email(email)), password: password.into() }
    }

    /// By phone.
    pub fn phone(phone: impl Into<String>, password: impl Into<Secret>) -> Self {
        SignInWithPassword { identifier: Identifier::Contact(Contact::phone(phone)), password: password.into() }
    }

    /// The `username` field as sent: a username, an email, or a normalised phone.
    pub(crate) fn username_field(&self) -> Result<String, Error> {
        validate::password("password", &self.password)?;
        match &self.identifier {
            Identifier::Username(u) => validate::non_empty("username", u),
            Identifier::Contact(c) => Ok(c.normalised()?.address().to_owned()),
        }
    }
}

/// `sign_in_with_otp`: a code by email or SMS.
#[derive(Clone, Debug)]
#[must_use]
pub struct SignInWithOtp {
    pub(crate) contact: Contact,
    pub(crate) should_create_user: bool,
    pub(crate) email_redirect_to: Option<String>,
}

impl SignInWithOtp {
    /// A code by email.
    pub fn email(email: impl Into<String>) -> Self {
        SignInWithOtp { contact: Contact::email(email), should_create_user: true, email_redirect_to: None }
    }

    /// A code by SMS.
    pub fn phone(phone: impl Into<String>) -> Self {
        SignInWithOtp { contact: Contact::phone(phone), should_create_user: true, email_redirect_to: None }
    }

    /// Whether an unknown address registers a new user (default true). With `false` the code is only sent
    /// to existing users (`target: USER`).
    pub fn should_create_user(mut self, create: bool) -> Self {
        self.should_create_user = create;
        self
    }

    /// Sends a magic link to this URL instead of a code (email only).
    pub fn email_redirect_to(mut self, url: impl Into<String>) -> Self {
        self.email_redirect_to = Some(url.into());
        self
    }
}

/// `update_user`: the profile fields to change. An email or phone change needs a code (see
/// [`UserUpdate`](crate::UserUpdate)).
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct UpdateUser {
    pub(crate) nickname: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) avatar_url: Option<String>,
    pub(crate) gender: Option<Gender>,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
}

impl UpdateUser {
    /// No change yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The display name (2 to 48 chars).
    pub fn nickname(mut self, nickname: impl Into<String>) -> Self {
        self.nickname = Some(nickname.into());
        self
    }

    /// The username (2 to 48 chars, unique).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// A description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The avatar URL.
    pub fn avatar_url(mut self, url: impl Into<String>) -> Self {
        self.avatar_url = Some(url.into());
        self
    }

    /// The gender.
    pub fn gender(mut self, gender: Gender) -> Self {
        self.gender = Some(gender);
        self
    }

    /// A new email address (verified by a code).
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// A new phone number (verified by a code).
    pub fn phone(mut self, phone: impl Into<String>) -> Self {
        self.phone = Some(phone.into());
        self
    }
}

/// What a verification code proves, for [`verify_otp`](crate::Auth::verify_otp).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtpType {
    /// A sign-in code by SMS.
    Sms,
    /// A sign-up code.
    Signup,
    /// A sign-in code by email (the default).
    #[default]
    Email,
    /// A code confirming a new email address: only verified, nobody is signed in.
    EmailChange,
    /// A code confirming a new phone number: only verified, nobody is signed in.
    PhoneChange,
}

/// `verify_otp`: a code sent earlier, with the `verification_id` (`messageId`) it was sent under. `Debug`
/// hides the code.
#[derive(Clone)]
pub struct VerifyOtp {
    /// What the code is for.
    pub kind: OtpType,
    /// Where it was sent.
    pub contact: Contact,
    /// The code the user typed.
    pub token: String,
    /// The verification id of the send.
    pub message_id: String,
}

impl std::fmt::Debug for VerifyOtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOtp")
            .field("kind", &self.kind)
            .field("contact", &self.contact)
            .field("token", &"[REDACTED]")
            .field("message_id", &self.message_id)
            .finish()
    }
}

/// What [`resend`](crate::Auth::resend) sends a new code for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResendType {
    /// A sign-up code (`target: ANY`).
    #[default]
    Signup,
    /// An email-change code.
    EmailChange,
    /// A phone-change code.
    PhoneChange,
    /// A sign-in code by SMS.
    Sms,
}

/// Who a code may be sent to (`target` of `POST /auth/v1/verification`).
pub use crate::raw::auth::types::VerificationTarget;

/// `get_verification`: send a code with full control of the request.
#[derive(Clone, Debug)]
#[must_use]
pub struct GetVerification {
    pub(crate) contact: Contact,
    pub(crate) target: Option<VerificationTarget>,
    pub(crate) usage: Option<String>,
    pub(crate) email_redirect_to: Option<String>,
    pub(crate) with_captcha: bool,
}

impl GetVerification {
    /// A code to `contact`.
    pub fn new(contact: Contact) -> Self {
        GetVerification { contact, target: None, usage: None, email_redirect_to: None, with_captcha: false }
    }

    /// Who may receive it.
    pub fn target(mut self, target: VerificationTarget) -> Self {
        self.target = Some(target);
        self
    }

    /// The purpose (`email`, `recovery`, `reauthentication`).
    pub fn usage(mut self, usage: impl Into<String>) -> Self {
        self.usage = Some(usage.into());
        self
    }

    /// A magic-link URL (email only).
    pub fn email_redirect_to(mut self, url: impl Into<String>) -> Self {
        self.email_redirect_to = Some(url.into());
        self
    }

    /// Obtain a captcha token (cached, or through the handler) before the first attempt.
    pub fn with_captcha(mut self, with: bool) -> Self {
        self.with_captcha = with;
        self
    }
}

/// A sent code.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// The id to verify the code under (`messageId` in the other SDKs).
    pub verification_id: String,
    /// Whether the address belongs to a registered user.
    pub is_user: Option<bool>,
    /// Seconds the code stays valid.
    pub expires_in: Option<i64>,
}

/// A verified code.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerificationToken {
    /// Proves the address for sign-in, sign-up, reset or sudo (600 s).
    pub verification_token: Secret,
    /// Seconds it stays valid.
    pub expires_in: Option<i64>,
}

/// Options of [`sign_out_with`](crate::Auth::sign_out_with).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SignOutOptions {
    /// Where a third-party provider should send the user after signing out.
    pub redirect_uri: Option<String>,
    /// Opaque state for that redirect.
    pub state: Option<String>,
}

impl SignOutOptions {
    /// With a sign-out redirect.
    pub fn redirect_uri(uri: impl Into<String>) -> Self {
        SignOutOptions { redirect_uri: Some(uri.into()), state: None }
    }
}

/// The result of signing out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignOutResult {
    /// The provider's sign-out URL, when one is configured.
    pub redirect_uri: Option<String>,
}
