//! The JSON bodies an operation declares for its request and its responses: other media types are not
//! checked.

use serde_json::{Value, json};

use super::schema::{Compiled, broken_ref, convert_schema, resolve};

/// The JSON part of a request body or response.
pub(super) enum Body {
    /// The body or response object is a `$ref` that does not resolve.
    Unresolved(String),
    /// No JSON media type is declared.
    NoJson,
    /// A JSON media type, with its schema when it has one.
    Json(Option<Compiled>),
    /// As `Json`, or no body at all: a response marked `x-cloudbase-raw-body`, whose body depends on the
    /// request (`Prefer: return=minimal` answers none).
    JsonOrEmpty(Option<Compiled>),
}

pub(super) struct RequestBody {
    pub(super) required: bool,
    pub(super) body: Body,
}

fn is_json_media_type(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The JSON media type of a `content` map: its schema, converted.
/// The JSON media types of a `content` map: their schema, converted (a body may match any of them when there
/// are several, as an array under `application/json` and an object under `application/vnd.pgrst.object+json`).
fn json_content(content: Option<&Value>) -> Body {
    let Some(Value::Object(content)) = content else { return Body::NoJson };
    let media: Vec<&Value> =
        content.iter().filter(|(media_type, _)| is_json_media_type(media_type)).map(|(_, media)| media).collect();
    match media.as_slice() {
        [] => Body::NoJson,
        [one] => Body::Json(one.get("schema").map(|s| Compiled::new(convert_schema(s)))),
        several => {
            let schemas: Option<Vec<Value>> = several.iter().map(|m| m.get("schema").map(convert_schema)).collect();
            Body::Json(schemas.map(|any_of| Compiled::new(json!({ "anyOf": any_of }))))
        }
    }
}

pub(super) fn request_body(root: &Value, request_body: &Value) -> RequestBody {
    if let Some(reference) = broken_ref(root, request_body) {
        return RequestBody { required: true, body: Body::Unresolved(reference) };
    }
    let resolved = resolve(root, request_body);
    RequestBody {
        required: resolved.and_then(|rb| rb.get("required")) == Some(&Value::Bool(true)),
        body: json_content(resolved.and_then(|rb| rb.get("content"))),
    }
}

pub(super) fn response_body(root: &Value, response: &Value) -> Body {
    if let Some(reference) = broken_ref(root, response) {
        return Body::Unresolved(reference);
    }
    let resolved = resolve(root, response);
    let body = json_content(resolved.and_then(|r| r.get("content")));
    match (body, resolved.and_then(|r| r.get("x-cloudbase-raw-body"))) {
        (Body::Json(schema), Some(Value::Bool(true))) => Body::JsonOrEmpty(schema),
        (body, _) => body,
    }
}
