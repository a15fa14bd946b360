//! APIs (API connectors): `app.apis(name)`, the Flutter SDK's `apis[name]` proxy and `apis.callApi`, over the
//! same request builder as cloud run.

use std::sync::Arc;

use http::Method;

use crate::cloudrun::{Service, ServiceRequest, ServiceResponse};
use crate::core::Core;
use crate::{CloudBase, Error};

impl CloudBase {
    /// The API connector labelled `name` (`{METHOD} /v1/apis/{name}/{path}`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emu = cloudbase_emulator::Emulator::builder()
    /// #     .api("weather", |request: axum::extract::Request, _caller| async move {
    /// #         let body = serde_json::json!({ "asked": request.uri().to_string() }).to_string();
    /// #         axum::response::Response::builder()
    /// #             .header("content-type", "application/json")
    /// #             .body(axum::body::Body::from(body))
    /// #             .unwrap()
    /// #     })
    /// #     .start()
    /// #     .await?;
    /// # let app = cloudbase::CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
    /// # app.auth().sign_in_anonymously().await?;
    /// let weather = app.apis("weather");
    /// let today: serde_json::Value = weather.get("today").query("city", "Shenzhen").send().await?.json().await?;
    /// assert_eq!(today["asked"], "/today?city=Shenzhen");
    /// let saved = weather.post("notes").json(&serde_json::json!({"text": "rain"})).send().await?;
    /// assert!(saved.status().is_success());
    /// # Ok(()) }
    /// ```
    pub fn apis(&self, name: impl Into<String>) -> Apis {
        Apis { core: Arc::clone(self.core()), name: name.into() }
    }

    /// Calls an API connector from options (the Flutter SDK's `apis.callApi(CallApiOptions)`).
    pub async fn call_api(&self, options: CallApiOptions) -> Result<ServiceResponse, Error> {
        let mut request = self.apis(options.name).request(options.method, options.path);
        for (name, value) in &options.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &options.body {
            request = request.json(body);
        }
        request.send().await
    }
}

/// One API connector; each verb starts a [`ServiceRequest`] for a path under it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Apis {
    core: Arc<Core>,
    name: String,
}

impl Apis {
    /// A request with any method.
    pub fn request(&self, method: Method, path: impl Into<String>) -> ServiceRequest {
        ServiceRequest::new(&self.core, Service::Api, self.name.clone(), method).path(path)
    }

    /// `GET {path}`.
    pub fn get(&self, path: impl Into<String>) -> ServiceRequest {
        self.request(Method::GET, path)
    }

    /// `POST {path}`.
    pub fn post(&self, path: impl Into<String>) -> ServiceRequest {
        self.request(Method::POST, path)
    }

    /// `PUT {path}`.
    pub fn put(&self, path: impl Into<String>) -> ServiceRequest {
        self.request(Method::PUT, path)
    }

    /// `PATCH {path}`.
    pub fn patch(&self, path: impl Into<String>) -> ServiceRequest {
        self.request(Method::PATCH, path)
    }

    /// `DELETE {path}`.
    pub fn delete(&self, path: impl Into<String>) -> ServiceRequest {
        self.request(Method::DELETE, path)
    }

    /// `HEAD {path}`.
    pub fn head(&self, path: impl Into<String>) -> ServiceRequest {
        self.request(Method::HEAD, path)
    }

    /// `OPTIONS {path}`.
    pub fn options(&self, path: impl Into<String>) -> ServiceRequest {
        self.request(Method::OPTIONS, path)
    }
}

/// [`CloudBase::call_api`]'s options, as the Flutter SDK's `CallApiOptions`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CallApiOptions {
    /// The API's label.
    pub name: String,
    /// The method (the Flutter SDK sends an unknown one as POST; here it is typed).
    pub method: Method,
    /// The path under the API (a leading `/` is added when missing).
    pub path: String,
    /// A JSON body.
    pub body: Option<serde_json::Value>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl CallApiOptions {
    /// `POST` to `path` of the API `name`, with no body or headers yet.
    pub fn new(name: impl Into<String>, path: impl Into<String>) -> Self {
        CallApiOptions { name: name.into(), method: Method::POST, path: path.into(), body: None, headers: Vec::new() }
    }

    /// The method.
    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// A JSON body.
    #[must_use]
    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// An extra header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}
