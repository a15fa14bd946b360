//! The gateway over HTTP: what every request gets (request id, CORS, body limit), what service requests get
//! (logs, faults by operation id), and the `drop_reply` fault.

use std::time::Duration;

use cloudbase_emulator::{Emulator, EmulatorHandle, Fault};
use serde_json::{Value, json};

const DEVICE: &str = "0123456789abcdef0123456789abcdef";

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

async fn post(emu: &EmulatorHandle, path: &str, body: Value) -> Result<(u16, Value), reqwest::Error> {
    let response = http().post(format!("{}{path}", emu.url())).header("x-device-id", DEVICE).json(&body).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn drop_reply_applies_the_operation_and_loses_the_reply() {
    assert_eq!(serde_json::to_value(Fault::DropReply).unwrap(), json!("drop_reply"));
    let emu = Emulator::start().await.unwrap();
    let (status, tokens) = post(&emu, "/auth/v1/signin/anonymously", json!({})).await.unwrap();
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].clone();

    // Injected over HTTP, as a client in any language would.
    let (status, _) =
        post(&emu, "/_emulator/faults", json!({"operation_id": "grant_token", "fault": "drop_reply"})).await.unwrap();
    assert_eq!(status, 200);
    let grant = json!({"grant_type": "refresh_token", "refresh_token": refresh});
    let lost = post(&emu, "/auth/v1/token", grant.clone()).await;
    let error = lost.expect_err("the reply is lost");
    assert!(!error.is_timeout() && !error.is_status(), "a connection error, not {error:?}");

    // The grant was applied: the refresh token rotated, so the old one is spent.
    let (status, body) = post(&emu, "/auth/v1/token", grant).await.unwrap();
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    let grants: Vec<_> =
        emu.exchanges().into_iter().filter(|x| x.operation_id.as_deref() == Some("grant_token")).collect();
    assert_eq!(grants.len(), 2);
    assert_eq!((grants[0].status, grants[0].fault, grants[0].response_body.is_none()), (0, true, true));
    assert_eq!((grants[1].status, grants[1].fault), (400, false));
    assert_eq!(emu.count("grant_token"), 2);
}

#[tokio::test]
async fn drop_connection_still_does_not_apply_the_operation() {
    let emu = Emulator::start().await.unwrap();
    let (_, tokens) = post(&emu, "/auth/v1/signin/anonymously", json!({})).await.unwrap();
    emu.inject_fault("grant_token", Fault::DropConnection, 1);
    let grant = json!({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]});
    assert!(post(&emu, "/auth/v1/token", grant.clone()).await.is_err());
    let (status, body) = post(&emu, "/auth/v1/token", grant).await.unwrap();
    assert_eq!(status, 200, "the refresh token survived: {body}");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_cors_headers() {
    let emu = Emulator::start().await.unwrap();
    for path in ["/auth/v1/user/me", "/_emulator", "/nowhere"] {
        let response = http().get(format!("{}{path}", emu.url())).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
        assert_eq!(headers["access-control-expose-headers"], "x-request-id", "{path}");
        assert_eq!(headers["x-request-id"].len(), 32, "{path}");
    }
    let echoed =
        http().get(format!("{}/auth/v1/user/me", emu.url())).header("x-request-id", "rid-7").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "rid-7");

    let preflight = http()
        .request(reqwest::Method::OPTIONS, format!("{}/auth/v1/signin", emu.url()))
        .header("access-control-request-headers", "x-device-id")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 204);
    assert_eq!(preflight.headers()["access-control-allow-headers"], "x-device-id");
    assert_eq!(preflight.headers()["access-control-max-age"], "600");
    assert!(emu.requests().iter().all(|r| r.method != "OPTIONS"), "preflights are not logged");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_not_found() {
    let emu = Emulator::start().await.unwrap();
    for (method, path) in [("GET", "/auth/v1/signin"), ("POST", "/auth/v1/nope"), ("GET", "/elsewhere")] {
        let response = http().request(method.parse().unwrap(), format!("{}{path}", emu.url())).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], json!("not_found"));
        assert_eq!(body["error_description"], json!(format!("no operation {method} {path}")));
    }
    let logged: Vec<_> = emu.requests().into_iter().map(|r| (r.path, r.operation_id)).collect();
    assert_eq!(logged.len(), 3);
    assert!(logged.iter().all(|(_, op)| op.is_none()));

    let control = http().put(format!("{}/_emulator/outbox", emu.url())).send().await.unwrap();
    assert_eq!(control.status().as_u16(), 404);
    let control = http().get(format!("{}/_emulator/nope", emu.url())).send().await.unwrap();
    assert_eq!(control.status().as_u16(), 404);
    let body: Value = control.json().await.unwrap();
    assert_eq!(body["error_description"], json!("no emulator control GET /_emulator/nope"));
    assert_eq!(emu.requests().len(), 3, "test controls are not logged");
}

#[tokio::test]
async fn test_controls_accept_a_trailing_slash_and_list_every_operation() {
    let emu = Emulator::start().await.unwrap();
    let info: Value = http().get(format!("{}/_emulator/", emu.url())).send().await.unwrap().json().await.unwrap();
    let operations = info["operations"].as_array().unwrap();
    // auth 30 (29 and the JS SDK's guest token), functions 1, cloud run and APIs 7 methods x 3 templates each,
    // storage 4, its object routes 3,
    // MySQL RESTful 5 methods x 3 path forms, data models 12 + mysqlCommand + 7 data source queries.
    assert_eq!(operations.len(), 30 + 1 + 21 + 21 + 4 + 3 + 15 + 20);
    assert!(operations.contains(&json!({
        "method": "PUT", "path": "/_cos/{bucket}/{*key}", "operation_id": "cos_put_object"
    })));
    assert!(operations.contains(&json!({
        "method": "POST", "path": "/v1/functions/{name}", "operation_id": "call_function"
    })));
    assert!(operations.contains(&json!({
        "method": "GET", "path": "/v1/cloudrun/{name}/{*path}", "operation_id": "call_container_get"
    })));
    assert!(operations.contains(&json!({
        "method": "DELETE", "path": "/auth/v1/user/provider/{provider_id}", "operation_id": "unbind_provider"
    })));
    let outbox = http().get(format!("{}/_emulator/outbox/", emu.url())).send().await.unwrap();
    assert_eq!(outbox.status().as_u16(), 200);
}

#[tokio::test]
async fn bodies_over_a_mebibyte_answer_413() {
    let emu = Emulator::start().await.unwrap();
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(1 << 20));
    let response = http().post(format!("{}/auth/v1/signin", emu.url())).body(big).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], json!("invalid_argument"));
}

#[tokio::test]
async fn faults_are_keyed_by_operation_and_logged() {
    let emu = Emulator::start().await.unwrap();
    emu.inject_fault("unbind_provider", Fault::Status500, 1);
    let url = format!("{}/auth/v1/user/provider/git%2Fhub", emu.url());
    let response = http().delete(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    // The next call is processed: no token, so the user endpoint refuses it.
    let response = http().delete(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["error"].as_str(), body["code"].as_str()),
        (Some("unauthenticated"), Some("INVALID_ACCESS_TOKEN"))
    );
    let exchanges = emu.exchanges();
    assert_eq!(exchanges.len(), 2);
    assert_eq!((exchanges[0].status, exchanges[0].fault), (500, true));
    assert_eq!(exchanges[0].response_body.as_ref().unwrap()["error"], json!("internal"));
    assert_eq!(exchanges[1].path, "/auth/v1/user/provider/git%2Fhub");
    assert_eq!(exchanges[1].operation_id.as_deref(), Some("unbind_provider"));

    let (status, body) =
        post(&emu, "/_emulator/faults", json!({"operation_id": "no_such_op", "fault": "drop_reply"})).await.unwrap();
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_argument")));
}
