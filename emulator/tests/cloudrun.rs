//! Cloud run and APIs over HTTP with services registered in-process: every method, what the service
//! receives, streamed replies (large bodies, server-sent events), the Content-Disposition rule, errors.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use cloudbase_emulator::{Caller, Emulator, EmulatorConfig, EmulatorHandle, Fault};
use common::{bearer, envelope, http, user};
use futures_util::StreamExt as _;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const KEY: &str = "pk-test-2";
const MIB: usize = 1024 * 1024;

/// Answers what it received as JSON (and `x-echo-method`).
async fn echo(request: Request, caller: Caller) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let headers: Map<String, Value> =
        parts.headers.iter().map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default()))).collect();
    let reply = json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&bytes),
        "caller": caller.kind(),
        "user": caller.user_id(),
    });
    let mut response = Response::new(Body::from(reply.to_string()));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert("x-echo-method", HeaderValue::from_str(parts.method.as_str()).unwrap());
    response
}

/// Answers a fixed body with the content type named by the `ct` query parameter.
async fn typed(request: Request, _caller: Caller) -> Response {
    let ct =
        request.uri().query().and_then(|q| q.strip_prefix("ct=")).unwrap_or("application/json").replace("%2F", "/");
    let mut response = Response::new(Body::from("{}"));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(&ct).unwrap());
    response
}

/// Counts the request body's bytes as they stream in.
async fn count(request: Request, _caller: Caller) -> Response {
    let mut stream = request.into_body().into_data_stream();
    let (mut bytes, mut chunks) = (0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                bytes += chunk.len();
                chunks += 1;
            }
            Err(e) => return Response::new(Body::from(format!("error after {bytes}: {e}"))),
        }
    }
    Response::new(Body::from(json!({"bytes": bytes, "chunks": chunks}).to_string()))
}

async fn start(produced: Arc<AtomicUsize>, events: Arc<AtomicUsize>) -> EmulatorHandle {
    Emulator::builder()
        .config(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() })
        .cloudrun("svc", echo)
        .cloudrun("typed", typed)
        .cloudrun("count", count)
        .cloudrun("big", move |_request: Request, _caller: Caller| {
            let produced = produced.clone();
            async move {
                // 50 MiB, made one MiB at a time only as the client reads.
                let stream = futures_util::stream::unfold(0usize, move |i| {
                    let produced = produced.clone();
                    async move {
                        (i < 50).then(|| {
                            produced.fetch_add(1, Ordering::SeqCst);
                            (Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; MIB])), i + 1)
                        })
                    }
                });
                let mut response = Response::new(Body::from_stream(stream));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                response
            }
        })
        .cloudrun("sse", move |_request: Request, _caller: Caller| {
            let events = events.clone();
            async move {
                let stream = futures_util::stream::unfold(0usize, move |i| {
                    let events = events.clone();
                    async move {
                        if i == 3 {
                            return None;
                        }
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(400)).await;
                        }
                        events.fetch_add(1, Ordering::SeqCst);
                        Some((Ok::<_, std::io::Error>(Bytes::from(format!("data: event {i}\n\n"))), i + 1))
                    }
                });
                let mut response = Response::new(Body::from_stream(stream));
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                response
            }
        })
        .api("label", echo)
        .start()
        .await
        .unwrap()
}

async fn started() -> EmulatorHandle {
    start(Arc::default(), Arc::default()).await
}

fn request(emu: &EmulatorHandle, method: &str, path: &str) -> reqwest::RequestBuilder {
    http().request(method.parse().unwrap(), format!("{}{path}", emu.url())).header("authorization", bearer(KEY))
}

#[tokio::test]
async fn every_method_reaches_the_service_with_path_query_headers_and_body() {
    let emu = started().await;
    for base in ["/v1/cloudrun/svc", "/v1/apis/label"] {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let response = request(&emu, method, &format!("{base}/items/42?x=1&y=a%20b"))
                .header("x-custom", "yes")
                .header("content-type", "application/json; charset=utf-8")
                .header("x-cloudbase-caller", "spoofed")
                .body(r#"{"n":1}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{method} {base}");
            let echo: Value = response.json().await.unwrap();
            assert_eq!(echo["method"], json!(method));
            assert_eq!(echo["uri"], json!("/items/42?x=1&y=a%20b"));
            assert_eq!(echo["body"], json!(r#"{"n":1}"#));
            assert_eq!(echo["headers"]["x-custom"], json!("yes"));
            assert_eq!(echo["headers"]["x-cloudbase-caller"], json!("publishable_key"));
            assert!(echo["headers"]["x-request-id"].is_string());
            assert!(echo["headers"].get("authorization").is_none(), "{echo}");
            assert_eq!(echo["caller"], json!("publishable_key"));
        }
        let head = request(&emu, "HEAD", &format!("{base}/h")).send().await.unwrap();
        assert_eq!(
            (head.status().as_u16(), &head.headers()["x-echo-method"]),
            (200, &HeaderValue::from_static("HEAD"))
        );
        for (path, uri) in [(base.to_owned(), "/"), (format!("{base}/"), "/"), (format!("{base}?q=1"), "/?q=1")] {
            let echo: Value = request(&emu, "GET", &path).send().await.unwrap().json().await.unwrap();
            assert_eq!(echo["uri"], json!(uri), "{path}");
        }
    }

    // A CORS preflight (with Access-Control-Request-Method) is the gateway's; other OPTIONS are the service's.
    let preflight = http()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/cloudrun/svc/x", emu.url()))
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 204);
    assert!(preflight.headers().get("x-echo-method").is_none());
    assert_eq!(emu.count("call_container_options"), 1);
    assert_eq!(emu.count("call_api_options"), 1);
    assert_eq!(emu.count("call_container_get"), 4);
    assert_eq!(emu.count("call_container_head"), 1);

    // A user's token: the service learns the user.
    let (token, id) = user(&emu, "grace").await;
    let echo: Value = http()
        .post(format!("{}/v1/cloudrun/svc", emu.url()))
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((&echo["caller"], &echo["user"]), (&json!("user"), &json!(id)));
    assert_eq!(echo["headers"]["x-cloudbase-user-id"], json!(id));
    assert_eq!(echo["headers"]["x-cloudbase-caller"], json!("user"));
}

#[tokio::test]
async fn errors() {
    let emu = started().await;
    let url = |path: &str| format!("{}{path}", emu.url());
    envelope(http().get(url("/v1/cloudrun/svc")).send().await.unwrap(), 401, "MISSING_CREDENTIALS").await;
    envelope(http().get(url("/v1/apis/label")).send().await.unwrap(), 401, "MISSING_CREDENTIALS").await;
    let bad = http().get(url("/v1/cloudrun/svc")).header("authorization", "Bearer x").send().await.unwrap();
    envelope(bad, 401, "INVALID_ACCESS_TOKEN").await;
    envelope(request(&emu, "GET", "/v1/cloudrun/nope/x").send().await.unwrap(), 404, "SERVICE_NOT_FOUND").await;
    envelope(request(&emu, "POST", "/v1/apis/nope").send().await.unwrap(), 404, "API_NOT_FOUND").await;
    for name in ["1svc", "s", "sv.c", "svc_"] {
        envelope(request(&emu, "GET", &format!("/v1/cloudrun/{name}")).send().await.unwrap(), 400, "INVALID_PARAM")
            .await;
        envelope(request(&emu, "PUT", &format!("/v1/apis/{name}/x")).send().await.unwrap(), 400, "INVALID_PARAM").await;
    }
    // Expired user token.
    let (token, _) = common::anonymous(&emu).await;
    emu.advance_clock(Duration::from_secs(7201));
    let expired = http().get(url("/v1/apis/label")).header("authorization", bearer(&token)).send().await.unwrap();
    envelope(expired, 401, "ACCESS_TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn content_disposition_rule() {
    let emu = started().await;
    let disposition =
        |r: &reqwest::Response| r.headers().get("content-disposition").map(|v| v.to_str().unwrap().to_owned());
    let attachment = Some("attachment".to_owned());
    for (method, ct, expected) in [
        ("GET", "application/json", attachment.clone()),
        ("GET", "text%2Fevent-stream", None),
        ("POST", "application/json", None),
        ("POST", "text%2Fplain", None),
        ("POST", "image%2Fpng", attachment.clone()),
        ("PUT", "text%2Fhtml", attachment.clone()),
    ] {
        let response = request(&emu, method, &format!("/v1/cloudrun/typed?ct={ct}")).send().await.unwrap();
        assert_eq!(disposition(&response), expected, "{method} {ct}");
    }
    // Gateway errors are not the service's replies.
    let missing = request(&emu, "GET", "/v1/cloudrun/nope").send().await.unwrap();
    assert_eq!(disposition(&missing), None);
}

#[tokio::test]
async fn a_large_reply_streams_chunk_by_chunk() {
    let produced = Arc::new(AtomicUsize::new(0));
    let emu = start(produced.clone(), Arc::default()).await;
    let mut response = request(&emu, "GET", "/v1/cloudrun/big").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-disposition"], "attachment");
    let first = response.chunk().await.unwrap().expect("a first chunk");
    let produced_at_first = produced.load(Ordering::SeqCst);
    assert!(produced_at_first < 50, "the whole reply was produced before the client read any: {produced_at_first}");
    let (mut total, mut chunks) = (first.len(), 1);
    while let Some(chunk) = response.chunk().await.unwrap() {
        total += chunk.len();
        chunks += 1;
    }
    assert_eq!(total, 50 * MIB);
    assert!(chunks > 1);
    assert_eq!(produced.load(Ordering::SeqCst), 50);
    let exchange = emu.exchanges().pop().unwrap();
    assert_eq!((exchange.status, exchange.response_body), (200, None));
}

#[tokio::test]
async fn server_sent_events_arrive_one_by_one() {
    let events = Arc::new(AtomicUsize::new(0));
    let emu = start(Arc::default(), events.clone()).await;
    let started = Instant::now();
    let mut response = request(&emu, "GET", "/v1/cloudrun/sse").send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("content-disposition").is_none());
    let mut received = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        let produced = events.load(Ordering::SeqCst);
        received.push((String::from_utf8(chunk.to_vec()).unwrap(), produced, started.elapsed()));
    }
    let text: String = received.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(text, "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n");
    let (first, produced_then, at) = &received[0];
    assert_eq!(first, "data: event 0\n\n");
    assert_eq!(*produced_then, 1, "the first event arrived before the later ones were produced");
    assert!(*at < Duration::from_millis(400), "first event after {at:?}");
    assert_eq!(received.len(), 3, "{received:?}");
}

#[tokio::test]
async fn request_bodies_stream_in_and_are_bounded() {
    let emu = started().await;
    let body = vec![b'y'; 20 * MIB];
    let response = request(&emu, "POST", "/v1/cloudrun/count").body(body).send().await.unwrap();
    let counted: Value = response.json().await.unwrap();
    assert_eq!(counted["bytes"], json!(20 * MIB));

    // An announced body over 100 MB is refused before it is sent.
    let mut stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let head = format!(
        "POST /v1/cloudrun/count HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-length: {}\r\n\r\n",
        100 * MIB + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut reply)).await.unwrap().unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("EXCEED_MAX_PAYLOAD_SIZE"), "{reply}");
}

#[tokio::test]
async fn faults_and_logs_apply_to_cloud_run_and_apis() {
    let emu = started().await;
    emu.inject_fault("call_container_post", Fault::Status500, 1);
    envelope(request(&emu, "POST", "/v1/cloudrun/svc").send().await.unwrap(), 500, "INTERNAL_ERROR").await;
    let ok = request(&emu, "POST", "/v1/cloudrun/svc").body("{}").send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    emu.inject_fault("call_api_get", Fault::Status502Html, 1);
    assert_eq!(request(&emu, "GET", "/v1/apis/label/x").send().await.unwrap().status().as_u16(), 502);
    assert_eq!(emu.count("call_container_post"), 2);
    assert_eq!(emu.count("call_api_get"), 1);
    let exchanges = emu.exchanges();
    assert_eq!(exchanges[1].operation_id.as_deref(), Some("call_container_post"));
    assert_eq!((exchanges[1].request_body.clone(), exchanges[1].response_body.clone()), (None, None), "streamed");
    assert!(emu.requests().iter().all(|r| !r.headers.contains_key("authorization")));
}
