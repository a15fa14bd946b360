//! Cloud functions: `app.call_function(name)`, the Flutter SDK's `callFunction`, over the generated
//! `raw::functions` client.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::Core;
use crate::core::transport::As;
use crate::raw::functions::types::{CallFunctionName, FunctionEvent, WebFunctionFlag};
use crate::{CloudBase, Error};

/// The largest event sent as JSON (the service refuses more with `EXCEED_MAX_PAYLOAD_SIZE`; the 100 KB limit
/// applies to text content types, which the SDK never sends).
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

impl CloudBase {
    /// Calls the cloud function `name` (`POST /v1/functions/{name}`) as the signed-in user, or with the
    /// publishable key when nobody is signed in. The Flutter SDK's `callFunction`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use cloudbase_emulator::{Emulator, FunctionReply};
    /// # let emu = Emulator::builder()
    /// #     .function("sum", |event: serde_json::Value, _caller| async move {
    /// #         let sum = event["a"].as_i64().unwrap_or(0) + event["b"].as_i64().unwrap_or(0);
    /// #         Ok(FunctionReply::Json(serde_json::json!({ "sum": sum })))
    /// #     })
    /// #     .start()
    /// #     .await?;
    /// # let app = cloudbase::CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
    /// # app.auth().sign_in_anonymously().await?;
    /// #[derive(serde::Serialize)]
    /// struct Sum { a: i64, b: i64 }
    /// #[derive(serde::Deserialize)]
    /// struct Total { sum: i64 }
    /// let reply = app.call_function("sum").data(&Sum { a: 1, b: 2 }).send::<Total>().await?;
    /// assert_eq!(reply.result.sum, 3);
    /// println!("request {:?}", reply.request_id);
    /// # Ok(()) }
    /// ```
    pub fn call_function(&self, name: impl Into<String>) -> CallFunction {
        CallFunction {
            core: Arc::clone(self.core()),
            name: name.into(),
            event: Ok(FunctionEvent(serde_json::Map::new())),
            qualifier: None,
            web: false,
            cloudrun: false,
        }
    }
}

/// Counts what is written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A cloud function call being set up; [`send`](Self::send) (or `send_json`, `send_text`) runs it.
#[must_use = "a call does nothing until it is sent"]
pub struct CallFunction {
    core: Arc<Core>,
    name: String,
    /// The event, or why it cannot be one (reported by `send`, before any request).
    event: Result<FunctionEvent, Error>,
    qualifier: Option<String>,
    web: bool,
    cloudrun: bool,
}

impl fmt::Debug for CallFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The event may hold the caller's secrets: its size only.
        let event_keys = self.event.as_ref().map(|e| e.len()).unwrap_or_default();
        f.debug_struct("CallFunction")
            .field("name", &self.name)
            .field("event_keys", &event_keys)
            .field("qualifier", &self.qualifier)
            .field("web", &self.web)
            .field("cloudrun", &self.cloudrun)
            .finish()
    }
}

/// What a function returned, with the request id (for support).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FunctionResult<T> {
    /// The function's reply.
    pub result: T,
    /// The request id: the one the gateway echoed, else the one sent.
    pub request_id: Option<String>,
}

impl CallFunction {
    /// The event: any value that serialises to a JSON object (a struct, a map, `serde_json::json!({..})`).
    /// Anything else is an [`Error::InvalidInput`] from `send`, before any request.
    pub fn data<T: Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.event = match serde_json::to_value(data) {
            Ok(serde_json::Value::Object(map)) => Ok(FunctionEvent(map)),
            Ok(_) => Err(Error::invalid("data", "a function's event must serialise to a JSON object")),
            Err(e) => Err(Error::invalid("data", format!("cannot serialise: {e}"))),
        };
        self
    }

    /// Runs this version of the function (`X-Qualifier`); without it the traffic rules choose.
    pub fn qualifier(mut self, qualifier: impl Into<String>) -> Self {
        self.qualifier = Some(qualifier.into());
        self
    }

    /// The function is a web (HTTP) function (`webfn=true`).
    pub fn web(mut self) -> Self {
        self.web = true;
        self
    }

    /// Calls a function-type cloud run service of this name instead: `POST /v1/cloudrun/{name}/` with the
    /// event as its JSON body (the Flutter SDK's `callFunction(type: FunctionType.cloudrun)`).
    pub fn cloudrun(mut self) -> Self {
        self.cloudrun = true;
        self
    }

    /// Sends the call and decodes the reply as `T`.
    pub async fn send<T: DeserializeOwned>(self) -> Result<FunctionResult<T>, Error> {
        let (body, request_id) = self.send_bytes().await?;
        let result = crate::error::decode_json(&body, "call_function", 200, request_id.clone())?;
        Ok(FunctionResult { result, request_id })
    }

    /// Sends the call; the reply as any JSON.
    pub async fn send_json(self) -> Result<FunctionResult<serde_json::Value>, Error> {
        self.send().await
    }

    /// Sends the call; the reply as text (a function may answer `text/plain`).
    pub async fn send_text(self) -> Result<FunctionResult<String>, Error> {
        let (body, request_id) = self.send_bytes().await?;
        let result = crate::error::decode_text(body, "call_function", 200, request_id.clone())?;
        Ok(FunctionResult { result, request_id })
    }

    /// Checks everything, then sends: the reply's bytes (read bounded) and its request id.
    async fn send_bytes(self) -> Result<(Bytes, Option<String>), Error> {
        let name = CallFunctionName::try_from(self.name.as_str())
            .map_err(|_| Error::invalid("name", "expected ^[a-zA-Z][a-zA-Z0-9_-]{0,58}[a-zA-Z0-9]$"))?;
        let event = self.event?;
        // Counted, not kept: the generated client serialises the event again to send it.
        let mut counter = ByteCounter(0);
        let size = serde_json::to_writer(&mut counter, &event).map_or(usize::MAX, |()| counter.0);
        if size > MAX_EVENT_BYTES {
            return Err(Error::invalid("data", format!("{size} bytes is over the {MAX_EVENT_BYTES}-byte limit")));
        }
        if let Some(qualifier) = &self.qualifier {
            crate::validate::non_empty("qualifier", qualifier)?;
        }
        if self.cloudrun {
            let request = crate::cloudrun::ServiceRequest::container(&self.core, name.to_string())
                .method(http::Method::POST)
                .json(&event);
            let response = request.send().await?.error_for_status()?;
            let request_id = response.request_id().map(str::to_owned);
            return Ok((response.bytes().await?, request_id));
        }
        let core = &self.core;
        let flag = self.web.then_some(WebFunctionFlag::True);
        let (name, event, qualifier) = (&name, &event, self.qualifier.as_deref());
        core.with_session(false, true, |who: As, _| async move {
            let send = |c: crate::raw::functions::Client| async move {
                c.call_function(name, flag, qualifier, flag, event).await
            };
            let attempt = core.send("call_function", &who, None, &send).await;
            let request_id = attempt.request_id;
            let stream = attempt.result?;
            let body = crate::core::transport::collect_body(stream, "call_function", &request_id).await?;
            Ok((body, request_id))
        })
        .await
    }
}
