//! Cloud storage (`/v1/storages`, `openapi/storage.yaml`): four batch operations that hand out signed upload
//! and download URLs, delete and copy objects. The bytes go to the emulator's own object store routes
//! (`/_cos`, see [`cos`]), never through these operations.
//!
//! Each operation takes a JSON array and answers 200 with one item per input, in order: the input's success
//! or its own `{code, message}`. Permissions are CloudBase's default rule, "everyone reads, only the creator
//! writes": writing needs a signed-in user (anonymous included) who owns the object, or a new key.

mod cos;
mod keys;
mod sign;
mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderName, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

pub(crate) use self::cos::SERVICE as COS_SERVICE;
use self::keys::{Refusal, bucket, checked, encode_key, file_id, key_of_file_id, key_of_path};
use self::sign::{authorization, download_signature, upload_meta, upload_signature, upload_token};
pub(crate) use self::store::Store;
use self::store::{CopyRefusal, Removal};
use crate::gateway::{Caller, RequestId, envelope, token::check_token};
use crate::reply::json_response;
use crate::service::{BodyPolicy, ErrorStyle, Operation, Service};
use crate::state::State;
use crate::util::unix_secs;

/// Most items in one request (the real limit is unpublished).
pub(crate) const MAX_BATCH: usize = 100;

const INVALID_PARAM: &str = "INVALID_PARAM";
const NOT_EXIST: &str = "OBJECT_NOT_EXIST";
const ALREADY_EXIST: &str = "OBJECT_ALREADY_EXIST";
const NO_AUTHORITY: &str = "STORAGE_EXCEED_AUTHORITY";
const COS_FAILED: &str = "COS_ACTION_FAILED";

/// The storage service as mounted by [`crate::service::SERVICES`].
pub(crate) const SERVICE: Service = Service {
    base: "/v1/storages",
    body: BodyPolicy::Buffered(1 << 20),
    errors: ErrorStyle::Gateway,
    operations: &[
        Operation { method: "POST", path: "/get-objects-upload-info", id: "get_objects_upload_info" },
        Operation { method: "POST", path: "/get-objects-download-info", id: "get_objects_download_info" },
        Operation { method: "POST", path: "/delete-objects", id: "delete_objects" },
        Operation { method: "POST", path: "/copy-objects", id: "copy_objects" },
    ],
    router,
};

type St = AxumState<Arc<State>>;

fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/get-objects-upload-info", post(upload_info))
        .route("/get-objects-download-info", post(download_info))
        .route("/delete-objects", post(delete_objects))
        .route("/copy-objects", post(copy_objects))
}

/// The caller and the items of a batch request, or the envelope refusing the whole request.
async fn batch(state: &State, request: Request) -> Result<(Caller, Vec<Value>), Response<Body>> {
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let fail = |status: u16, code: &str, message: &str| envelope(status, code, message, &request_id);
    let caller = check_token(state, request.headers()).map_err(|r| fail(401, r.code, &r.message))?;
    // The edge already bounded the body at 1 MiB.
    let bytes = axum::body::to_bytes(request.into_body(), usize::MAX).await.unwrap_or_default();
    let items = match serde_json::from_slice(&bytes) {
        Ok(Value::Array(items)) => items,
        Ok(_) => return Err(fail(400, INVALID_PARAM, "the request body must be a JSON array")),
        Err(e) => return Err(fail(400, INVALID_PARAM, &format!("malformed JSON body: {e}"))),
    };
    if items.is_empty() {
        return Err(fail(400, INVALID_PARAM, "the request names no object"));
    }
    if items.len() > MAX_BATCH {
        let message = format!("too many objects in one request: {} (at most {MAX_BATCH})", items.len());
        return Err(fail(400, "OBJECT_BATCH_TOO_LARGE", &message));
    }
    Ok((caller, items))
}

/// An item's error, naming the input's id under `id_field` when it had one.
fn item_error(id_field: &str, id: Option<&str>, code: &str, message: &str) -> Value {
    let mut item = Map::new();
    if let Some(id) = id {
        item.insert(id_field.to_owned(), json!(id));
    }
    item.insert("code".to_owned(), json!(code));
    item.insert("message".to_owned(), json!(message));
    Value::Object(item)
}

/// `(now, end of the URLs handed out now)` in unix seconds, on the emulator's clock.
fn url_times(state: &State) -> (u64, u64) {
    let core = state.core();
    let now = unix_secs(core.now());
    (now, now + core.config.storage_url_ttl.max(Duration::from_secs(1)).as_secs())
}

/// `{url}/_cos/{bucket}/{encoded key}`.
fn object_url(state: &State, key: &str) -> String {
    format!("{}{}/{}/{}", state.url, COS_SERVICE.base, bucket(&state.env_id), encode_key(key))
}

/// A signed download URL valid until `t`, twice: as `downloadUrl` (the key as written, which the JS SDK passes
/// through `encodeURI`; only `?` and `#`, which would end the path, are escaped) and as `downloadUrlEncoded`
/// (every path segment percent-encoded: a valid URL as is).
fn download_urls(state: &State, key: &str, t: u64) -> (String, String) {
    let bucket = bucket(&state.env_id);
    let sign = download_signature(&state.jwt_key, &format!("/{bucket}/{key}"), t);
    let written = key.replace('?', "%3F").replace('#', "%23");
    let raw = format!("{}{}/{bucket}/{written}?sign={sign}&t={t}", state.url, COS_SERVICE.base);
    (raw, format!("{}?sign={sign}&t={t}", object_url(state, key)))
}

fn refusal_error(id_field: &str, id: Option<&str>, refusal: Refusal) -> Value {
    match refusal {
        Refusal::Invalid(message) => item_error(id_field, id, INVALID_PARAM, &message),
        Refusal::Foreign => item_error(id_field, id, NOT_EXIST, "object not exist: another environment or bucket"),
    }
}

/// The signed headers of an upload: lower-case names, sorted, each with its first value.
fn signed_headers(item: &Value) -> Result<Vec<(String, String)>, String> {
    let map = match item.get("signedHeader") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err("signedHeader must be an object of header names to lists of values".to_owned()),
    };
    let mut headers = Vec::with_capacity(map.len());
    for (name, values) in map {
        let name = name.trim().to_ascii_lowercase();
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("signedHeader: invalid header name {name:?}"));
        }
        let value = match values {
            Value::Array(list) => match list.first() {
                None => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            },
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("signedHeader: the value of {name} must be a list of strings")),
        };
        headers.push((name, value));
    }
    headers.sort();
    headers.dedup_by(|a, b| a.0 == b.0);
    Ok(headers)
}

async fn upload_info(AxumState(state): St, request: Request) -> Response<Body> {
    let (caller, items) = match batch(&state, request).await {
        Ok(batch) => batch,
        Err(response) => return response,
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        out.push(upload_item(&state, &caller, item).await);
    }
    json_response(200, &Value::Array(out))
}

async fn upload_item(state: &State, caller: &Caller, item: &Value) -> Value {
    let object_id = item.get("objectId").and_then(Value::as_str);
    let fail = |code: &str, message: &str| item_error("objectId", object_id, code, message);
    let Some(object_id) = object_id else { return fail(INVALID_PARAM, "objectId (a string) is required") };
    let key = match checked(object_id) {
        Ok(key) => key,
        Err(refusal) => return refusal_error("objectId", Some(object_id), refusal),
    };
    let headers = match signed_headers(item) {
        Ok(headers) => headers,
        Err(message) => return fail(INVALID_PARAM, &message),
    };
    let Some(user) = caller.user_id() else { return fail(NO_AUTHORITY, "uploading needs a signed-in user") };
    match state.storage.meta(&key).await {
        Ok(Some(existing)) if existing.owner != user => {
            return fail(NO_AUTHORITY, "the object belongs to another user");
        }
        Ok(_) => {}
        Err(e) => return fail(COS_FAILED, &format!("cannot read the object store: {e}")),
    }
    let (now, end) = url_times(state);
    let secret = &state.jwt_key;
    let meta = upload_meta(secret, &key, end, user);
    let path = format!("/{}/{key}", bucket(&state.env_id));
    let signature = upload_signature(secret, &path, end, &meta, &headers);
    let names: Vec<String> = headers.into_iter().map(|(name, _)| name).collect();
    let (download, download_encoded) = download_urls(state, &key, end);
    json!({
        "objectId": object_id,
        "uploadUrl": object_url(state, &key),
        "authorization": authorization(now, end, &names, &signature),
        "token": upload_token(secret, &key, end),
        "cloudObjectMeta": meta,
        "cloudObjectId": file_id(&state.env_id, &key),
        "downloadUrl": download,
        "downloadUrlEncoded": download_encoded,
    })
}

/// The key of an item's `cloudObjectId`, or the item's error.
fn item_key(state: &State, item: &Value) -> Result<(String, String), Value> {
    let Some(id) = item.get("cloudObjectId").and_then(Value::as_str) else {
        return Err(item_error("cloudObjectId", None, INVALID_PARAM, "cloudObjectId (a string) is required"));
    };
    key_of_file_id(&state.env_id, id)
        .map(|key| (id.to_owned(), key))
        .map_err(|refusal| refusal_error("cloudObjectId", Some(id), refusal))
}

async fn download_info(AxumState(state): St, request: Request) -> Response<Body> {
    let (_caller, items) = match batch(&state, request).await {
        Ok(batch) => batch,
        Err(response) => return response,
    };
    let (_, end) = url_times(&state);
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let (id, key) = match item_key(&state, item) {
            Ok(found) => found,
            Err(error) => {
                out.push(error);
                continue;
            }
        };
        out.push(match state.storage.meta(&key).await {
            Ok(Some(_)) => {
                let (url, encoded) = download_urls(&state, &key, end);
                json!({ "cloudObjectId": id, "downloadUrl": url, "downloadUrlEncoded": encoded })
            }
            Ok(None) => item_error("cloudObjectId", Some(&id), NOT_EXIST, "object not exist"),
            Err(e) => item_error("cloudObjectId", Some(&id), COS_FAILED, &format!("cannot read the object store: {e}")),
        });
    }
    json_response(200, &Value::Array(out))
}

async fn delete_objects(AxumState(state): St, request: Request) -> Response<Body> {
    let (caller, items) = match batch(&state, request).await {
        Ok(batch) => batch,
        Err(response) => return response,
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let (id, key) = match item_key(&state, item) {
            Ok(found) => found,
            Err(error) => {
                out.push(error);
                continue;
            }
        };
        let user = caller.user_id();
        let fail = |code: &str, message: &str| item_error("cloudObjectId", Some(&id), code, message);
        out.push(match state.storage.delete(&key, |meta| Some(meta.owner.as_str()) == user).await {
            Ok(Removal::Done) => json!({ "cloudObjectId": id }),
            Ok(Removal::Missing) => fail(NOT_EXIST, "object not exist"),
            Ok(Removal::Refused) => fail(NO_AUTHORITY, "only the user who created the object may delete it"),
            Err(e) => fail(COS_FAILED, &format!("cannot delete the object: {e}")),
        });
    }
    json_response(200, &Value::Array(out))
}

async fn copy_objects(AxumState(state): St, request: Request) -> Response<Body> {
    let (caller, items) = match batch(&state, request).await {
        Ok(batch) => batch,
        Err(response) => return response,
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        out.push(copy_item(&state, &caller, item).await);
    }
    json_response(200, &Value::Array(out))
}

async fn copy_item(state: &State, caller: &Caller, item: &Value) -> Value {
    let fail = |code: &str, message: &str| item_error("", None, code, message);
    let (Some(src), Some(dst)) =
        (item.get("srcPath").and_then(Value::as_str), item.get("dstPath").and_then(Value::as_str))
    else {
        return fail(INVALID_PARAM, "srcPath and dstPath (strings) are required");
    };
    let flag = |name: &str| match item.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(fail(INVALID_PARAM, &format!("{name} must be a boolean"))),
    };
    let (overwrite, remove_original) = match (flag("overwrite"), flag("removeOriginal")) {
        (Ok(o), Ok(r)) => (o, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let (src, dst) = match (key_of_path(&state.env_id, src), key_of_path(&state.env_id, dst)) {
        (Ok(src), Ok(dst)) => (src, dst),
        (Err(refusal), _) | (_, Err(refusal)) => return refusal_error("", None, refusal),
    };
    if src == dst {
        return fail(INVALID_PARAM, "srcPath and dstPath name the same object");
    }
    let Some(user) = caller.user_id() else { return fail(NO_AUTHORITY, "copying needs a signed-in user") };
    let now = unix_secs(state.core().now());
    match state.storage.copy(&src, &dst, user, overwrite, remove_original, now).await {
        Ok(Ok(_)) => json!({ "cloudObjectId": file_id(&state.env_id, &dst) }),
        Ok(Err(CopyRefusal::SourceMissing)) => fail(NOT_EXIST, "object not exist"),
        Ok(Err(CopyRefusal::DestinationExists)) => fail(ALREADY_EXIST, "object already exist"),
        Ok(Err(CopyRefusal::NotOwner)) => {
            fail(NO_AUTHORITY, "only the user who created an object may replace or move it")
        }
        Err(e) => fail(COS_FAILED, &format!("cannot copy the object: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_headers_are_lower_case_sorted_first_values() {
        let item = json!({"signedHeader": {"Content-Type": ["text/plain", "x"], "content-length": ["14"], "x-a": "b"}});
        assert_eq!(
            signed_headers(&item).unwrap(),
            vec![
                ("content-length".to_owned(), "14".to_owned()),
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("x-a".to_owned(), "b".to_owned()),
            ]
        );
        assert!(signed_headers(&json!({"signedHeader": ["a"]})).is_err());
        assert!(signed_headers(&json!({"signedHeader": {"bad name": ["a"]}})).is_err());
        assert_eq!(signed_headers(&json!({})).unwrap(), vec![]);
    }
}
