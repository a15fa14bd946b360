//! Forwarding to local servers (the binary's `--function`, `--cloudrun`, `--api`, here through the same
//! builder methods the binary calls): a small axum server on 127.0.0.1 holds the logic.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use common::{bearer, envelope, http, user};
use serde_json::{Map, Value, json};

const KEY: &str = "pk-fwd";

fn header(headers: &HeaderMap, name: &str) -> Value {
    headers.get(name).map_or(Value::Null, |v| json!(v.to_str().unwrap()))
}

async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let headers: Map<String, Value> =
        parts.headers.iter().map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default()))).collect();
    let reply = json!({"method": parts.method.as_str(), "uri": parts.uri.to_string(), "headers": headers,
        "body": String::from_utf8_lossy(&bytes)});
    ([(header::CONTENT_TYPE, "application/json"), (header::HeaderName::from_static("x-local"), "1")], reply.to_string())
        .into_response()
}

/// The local server: functions at `/sum`, `/text`, `/fail`; a service under `/svc`.
pub async fn local_server() -> SocketAddr {
    let app = Router::new()
        .route(
            "/sum",
            post(|headers: HeaderMap, body: Bytes| async move {
                let event: Value = serde_json::from_slice(&body).unwrap();
                let sum = event["a"].as_i64().unwrap_or(0) + event["b"].as_i64().unwrap_or(0);
                axum::Json(json!({
                    "sum": sum,
                    "content_type": header(&headers, "content-type"),
                    "caller": header(&headers, "x-cloudbase-caller"),
                    "user": header(&headers, "x-cloudbase-user-id"),
                    "authorization": header(&headers, "authorization"),
                }))
            }),
        )
        .route("/text", post(|| async { "plain words" }))
        .route("/fail", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }))
        .route(
            "/svc/sse",
            get(|| async {
                let stream = futures_util::stream::unfold(0usize, |i| async move {
                    if i == 3 {
                        return None;
                    }
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                    }
                    Some((Ok::<_, std::io::Error>(Bytes::from(format!("data: {i}\n\n"))), i + 1))
                });
                ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream))
            }),
        )
        .route(
            "/svc/big",
            get(|| async {
                let stream = futures_util::stream::iter(
                    (0..20).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'z'; 1024 * 1024]))),
                );
                ([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(stream))
            }),
        )
        .route("/svc", any(echo))
        .route("/svc/", any(echo))
        .route("/svc/{*rest}", any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn start() -> EmulatorHandle {
    let local = format!("http://{}", local_server().await);
    let dead = format!("http://127.0.0.1:{}", closed_port().await);
    Emulator::builder()
        .config(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() })
        .forward_function("sum", format!("{local}/sum"))
        .forward_function("text", format!("{local}/text"))
        .forward_function("fail", format!("{local}/fail"))
        .forward_function("gone", format!("{dead}/sum"))
        .forward_cloudrun("svc", format!("{local}/svc/"))
        .forward_cloudrun("down", dead.clone())
        .forward_api("label", format!("{local}/svc"))
        .start()
        .await
        .unwrap()
}

fn call(emu: &EmulatorHandle, method: &str, path: &str) -> reqwest::RequestBuilder {
    http().request(method.parse().unwrap(), format!("{}{path}", emu.url())).header("authorization", bearer(KEY))
}

#[tokio::test]
async fn forwarded_functions() {
    let emu = start().await;
    let (token, id) = user(&emu, "ada").await;
    let response = http()
        .post(format!("{}/v1/functions/sum", emu.url()))
        .header("authorization", bearer(&token))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"a":2,"b":40}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let reply: Value = response.json().await.unwrap();
    assert_eq!(
        reply,
        json!({"sum": 42, "content_type": "application/json", "caller": "user", "user": id, "authorization": null})
    );
    let response = call(&emu, "POST", "/v1/functions/text").send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(response.text().await.unwrap(), "plain words");
    let message =
        envelope(call(&emu, "POST", "/v1/functions/fail").send().await.unwrap(), 500, "FUNCTION_INVOCATION_FAILED")
            .await;
    assert!(message.contains("500") && message.contains("oops"), "{message}");
    envelope(call(&emu, "POST", "/v1/functions/gone").send().await.unwrap(), 500, "FUNCTION_INVOCATION_FAILED").await;
    // The exchange log has the event and the JSON result.
    let exchange = emu.exchanges().into_iter().find(|x| x.path == "/v1/functions/sum").unwrap();
    assert_eq!(exchange.request_body, Some(json!({"a": 2, "b": 40})));
    assert_eq!(exchange.response_body.unwrap()["sum"], json!(42));
}

#[tokio::test]
async fn forwarded_services() {
    let emu = start().await;
    for (base, prefix) in [("/v1/cloudrun/svc", "/svc"), ("/v1/apis/label", "/svc")] {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let response = call(&emu, method, &format!("{base}/a/b?q=1&r=x%20y"))
                .header("x-custom", "1")
                .header("connection", "keep-alive, x-hop")
                .header("x-hop", "dropped")
                .body("payload")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{method} {base}");
            assert_eq!(response.headers()["x-local"], "1");
            let echo: Value = response.json().await.unwrap();
            assert_eq!(echo["method"], json!(method));
            assert_eq!(echo["uri"], json!(format!("{prefix}/a/b?q=1&r=x%20y")));
            assert_eq!(echo["body"], json!("payload"));
            assert_eq!(echo["headers"]["x-custom"], json!("1"));
            assert_eq!(echo["headers"]["x-cloudbase-caller"], json!("publishable_key"));
            assert!(echo["headers"].get("authorization").is_none());
            assert!(echo["headers"].get("x-hop").is_none(), "hop-by-hop headers are not forwarded");
        }
        let head = call(&emu, "HEAD", base).send().await.unwrap();
        assert_eq!(head.status().as_u16(), 200);
        let echo: Value = call(&emu, "GET", &format!("{base}/")).send().await.unwrap().json().await.unwrap();
        assert_eq!((&echo["uri"], &echo["body"]), (&json!(format!("{prefix}/")), &json!("")));
        assert!(echo["headers"].get("transfer-encoding").is_none(), "a GET without a body stays without one");
    }
    let message =
        envelope(call(&emu, "GET", "/v1/cloudrun/down").send().await.unwrap(), 502, "SERVICE_NOT_READY").await;
    assert!(message.contains("not reachable"), "{message}");

    // Streams pass through: a 20 MiB reply and server-sent events.
    let mut big = call(&emu, "GET", "/v1/cloudrun/svc/big").send().await.unwrap();
    assert_eq!(big.headers()["content-disposition"], "attachment");
    let mut total = 0;
    while let Some(chunk) = big.chunk().await.unwrap() {
        total += chunk.len();
    }
    assert_eq!(total, 20 * 1024 * 1024);
    let started = Instant::now();
    let mut sse = call(&emu, "GET", "/v1/apis/label/sse").send().await.unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    assert!(sse.headers().get("content-disposition").is_none());
    let first = sse.chunk().await.unwrap().unwrap();
    assert_eq!(first, Bytes::from_static(b"data: 0\n\n"));
    assert!(started.elapsed() < Duration::from_millis(400), "first event after {:?}", started.elapsed());
    let mut rest = Vec::new();
    while let Some(chunk) = sse.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"data: 1\n\ndata: 2\n\n");
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[test]
fn header_value_sanity() {
    // The caller header values the README documents.
    for value in ["user", "anonymous", "publishable_key", "client"] {
        assert!(HeaderValue::from_str(value).is_ok());
    }
}
