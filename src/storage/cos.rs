//! The object store's side of a transfer: the signed request goes straight to it, not through the gateway,
//! so it carries none of the SDK's credentials, and its errors are the object store's XML, not the envelope.

use std::time::Duration;

use crate::{Error, ErrorCode, ServiceError};

/// How long a transfer may take in all unless the caller says otherwise: long enough for any file over a
/// slow link; the app's short request timeout is meant for API calls, not for moving gigabytes.
pub(crate) const DEFAULT_TRANSFER_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The most of an object store error body read (its XML is a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The error for a non-2xx object store reply: its `<Code>` and `<Message>` when the body is the object
/// store's XML, else the bare status.
pub(crate) async fn error_reply(response: reqwest::Response, operation: &'static str) -> Error {
    let status = response.status().as_u16();
    let request_id = ["x-cos-request-id", "x-request-id"]
        .iter()
        .find_map(|name| response.headers().get(*name)?.to_str().ok().map(str::to_owned));
    let body = read_bounded(response, MAX_ERROR_BODY).await;
    let text = String::from_utf8_lossy(&body);
    match element(&text, "Code") {
        Some(code) => Error::Service(ServiceError {
            code: ErrorCode::parse(code),
            numeric_code: None,
            description: element(&text, "Message").map(str::to_owned),
            status: Some(status),
            request_id: request_id.or_else(|| element(&text, "RequestId").map(str::to_owned)),
            operation,
            retry_after: None,
        }),
        None => Error::Http { status, operation, request_id },
    }
}

/// The start of a body, at most `limit` bytes; what cannot be read is left out.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    body
}

/// The text of the first `<name>...</name>` element, trimmed (the object store's error bodies are flat).
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    let text = xml[start..end].trim();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_of_an_error_body() {
        let xml = "<?xml version=\"1.0\"?>\n<Error>\n  <Code>AccessDenied</Code>\n  <Message>Request has expired</Message>\n</Error>";
        assert_eq!(element(xml, "Code"), Some("AccessDenied"));
        assert_eq!(element(xml, "Message"), Some("Request has expired"));
        assert_eq!(element(xml, "RequestId"), None);
        assert_eq!(element("<Code></Code>", "Code"), None);
        assert_eq!(element("<Code>unclosed", "Code"), None);
    }
}
