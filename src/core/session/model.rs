//! A signed-in session and the user it belongs to.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Secret;
use crate::raw::auth::types::{TokenResponse, UserProfile};

/// A signed-in session: the tokens and the user.
///
/// `Debug` shows the tokens as `[REDACTED]`. Sessions are persisted by the [`SessionStore`](crate::SessionStore)
/// as JSON (tokens included: stores must keep them private, as [`FileStore`](crate::FileStore) does).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The access token (a JWT), sent as `Authorization: Bearer`.
    pub access_token: Secret,
    /// The refresh token. Each refresh rotates it.
    pub refresh_token: Option<Secret>,
    /// Always `Bearer`.
    pub token_type: String,
    /// The lifetime the service gave the access token, in seconds.
    pub expires_in: i64,
    /// When the access token expires, in seconds since the Unix epoch (computed at receipt).
    pub expires_at: u64,
    /// Space-separated scopes: `user`, `user sso`, `anonymous`.
    pub scope: Option<String>,
    /// The user, as of the last profile fetch.
    pub user: Option<User>,
}

/// The longest lifetime believed from a server (ten years): a larger `expires_in` (up to `i64::MAX`) is
/// clamped instead of overflowing the expiry.
pub(crate) const MAX_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;

impl Session {
    pub(crate) fn from_tokens(tokens: TokenResponse, user: Option<User>) -> Self {
        let expires_in = tokens.expires_in.clamp(0, MAX_LIFETIME_SECS);
        let expires_at = unix_now().saturating_add(expires_in as u64);
        Session {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: tokens.token_type.unwrap_or_else(|| "Bearer".to_owned()),
            expires_in,
            expires_at,
            scope: tokens.scope,
            user,
        }
    }

    /// True when the session is anonymous (`scope` holds `anonymous`).
    pub fn is_anonymous(&self) -> bool {
        self.scope.as_deref().is_some_and(|s| s.split_whitespace().any(|p| p == "anonymous"))
    }

    /// True when the access token expires within `margin` from now.
    pub fn expires_within(&self, margin: Duration) -> bool {
        unix_now().saturating_add(margin.as_secs()) >= self.expires_at
    }

    /// Whose session this is: the access token's `sub` claim, else the stored user's id.
    pub(crate) fn subject(&self) -> Option<String> {
        crate::Claims::decode(self.access_token.expose_secret())
            .ok()
            .and_then(|c| c.sub().map(str::to_owned))
            .or_else(|| self.user.as_ref().map(|u| u.id.clone()))
    }

    /// True when the session should be refreshed now: it expires within `margin`, capped at half its
    /// lifetime (a margin as long as the lifetime would refresh on every call).
    pub(crate) fn needs_refresh(&self, margin: Duration) -> bool {
        let half_life = Duration::from_secs(u64::try_from(self.expires_in).unwrap_or(0) / 2);
        self.expires_within(margin.min(half_life))
    }

    /// The expiry as a `SystemTime`.
    pub fn expires_at_time(&self) -> SystemTime {
        UNIX_EPOCH.checked_add(Duration::from_secs(self.expires_at)).unwrap_or(UNIX_EPOCH)
    }

    /// True when both hold the same token pair. (A refresh may keep the refresh token, RFC 6749 section
    /// 6, so the refresh token alone does not tell whether a refresh happened.)
    pub(crate) fn same_tokens(&self, other: &Session) -> bool {
        self.access_token == other.access_token && self.refresh_token == other.refresh_token
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// A user, mapped from the service's profile the way the official SDKs map it; the full profile is kept in
/// [`User::profile`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// The user id (`sub`).
    pub id: String,
    /// Always `authenticated` (kept for parity with the Flutter and JS SDKs).
    pub aud: String,
    /// Group ids.
    pub roles: Vec<String>,
    /// The email address, if any.
    pub email: Option<String>,
    /// The phone number (`+86 13800138000`), if any.
    pub phone: Option<String>,
    /// The username, if any.
    pub username: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The avatar URL.
    pub picture: Option<String>,
    /// True for an anonymous user.
    pub is_anonymous: bool,
    /// Whether the user has a password (`has_password`, or `password == "SET"` as the JS SDK reads it).
    pub has_password: Option<bool>,
    /// Bound identity sources.
    pub identities: Vec<Identity>,
    /// When the user was created (RFC 3339, as the service sends it).
    pub created_at: Option<String>,
    /// When the profile last changed.
    pub updated_at: Option<String>,
    /// The profile exactly as the service sent it.
    pub profile: UserProfile,
}

impl User {
    pub(crate) fn from_profile(profile: UserProfile, scope: Option<&str>) -> Self {
        let anonymous_scope = scope.is_some_and(|s| s.split_whitespace().any(|p| p == "anonymous"));
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        User {
            id: profile.sub.clone(),
            aud: "authenticated".to_owned(),
            roles: profile.groups.iter().filter_map(|g| g.id.clone()).collect(),
            email: non_empty(&profile.email),
            phone: non_empty(&profile.phone_number),
            username: non_empty(&profile.username),
            name: non_empty(&profile.name),
            picture: non_empty(&profile.picture),
            is_anonymous: anonymous_scope || profile.name.as_deref() == Some("anonymous"),
            has_password: profile.has_password.or_else(|| profile.password.as_ref().map(|p| p == "SET")),
            identities: profile
                .providers
                .iter()
                .map(|p| Identity {
                    provider: p.id.clone().unwrap_or_else(|| "cloudbase".to_owned()),
                    provider_user_id: p.provider_user_id.clone(),
                    name: p.name.clone(),
                    picture: p.picture.clone(),
                })
                .collect(),
            created_at: profile.created_at.clone(),
            updated_at: profile.updated_at.clone(),
            profile,
        }
    }
}

/// An identity source bound to a user (GitHub, WeChat, ...).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The provider id, e.g. `github` or `wx_open`.
    pub provider: String,
    /// The user's id at the provider.
    pub provider_user_id: Option<String>,
    /// The user's name at the provider.
    pub name: Option<String>,
    /// The user's picture at the provider.
    pub picture: Option<String>,
}
