//! The credential-free request log entry.

use std::collections::BTreeMap;

use axum::http::request::Parts;
use serde_json::Value;

use crate::{RecordedRequest, util};

/// Query parameters whose values never reach the request log.
const SECRET_PARAMS: &[&str] = &[
    "sudo_token",
    "captcha_token",
    "token",
    "access_token",
    "refresh_token",
    "code",
    "provider_code",
    "ticket",
    "password",
    "verification_token",
    "verification_code",
    "client_secret",
    // A storage download URL's signature.
    "sign",
];
/// Headers that never reach the request log.
const SECRET_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "x-captcha-token", "cookie", "x-cos-security-token"];

pub(super) fn recorded_request(parts: &Parts, body: Option<&Value>, operation: Option<&str>) -> RecordedRequest {
    RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: redact_query(parts.uri.query().unwrap_or_default()),
        headers: parts.headers.iter().filter(|(name, _)| !SECRET_HEADERS.contains(&name.as_str())).fold(
            BTreeMap::new(),
            |mut map: BTreeMap<String, String>, (name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                map.entry(name.as_str().to_owned())
                    .and_modify(|existing| {
                        existing.push_str(", ");
                        existing.push_str(&value);
                    })
                    .or_insert(value);
                map
            },
        ),
        body_fields: match body {
            Some(Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        },
        operation_id: operation.map(str::to_owned),
    }
}

/// The query string with secret values replaced.
fn redact_query(raw: &str) -> String {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if SECRET_PARAMS.contains(&util::percent_decode(key).as_str()) {
                format!("{key}=REDACTED")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(redact_query("a=1&refresh%5Ftoken=x&code=123&&b"), "a=1&refresh%5Ftoken=REDACTED&code=REDACTED&b");
    }
}
