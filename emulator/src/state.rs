//! The emulator's state: users, sessions and tokens, codes, captcha, logs and faults.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

pub(crate) use crate::error::{ApiError, ApiResult};
pub(crate) use crate::password::{hash_password, verify_password};
use crate::util::{self, canonical_email, canonical_phone, phone_digits, rfc3339, unix_secs};
use crate::{EmulatorConfig, Exchange, Fault, NewUser, RecordedRequest, SentCode};

/// Most entries each log keeps (oldest dropped first), so a long-running binary stays bounded.
const LOG_LIMIT: usize = 20_000;
/// Lifetime of a custom-login ticket.
pub(crate) const TICKET_TTL: Duration = Duration::from_secs(600);
/// Lifetime of a verification token.
pub(crate) const VERIFICATION_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Lifetime of a sudo token.
pub(crate) const SUDO_TTL: Duration = Duration::from_secs(900);
/// Lifetime of a provider token.
pub(crate) const PROVIDER_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Lifetime of a provider authorization code from the OAuth test page.
pub(crate) const PROVIDER_CODE_TTL: Duration = Duration::from_secs(600);
/// Lifetime of a captcha challenge (`captcha/data`).
pub(crate) const CAPTCHA_CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Lifetime of a solved captcha token.
pub(crate) const CAPTCHA_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Refresh-token lifetime for custom-ticket sign-ins (documented as 2592000 s).
pub(crate) const CUSTOM_REFRESH_TTL: Duration = Duration::from_secs(2_592_000);

#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub provider_id: String,
    pub provider_user_id: String,
    pub name: String,
    pub picture: String,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub password_updated_at: Option<SystemTime>,
    pub name: String,
    pub picture: String,
    pub gender: Option<String>,
    pub locale: Option<String>,
    pub description: Option<String>,
    pub identities: Vec<Identity>,
    pub anonymous: bool,
    pub created_from: String,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    pub last_login: Option<SystemTime>,
}

impl User {
    pub fn new(id: String, now: SystemTime, created_from: &str) -> Self {
        Self {
            id,
            username: None,
            email: None,
            email_verified: false,
            phone: None,
            password_hash: None,
            password_updated_at: None,
            name: String::new(),
            picture: String::new(),
            gender: None,
            locale: None,
            description: None,
            identities: Vec::new(),
            anonymous: false,
            created_from: created_from.to_owned(),
            created_at: now,
            updated_at: now,
            last_login: None,
        }
    }

    /// The `GET /user/me` body (`UserProfile`).
    pub fn profile(&self) -> Value {
        let mut p = json!({
            "sub": self.id,
            "user_id": self.id,
            "name": self.name,
            "picture": self.picture,
            "groups": [{"id": if self.anonymous { "anonymous" } else { "user" }}],
            "providers": self.identities.iter().map(|i| json!({
                "id": i.provider_id,
                "provider_user_id": i.provider_user_id,
                "name": i.name,
                "picture": i.picture,
            })).collect::<Vec<_>>(),
            "status": "ACTIVE",
            "created_from": self.created_from,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "has_password": self.password_hash.is_some(),
            "internal_user_type": if self.anonymous { "anonymousUser" } else { "generalUser" },
            "type": "external",
            "meta": {},
        });
        let o = p.as_object_mut().expect("object");
        if self.password_hash.is_some() {
            // What the official JS SDK 3.7 reads (`password == "SET"`) besides the documented `has_password`.
            o.insert("password".into(), json!("SET"));
        }
        if let Some(v) = &self.username {
            o.insert("username".into(), json!(v));
        }
        if let Some(v) = &self.email {
            o.insert("email".into(), json!(v));
            o.insert("email_verified".into(), json!(self.email_verified));
        }
        if let Some(v) = &self.phone {
            o.insert("phone_number".into(), json!(v));
        }
        if let Some(v) = &self.gender {
            o.insert("gender".into(), json!(v));
        }
        if let Some(v) = &self.locale {
            o.insert("locale".into(), json!(v));
        }
        if let Some(v) = &self.description {
            o.insert("user_desc".into(), json!(v));
        }
        if let Some(t) = self.password_updated_at {
            o.insert("password_updated_at".into(), json!(rfc3339(t)));
        }
        if let Some(t) = self.last_login {
            o.insert("last_login".into(), json!(rfc3339(t)));
        }
        p
    }

    /// True when the user has some way left to sign in besides third-party identities.
    pub fn has_first_party_login(&self) -> bool {
        self.email.is_some() || self.phone.is_some() || (self.username.is_some() && self.password_hash.is_some())
    }
}

/// The scope of a guest token from `POST /auth/v1/token/clientCredential` (no user, the publishable key's
/// rights), which tells it apart from the administrator's `client_credentials` grant.
pub(crate) const GUEST_SCOPE: &str = "guest";

#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// `None` for a client-credentials or guest token.
    pub user_id: Option<String>,
    pub scope: String,
    pub provider_type: Option<String>,
    pub revoked: bool,
    pub refresh_ttl: Duration,
}

#[derive(Clone, Debug)]
pub(crate) struct AccessRecord {
    pub session_id: String,
    pub expires_at: SystemTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshState {
    Active,
    Used,
}

#[derive(Clone, Debug)]
pub(crate) struct RefreshRecord {
    pub session_id: String,
    pub expires_at: SystemTime,
    pub state: RefreshState,
}

/// An email or phone address in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Address {
    Email(String),
    Phone(String),
}

impl Address {
    pub fn key(&self) -> String {
        match self {
            Address::Email(e) => format!("email:{e}"),
            Address::Phone(p) => format!("phone:{p}"),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Verification {
    pub address: Address,
    pub code: String,
    pub expires_at: SystemTime,
    pub attempts: u32,
    /// Why the id can no longer be used.
    pub dead: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub(crate) struct VerificationToken {
    pub address: Address,
    pub expires_at: SystemTime,
}

#[derive(Clone, Debug)]
pub(crate) struct SudoToken {
    pub user_id: String,
    pub expires_at: SystemTime,
}

#[derive(Clone, Debug)]
pub(crate) struct ProviderCode {
    pub provider_id: String,
    pub redirect_uri: Option<String>,
    pub login: String,
    pub expires_at: SystemTime,
}

/// What a provider token stands for: one identity at one provider.
#[derive(Clone, Debug)]
pub(crate) struct ProviderGrant {
    pub provider_id: String,
    pub provider_user_id: String,
    pub name: String,
    pub email: String,
    pub picture: String,
    pub expires_at: SystemTime,
}

#[derive(Clone, Debug)]
pub(crate) struct Ticket {
    pub custom_user_id: String,
    pub expires_at: SystemTime,
}

#[derive(Clone, Debug)]
pub(crate) struct Challenge {
    pub seq: u64,
    pub answer: String,
    pub expires_at: SystemTime,
}

/// Everything `reset` forgets.
#[derive(Default)]
pub(crate) struct Db {
    pub users: HashMap<String, User>,
    pub anon_by_device: HashMap<String, String>,
    pub sessions: HashMap<String, Session>,
    pub access: HashMap<String, AccessRecord>,
    pub refresh: HashMap<String, RefreshRecord>,
    pub verifications: HashMap<String, Verification>,
    pub latest_verification: HashMap<String, String>,
    pub verification_tokens: HashMap<String, VerificationToken>,
    pub sudo_tokens: HashMap<String, SudoToken>,
    pub provider_codes: HashMap<String, ProviderCode>,
    pub provider_tokens: HashMap<String, ProviderGrant>,
    pub tickets: HashMap<String, Ticket>,
    pub challenges: HashMap<String, Challenge>,
    pub challenge_seq: u64,
    pub captcha_tokens: HashMap<String, SystemTime>,
    pub code_requests: HashMap<String, u32>,
    pub failed_passwords: HashMap<String, u32>,
    pub outbox: Vec<SentCode>,
}

impl Db {
    pub fn user_by_address(&self, address: &Address) -> Option<&User> {
        self.users.values().find(|u| match address {
            Address::Email(e) => u.email.as_deref() == Some(e),
            Address::Phone(p) => u.phone.as_deref() == Some(p),
        })
    }

    /// Sign-in lookup: a username (exact), an email (any case) or a phone number (loose format).
    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        let login = login.trim();
        if login.is_empty() {
            return None;
        }
        if let Some(u) = self.users.values().find(|u| u.username.as_deref() == Some(login)) {
            return Some(u);
        }
        if let Some(email) = canonical_email(login) {
            return self.users.values().find(|u| u.email.as_deref() == Some(email.as_str()));
        }
        let digits = phone_digits(login)?;
        self.users.values().find(|u| u.phone.as_deref().and_then(phone_digits).as_deref() == Some(digits.as_str()))
    }

    pub fn user_by_identity(&self, provider_id: &str, provider_user_id: &str) -> Option<&User> {
        self.users.values().find(|u| {
            u.identities.iter().any(|i| i.provider_id == provider_id && i.provider_user_id == provider_user_id)
        })
    }

    pub fn username_taken(&self, username: &str, except: Option<&str>) -> bool {
        self.users.values().any(|u| u.username.as_deref() == Some(username) && Some(u.id.as_str()) != except)
    }

    /// Marks every session of `user_id` revoked except `keep`.
    pub fn revoke_user_sessions(&mut self, user_id: &str, keep: Option<&str>) {
        for (id, s) in self.sessions.iter_mut() {
            if s.user_id.as_deref() == Some(user_id) && Some(id.as_str()) != keep {
                s.revoked = true;
            }
        }
    }

    pub fn delete_user(&mut self, user_id: &str) {
        self.users.remove(user_id);
        self.anon_by_device.retain(|_, id| id != user_id);
        self.revoke_user_sessions(user_id, None);
        self.sudo_tokens.retain(|_, s| s.user_id != user_id);
    }
}

/// Mutable state behind one lock.
pub(crate) struct Core {
    pub config: EmulatorConfig,
    pub clock_offset: Duration,
    pub db: Db,
    next_user: u64,
}

impl Core {
    /// The emulator's clock: real time plus the advanced offset.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }

    pub fn new_user_id(&mut self) -> String {
        self.next_user += 1;
        (2_000_000_000_000_000_000u64 + self.next_user * 7919).to_string()
    }

    /// Resolves an access token to its session id: the one check behind auth's user endpoints and the
    /// gateway's token check, so both agree on what "valid", "expired" and "revoked" mean. Errors carry
    /// the gateway code (`INVALID_ACCESS_TOKEN`, `ACCESS_TOKEN_EXPIRED`).
    pub fn session_of(&self, token: Option<&str>) -> ApiResult<String> {
        let token = token.ok_or_else(|| ApiError::invalid_token("missing access token"))?;
        let record = self.db.access.get(token).ok_or_else(|| ApiError::invalid_token("invalid access token"))?;
        let session =
            self.db.sessions.get(&record.session_id).ok_or_else(|| ApiError::invalid_token("invalid access token"))?;
        if session.revoked {
            return Err(ApiError::invalid_token("access token has been revoked"));
        }
        if self.now() >= record.expires_at {
            return Err(ApiError::expired_token());
        }
        if let Some(uid) = &session.user_id
            && !self.db.users.contains_key(uid)
        {
            return Err(ApiError::invalid_token("the token's user no longer exists"));
        }
        Ok(record.session_id.clone())
    }

    pub fn hash_password(&self, password: &str) -> ApiResult<String> {
        hash_password(self.config.password_hashing, password)
    }

    /// Creates a user from seed data.
    pub fn create_user(&mut self, new: NewUser) -> ApiResult<String> {
        let now = self.now();
        let id = self.new_user_id();
        let mut user = User::new(id.clone(), now, "admin");
        if let Some(username) = new.username.filter(|u| !u.is_empty()) {
            if !util::valid_username(&username) {
                return Err(ApiError::invalid_argument(format!("invalid username {username:?}")));
            }
            if self.db.username_taken(&username, None) {
                return Err(ApiError::already_exists(format!("username {username} already exists")));
            }
            user.username = Some(username);
        }
        if let Some(email) = new.email.filter(|e| !e.is_empty()) {
            let email = canonical_email(&email)
                .ok_or_else(|| ApiError::invalid_argument(format!("invalid email {email:?}")))?;
            if self.db.user_by_address(&Address::Email(email.clone())).is_some() {
                return Err(ApiError::already_exists(format!("email {email} already exists")));
            }
            user.email = Some(email);
            user.email_verified = true;
        }
        if let Some(phone) = new.phone_number.filter(|p| !p.is_empty()) {
            let phone = canonical_phone(&phone)
                .or_else(|| canonical_phone(&format!("+86 {}", phone.trim())))
                .ok_or_else(|| ApiError::invalid_argument(format!("invalid phone number {phone:?}")))?;
            if self.db.user_by_address(&Address::Phone(phone.clone())).is_some() {
                return Err(ApiError::already_exists(format!("phone number {phone} already exists")));
            }
            user.phone = Some(phone);
        }
        if let Some(password) = new.password {
            user.password_hash = Some(self.hash_password(&password)?);
            user.password_updated_at = Some(now);
        }
        for identity in new.identities {
            if self.db.user_by_identity(&identity.provider_id, &identity.provider_user_id).is_some() {
                return Err(ApiError::already_exists(format!(
                    "identity {}/{} is bound to another user",
                    identity.provider_id, identity.provider_user_id
                )));
            }
            user.identities.push(Identity {
                name: identity.provider_user_id.clone(),
                provider_id: identity.provider_id,
                provider_user_id: identity.provider_user_id,
                picture: String::new(),
            });
        }
        user.name = new
            .name
            .or_else(|| user.username.clone())
            .or_else(|| user.email.clone())
            .or_else(|| user.phone.clone())
            .or_else(|| user.identities.first().map(|i| i.name.clone()))
            .unwrap_or_default();
        self.db.users.insert(id.clone(), user);
        Ok(id)
    }
}

#[derive(Default)]
struct Logs {
    requests: VecDeque<RecordedRequest>,
    exchanges: VecDeque<Exchange>,
    counts: HashMap<String, usize>,
}

/// The shared state of one emulator.
pub(crate) struct State {
    pub env_id: String,
    pub url: String,
    pub jwt_key: [u8; 32],
    pub kid: String,
    /// The functions, cloud run services and APIs registered at start (kept by `reset`).
    pub targets: crate::registry::Targets,
    /// Cloud storage's objects.
    pub storage: crate::storage::Store,
    /// The data services' databases and models.
    pub data: crate::data::Data,
    initial: EmulatorConfig,
    core: Mutex<Core>,
    logs: Mutex<Logs>,
    faults: Mutex<HashMap<String, VecDeque<(Fault, u32)>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    pub fn new(config: EmulatorConfig, url: String) -> Result<Self, String> {
        let storage = crate::storage::Store::new(config.storage_dir.clone())
            .map_err(|e| format!("storage directory {:?}: {e}", config.storage_dir))?;
        let data = crate::data::Data::new(config.data_dir.clone(), &config.env_id)?;
        let state = Self {
            env_id: config.env_id.clone(),
            url,
            jwt_key: util::random_bytes::<32>(),
            kid: util::random_hex::<8>(),
            targets: Default::default(),
            storage,
            data,
            initial: config.clone(),
            core: Mutex::new(Core { config, clock_offset: Duration::ZERO, db: Db::default(), next_user: 0 }),
            logs: Mutex::default(),
            faults: Mutex::default(),
        };
        state.seed().map_err(|e| format!("seed users: {}: {}", e.error, e.description))?;
        Ok(state)
    }

    fn seed(&self) -> ApiResult<()> {
        let mut core = self.core();
        for user in core.config.users.clone() {
            core.create_user(user)?;
        }
        Ok(())
    }

    pub fn core(&self) -> MutexGuard<'_, Core> {
        lock(&self.core)
    }

    pub fn reset(&self) {
        {
            let mut core = self.core();
            core.config = self.initial.clone();
            core.clock_offset = Duration::ZERO;
            core.db = Db::default();
        }
        *lock(&self.logs) = Logs::default();
        lock(&self.faults).clear();
        self.storage.reset();
        self.data.reset(&self.targets.data);
        // The seed users were valid at start, so they are valid again.
        let _ = self.seed();
    }

    pub fn update_config(&self, change: impl FnOnce(&mut EmulatorConfig)) {
        change(&mut self.core().config);
    }

    pub fn advance_clock(&self, by: Duration) {
        self.core().clock_offset += by;
    }

    pub fn create_user(&self, user: NewUser) -> ApiResult<String> {
        self.core().create_user(user)
    }

    pub fn create_ticket(&self, custom_user_id: &str) -> String {
        let mut core = self.core();
        let expires_at = core.now() + TICKET_TTL;
        let claims = json!({
            "custom_user_id": custom_user_id,
            "env": self.env_id,
            "exp": unix_secs(expires_at),
        });
        let ticket = format!("{}/@@/{}", util::random_hex::<16>(), util::sign_jwt(&self.jwt_key, &self.kid, &claims));
        core.db.tickets.insert(ticket.clone(), Ticket { custom_user_id: custom_user_id.to_owned(), expires_at });
        ticket
    }

    pub fn captcha_answer(&self, token: &str) -> Option<String> {
        self.core().db.challenges.get(token).map(|c| c.answer.clone())
    }

    /// Active captcha challenges, oldest first: `(token, answer)`.
    pub fn captcha_list(&self) -> Vec<(String, String)> {
        let core = self.core();
        let now = core.now();
        let mut list: Vec<_> = core.db.challenges.iter().filter(|(_, c)| c.expires_at > now).collect();
        list.sort_by_key(|(_, c)| c.seq);
        list.into_iter().map(|(t, c)| (t.clone(), c.answer.clone())).collect()
    }

    pub fn outbox(&self) -> Vec<SentCode> {
        self.core().db.outbox.clone()
    }

    pub fn last_code_for(&self, target: &str) -> Option<SentCode> {
        let wanted = target_key(target);
        self.core().db.outbox.iter().rev().find(|c| target_key(&c.target) == wanted).cloned()
    }

    pub fn clear_outbox(&self) {
        self.core().db.outbox.clear();
    }

    pub fn inject_fault(&self, operation_id: &str, fault: Fault, times: u32) {
        if times > 0 {
            lock(&self.faults).entry(operation_id.to_owned()).or_default().push_back((fault, times));
        }
    }

    /// The fault to apply to this call of `operation_id`, if one is queued.
    pub fn take_fault(&self, operation_id: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let queue = faults.get_mut(operation_id)?;
        let (fault, left) = queue.front_mut()?;
        let fault = fault.clone();
        *left -= 1;
        if *left == 0 {
            queue.pop_front();
        }
        Some(fault)
    }

    pub fn record_request(&self, request: RecordedRequest) {
        let mut logs = lock(&self.logs);
        if let Some(op) = &request.operation_id {
            *logs.counts.entry(op.clone()).or_default() += 1;
        }
        if logs.requests.len() >= LOG_LIMIT {
            logs.requests.pop_front();
        }
        logs.requests.push_back(request);
    }

    pub fn record_exchange(&self, exchange: Exchange) {
        let mut logs = lock(&self.logs);
        if logs.exchanges.len() >= LOG_LIMIT {
            logs.exchanges.pop_front();
        }
        logs.exchanges.push_back(exchange);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.logs).requests.iter().cloned().collect()
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.logs).exchanges.iter().cloned().collect()
    }

    pub fn count(&self, operation_id: &str) -> usize {
        lock(&self.logs).counts.get(operation_id).copied().unwrap_or(0)
    }
}

/// How outbox targets are compared: emails case-insensitively, phone numbers by digits.
fn target_key(target: &str) -> String {
    if let Some(email) = canonical_email(target) {
        return email;
    }
    phone_digits(target).map(|d| format!("+{d}")).unwrap_or_else(|| target.trim().to_owned())
}
