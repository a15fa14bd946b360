//! Cloud storage over HTTP: the four batch operations of `openapi/storage.yaml`, then the bytes through the
//! signed `/_cos` URLs they hand out.

mod common;

use std::time::Duration;

use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use common::{anonymous, bearer, envelope, http, user};
use serde_json::{Value, json};

const KEY: &str = "pk-storage";

async fn start() -> EmulatorHandle {
    Emulator::start_with(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() }).await.unwrap()
}

fn file_id(emu: &EmulatorHandle, key: &str) -> String {
    format!("cloud://{env}.{env}-1250000000/{key}", env = emu.env_id())
}

async fn call(emu: &EmulatorHandle, op: &str, token: &str, body: &Value) -> reqwest::Response {
    http()
        .post(format!("{}/v1/storages/{op}", emu.url()))
        .header("authorization", bearer(token))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The items of a batch that must answer 200 with one item per input.
async fn items(emu: &EmulatorHandle, op: &str, token: &str, body: Value) -> Vec<Value> {
    let response = call(emu, op, token, &body).await;
    assert_eq!(response.status().as_u16(), 200);
    let items: Vec<Value> = response.json().await.unwrap();
    assert_eq!(items.len(), body.as_array().unwrap().len());
    items
}

/// Upload info for `key` signing `content-type` (and `content-length` when given).
async fn upload_info(emu: &EmulatorHandle, token: &str, key: &str, content_type: &str, len: Option<usize>) -> Value {
    let mut signed = json!({ "content-type": [content_type] });
    if let Some(len) = len {
        signed["content-length"] = json!([len.to_string()]);
    }
    let info = items(emu, "get-objects-upload-info", token, json!([{ "objectId": key, "signedHeader": signed }])).await;
    assert!(info[0].get("code").is_none(), "{}", info[0]);
    info[0].clone()
}

/// The `PUT` the upload info describes, with the headers it names.
fn put(info: &Value, content_type: &str) -> reqwest::RequestBuilder {
    http()
        .put(info["uploadUrl"].as_str().unwrap())
        .header("authorization", info["authorization"].as_str().unwrap())
        .header("x-cos-security-token", info["token"].as_str().unwrap())
        .header("x-cos-meta-fileid", info["cloudObjectMeta"].as_str().unwrap())
        .header("content-type", content_type)
}

async fn upload(emu: &EmulatorHandle, token: &str, key: &str, bytes: Vec<u8>, content_type: &str) {
    let info = upload_info(emu, token, key, content_type, Some(bytes.len())).await;
    let response = put(&info, content_type).body(bytes).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{}", response.text().await.unwrap());
}

async fn download_url(emu: &EmulatorHandle, token: &str, key: &str) -> String {
    let info = items(emu, "get-objects-download-info", token, json!([{ "cloudObjectId": file_id(emu, key) }])).await;
    assert_eq!(info[0]["cloudObjectId"], json!(file_id(emu, key)));
    // `downloadUrl` holds the key as written (what the JS SDK passes through `encodeURI`), the other one is
    // percent-encoded; both lead to the object.
    let written = info[0]["downloadUrl"].as_str().unwrap_or_else(|| panic!("{}", info[0]));
    let encoded = info[0]["downloadUrlEncoded"].as_str().unwrap_or_else(|| panic!("{}", info[0]));
    assert_eq!(
        written == encoded,
        key.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)),
        "{written} {encoded}"
    );
    encoded.to_owned()
}

/// Asserts a COS XML error; answers its message.
async fn cos_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "expected {status} {code}");
    assert_eq!(response.headers()["content-type"], "application/xml");
    let body = response.text().await.unwrap();
    assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n"), "{body}");
    assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
    let message = body.split("<Message>").nth(1).and_then(|m| m.split("</Message>").next()).unwrap();
    message.to_owned()
}

fn code(item: &Value) -> &str {
    item["code"].as_str().unwrap_or_else(|| panic!("no code in {item}"))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn upload_then_download_gives_the_same_bytes_and_type() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    let key = "docs/héllo wörld?.txt";
    let info = upload_info(&emu, &token, key, "text/plain; charset=utf-8", Some(11)).await;
    assert_eq!(info["objectId"], json!(key));
    assert_eq!(info["cloudObjectId"], json!(file_id(&emu, key)));
    let upload_url = info["uploadUrl"].as_str().unwrap();
    assert_eq!(
        upload_url,
        format!("{}/_cos/{}-1250000000/docs/h%C3%A9llo%20w%C3%B6rld%3F.txt", emu.url(), emu.env_id())
    );
    let authorization = info["authorization"].as_str().unwrap();
    assert!(authorization.starts_with("q-sign-algorithm=sha1&q-ak=emulator&q-sign-time="), "{authorization}");
    assert!(authorization.contains("&q-header-list=content-length;content-type&q-url-param-list=&q-signature="));
    let response = put(&info, "text/plain; charset=utf-8").body("hello world").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag.len(), 66);

    // The URL of the upload info and of the download info both work.
    for url in [info["downloadUrl"].as_str().unwrap().to_owned(), download_url(&emu, &token, key).await] {
        assert!(url.contains("?sign=") && url.contains("&t="), "{url}");
        let response = http().get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(headers["content-length"], "11");
        assert_eq!(headers["etag"].to_str().unwrap(), etag);
        assert_eq!(headers["accept-ranges"], "bytes");
        assert!(headers["last-modified"].to_str().unwrap().ends_with(" GMT"));
        assert_eq!(response.text().await.unwrap(), "hello world");
    }
    let head = http().head(download_url(&emu, &token, key).await).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"], "11");
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert!(head.bytes().await.unwrap().is_empty());
    assert_eq!(emu.count("cos_put_object"), 1);
    assert_eq!(emu.count("get_objects_upload_info"), 1);
}

#[tokio::test]
async fn large_uploads_stream_and_default_to_octet_stream() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    // Bigger than the 1 MiB the gateway buffers for JSON operations: the object routes stream.
    let bytes = pattern(3 * 1024 * 1024 + 17);
    let info = upload_info(&emu, &token, "big.bin", "", None).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(256 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = http()
        .put(info["uploadUrl"].as_str().unwrap())
        .header("authorization", info["authorization"].as_str().unwrap())
        .header("x-cos-security-token", info["token"].as_str().unwrap())
        .header("x-cos-meta-fileid", info["cloudObjectMeta"].as_str().unwrap())
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    // `content-type` was signed empty, and the request sent none: the signature holds, the type defaults.
    assert_eq!(response.status().as_u16(), 200);
    let response = http().get(download_url(&emu, &token, "big.bin").await).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn ranges() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    upload(&emu, &token, "r.txt", b"0123456789".to_vec(), "text/plain").await;
    let url = download_url(&emu, &token, "r.txt").await;
    for (range, body, content_range) in [
        ("bytes=2-4", "234", "bytes 2-4/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-2", "89", "bytes 8-9/10"),
        ("bytes=8-100", "89", "bytes 8-9/10"),
    ] {
        let response = http().get(&url).header("range", range).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 206, "{range}");
        assert_eq!(response.headers()["content-range"], content_range);
        assert_eq!(response.headers()["content-length"], body.len().to_string().as_str());
        assert_eq!(response.text().await.unwrap(), body);
    }
    let response = http().get(&url).header("range", "bytes=10-").send().await.unwrap();
    assert_eq!(response.headers()["content-range"], "bytes */10");
    cos_error(response, 416, "InvalidRange").await;
    let response = http().get(&url).header("range", "bytes=0-1,4-5").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "0123456789");
}

#[tokio::test]
async fn mixed_batches_answer_per_item() {
    let emu = start().await;
    let (alice, _) = user(&emu, "alice").await;
    let (bob, _) = user(&emu, "bob").await;
    upload(&emu, &alice, "a.txt", b"alice's".to_vec(), "text/plain").await;

    let out = items(
        &emu,
        "get-objects-upload-info",
        &bob,
        json!([{"objectId": "b.txt"}, {"objectId": "/bad"}, {"objectId": "a.txt"}, 42, {}, {"objectId": "x/../y"}]),
    )
    .await;
    assert!(out[0]["uploadUrl"].is_string());
    assert_eq!((code(&out[1]), &out[1]["objectId"]), ("INVALID_PARAM", &json!("/bad")));
    assert_eq!(code(&out[2]), "STORAGE_EXCEED_AUTHORITY");
    assert_eq!(code(&out[3]), "INVALID_PARAM");
    assert_eq!(code(&out[4]), "INVALID_PARAM");
    assert_eq!(code(&out[5]), "INVALID_PARAM");

    let other_env = "cloud://other-env.other-env-1250000000/a.txt";
    let out = items(
        &emu,
        "get-objects-download-info",
        &bob,
        json!([
            {"cloudObjectId": file_id(&emu, "a.txt")},
            {"cloudObjectId": file_id(&emu, "missing.txt")},
            {"cloudObjectId": other_env},
            {"cloudObjectId": "a.txt"},
            {"cloudObjectId": format!("cloud://{}.{}-1250000000", emu.env_id(), emu.env_id())},
            {},
        ]),
    )
    .await;
    assert!(out[0]["downloadUrl"].is_string());
    assert_eq!((code(&out[1]), &out[1]["cloudObjectId"]), ("OBJECT_NOT_EXIST", &json!(file_id(&emu, "missing.txt"))));
    assert_eq!(code(&out[2]), "OBJECT_NOT_EXIST");
    assert_eq!(code(&out[3]), "INVALID_PARAM");
    assert_eq!(code(&out[4]), "INVALID_PARAM");
    assert_eq!(code(&out[5]), "INVALID_PARAM");

    let out = items(
        &emu,
        "delete-objects",
        &bob,
        json!([{"cloudObjectId": file_id(&emu, "a.txt")}, {"cloudObjectId": file_id(&emu, "nope")}]),
    )
    .await;
    assert_eq!((code(&out[0]), &out[0]["cloudObjectId"]), ("STORAGE_EXCEED_AUTHORITY", &json!(file_id(&emu, "a.txt"))));
    assert_eq!(code(&out[1]), "OBJECT_NOT_EXIST");
    // Bob's refused delete left Alice's object alone.
    let response = http().get(download_url(&emu, &bob, "a.txt").await).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "alice's");
}

#[tokio::test]
async fn whole_request_errors_are_envelopes() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    envelope(call(&emu, "get-objects-download-info", &token, &json!([])).await, 400, "INVALID_PARAM").await;
    envelope(call(&emu, "get-objects-download-info", &token, &json!({"a": 1})).await, 400, "INVALID_PARAM").await;
    let many: Vec<Value> = (0..101).map(|i| json!({"cloudObjectId": file_id(&emu, &format!("f{i}"))})).collect();
    let response = call(&emu, "get-objects-download-info", &token, &json!(many)).await;
    envelope(response, 400, "OBJECT_BATCH_TOO_LARGE").await;
    let hundred = json!(many[..100]);
    assert_eq!(items(&emu, "get-objects-download-info", &token, hundred).await.len(), 100);
    let response =
        http().post(format!("{}/v1/storages/delete-objects", emu.url())).json(&json!([{}])).send().await.unwrap();
    envelope(response, 401, "MISSING_CREDENTIALS").await;
    envelope(call(&emu, "copy-objects", "not-a-token", &json!([{}])).await, 401, "INVALID_ACCESS_TOKEN").await;
}

#[tokio::test]
async fn the_publishable_key_reads_but_never_writes() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    upload(&emu, &token, "pub.txt", b"hi".to_vec(), "text/plain").await;
    let url = download_url(&emu, KEY, "pub.txt").await;
    assert_eq!(http().get(url).send().await.unwrap().text().await.unwrap(), "hi");
    let id = file_id(&emu, "pub.txt");
    for (op, body) in [
        ("get-objects-upload-info", json!([{"objectId": "new.txt"}])),
        ("delete-objects", json!([{"cloudObjectId": id}])),
        ("copy-objects", json!([{"srcPath": "pub.txt", "dstPath": "copy.txt"}])),
    ] {
        assert_eq!(code(&items(&emu, op, KEY, body).await[0]), "STORAGE_EXCEED_AUTHORITY", "{op}");
    }
}

#[tokio::test]
async fn copies_and_moves() {
    let emu = start().await;
    let (alice, _) = user(&emu, "alice").await;
    let (bob, _) = user(&emu, "bob").await;
    upload(&emu, &alice, "src.txt", b"source".to_vec(), "text/x-source").await;
    let (alice, bob) = (alice.as_str(), bob.as_str());
    let copy = |token: &str, body: Value| {
        let (emu, token) = (emu.clone(), token.to_owned());
        async move { items(&emu, "copy-objects", &token, json!([body])).await.remove(0) }
    };

    let out = copy(alice, json!({"srcPath": "src.txt", "dstPath": "dst.txt"})).await;
    assert_eq!(out, json!({"cloudObjectId": file_id(&emu, "dst.txt")}));
    let response = http().get(download_url(&emu, alice, "dst.txt").await).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/x-source");
    assert_eq!(response.text().await.unwrap(), "source");

    assert_eq!(code(&copy(alice, json!({"srcPath": "src.txt", "dstPath": "dst.txt"})).await), "OBJECT_ALREADY_EXIST");
    let out = copy(alice, json!({"srcPath": file_id(&emu, "src.txt"), "dstPath": "dst.txt", "overwrite": true})).await;
    assert_eq!(out["cloudObjectId"], json!(file_id(&emu, "dst.txt")));
    assert_eq!(code(&copy(alice, json!({"srcPath": "src.txt", "dstPath": "src.txt"})).await), "INVALID_PARAM");
    assert_eq!(code(&copy(alice, json!({"srcPath": "none.txt", "dstPath": "x.txt"})).await), "OBJECT_NOT_EXIST");
    assert_eq!(code(&copy(alice, json!({"srcPath": "src.txt"})).await), "INVALID_PARAM");
    assert_eq!(code(&copy(alice, json!({"srcPath": "src.txt", "dstPath": "a//b"})).await), "INVALID_PARAM");

    // Everyone reads, so Bob may copy Alice's object to a key of his own, but not over hers nor move hers.
    assert!(copy(bob, json!({"srcPath": "src.txt", "dstPath": "bob.txt"})).await.get("code").is_none());
    let over = json!({"srcPath": "bob.txt", "dstPath": "dst.txt", "overwrite": true});
    assert_eq!(code(&copy(bob, over).await), "STORAGE_EXCEED_AUTHORITY");
    let steal = json!({"srcPath": "src.txt", "dstPath": "bob2.txt", "removeOriginal": true});
    assert_eq!(code(&copy(bob, steal).await), "STORAGE_EXCEED_AUTHORITY");
    // Bob owns his copy: he can overwrite it by upload.
    upload(&emu, bob, "bob.txt", b"mine".to_vec(), "text/plain").await;

    let out = copy(alice, json!({"srcPath": "src.txt", "dstPath": "moved.txt", "removeOriginal": true})).await;
    assert_eq!(out["cloudObjectId"], json!(file_id(&emu, "moved.txt")));
    let gone =
        items(&emu, "get-objects-download-info", alice, json!([{"cloudObjectId": file_id(&emu, "src.txt")}])).await;
    assert_eq!(code(&gone[0]), "OBJECT_NOT_EXIST");
    let response = http().get(download_url(&emu, alice, "moved.txt").await).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "source");
}

#[tokio::test]
async fn deletes() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    upload(&emu, &token, "d/x.txt", b"x".to_vec(), "text/plain").await;
    upload(&emu, &token, "d", b"d".to_vec(), "text/plain").await;
    let url = download_url(&emu, &token, "d/x.txt").await;
    let id = file_id(&emu, "d/x.txt");
    let out = items(&emu, "delete-objects", &token, json!([{"cloudObjectId": id}, {"cloudObjectId": id}])).await;
    assert_eq!(out[0], json!({"cloudObjectId": id}));
    assert_eq!(code(&out[1]), "OBJECT_NOT_EXIST");
    cos_error(http().get(&url).send().await.unwrap(), 404, "NoSuchKey").await;
    let head = http().head(&url).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 404);
    assert!(head.bytes().await.unwrap().is_empty());
    // `d` and `d/x.txt` were distinct objects.
    let response = http().get(download_url(&emu, &token, "d").await).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "d");
}

#[tokio::test]
async fn urls_expire_with_the_emulator_clock() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    upload(&emu, &token, "e.txt", b"e".to_vec(), "text/plain").await;
    let download = download_url(&emu, &token, "e.txt").await;
    let info = upload_info(&emu, &token, "e2.txt", "text/plain", None).await;
    emu.advance_clock(Duration::from_secs(2 * 3600 + 60));
    let message = cos_error(http().get(&download).send().await.unwrap(), 403, "AccessDenied").await;
    assert_eq!(message, "Request has expired");
    let response = put(&info, "text/plain").body("late").send().await.unwrap();
    assert_eq!(cos_error(response, 403, "AccessDenied").await, "Request has expired");
}

#[tokio::test]
async fn tampered_requests_are_refused() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    let info = upload_info(&emu, &token, "t.txt", "text/plain", Some(4)).await;
    let other = upload_info(&emu, &token, "other.txt", "text/plain", Some(4)).await;

    let mut forged = info.clone();
    let auth = info["authorization"].as_str().unwrap();
    let flipped = if auth.ends_with('0') { "1" } else { "0" };
    forged["authorization"] = json!(format!("{}{flipped}", &auth[..auth.len() - 1]));
    let response = put(&forged, "text/plain").body("data").send().await.unwrap();
    cos_error(response, 403, "SignatureDoesNotMatch").await;
    // A signed header with another value.
    let response = put(&info, "text/html").body("data").send().await.unwrap();
    cos_error(response, 403, "SignatureDoesNotMatch").await;
    let mut forged = info.clone();
    forged["token"] = other["token"].clone();
    cos_error(put(&forged, "text/plain").body("data").send().await.unwrap(), 403, "InvalidAccessKeyId").await;
    let mut forged = info.clone();
    forged["cloudObjectMeta"] = other["cloudObjectMeta"].clone();
    cos_error(put(&forged, "text/plain").body("data").send().await.unwrap(), 403, "AccessDenied").await;
    let mut forged = info.clone();
    forged["uploadUrl"] = json!(info["uploadUrl"].as_str().unwrap().replace("-1250000000/", "-1250000001/"));
    cos_error(put(&forged, "text/plain").body("data").send().await.unwrap(), 404, "NoSuchBucket").await;
    let response = http().put(info["uploadUrl"].as_str().unwrap()).body("data").send().await.unwrap();
    cos_error(response, 403, "AccessDenied").await;
    // None of these stored anything; the genuine upload still works.
    assert_eq!(put(&info, "text/plain").body("data").send().await.unwrap().status().as_u16(), 200);

    let url = download_url(&emu, &token, "t.txt").await;
    let (base, query) = url.split_once('?').unwrap();
    let t: u64 = query.split("&t=").nth(1).unwrap().parse().unwrap();
    for bad in [
        base.to_owned(),
        format!("{base}?t={t}"),
        url.replace("sign=", "sign=0"),
        url.replace(&t.to_string(), &(t + 1).to_string()),
    ] {
        cos_error(http().get(&bad).send().await.unwrap(), 403, "SignatureDoesNotMatch").await;
    }
    // A download URL signs one key.
    let elsewhere = url.replace("/t.txt?", "/other.txt?");
    cos_error(http().get(&elsewhere).send().await.unwrap(), 403, "SignatureDoesNotMatch").await;
}

/// Files the store holds, waiting (at most 5 s) for the server to clean up after a dropped upload.
async fn settled_files(dir: &std::path::Path, expected: usize) -> Vec<String> {
    let list = || -> Vec<String> {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    };
    for _ in 0..50 {
        if list().len() == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    list()
}

#[tokio::test]
async fn an_interrupted_upload_leaves_nothing() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    let info = upload_info(&emu, &token, "half.bin", "application/octet-stream", None).await;
    let stream = futures_util::stream::unfold(0u32, |i| async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        match i {
            0..4 => Some((Ok(vec![7u8; 64 * 1024]), i + 1)),
            4 => Some((Err(std::io::Error::other("the client gave up")), i + 1)),
            _ => None,
        }
    });
    let result = put(&info, "application/octet-stream").body(reqwest::Body::wrap_stream(stream)).send().await;
    assert!(result.is_err() || result.unwrap().status().as_u16() == 400);
    assert_eq!(settled_files(&emu.storage_dir(), 0).await, Vec::<String>::new());
    let out = items(&emu, "get-objects-download-info", &token, json!([{"cloudObjectId": file_id(&emu, "half.bin")}]));
    assert_eq!(code(&out.await[0]), "OBJECT_NOT_EXIST");

    // A body shorter than its Content-Length.
    let info = upload_info(&emu, &token, "short.bin", "application/octet-stream", None).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![1; 10])];
    let result = put(&info, "application/octet-stream")
        .header("content-length", "20")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await;
    assert!(result.is_err() || result.unwrap().status().as_u16() == 400);
    assert_eq!(settled_files(&emu.storage_dir(), 0).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_cut_download_is_a_body_error() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    let bytes = pattern(300_000);
    upload(&emu, &token, "cut.bin", bytes.clone(), "application/octet-stream").await;
    let url = download_url(&emu, &token, "cut.bin").await;

    emu.cut_next_download(1000);
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-length"], "300000");
    let mut response = response;
    let mut received = Vec::new();
    let mut failed = false;
    // Bounded: the body is 300 000 bytes at most.
    for _ in 0..10_000 {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body ended without an error after {} bytes", received.len());
    assert_eq!(received.as_slice(), &bytes[..1000]);

    let control = http()
        .post(format!("{}/_emulator/storage/cut-download", emu.url()))
        .json(&json!({"after_bytes": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status().as_u16(), 200);
    assert!(http().get(&url).send().await.unwrap().bytes().await.is_err());
    // Only the next download is cut.
    assert_eq!(http().get(&url).send().await.unwrap().bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn a_configured_directory_keeps_the_objects_and_reset_empties_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("objects");
    let config = EmulatorConfig { storage_dir: Some(store.clone()), ..Default::default() };
    let emu = Emulator::start_with(config).await.unwrap();
    assert_eq!(emu.storage_dir(), store);
    std::fs::write(store.join("notes.txt"), b"not an object").unwrap();
    let (token, _) = anonymous(&emu).await;
    upload(&emu, &token, "kept.txt", b"kept".to_vec(), "text/plain").await;
    let mut files = settled_files(&store, 3).await;
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().any(|f| f.len() == 69 && f.ends_with(".json")), "{files:?}");

    emu.reset();
    assert_eq!(settled_files(&store, 1).await, vec!["notes.txt".to_owned()]);
    let (token, _) = anonymous(&emu).await;
    let out = items(&emu, "get-objects-download-info", &token, json!([{"cloudObjectId": file_id(&emu, "kept.txt")}]));
    assert_eq!(code(&out.await[0]), "OBJECT_NOT_EXIST");
}

#[tokio::test]
async fn object_route_faults_are_cos_errors() {
    let emu = start().await;
    let (token, _) = anonymous(&emu).await;
    upload(&emu, &token, "f.txt", b"f".to_vec(), "text/plain").await;
    let url = download_url(&emu, &token, "f.txt").await;
    emu.inject_fault("cos_get_object", cloudbase_emulator::Fault::Status500, 1);
    let message = cos_error(http().get(&url).send().await.unwrap(), 500, "InternalError").await;
    assert!(message.starts_with("injected fault"), "{message}");
    assert_eq!(http().get(&url).send().await.unwrap().text().await.unwrap(), "f");
    assert_eq!(emu.count("cos_get_object"), 2);
}
