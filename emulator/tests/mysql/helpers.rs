//! What the groups of tests share: the seeded emulator, RESTful requests, row and name reads, and the
//! check that the database is as seeded.

use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{bearer, http};

pub(crate) const KEY: &str = "pk-mysql";

pub(crate) const SEED: &str = r#"
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, age INTEGER, email TEXT UNIQUE, note TEXT,
                    score REAL, _openid TEXT, status TEXT NOT NULL DEFAULT 'new');
INSERT INTO users (name, age, email, note, score) VALUES
  ('Ann', 17, 'ann@example.com', 'a,b', 1.5),
  ('Bob', 30, 'bob@example.com', 'Bob, Jr. (admin)', 2.5),
  ('bob', 45, 'bob2@example.com', '50% off', NULL),
  ('Zoë "Z"', 66, 'zoe@example.com', NULL, 4.0),
  ('Carl', NULL, 'carl@example.com', 'x.y', 5.25);
CREATE TABLE sentinel (x INTEGER);
INSERT INTO sentinel VALUES (42);
"#;

pub(crate) async fn start() -> EmulatorHandle {
    Emulator::builder()
        .config(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() })
        .sql(SEED)
        .start()
        .await
        .unwrap()
}

pub(crate) fn rest(emu: &EmulatorHandle, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    http().request(method, format!("{}/v1/rdb/rest/{path}", emu.url())).header("authorization", bearer(token))
}

pub(crate) async fn get_rows(emu: &EmulatorHandle, token: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let response = rest(emu, Method::GET, "users", token).query(query).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{query:?}: {body}");
    body.as_array().unwrap().clone()
}

pub(crate) async fn names(emu: &EmulatorHandle, query: &[(&str, &str)]) -> Vec<String> {
    let mut query = query.to_vec();
    if !query.iter().any(|(k, _)| *k == "order") {
        query.push(("order", "id.asc"));
    }
    get_rows(emu, KEY, &query).await.iter().map(|r| r["name"].as_str().unwrap_or("<null>").to_owned()).collect()
}

pub(crate) async fn count(emu: &EmulatorHandle, table: &str) -> usize {
    let response = rest(emu, Method::GET, table, KEY).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json::<Vec<Value>>().await.unwrap().len()
}

/// The database is as seeded: five users, the sentinel table with its row.
pub(crate) async fn assert_unchanged(emu: &EmulatorHandle) {
    assert_eq!(count(emu, "users").await, 5);
    let rows: Vec<Value> = rest(emu, Method::GET, "sentinel", KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(rows, vec![json!({"x": 42})]);
}
