//! What the groups of tests share: the emulator with its two models and its SQL table, the model calls,
//! the answer checks, the seeded posts and the `mysqlCommand` call.

use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FieldType, ModelDef};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{bearer, http};

pub(crate) const KEY: &str = "pk-models";

fn post_model() -> ModelDef {
    ModelDef {
        title: "Posts".into(),
        ..ModelDef::new("post")
            .field("title", FieldType::String, true)
            .field("status", FieldType::String, false)
            .field("published", FieldType::Boolean, false)
            .field("tags", FieldType::Array, false)
            .field("at", FieldType::Datetime, false)
            .relation("comments", "comment", "post_id")
    }
}

fn comment_model() -> ModelDef {
    ModelDef::new("comment").field("content", FieldType::String, true).field("likes", FieldType::Number, false).field(
        "post_id",
        FieldType::String,
        false,
    )
}

pub(crate) async fn start() -> EmulatorHandle {
    Emulator::builder()
        .config(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() })
        .model(post_model())
        .model(comment_model())
        .sql(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT, amount REAL, meta TEXT); \
              INSERT INTO orders (status, amount) VALUES ('paid', 10), ('paid', 20.5), ('open', 5);",
        )
        .start()
        .await
        .unwrap()
}

/// Calls a model operation; asserts HTTP 200; answers the body.
pub(crate) async fn call(emu: &EmulatorHandle, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut request =
        http().request(method, format!("{}/v1/model/{path}", emu.url())).header("authorization", bearer(token));
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["requestId"], json!(request_id), "{body}");
    body
}

/// The `data` of a successful call.
pub(crate) async fn data(emu: &EmulatorHandle, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let reply = call(emu, token, method, path, body).await;
    assert!(reply.get("code").is_none(), "{path}: {reply}");
    reply["data"].clone()
}

/// The `code` of a failed call.
pub(crate) async fn code(emu: &EmulatorHandle, token: &str, method: Method, path: &str, body: Option<Value>) -> String {
    let reply = call(emu, token, method, path, body).await;
    assert!(reply.get("data").is_none(), "{path}: {reply}");
    assert!(reply["message"].is_string(), "{reply}");
    reply["code"].as_str().unwrap_or_else(|| panic!("{reply}")).to_owned()
}

pub(crate) async fn create(emu: &EmulatorHandle, token: &str, model: &str, record: Value) -> String {
    let data = data(emu, token, Method::POST, &format!("prod/{model}/create"), Some(json!({ "data": record }))).await;
    data["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn list(emu: &EmulatorHandle, body: Value) -> Value {
    data(emu, KEY, Method::POST, "prod/post/list", Some(body)).await
}

/// The titles a `where` selects, in insertion order.
pub(crate) async fn titles(emu: &EmulatorHandle, where_: Value) -> Vec<String> {
    let data = list(emu, json!({"filter": {"where": where_}, "pageSize": 200})).await;
    data["records"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap().to_owned()).collect()
}

/// Five posts (a..e) and comments on a and c.
pub(crate) async fn seed_posts(emu: &EmulatorHandle, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for post in [
        json!({"title": "a", "views": 5, "status": "published", "published": true, "tags": ["x"], "body": "100% real_data"}),
        json!({"title": "b", "views": 50, "status": "draft", "published": false, "body": "Hello World"}),
        json!({"title": "c", "views": 500, "status": "published", "published": true, "body": "ÉCOLE"}),
        json!({"title": "d", "views": "50", "status": null}),
        json!({"title": "e", "views": 7.5}),
    ] {
        ids.push(create(emu, token, "post", post).await);
    }
    for (post, content, likes) in [(0, "good one", 3), (0, "meh", 0), (2, "very good", 1)] {
        create(emu, token, "comment", json!({"content": content, "likes": likes, "post_id": ids[post]})).await;
    }
    ids
}

pub(crate) async fn command(emu: &EmulatorHandle, token: &str, body: Value) -> Value {
    call(emu, token, Method::POST, "plugin/prod/mysqlCommand", Some(body)).await
}
