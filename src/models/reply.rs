//! Sending a model call and reading its reply: `{data, requestId}` or, with the same HTTP 200,
//! `{code, message, requestId}`, decoded once into the caller's type.

use std::future::Future;
use std::sync::Arc;

use progenitor_client::ByteStream;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::core::Core;
use crate::core::transport::{As, RawResult};
use crate::raw::model::Client;
use crate::{Error, ErrorCode, ServiceError};

#[derive(Deserialize)]
#[serde(bound = "D: DeserializeOwned")]
struct Envelope<D> {
    data: Option<D>,
    code: Option<String>,
    message: Option<String>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
}

/// Sends `send` as the session's user (or with the publishable key) and decodes `data` as `D`.
pub(crate) async fn call<D, F, Fut>(
    core: &Arc<Core>,
    operation: &'static str,
    send: F,
) -> Result<(D, Option<String>), Error>
where
    D: DeserializeOwned,
    F: Fn(Client) -> Fut,
    Fut: Future<Output = RawResult<ByteStream>>,
{
    let (body, sent_id) = core
        .with_session(false, true, |who: As, _| {
            let send = &send;
            async move {
                let attempt = core.send(operation, &who, None, send).await;
                let request_id = attempt.request_id;
                let stream = attempt.result?;
                let body = crate::core::transport::collect_body(stream, operation, &request_id).await?;
                // An error inside HTTP 200 names an expired token like a 401 would: let the session refresh.
                if let Some(error) = token_error(&body, operation, request_id.clone()) {
                    return Err(error);
                }
                Ok((body, request_id))
            }
        })
        .await?;
    let envelope: Envelope<D> = crate::error::decode_json(&body, operation, 200, sent_id.clone())?;
    let request_id = envelope.request_id.or(sent_id);
    match (envelope.code.filter(|c| !c.is_empty()), envelope.data) {
        (Some(code), _) => Err(service_error(&code, envelope.message, operation, request_id)),
        (None, Some(data)) => Ok((data, request_id)),
        (None, None) => Err(Error::Decode {
            operation,
            status: 200,
            request_id,
            body_len: body.len(),
            reason: "neither `data` nor `code`".to_owned(),
        }),
    }
}

fn service_error(code: &str, message: Option<String>, operation: &'static str, request_id: Option<String>) -> Error {
    Error::Service(ServiceError {
        code: ErrorCode::parse(code),
        numeric_code: None,
        description: message,
        status: Some(200),
        request_id,
        operation,
        retry_after: None,
    })
}

/// The error of a body that refuses the access token (so that the session refreshes and the call is retried).
fn token_error(body: &[u8], operation: &'static str, request_id: Option<String>) -> Option<Error> {
    #[derive(Deserialize)]
    struct Code {
        code: Option<String>,
        message: Option<String>,
    }
    // Error bodies are small; a page of records is never one.
    if body.len() > 4096 {
        return None;
    }
    let probe: Code = serde_json::from_slice(body).ok()?;
    let code = probe.code?;
    matches!(code.as_str(), "ACCESS_TOKEN_EXPIRED" | "INVALID_ACCESS_TOKEN")
        .then(|| service_error(&code, probe.message, operation, request_id))
}
