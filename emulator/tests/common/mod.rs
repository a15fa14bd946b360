//! Helpers shared by the gateway-service tests: an HTTP client, sign-ins through the emulator's own auth
//! endpoints, and envelope checks.

#![allow(dead_code)]

use std::time::Duration;

use cloudbase_emulator::{EmulatorHandle, NewUser};
use serde_json::{Value, json};

pub const DEVICE: &str = "0123456789abcdef0123456789abcdef";

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).no_proxy().build().unwrap()
}

async fn sign_in(emu: &EmulatorHandle, path: &str, body: Value) -> Value {
    let response =
        http().post(format!("{}{path}", emu.url())).header("x-device-id", DEVICE).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// An anonymous user's access token and id.
pub async fn anonymous(emu: &EmulatorHandle) -> (String, String) {
    let tokens = sign_in(emu, "/auth/v1/signin/anonymously", json!({})).await;
    (tokens["access_token"].as_str().unwrap().to_owned(), tokens["sub"].as_str().unwrap().to_owned())
}

/// A password user's access token and id (the user is created first).
pub async fn user(emu: &EmulatorHandle, username: &str) -> (String, String) {
    let id = emu.create_user(NewUser {
        username: Some(username.into()),
        password: Some("correct-horse".into()),
        ..Default::default()
    });
    let tokens = sign_in(emu, "/auth/v1/signin", json!({"username": username, "password": "correct-horse"})).await;
    assert_eq!(tokens["sub"].as_str(), Some(id.as_str()));
    (tokens["access_token"].as_str().unwrap().to_owned(), id)
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET url` with `token` as the Bearer credential: the JSON body, whatever the status.
pub async fn get_json(url: &str, token: &str) -> Value {
    http().get(url).header("authorization", bearer(token)).send().await.unwrap().json().await.unwrap()
}

/// Asserts a gateway envelope: status, `code`, `requestId` = the `x-request-id` header; answers the message.
pub async fn envelope(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "expected {status} {code}");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!(code), "{body}");
    assert_eq!(body["requestId"], json!(request_id), "{body}");
    body["message"].as_str().expect("a message").to_owned()
}
