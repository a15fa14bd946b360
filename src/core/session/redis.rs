//! [`RedisStore`]: sessions in Redis, for a fleet of processes (on any number of hosts) sharing one identity.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use redis::aio::MultiplexedConnection;
use tokio::sync::OnceCell;

use super::store::{SessionStore, StoreError, StoreLock};
use crate::Secret;

/// Releases the lock only if this holder still owns it (an expired lock may belong to someone else now).
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// The fencing check: a write is refused once a newer lock holder exists, i.e. once the fence counter moved
/// past the writer's fence. Checked and applied in one script, so nothing slips in between.
const FENCED_SET: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return redis.error_reply('FENCED') end
redis.call('SET', KEYS[2], ARGV[2])
return 1";

const FENCED_DEL: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return redis.error_reply('FENCED') end
redis.call('DEL', KEYS[2])
return 1";

/// A [`SessionStore`] in Redis (feature `redis`). Every process that builds its app with a `RedisStore`
/// on the same server and prefix shares the session, and an expiring session is refreshed by exactly one of
/// them, whichever host it runs on:
///
/// * values live under `<prefix><key>` (default prefix `cloudbase:`);
/// * [`lock`](SessionStore::lock) is a Redis lock (`SET NX PX`) with an expiry (default 30 s, longer than
///   a token request may take), so a holder that dies never blocks the others for longer than that; the
///   wait for it is bounded too (default 10 s);
/// * each acquisition takes a fencing token (`INCR`), and [`set_locked`](SessionStore::set_locked) refuses
///   the write if a newer holder exists: a holder paused past its lock's expiry cannot overwrite the newer
///   session the next holder stored.
///
/// The connection is made on first use (building an app does no I/O) and shared by clones.
///
/// ```no_run
/// # fn demo() -> Result<(), cloudbase::Error> {
/// let store = cloudbase::RedisStore::open("redis://127.0.0.1:6379/0")?.prefix("game-server:player-42:");
/// let app = cloudbase::CloudBase::builder("my-env-1a2b").session_store(store).build()?;
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    connection: Arc<OnceCell<MultiplexedConnection>>,
    prefix: String,
    lock_ttl: Duration,
    lock_wait: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: show where, never how.
        let info = self.client.get_connection_info();
        f.debug_struct("RedisStore")
            .field("addr", &info.addr().to_string())
            .field("prefix", &self.prefix)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

fn redis_error(e: redis::RedisError) -> StoreError {
    // A RedisError's text never includes the URL or the values sent.
    StoreError::with_source("redis", e)
}

impl RedisStore {
    /// A store on the server at `url` (`redis://[:password@]host:port/db`). Checks the URL; connects on
    /// first use.
    pub fn open(url: &str) -> Result<Self, crate::Error> {
        let client = redis::Client::open(url)
            .map_err(|e| crate::Error::invalid("redis_url", format!("not a Redis URL: {e}")))?;
        Ok(RedisStore {
            client,
            connection: Arc::new(OnceCell::new()),
            prefix: "cloudbase:".to_owned(),
            lock_ttl: Duration::from_secs(30),
            lock_wait: Duration::from_secs(10),
        })
    }

    /// The prefix of every key (default `cloudbase:`): one per identity sharing a server.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a lock lives if its holder never releases it (default 30 s). Keep it above the app's
    /// request timeout: a refresh outliving its lock could be repeated by the next holder.
    #[must_use]
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How long [`lock`](SessionStore::lock) waits for another holder before it fails (default 10 s).
    #[must_use]
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        self.connection
            .get_or_try_init(|| async { self.client.get_multiplexed_async_connection().await.map_err(redis_error) })
            .await
            .cloned()
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn lock_key(&self) -> String {
        format!("{}__lock", self.prefix)
    }

    fn fence_key(&self) -> String {
        format!("{}__fence", self.prefix)
    }

    async fn fenced(
        &self,
        script: &str,
        key: &str,
        value: Option<&Secret>,
        lock: &StoreLock,
    ) -> Result<(), StoreError> {
        let Some(fence) = lock.fence() else {
            return Err(StoreError::new("a RedisStore write needs this store's own lock"));
        };
        let mut connection = self.connection().await?;
        let script = redis::Script::new(script);
        let mut invocation = script.prepare_invoke();
        invocation.key(self.fence_key()).key(self.key(key)).arg(fence);
        if let Some(value) = value {
            invocation.arg(value.expose_secret());
        }
        match invocation.invoke_async::<i64>(&mut connection).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("FENCED") => Err(StoreError::new(
                "the store lock expired and a newer holder took it; this write was refused (fencing)".to_owned(),
            )),
            Err(e) => Err(redis_error(e)),
        }
    }
}

/// Deletes the lock when dropped, if this holder still owns it.
struct RedisLockGuard {
    connection: MultiplexedConnection,
    key: String,
    token: String,
}

impl Drop for RedisLockGuard {
    fn drop(&mut self) {
        let mut connection = self.connection.clone();
        let (key, token) = (std::mem::take(&mut self.key), std::mem::take(&mut self.token));
        // Drop cannot await; outside a runtime the lock simply expires.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let result: redis::RedisResult<i64> =
                    redis::Script::new(UNLOCK).key(key).arg(token).invoke_async(&mut connection).await;
                if let Err(e) = result {
                    tracing::debug!(error = %e, "cannot release the Redis lock; it will expire");
                }
            });
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let mut connection = self.connection().await?;
        let value: Option<String> = connection.get(self.key(key)).await.map_err(redis_error)?;
        Ok(value.map(Secret::new))
    }

    async fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        connection.set::<_, _, ()>(self.key(key), value.expose_secret()).await.map_err(redis_error)
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        connection.del::<_, ()>(self.key(key)).await.map_err(redis_error)
    }

    async fn lock(&self) -> Result<StoreLock, StoreError> {
        let mut connection = self.connection().await?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let ttl_ms = u64::try_from(self.lock_ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(ttl_ms));
        let deadline = Instant::now() + self.lock_wait;
        let mut pause = Duration::from_millis(2);
        loop {
            let taken: Option<String> =
                connection.set_options(self.lock_key(), &token, options.clone()).await.map_err(redis_error)?;
            if taken.is_some() {
                let fence: u64 = connection.incr(self.fence_key(), 1).await.map_err(redis_error)?;
                let guard = RedisLockGuard { connection, key: self.lock_key(), token };
                return Ok(StoreLock::fenced(guard, fence));
            }
            if Instant::now() >= deadline {
                return Err(StoreError::new(format!(
                    "the Redis lock {} is held by another holder for more than {:?}",
                    self.lock_key(),
                    self.lock_wait
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    async fn set_locked(&self, key: &str, value: Secret, lock: &StoreLock) -> Result<(), StoreError> {
        self.fenced(FENCED_SET, key, Some(&value), lock).await
    }

    async fn remove_locked(&self, key: &str, lock: &StoreLock) -> Result<(), StoreError> {
        self.fenced(FENCED_DEL, key, None, lock).await
    }
}
