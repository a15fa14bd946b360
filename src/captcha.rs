//! Captcha challenges: what the service asks for after too many attempts, and the app's handler that solves
//! them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::{Error, Secret};

/// An image captcha the user must read.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptchaChallenge {
    /// An RFC 2397 `data:image/...;base64,...` URI to show, or a URL to open (`kind` tells which).
    pub data: String,
    /// `image` for a data URI; `url` for an external captcha page.
    pub kind: String,
    /// Identifies the challenge when solving it ([`Auth::verify_captcha_data`](crate::Auth::verify_captcha_data)).
    pub token: String,
    /// Seconds the challenge stays valid.
    pub expires_in: Option<i64>,
    /// The refused call, as `"<METHOD>:<path>"`.
    pub state: String,
}

impl fmt::Debug for CaptchaChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The image is long and says nothing useful in a log line.
        f.debug_struct("CaptchaChallenge")
            .field("kind", &self.kind)
            .field("data_len", &self.data.len())
            // The challenge token identifies the challenge to whoever solves it: not for logs.
            .field("token", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .field("state", &self.state)
            .finish()
    }
}

/// A solved captcha: a token to repeat the refused call with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CaptchaToken {
    /// The token.
    pub captcha_token: Secret,
    /// Seconds it stays valid.
    pub expires_in: Option<i64>,
}

/// What a [`CaptchaHandler`] answers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CaptchaAnswer {
    /// The text the user read in the image; the SDK verifies it (`captcha/data/verify`).
    Text(String),
    /// A captcha token obtained another way (an external captcha page).
    Token(Secret),
    /// The user gave up: the call fails with [`Error::CaptchaRequired`].
    Cancel,
}

/// The future a [`CaptchaHandler`] returns.
pub type CaptchaFuture<'a> = Pin<Box<dyn Future<Output = Result<CaptchaAnswer, Error>> + Send + 'a>>;

/// Solves captcha challenges for the SDK: when a call is refused with `captcha_required`, the SDK fetches a
/// challenge, hands it to the handler, verifies the answer and repeats the call once.
///
/// Any `Fn(CaptchaChallenge) -> impl Future<Output = Result<CaptchaAnswer, Error>>` is a handler:
///
/// ```
/// use cloudbase::{CaptchaAnswer, CaptchaChallenge, CloudBase};
/// let app = CloudBase::builder("my-env-1a2b")
///     .captcha_handler(|challenge: CaptchaChallenge| async move {
///         println!("open this image and type what it shows: {}", challenge.data);
///         let mut line = String::new();
///         std::io::stdin().read_line(&mut line).ok();
///         Ok(CaptchaAnswer::Text(line.trim().to_owned()))
///     })
///     .build()
///     .unwrap();
/// # let _ = app;
/// ```
pub trait CaptchaHandler: Send + Sync + 'static {
    /// Shows the challenge to the user and returns the answer.
    fn solve(&self, challenge: CaptchaChallenge) -> CaptchaFuture<'_>;
}

impl<F, Fut> CaptchaHandler for F
where
    F: Fn(CaptchaChallenge) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CaptchaAnswer, Error>> + Send + 'static,
{
    fn solve(&self, challenge: CaptchaChallenge) -> CaptchaFuture<'_> {
        Box::pin(self(challenge))
    }
}
