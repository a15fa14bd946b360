//! The spec-exact layer: clients generated from `openapi/*.yaml` at build time, usable alone.
//!
//! Every generated client carries a [`Context`] (credentials, ids, limits) and sends through the core
//! transport's hooks: the same headers, connection retries, bounded reads and error-body handling for every
//! service.

pub use crate::core::transport::context::{Context, DEFAULT_MAX_RESPONSE_BYTES, ORIGINAL_STATUS_HEADER, ResponseMeta};

use crate::core::transport::Profile;

/// The auth service: `client_id` on signed-out calls, error bodies inside HTTP 200.
const AUTH: Profile = Profile { client_id_query: true, sniff_error_bodies: true };
/// The gateway services: a 2xx body is the service's own, whatever it holds.
const GATEWAY: Profile = Profile { client_id_query: false, sniff_error_bodies: false };

/// Implements the transport hooks and the core's constructor for each generated client.
macro_rules! raw_clients {
    ($($(#[$doc:meta])* $module:ident: $profile:expr,)*) => {$(
        $(#[$doc])*
        #[allow(missing_docs, clippy::all, clippy::pedantic, unused_imports, dead_code, irrefutable_let_patterns)]
        pub mod $module {
            include!(concat!(env!("OUT_DIR"), "/", stringify!($module), ".rs"));
        }

        impl progenitor_client::ClientHooks<Context> for $module::Client {
            async fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                _: &progenitor_client::OperationInfo,
            ) -> Result<(), progenitor_client::Error<E>> {
                progenitor_client::ClientInfo::inner(self).decorate(request);
                Ok(())
            }

            async fn exec(
                &self,
                request: reqwest::Request,
                info: &progenitor_client::OperationInfo,
            ) -> reqwest::Result<reqwest::Response> {
                let client = progenitor_client::ClientInfo::client(self);
                progenitor_client::ClientInfo::inner(self).execute(client, request, info).await
            }
        }

        impl crate::core::transport::RawClient for $module::Client {
            const PROFILE: crate::core::transport::Profile = $profile;
            fn from_parts(base_url: &str, http: reqwest::Client, context: Context) -> Self {
                Self::new_with_client(base_url, http, context)
            }
        }

        impl $module::Client {
            /// A client for `base_url` (no trailing `/`) with an empty [`Context`] and progenitor's default
            /// `reqwest::Client` (15 s timeouts).
            pub fn with_base_url(base_url: &str) -> Self {
                Self::new(base_url.trim_end_matches('/'), Context::new())
            }
        }
    )*};
}

raw_clients! {
    /// The CloudBase auth service (`openapi/auth.yaml`).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use cloudbase::raw::auth::{Client, types::VerificationRequest};
    /// let client = Client::with_base_url("https://my-env.api.tcloudbasegateway.com");
    /// let body = VerificationRequest { email: Some("someone@example.com".into()), ..Default::default() };
    /// let sent = client.send_verification(&body).await?;
    /// println!("verification id {}", sent.verification_id);
    /// # Ok(()) }
    /// ```
    auth: AUTH,
    /// Cloud functions (`openapi/functions.yaml`).
    functions: GATEWAY,
    /// Cloud run services (`openapi/cloudrun.yaml`).
    cloudrun: GATEWAY,
    /// APIs, the API connectors (`openapi/apis.yaml`).
    apis: GATEWAY,
    /// Cloud storage (`openapi/storage.yaml`): the four batch operations on the gateway.
    storage: GATEWAY,
    /// MySQL RESTful tables (`openapi/mysql.yaml`).
    mysql: GATEWAY,
    /// Data models, data source queries and SQL commands (`openapi/model.yaml`).
    model: GATEWAY,
}
