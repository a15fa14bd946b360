//! `app.call_container(name)` and `app.apis(name)` end to end against the emulator's cloud run and APIs over
//! 127.0.0.1: every builder option, replies of any status, streamed bodies both ways, server-sent events as
//! they are sent, the refresh-and-retry, typed errors and bad input; every exchange validated against the
//! specs.
#![cfg(feature = "contract")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use cloudbase::http::{Method, StatusCode};
use cloudbase::{CallApiOptions, Error, ErrorCode, SignInWithPassword};
use cloudbase_emulator::{Caller, Emulator, EmulatorHandle, Fault};
use common::{PASSWORD, assert_contract, builder};
use futures::StreamExt as _;
use serde_json::{Value, json};

/// Answers what it received: method, path and query, selected headers, the body, and the caller.
async fn echo(request: Request, caller: Caller) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let reply = json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "x_custom": parts.headers.get("x-custom").and_then(|v| v.to_str().ok()),
        "content_type": parts.headers.get("content-type").and_then(|v| v.to_str().ok()),
        "authorization": parts.headers.get("authorization").is_some(),
        "body": String::from_utf8_lossy(&body),
        "caller": caller.kind(),
    });
    Response::builder()
        .status(if parts.uri.path() == "/created" { 201 } else { 200 })
        .header("content-type", "application/json")
        .header("x-service", "echo")
        .body(Body::from(reply.to_string()))
        .unwrap()
}

/// Counts the bytes of the request body, streamed.
async fn count(request: Request, _caller: Caller) -> Response {
    let mut stream = request.into_body().into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        total += chunk.map(|c| c.len()).unwrap_or(0);
    }
    Response::new(Body::from(total.to_string()))
}

/// `?mb=N` megabytes of zeros, streamed in 64 KiB chunks.
async fn download(request: Request, _caller: Caller) -> Response {
    let mb: usize = request.uri().query().and_then(|q| q.strip_prefix("mb=")).and_then(|n| n.parse().ok()).unwrap_or(1);
    let chunks = mb * 16;
    let stream = futures::stream::iter((0..chunks).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 64 * 1024]))));
    Response::builder().header("content-type", "application/octet-stream").body(Body::from_stream(stream)).unwrap()
}

async fn emulator(produced: Arc<AtomicUsize>) -> EmulatorHandle {
    Emulator::builder()
        .cloudrun("echo", echo)
        .cloudrun("count", count)
        .cloudrun("download", download)
        .cloudrun("sse", move |_request: Request, _caller: Caller| {
            let produced = Arc::clone(&produced);
            async move {
                // Three events 300 ms apart; `produced` counts how many the service has written so far.
                let stream = futures::stream::unfold(0usize, move |n| {
                    let produced = Arc::clone(&produced);
                    async move {
                        if n == 3 {
                            return None;
                        }
                        if n > 0 {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        produced.store(n + 1, Ordering::SeqCst);
                        let event = format!("event: tick\nid: {n}\ndata: {{\"n\":{n}}}\n\n");
                        Some((Ok::<_, std::io::Error>(Bytes::from(event)), n + 1))
                    }
                });
                Response::builder().header("content-type", "text/event-stream").body(Body::from_stream(stream)).unwrap()
            }
        })
        .api("weather", echo)
        .start()
        .await
        .expect("emulator starts")
}

async fn signed_in(emu: &EmulatorHandle) -> cloudbase::CloudBase {
    emu.create_user(cloudbase_emulator::NewUser {
        email: Some("run@example.com".into()),
        password: Some(PASSWORD.into()),
        ..Default::default()
    });
    let app = builder(emu).build().unwrap();
    app.auth().sign_in_with_password(SignInWithPassword::email("run@example.com", PASSWORD)).await.unwrap();
    app
}

#[tokio::test]
async fn every_builder_option_reaches_the_service() {
    let emu = emulator(Arc::default()).await;
    let app = signed_in(&emu).await;
    let reply = app
        .call_container("echo")
        .method(Method::PUT)
        .path("items/42")
        .query("q", "a b&c")
        .query("page", "2")
        .header("x-custom", "yes")
        .json(&json!({"title": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.headers()["x-service"], "echo");
    assert!(reply.request_id().is_some());
    let seen: Value = reply.json().await.unwrap();
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["uri"], "/items/42?q=a+b%26c&page=2");
    assert_eq!(seen["x_custom"], "yes");
    assert_eq!(seen["content_type"], "application/json; charset=utf-8");
    assert_eq!(seen["body"], r#"{"title":"hello"}"#);
    assert_eq!(seen["authorization"], false, "the gateway keeps the token");
    assert_eq!(seen["caller"], "user");

    // Defaults: GET, path `/`.
    let seen: Value = app.call_container("echo").send().await.unwrap().json().await.unwrap();
    assert_eq!((seen["method"].as_str(), seen["uri"].as_str()), (Some("GET"), Some("/")));
    for method in [Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS, Method::HEAD] {
        let reply = app.call_container("echo").method(method.clone()).body("raw").send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::OK, "{method}");
        if method != Method::HEAD {
            let seen: Value = reply.json().await.unwrap();
            assert_eq!(seen["method"], method.as_str());
        }
    }
    // `call_function(..).cloudrun()`: POST to the service's root with the event as JSON.
    let seen = app.call_function("echo").cloudrun().data(&json!({"k": 1})).send_json().await.unwrap();
    assert_eq!((seen.result["method"].as_str(), seen.result["uri"].as_str()), (Some("POST"), Some("/")));
    assert_eq!(seen.result["body"], r#"{"k":1}"#);
    assert_contract(&emu);
}

#[tokio::test]
async fn replies_of_any_status_and_the_gateways_errors() {
    let emu = emulator(Arc::default()).await;
    let app = signed_in(&emu).await;
    let created = app.call_container("echo").method(Method::POST).path("/created").send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let missing = app.call_container("nope").send().await.unwrap_err();
    assert_eq!(missing.code(), Some(&ErrorCode::ServiceNotFound), "{missing:?}");
    assert_eq!(missing.service().and_then(|s| s.status), Some(404));
    let api_missing = app.apis("nope").get("x").send().await.unwrap_err();
    assert_eq!(api_missing.code(), Some(&ErrorCode::ApiNotFound), "{api_missing:?}");

    emu.inject_fault("call_container_get", Fault::Status502Html, 1);
    let html = app.call_container("echo").send().await.expect("the reply of whatever answered");
    assert_eq!(html.status(), StatusCode::BAD_GATEWAY);
    let err = html.error_for_status().unwrap_err();
    assert!(matches!(err, Error::Http { status: 502, operation: "call_container_get", .. }), "{err:?}");
    emu.inject_fault("call_container_get", Fault::TruncatedBody, 1);
    // Cut off in its head or its body: a transport error either way, never a panic or a partial success.
    let truncated = match app.call_container("echo").send().await {
        Ok(reply) => reply.bytes().await.map(drop),
        Err(e) => Err(e),
    };
    assert!(matches!(truncated, Err(Error::Network { .. })), "{truncated:?}");
    emu.inject_fault("call_container_get", Fault::JunkBody, 1);
    let junk = app.call_container("echo").send().await.unwrap();
    assert!(matches!(junk.json::<Value>().await.unwrap_err(), Error::Decode { .. }));
}

#[tokio::test]
async fn apis_verbs_and_call_api() {
    let emu = emulator(Arc::default()).await;
    let app = signed_in(&emu).await;
    let weather = app.apis("weather");
    let calls = [
        (weather.get("today").query("city", "Shenzhen"), "GET", "/today?city=Shenzhen"),
        (weather.post("/notes").json(&json!({"t": 1})), "POST", "/notes"),
        (weather.put("notes/1"), "PUT", "/notes/1"),
        (weather.patch("notes/1"), "PATCH", "/notes/1"),
        (weather.delete("notes/1"), "DELETE", "/notes/1"),
        (weather.options("notes"), "OPTIONS", "/notes"),
    ];
    for (request, method, uri) in calls {
        let seen: Value = request.send().await.unwrap().json().await.unwrap();
        assert_eq!((seen["method"].as_str(), seen["uri"].as_str()), (Some(method), Some(uri)));
    }
    assert_eq!(weather.head("today").send().await.unwrap().status(), StatusCode::OK);
    let options = CallApiOptions::new("weather", "forecast").body(json!({"days": 3})).header("x-custom", "1");
    let seen: Value = app.call_api(options).await.unwrap().json().await.unwrap();
    assert_eq!((seen["method"].as_str(), seen["uri"].as_str()), (Some("POST"), Some("/forecast")));
    assert_eq!((seen["body"].as_str(), seen["x_custom"].as_str()), (Some(r#"{"days":3}"#), Some("1")));
    assert_contract(&emu);
}

#[tokio::test]
async fn server_sent_events_arrive_as_they_are_sent() {
    let produced = Arc::new(AtomicUsize::new(0));
    let emu = emulator(Arc::clone(&produced)).await;
    let app = signed_in(&emu).await;
    let reply = app.call_container("sse").method(Method::POST).send().await.unwrap();
    assert_eq!(reply.content_type(), Some("text/event-stream"));
    let mut events = reply.events();
    let first = tokio::time::timeout(Duration::from_secs(5), events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!((first.event.as_str(), first.id.as_str(), first.data.as_str()), ("tick", "0", r#"{"n":0}"#));
    assert_eq!(produced.load(Ordering::SeqCst), 1, "the first event arrived before the second was written");
    let mut rest = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(5), events.next()).await.unwrap() {
        rest.push(event.unwrap().id);
    }
    assert_eq!(rest, ["1", "2"]);
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let emu = emulator(Arc::default()).await;
    let app = signed_in(&emu).await;
    // Upload 32 MiB as a stream of 64 KiB chunks.
    let chunks = futures::stream::iter((0..512).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 64 * 1024]))));
    let reply = app.call_container("count").method(Method::POST).body_stream(chunks).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), (32 * 1024 * 1024).to_string());
    // Download 64 MiB chunk by chunk.
    let reply = app.call_container("download").query("mb", "64").send().await.unwrap();
    let mut stream = reply.bytes_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len();
    }
    assert_eq!(total, 64 * 1024 * 1024);
    // The bounded read refuses it.
    let reply = app.call_container("download").query("mb", "20").send().await.unwrap();
    assert!(matches!(reply.bytes().await.unwrap_err(), Error::ResponseTooLarge { .. }));
}

#[tokio::test]
async fn an_expired_token_mid_call_refreshes_once_then_replays_only_a_replayable_body() {
    let emu = emulator(Arc::default()).await;
    let app = signed_in(&emu).await;
    emu.advance_clock(Duration::from_secs(3 * 3600));
    let seen: Value = app
        .call_container("echo")
        .method(Method::POST)
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["body"], r#"{"a":1}"#);
    assert_eq!((emu.count("grant_token"), emu.count("call_container_post")), (1, 2));

    emu.advance_clock(Duration::from_secs(3 * 3600));
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"once"))]);
    let err = app.call_container("count").method(Method::POST).body_stream(chunks).send().await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::AccessTokenExpired), "a spent stream is not replayed: {err:?}");
    assert_eq!(emu.count("grant_token"), 2, "but the session was refreshed for the next call");
    let reply = app.call_container("count").method(Method::POST).body("again").send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "5");
}

#[tokio::test]
async fn bad_input_is_rejected_before_any_request() {
    let emu = emulator(Arc::default()).await;
    let app = signed_in(&emu).await;
    let before = emu.requests().len();
    let huge = Bytes::from(vec![0u8; cloudbase::MAX_BODY_BYTES + 1]);
    let cases = [
        ("empty name", app.call_container("").send().await.unwrap_err()),
        ("bad name", app.call_container("a/b").send().await.unwrap_err()),
        ("query in path", app.call_container("echo").path("/x?y=1").send().await.unwrap_err()),
        ("dot-dot", app.call_container("echo").path("/a/../b").send().await.unwrap_err()),
        ("bad header name", app.call_container("echo").header("bad header", "v").send().await.unwrap_err()),
        ("bad header value", app.call_container("echo").header("x-a", "line\nbreak").send().await.unwrap_err()),
        ("oversize", app.call_container("echo").method(Method::POST).body(huge).send().await.unwrap_err()),
        ("bad api name", app.apis("-x").get("/").send().await.unwrap_err()),
    ];
    for (what, err) in cases {
        assert!(matches!(err, Error::InvalidInput { .. }), "{what}: {err:?}");
    }
    assert_eq!(emu.requests().len(), before, "nothing was sent");
}
