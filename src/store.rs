//! Where sessions and the device id live between runs: the [`SessionStore`] trait, an in-memory store and a
//! file store safe to share between processes.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use crate::Secret;

/// A failure of a [`SessionStore`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// A key-value store for the SDK's persistent state (the session under `credentials_<client id>`, the device
/// id under `device_id`). Values hold tokens, so they travel as [`Secret`]s.
///
/// Methods are blocking and quick; the SDK calls [`SessionStore::lock`] on a blocking thread, because it may
/// wait for another process.
///
/// Implement it to keep sessions in a keychain, a database or an encrypted file:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use cloudbase::{Secret, SessionStore, StoreError};
///
/// #[derive(Default)]
/// struct MyStore(Mutex<HashMap<String, Secret>>);
///
/// impl SessionStore for MyStore {
///     fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
///         Ok(self.0.lock().unwrap().get(key).cloned())
///     }
///     fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
///         self.0.lock().unwrap().insert(key.to_owned(), value);
///         Ok(())
///     }
///     fn remove(&self, key: &str) -> Result<(), StoreError> {
///         self.0.lock().unwrap().remove(key);
///         Ok(())
///     }
/// }
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// The value under `key`.
    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError>;
    /// Stores `value` under `key`. When this returns, the value must survive a crash.
    fn set(&self, key: &str, value: Secret) -> Result<(), StoreError>;
    /// Removes `key`.
    fn remove(&self, key: &str) -> Result<(), StoreError>;
    /// Takes the store's exclusive lock, held while the SDK refreshes tokens, so that no two holders of the
    /// store use the same refresh token. The default is no lock: enough when one `CloudBase` uses the store.
    fn lock(&self) -> Result<StoreLock, StoreError> {
        Ok(StoreLock::none())
    }
}

/// A held [`SessionStore::lock`]; released on drop.
#[must_use = "the lock is released when this is dropped"]
pub struct StoreLock(#[allow(dead_code)] Option<Box<dyn Send>>);

impl StoreLock {
    /// A lock that locks nothing.
    pub fn none() -> Self {
        StoreLock(None)
    }

    /// Wraps any guard; the lock is released when the guard is dropped.
    pub fn new(guard: impl Send + 'static) -> Self {
        StoreLock(Some(Box::new(guard)))
    }
}

impl fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreLock")
    }
}

/// The default store: memory only, gone when the process exits. Clones share the same data and lock, so
/// several `CloudBase` values in one process may share one.
#[derive(Clone, Default)]
pub struct MemoryStore {
    values: Arc<Mutex<BTreeMap<String, Secret>>>,
    lock: Arc<(Mutex<bool>, Condvar)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self.values.lock().map(|v| v.keys().cloned().collect()).unwrap_or_default();
        f.debug_struct("MemoryStore").field("keys", &keys).finish()
    }
}

impl SessionStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self.values.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned())
    }

    fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), value);
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        Ok(())
    }

    fn lock(&self) -> Result<StoreLock, StoreError> {
        let (held, released) = &*self.lock;
        let mut held_now = held.lock().unwrap_or_else(|e| e.into_inner());
        while *held_now {
            held_now = released.wait(held_now).unwrap_or_else(|e| e.into_inner());
        }
        *held_now = true;
        Ok(StoreLock::new(MemoryLockGuard(Arc::clone(&self.lock))))
    }
}

struct MemoryLockGuard(Arc<(Mutex<bool>, Condvar)>);

impl Drop for MemoryLockGuard {
    fn drop(&mut self) {
        let (held, released) = &*self.0;
        *held.lock().unwrap_or_else(|e| e.into_inner()) = false;
        released.notify_one();
    }
}

/// A JSON file holding every key, safe to share between processes:
///
/// * every write goes to a temporary file in the same directory, is flushed to disk, then renamed over the
///   old file, so a reader never sees half a file and a crash never loses the previous session;
/// * the file (and its lock file) are created with mode 0600 on Unix: only the owner can read the tokens;
/// * [`SessionStore::lock`] takes an OS file lock on `<file>.lock`, which the SDK holds while it refreshes
///   tokens: a second process waits, re-reads the file, and uses the tokens the first one stored instead of
///   spending the same refresh token again.
///
/// ```no_run
/// # fn demo() -> Result<(), cloudbase::Error> {
/// let store = cloudbase::FileStore::new(dirs_next_config().join("my-app/session.json"));
/// let app = cloudbase::CloudBase::builder("my-env-1a2b").session_store(store).build()?;
/// # let _ = app; Ok(()) }
/// # fn dirs_next_config() -> std::path::PathBuf { std::path::PathBuf::from("/tmp") }
/// ```
#[derive(Clone, Debug)]
pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
}

impl FileStore {
    /// A store at `path`. The directory is created on first write.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut lock_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "cloudbase".into());
        lock_name.push(".lock");
        let lock_path = path.with_file_name(lock_name);
        FileStore { path, lock_path }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_all(&self) -> Result<BTreeMap<String, String>, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) if bytes.is_empty() => Ok(BTreeMap::new()),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError(format!("{} is not a session file: {e}", self.path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(StoreError(format!("cannot read {}: {e}", self.path.display()))),
        }
    }

    fn write_all(&self, values: &BTreeMap<String, String>) -> Result<(), StoreError> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        // tempfile creates the file with mode 0600 on Unix, before any byte is written.
        let mut temp = tempfile::Builder::new()
            .prefix(".cloudbase-session")
            .tempfile_in(dir)
            .map_err(|e| StoreError(format!("cannot create a temporary file in {}: {e}", dir.display())))?;
        let bytes = serde_json::to_vec(values).map_err(|e| StoreError(e.to_string()))?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path)
            .map_err(|e| StoreError(format!("cannot replace {}: {}", self.path.display(), e.error)))?;
        // Make the rename itself durable.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, String>)) -> Result<(), StoreError> {
        let mut values = self.read_all()?;
        change(&mut values);
        self.write_all(&values)
    }
}

impl SessionStore for FileStore {
    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self.read_all()?.remove(key).map(Secret::new))
    }

    fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
        self.update(|values| {
            values.insert(key.to_owned(), value.expose_secret().to_owned());
        })
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        if !self.path.exists() {
            return Ok(());
        }
        self.update(|values| {
            values.remove(key);
        })
    }

    fn lock(&self) -> Result<StoreLock, StoreError> {
        if let Some(dir) = self.lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&self.lock_path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", self.lock_path.display())))?;
        file.lock().map_err(|e| StoreError(format!("cannot lock {}: {e}", self.lock_path.display())))?;
        // Closing the file releases the OS lock.
        Ok(StoreLock::new(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("nested/session.json"));
        assert!(store.get("k").unwrap().is_none());
        store.set("k", Secret::from("v1")).unwrap();
        store.set("other", Secret::from("x")).unwrap();
        assert_eq!(store.get("k").unwrap().unwrap().expose_secret(), "v1");
        store.remove("k").unwrap();
        assert!(store.get("k").unwrap().is_none());
        assert_eq!(store.get("other").unwrap().unwrap().expose_secret(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".cloudbase-session"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, b"{not json").unwrap();
        let err = FileStore::new(&path).get("k").unwrap_err();
        assert!(err.0.contains("not a session file"));
    }

    #[test]
    fn memory_store_lock_is_exclusive() {
        let store = MemoryStore::new();
        let guard = store.lock().unwrap();
        let other = store.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _g = other.lock().unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(std::time::Duration::from_millis(100)).is_err(), "second lock must wait");
        drop(guard);
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("second lock after release");
        waiter.join().unwrap();
    }
}
