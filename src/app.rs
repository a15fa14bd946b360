//! `CloudBase::builder(env)`: the app's settings, and the one shared core (HTTP client, session engine) every
//! service handle stands on.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use crate::auth::Auth;
use crate::captcha::CaptchaHandler;
use crate::core::session::{MemoryStore, SessionEngine, SessionStore};
use crate::core::transport::Transport;
use crate::core::{Core, Shared};
use crate::raw::DEFAULT_MAX_RESPONSE_BYTES;
use crate::{Error, Secret};

/// Regions served by the mainland-China gateway; every other region uses the international one (the rule of
/// the official JS SDK 3.3).
const MAINLAND_REGIONS: &[&str] = &[
    "ap-shanghai",
    "ap-guangzhou",
    "ap-shenzhen-fsi",
    "ap-shanghai-fsi",
    "ap-nanjing",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-hongkong",
];

/// The SDK version header value.
pub(crate) const SDK_VERSION: &str = concat!("cloudbase-rust/", env!("CARGO_PKG_VERSION"));

/// The language of the service's messages (`Accept-Language`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Language {
    /// Simplified Chinese (`zh-CN`), the service's default.
    #[default]
    ZhCn,
    /// English (`en-US`).
    EnUs,
}

impl Language {
    fn header(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::EnUs => "en-US",
        }
    }
}

/// A CloudBase app: one environment, its settings, and its auth state.
///
/// Cheap to clone; clones share everything.
///
/// ```no_run
/// # async fn demo() -> Result<(), cloudbase::Error> {
/// use cloudbase::CloudBase;
/// let app = CloudBase::builder("my-env-1a2b")
///     .region("ap-shanghai")
///     .access_key("publishable-key")
///     .build()?;
/// let auth = app.auth();
/// let session = auth.sign_in_anonymously().await?;
/// println!("signed in as {}", session.user.map(|u| u.id).unwrap_or_default());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CloudBase {
    core: Arc<Core>,
    auth: Auth,
}

impl fmt::Debug for CloudBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudBase").field("core", &self.core).finish()
    }
}

impl CloudBase {
    /// Starts configuring an app for the environment `env` (its id, e.g. `my-env-1a2b`).
    pub fn builder(env: impl Into<String>) -> CloudBaseBuilder {
        CloudBaseBuilder::new(env.into())
    }

    /// The auth client: sign-in, sessions, users. Cheap to clone, `Send + Sync`.
    pub fn auth(&self) -> Auth {
        self.auth.clone()
    }

    /// The shared core every service handle stands on.
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// A session of its own for one user of a server (a player, a tenant), sharing everything else with
    /// this app: settings, the HTTP connection pool, the session store. The scope has its own device id and
    /// its own session, kept in the store under keys suffixed with `@{key}`; building one does no I/O and
    /// allocates a few hundred bytes (measured in `BENCHMARKS.md`). No timer or task runs for it: it
    /// refreshes on use, once for any number of concurrent callers; see [`Refresher`](crate::Refresher) to
    /// keep many sessions fresh with one task.
    ///
    /// The same `key` always names the same stored session: a server can drop a scope and build it again
    /// later to resume the user's session.
    ///
    /// ```no_run
    /// # async fn demo(app: cloudbase::CloudBase) -> Result<(), cloudbase::Error> {
    /// let player = app.session_scope("player-42")?;
    /// player.auth().sign_in_anonymously().await?;
    /// let reply = player.call_function("daily-reward").send_json().await?;
    /// # let _ = reply; Ok(()) }
    /// ```
    pub fn session_scope(&self, key: &str) -> Result<CloudBase, Error> {
        let key = key.trim();
        if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid("key", "expected 1 to 128 printable ASCII characters"));
        }
        let shared = Arc::clone(&self.core.shared);
        let session = SessionEngine::new(
            Arc::clone(&self.core.session.store),
            &shared.client_id,
            self.core.session.margin,
            Some(key),
        );
        let core = Arc::new(Core { shared, session });
        let auth = Auth::new(Arc::clone(&core));
        Ok(CloudBase { core, auth })
    }

    /// The environment id.
    pub fn env(&self) -> &str {
        &self.core.env
    }

    /// The origin calls go to (e.g. `https://my-env.api.tcloudbasegateway.com`).
    pub fn base_url(&self) -> &str {
        &self.core.transport.base_url
    }
}

/// Settings for a [`CloudBase`] app. Every setting has a default; only the environment id is required.
#[must_use]
pub struct CloudBaseBuilder {
    env: String,
    region: String,
    client_id: Option<String>,
    base_url: Option<String>,
    intl: Option<bool>,
    access_key: Option<Secret>,
    http: Option<reqwest::Client>,
    store: Option<Arc<dyn SessionStore>>,
    captcha: Option<Arc<dyn CaptchaHandler>>,
    timeout: Duration,
    connect_timeout: Duration,
    language: Language,
    refresh_margin: Duration,
    connect_retries: u32,
    retry_delay: Duration,
    max_response_bytes: usize,
}

impl fmt::Debug for CloudBaseBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudBaseBuilder")
            .field("env", &self.env)
            .field("region", &self.region)
            .field("client_id", &self.client_id)
            .field("base_url", &self.base_url)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl CloudBaseBuilder {
    fn new(env: String) -> Self {
        CloudBaseBuilder {
            env,
            region: "ap-shanghai".to_owned(),
            client_id: None,
            base_url: None,
            intl: None,
            access_key: None,
            http: None,
            store: None,
            captcha: None,
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            language: Language::default(),
            refresh_margin: Duration::from_secs(60),
            connect_retries: 2,
            retry_delay: Duration::from_secs(1),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The largest JSON reply read (default 16 MiB); a larger one fails with
    /// [`Error::ResponseTooLarge`] instead of growing memory without bound.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The region (default `ap-shanghai`). Regions outside mainland China use the international gateway.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Forces the international (`true`) or mainland (`false`) gateway, whatever the region.
    pub fn intl(mut self, intl: bool) -> Self {
        self.intl = Some(intl);
        self
    }

    /// The publishable key (`accessKey` in the other SDKs), sent as `Bearer` when no user is signed in.
    pub fn access_key(mut self, key: impl Into<Secret>) -> Self {
        self.access_key = Some(key.into());
        self
    }

    /// The client id (default: the environment id).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sends every call to this origin instead (a private gateway, the local emulator). No path, no
    /// trailing `/` needed.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Where sessions and the device id are kept (default: [`MemoryStore`]; see [`FileStore`](crate::FileStore)).
    pub fn session_store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The same, for a store already behind an `Arc` (to share one between apps).
    pub fn shared_session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses this `reqwest::Client` (proxies, certificates, connection pools of your own). Its own timeouts
    /// then apply instead of [`timeout`](Self::timeout) and [`connect_timeout`](Self::connect_timeout).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Total time a call may take (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often, and how far apart, a call whose connection failed (nothing was sent) is tried again
    /// (default 2 more times, 1 s apart, as the official SDKs do).
    pub fn connect_retries(mut self, retries: u32, delay: Duration) -> Self {
        self.connect_retries = retries;
        self.retry_delay = delay;
        self
    }

    /// The language of the service's messages (default Chinese).
    pub fn language(mut self, language: Language) -> Self {
        self.language = language;
        self
    }

    /// Refresh the access token when it expires within this margin (default 60 s).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Solves captcha challenges (see [`CaptchaHandler`]). Without one, a call refused with
    /// `captcha_required` fails with [`Error::CaptchaRequired`] carrying the challenge.
    pub fn captcha_handler(mut self, handler: impl CaptchaHandler) -> Self {
        self.captcha = Some(Arc::new(handler));
        self
    }

    /// Builds the app: checks the settings. No I/O happens here: the device id and the stored session are
    /// read from the store on first use (so a store that is slow or broken never stops an app from
    /// building).
    pub fn build(self) -> Result<CloudBase, Error> {
        let env = crate::validate::non_empty("env", &self.env)?;
        if !env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Error::invalid("env", "expected letters, digits, '-' and '_'"));
        }
        let region = crate::validate::non_empty("region", &self.region)?;
        let base_url = match self.base_url {
            Some(url) => {
                let parsed =
                    url::Url::parse(url.trim()).map_err(|e| Error::invalid("base_url", format!("not a URL: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(Error::invalid("base_url", "expected an http or https URL"));
                }
                url.trim().trim_end_matches('/').to_owned()
            }
            None => {
                let intl = self.intl.unwrap_or(!MAINLAND_REGIONS.contains(&region.as_str()));
                if intl {
                    format!("https://{env}.api.intl.tcloudbasegateway.com")
                } else {
                    format!("https://{env}.api.tcloudbasegateway.com")
                }
            }
        };
        let http = match self.http {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.connect_timeout)
                .user_agent(SDK_VERSION)
                .build()
                .map_err(|e| Error::invalid("http_client", e.to_string()))?,
        };
        let headers = vec![
            (HeaderName::from_static("x-sdk-version"), HeaderValue::from_static(SDK_VERSION)),
            (reqwest::header::ACCEPT_LANGUAGE, HeaderValue::from_static(self.language.header())),
        ];
        let client_id = match self.client_id {
            Some(id) => crate::validate::non_empty("client_id", &id)?,
            None => env.clone(),
        };
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let shared = Arc::new(Shared {
            env,
            region,
            transport: Transport {
                base_url,
                http,
                client_id: Arc::from(client_id.as_str()),
                access_key: self.access_key.filter(|k| !k.is_empty()),
                headers: Arc::new(headers),
                connect_retries: self.connect_retries,
                retry_delay: self.retry_delay,
                max_response_bytes: self.max_response_bytes,
            },
            client_id,
            captcha: self.captcha,
        });
        let session = SessionEngine::new(store, &shared.client_id, self.refresh_margin, None);
        let core = Arc::new(Core { shared, session });
        let auth = Auth::new(Arc::clone(&core));
        Ok(CloudBase { core, auth })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_follows_the_region() {
        let app = CloudBase::builder("env-1").build().unwrap();
        assert_eq!(app.base_url(), "https://env-1.api.tcloudbasegateway.com");
        let app = CloudBase::builder("env-1").region("ap-singapore").build().unwrap();
        assert_eq!(app.base_url(), "https://env-1.api.intl.tcloudbasegateway.com");
        let app = CloudBase::builder("env-1").region("ap-singapore").intl(false).build().unwrap();
        assert_eq!(app.base_url(), "https://env-1.api.tcloudbasegateway.com");
        let app = CloudBase::builder("env-1").base_url("http://127.0.0.1:9/").build().unwrap();
        assert_eq!(app.base_url(), "http://127.0.0.1:9");
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(matches!(CloudBase::builder("").build(), Err(Error::InvalidInput { field: "env", .. })));
        assert!(matches!(CloudBase::builder("a/b").build(), Err(Error::InvalidInput { field: "env", .. })));
        assert!(matches!(
            CloudBase::builder("e").base_url("ftp://x").build(),
            Err(Error::InvalidInput { field: "base_url", .. })
        ));
    }

    #[test]
    fn debug_hides_the_access_key() {
        let builder = CloudBase::builder("env-1").access_key("PUBLISHABLE-SECRET-1");
        assert!(!format!("{builder:?}").contains("PUBLISHABLE-SECRET-1"));
        let app = builder.build().unwrap();
        assert!(!format!("{app:?}").contains("PUBLISHABLE-SECRET-1"));
    }
}
