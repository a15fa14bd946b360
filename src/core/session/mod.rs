//! The session engine: the one place that holds the signed-in session, loads and persists it, refreshes it
//! (single flight, surviving a dropped caller; see `refresh`), and tells listeners.
//!
//! Every change to the session happens under `writer` (one at a time in this process) and, while the store
//! is written, under the store's lock (one at a time across processes sharing the store). Readers never
//! take a lock beyond a brief `RwLock` read: a valid session is an `Arc` clone.

pub(crate) mod events;
mod file;
mod model;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod refresh;
mod refresher;
mod store;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use tokio::sync::{OnceCell, broadcast};

pub use events::{AuthChange, AuthEvent, AuthStateChanges, Subscription};
pub use file::FileStore;
pub(crate) use model::MAX_LIFETIME_SECS;
pub use model::{Identity, Session, User};
pub use refresher::{RefreshPass, Refresher, RefresherTask};
pub use store::{MemoryStore, SessionStore, StoreError, StoreLock};

use crate::{Error, Secret};

/// The store key of the device id (the official SDKs' key).
const DEVICE_ID_KEY: &str = "device_id";
/// The format of the stored session this version writes; a newer one is kept aside, not misread.
const SESSION_FORMAT: u64 = 1;
/// How many spent refresh tokens are remembered (a handful of rotations is all a race can involve).
const SPENT_MEMORY: usize = 32;

pub(crate) struct SessionEngine {
    pub store: Arc<dyn SessionStore>,
    /// The store key of the session: `credentials_<client id>`, plus `@<scope>` for a session scope.
    pub key: String,
    /// Where the scope name starts in `key` (the `@`), for a session scope.
    scope_at: Option<usize>,
    pub margin: Duration,
    /// The device id, once the stored state was loaded (lazily: building an app does no I/O).
    loaded: OnceCell<Arc<str>>,
    current: RwLock<Option<Arc<Session>>>,
    /// Serialises every change of the session in this process.
    pub writer: tokio::sync::Mutex<()>,
    pub flight: Mutex<Option<refresh::Flight>>,
    /// Refresh tokens this client exchanged successfully: never sent again.
    spent: Mutex<VecDeque<Secret>>,
    /// True while the store holds an older state than memory (a write failed): memory is the truth then.
    unpersisted: AtomicBool,
    /// Created by the first subscriber: an app nobody listens to allocates no channel.
    events: OnceLock<broadcast::Sender<AuthChange>>,
}

impl SessionEngine {
    pub fn new(store: Arc<dyn SessionStore>, client_id: &str, margin: Duration, scope: Option<&str>) -> Self {
        let mut key = format!("credentials_{client_id}");
        let scope_at = scope.map(|scope| {
            let at = key.len();
            key.push('@');
            key.push_str(scope);
            at
        });
        SessionEngine {
            store,
            key,
            scope_at,
            margin,
            loaded: OnceCell::new(),
            current: RwLock::new(None),
            writer: tokio::sync::Mutex::new(()),
            flight: Mutex::new(None),
            spent: Mutex::new(VecDeque::new()),
            unpersisted: AtomicBool::new(false),
            events: OnceLock::new(),
        }
    }

    /// The scope's name, for a session scope.
    pub fn scope(&self) -> Option<&str> {
        self.scope_at.map(|at| &self.key[at + 1..])
    }

    /// The store key of the device id: `device_id`, plus `@<scope>` for a session scope.
    fn device_key(&self) -> std::borrow::Cow<'_, str> {
        match self.scope_at {
            None => DEVICE_ID_KEY.into(),
            Some(at) => format!("{DEVICE_ID_KEY}{}", &self.key[at..]).into(),
        }
    }

    /// Loads the device id and the stored session on first use; the device id afterwards.
    pub async fn device_id(&self) -> Result<Arc<str>, Error> {
        self.loaded.get_or_try_init(|| self.load()).await.cloned()
    }

    async fn load(&self) -> Result<Arc<str>, Error> {
        let valid = |id: &Secret| (16..=48).contains(&id.expose_secret().len());
        let device_key = self.device_key();
        let device_id = match self.store.get(&device_key).await.map_err(Error::storage)? {
            // The official SDKs regenerate ids outside 16..48 chars; the service rejects 72 and more.
            Some(id) if valid(&id) => id.expose_secret().to_owned(),
            _ => {
                // Under the lock, so that processes starting together agree on one id.
                let lock = self.store.lock().await.map_err(Error::storage)?;
                match self.store.get(&device_key).await.map_err(Error::storage)? {
                    Some(id) if valid(&id) => id.expose_secret().to_owned(),
                    _ => {
                        let id = crate::core::transport::new_request_id();
                        self.store
                            .set_locked(&device_key, Secret::new(id.as_str()), &lock)
                            .await
                            .map_err(Error::storage)?;
                        id
                    }
                }
            }
        };
        let session = self.read_stored().await?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = session.map(Arc::new);
        Ok(Arc::from(device_id))
    }

    /// Makes sure the stored state was loaded.
    pub async fn ensure_loaded(&self) -> Result<(), Error> {
        self.device_id().await.map(drop)
    }

    /// The session in memory, as it is (no refresh, no I/O).
    pub fn current(&self) -> Option<Arc<Session>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_current(&self, session: Option<Arc<Session>>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = session;
    }

    /// The stored session. An unreadable one (another type, a newer format, truncated) is moved aside to
    /// `<key>.unreadable` for inspection and counts as none, so the app keeps working and the next sign-in
    /// writes a good one.
    pub async fn read_stored(&self) -> Result<Option<Session>, Error> {
        let Some(text) = self.store.get(&self.key).await.map_err(Error::storage)? else {
            return Ok(None);
        };
        match decode_stored(text.expose_secret()) {
            Ok(session) => Ok(Some(session)),
            Err(reason) => {
                tracing::warn!(key = %self.key, reason, "the stored session is unreadable; moved aside");
                let aside = format!("{}.unreadable", self.key);
                self.store.set(&aside, text).await.map_err(Error::storage)?;
                self.store.remove(&self.key).await.map_err(Error::storage)?;
                Ok(None)
            }
        }
    }

    /// Whether the store may be trusted to hold the newest state (no write of ours failed since).
    pub fn store_is_current(&self) -> bool {
        !self.unpersisted.load(Ordering::Acquire)
    }

    /// Writes the session (or its absence) under `lock`. A failed write is not the end of the session: it
    /// stays in memory (the truth until a write succeeds), and the next change writes again.
    pub async fn persist(&self, session: Option<&Session>, lock: &StoreLock) {
        let result = match session {
            Some(s) => match encode_stored(s) {
                Ok(json) => self.store.set_locked(&self.key, Secret::new(json), lock).await,
                Err(e) => Err(StoreError::with_source("cannot encode the session", e)),
            },
            None => self.store.remove_locked(&self.key, lock).await,
        };
        match result {
            Ok(()) => self.unpersisted.store(false, Ordering::Release),
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the session to the store; keeping it in memory");
                self.unpersisted.store(true, Ordering::Release);
            }
        }
    }

    /// Records that the store missed a change (it could not be locked): memory is the truth until a write
    /// succeeds.
    pub fn mark_unpersisted(&self) {
        self.unpersisted.store(true, Ordering::Release);
    }

    /// Takes the store's lock; a failure marks the store as behind (the caller carries on in memory).
    pub async fn lock_store(&self) -> Option<StoreLock> {
        match self.store.lock().await {
            Ok(lock) => Some(lock),
            Err(e) => {
                tracing::warn!(error = %e, "cannot lock the session store");
                None
            }
        }
    }

    pub fn is_spent(&self, token: &Secret) -> bool {
        self.spent.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|t| t == token)
    }

    pub fn mark_spent(&self, token: Secret) {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        if spent.len() == SPENT_MEMORY {
            spent.pop_front();
        }
        spent.push_back(token);
    }

    pub fn emit(&self, change: AuthChange) {
        if let Some(sender) = self.events.get() {
            // No receiver is fine: nobody listens.
            let _ = sender.send(change);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AuthChange> {
        self.events.get_or_init(|| broadcast::channel(events::EVENT_BUFFER).0).subscribe()
    }

    /// True once somebody subscribed to events (an app nobody listens to has no channel).
    #[cfg(test)]
    pub fn has_event_channel(&self) -> bool {
        self.events.get().is_some()
    }
}

#[derive(serde::Serialize)]
struct StoredRef<'a> {
    format: u64,
    #[serde(flatten)]
    session: &'a Session,
}

fn encode_stored(session: &Session) -> Result<String, serde_json::Error> {
    serde_json::to_string(&StoredRef { format: SESSION_FORMAT, session })
}

fn decode_stored(text: &str) -> Result<Session, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON (line {} column {})", e.line(), e.column()))?;
    // Files written before the format field existed are format 1.
    let format = value.get("format").map_or(Some(1), serde_json::Value::as_u64);
    match format {
        Some(SESSION_FORMAT) => {}
        Some(newer) if newer > SESSION_FORMAT => return Err(format!("written by a newer version (format {newer})")),
        _ => return Err("an unknown format".to_owned()),
    }
    // serde's message may quote a token: keep its category only.
    serde_json::from_value(value).map_err(|e| format!("not a session ({:?})", e.classify()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_event_channel_until_someone_subscribes_and_a_late_subscriber_gets_every_later_event() {
        let engine = SessionEngine::new(Arc::new(MemoryStore::new()), "c", Duration::from_secs(60), None);
        engine.emit(AuthChange::new(AuthEvent::SignedOut, None));
        assert!(!engine.has_event_channel(), "emitting with no subscriber allocates nothing");
        let mut receiver = engine.subscribe();
        assert!(engine.has_event_channel());
        engine.emit(AuthChange::new(AuthEvent::SignedIn, None));
        engine.emit(AuthChange::new(AuthEvent::TokenRefreshed, None));
        assert_eq!(receiver.recv().await.unwrap().event, AuthEvent::SignedIn);
        assert_eq!(receiver.recv().await.unwrap().event, AuthEvent::TokenRefreshed);
    }

    #[test]
    fn stored_sessions_decode_or_say_why_not() {
        assert!(decode_stored("{\"format\":2,\"access_token\":\"a\"}").unwrap_err().contains("newer"));
        assert!(decode_stored("[1,2]").is_err());
        assert!(decode_stored("{\"access_token\":").unwrap_err().contains("not JSON"));
        assert!(decode_stored("{\"access_token\":7}").unwrap_err().contains("not a session"));
        let ok = r#"{"access_token":"a","refresh_token":"r","token_type":"Bearer","expires_in":1,"expires_at":2,
            "scope":null,"user":null}"#;
        let session = decode_stored(ok).unwrap();
        assert!(decode_stored(&encode_stored(&session).unwrap()).is_ok());
    }
}
