//! The [`SessionStore`] trait (where sessions and the device id live between runs), its lock, and the
//! in-memory store.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::Secret;

/// A failure of a [`SessionStore`]: what failed, and the error that caused it ([`source`]).
///
/// [`source`]: std::error::Error::source
#[derive(Clone, Debug)]
pub struct StoreError {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        StoreError { message: message.into(), source: None }
    }

    /// A failure described by `message`, caused by `source` (kept for [`std::error::Error::source`]).
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError { message: message.into(), source: Some(Arc::new(source)) }
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::with_source("I/O error", e)
    }
}

/// A key-value store for the SDK's persistent state (the session under `credentials_<client id>`, the device
/// id under `device_id`). Values hold tokens, so they travel as [`Secret`]s.
///
/// The methods are async so that stores on the network (Redis, a database, a keychain daemon) fit; they are
/// written with [`async_trait`](crate::async_trait). Implement it to keep sessions anywhere:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use cloudbase::{Secret, SessionStore, StoreError};
///
/// #[derive(Default)]
/// struct MyStore(Mutex<HashMap<String, Secret>>);
///
/// #[cloudbase::async_trait]
/// impl SessionStore for MyStore {
///     async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
///         Ok(self.0.lock().unwrap().get(key).cloned())
///     }
///     async fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
///         self.0.lock().unwrap().insert(key.to_owned(), value);
///         Ok(())
///     }
///     async fn remove(&self, key: &str) -> Result<(), StoreError> {
///         self.0.lock().unwrap().remove(key);
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The value under `key`.
    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError>;
    /// Stores `value` under `key`. When this returns, the value must survive a crash.
    async fn set(&self, key: &str, value: Secret) -> Result<(), StoreError>;
    /// Removes `key`.
    async fn remove(&self, key: &str) -> Result<(), StoreError>;
    /// Takes the store's exclusive lock, held while the SDK refreshes tokens or replaces the session, so that
    /// no two holders of the store spend the same refresh token. It must give up with an error after a
    /// bounded wait (a holder may be stuck). The default is no lock: enough when one `CloudBase` uses the
    /// store.
    async fn lock(&self) -> Result<StoreLock, StoreError> {
        Ok(StoreLock::none())
    }
    /// [`set`](Self::set) by the holder of `lock`. A store whose lock can expire refuses the write when a
    /// newer holder exists (a fencing check), so a holder that was paused past its lock's expiry cannot
    /// overwrite a newer session.
    async fn set_locked(&self, key: &str, value: Secret, lock: &StoreLock) -> Result<(), StoreError> {
        let _ = lock;
        self.set(key, value).await
    }
    /// [`remove`](Self::remove) by the holder of `lock`, with the same fencing check.
    async fn remove_locked(&self, key: &str, lock: &StoreLock) -> Result<(), StoreError> {
        let _ = lock;
        self.remove(key).await
    }
}

/// A held [`SessionStore::lock`]; released on drop.
#[must_use = "the lock is released when this is dropped"]
pub struct StoreLock {
    _guard: Option<Box<dyn Send + Sync>>,
    fence: Option<u64>,
}

impl StoreLock {
    /// A lock that locks nothing.
    pub fn none() -> Self {
        StoreLock { _guard: None, fence: None }
    }

    /// Wraps any guard; the lock is released when the guard is dropped.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        StoreLock { _guard: Some(Box::new(guard)), fence: None }
    }

    /// Wraps a guard of a lock that can expire, with its fencing token: a number that grows with every
    /// acquisition, checked by [`SessionStore::set_locked`].
    pub fn fenced(guard: impl Send + Sync + 'static, fence: u64) -> Self {
        StoreLock { _guard: Some(Box::new(guard)), fence: Some(fence) }
    }

    /// The fencing token, for locks that can expire.
    pub fn fence(&self) -> Option<u64> {
        self.fence
    }
}

impl fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreLock").field("fence", &self.fence).finish_non_exhaustive()
    }
}

/// The default store: memory only, gone when the process exits. Clones share the same data and lock, so
/// several `CloudBase` values in one process may share one.
#[derive(Clone, Default)]
pub struct MemoryStore {
    values: Arc<Mutex<BTreeMap<String, Secret>>>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn values(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Secret>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self.values().keys().cloned().collect();
        f.debug_struct("MemoryStore").field("keys", &keys).finish()
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self.values().get(key).cloned())
    }

    async fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
        self.values().insert(key.to_owned(), value);
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.values().remove(key);
        Ok(())
    }

    async fn lock(&self) -> Result<StoreLock, StoreError> {
        // Only this process holds it, and it is never held across anything that can hang without a
        // timeout of its own, so an unbounded wait is safe here.
        Ok(StoreLock::new(Arc::clone(&self.lock).lock_owned().await))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_lock_is_exclusive() {
        let store = MemoryStore::new();
        let guard = store.lock().await.unwrap();
        let other = store.clone();
        let waiter = tokio::spawn(async move { other.lock().await.map(drop) });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "second lock must wait");
        drop(guard);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
    }
}
