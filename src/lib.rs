#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod apis;
mod app;
mod auth;
mod captcha;
mod claims;
mod cloudrun;
mod core;
mod error;
mod functions;
pub mod models;
pub mod mysql;
pub mod raw;
mod secret;
pub mod storage;
mod validate;

/// Internal paths kept for the modules that name them.
pub(crate) use crate::core::session::events;

#[cfg(feature = "contract")]
pub mod contract;

pub use crate::core::ErrorBody;
#[cfg(feature = "redis")]
pub use crate::core::session::redis::RedisStore;
pub use crate::core::session::{
    AuthChange, AuthEvent, AuthStateChanges, FileStore, Identity, MemoryStore, RefreshPass, Refresher, RefresherTask,
    Session, SessionStore, StoreError, StoreLock, Subscription, User,
};
pub use apis::{Apis, CallApiOptions};
pub use app::{CloudBase, CloudBaseBuilder, Language};
/// The attribute that implements [`SessionStore`] with `async fn`s.
pub use async_trait::async_trait;
pub use auth::{
    Auth, Contact, Gender, GetVerification, LoopbackOptions, OAuthCallback, OAuthKind, OAuthOptions, OAuthOutcome,
    OAuthRequest, OtpType, PendingOtp, PendingPasswordReset, PendingReauthentication, PendingUserUpdate, ResendType,
    SignInWithOtp, SignInWithPassword, SignOutOptions, SignOutResult, SignUp, UpdateUser, UserUpdate, Verification,
    VerificationTarget, VerificationToken, VerifyOtp,
};
pub use captcha::{CaptchaAnswer, CaptchaChallenge, CaptchaFuture, CaptchaHandler, CaptchaToken};
pub use claims::Claims;
pub use cloudrun::{MAX_BODY_BYTES, ServerSentEvent, ServiceRequest, ServiceResponse};
pub use error::{Error, ErrorCode, OAuthError, ServiceError};
pub use functions::{CallFunction, FunctionResult, MAX_EVENT_BYTES};
/// HTTP types used by the service builders (`Method`, `StatusCode`, `HeaderMap`).
pub use http;
pub use secret::Secret;
pub use storage::Storage;
pub use validate::format_phone;
