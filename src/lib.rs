#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod auth;
mod captcha;
mod claims;
mod config;
mod error;
mod events;
pub mod raw;
mod secret;
mod session;
mod store;
mod validate;

#[cfg(feature = "contract")]
pub mod contract;

pub use auth::{
    Auth, Contact, Gender, GetVerification, LoopbackOptions, OAuthCallback, OAuthKind, OAuthOptions, OAuthOutcome,
    OAuthRequest, OtpType, PendingOtp, PendingPasswordReset, PendingReauthentication, PendingUserUpdate, ResendType,
    SignInWithOtp, SignInWithPassword, SignOutOptions, SignOutResult, SignUp, UpdateUser, UserUpdate, Verification,
    VerificationTarget, VerificationToken, VerifyOtp,
};
pub use captcha::{CaptchaAnswer, CaptchaChallenge, CaptchaFuture, CaptchaHandler, CaptchaToken};
pub use claims::Claims;
pub use config::{CloudBase, CloudBaseBuilder, Language};
pub use error::{Error, ErrorCode, ServiceError};
pub use events::{AuthChange, AuthEvent, AuthStateChanges, Subscription};
pub use secret::Secret;
pub use session::{Identity, Session, User};
pub use store::{FileStore, MemoryStore, SessionStore, StoreError, StoreLock};
pub use validate::format_phone;
