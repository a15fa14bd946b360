//! Reads: select, order, paging, `Content-Range`, HEAD, value types, and the single-object answer.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::envelope;
use crate::helpers::{KEY, get_rows, names, rest, start};

#[tokio::test]
async fn reads_select_order_paging_and_content_range() {
    let emu = start().await;
    let response = rest(&emu, Method::GET, "users", KEY)
        .query(&[("select", "id, who:name,age"), ("order", "age.desc.nullslast"), ("limit", "2"), ("offset", "1")])
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-range"], "1-2/5");
    assert_eq!(response.headers()["preference-applied"], "count=exact");
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(rows, vec![json!({"id": 3, "who": "bob", "age": 45}), json!({"id": 2, "who": "Bob", "age": 30})]);

    // Without count=exact the total is `*`; an empty page names only the total.
    let response = rest(&emu, Method::GET, "users", KEY).query(&[("limit", "1")]).send().await.unwrap();
    assert_eq!(response.headers()["content-range"], "0-0/*");
    let response = rest(&emu, Method::GET, "users", KEY)
        .query(&[("age", "gt.1000")])
        .header("prefer", "count=planned")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-range"], "*/0");
    assert_eq!(response.json::<Vec<Value>>().await.unwrap(), Vec::<Value>::new());

    // HEAD: the same status and headers, no body.
    let response = rest(&emu, Method::HEAD, "users", KEY).header("prefer", "count=exact").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-range"], "0-4/5");
    assert!(response.bytes().await.unwrap().is_empty());

    // Types: integers and reals as numbers, NULL as null, text as strings, blobs as base64.
    let rows = get_rows(&emu, KEY, &[("id", "eq.4")]).await;
    assert_eq!(rows[0]["score"], json!(4.0));
    assert_eq!(rows[0]["note"], Value::Null);
    assert_eq!(rows[0]["status"], json!("new"));
    emu.sql("CREATE TABLE blobs (b BLOB); INSERT INTO blobs VALUES (x'00ff10');").unwrap();
    let rows: Vec<Value> = rest(&emu, Method::GET, "blobs", KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(rows, vec![json!({"b": "AP8Q"})]);

    // nulls ordering
    assert_eq!(names(&emu, &[("order", "age.asc.nullsfirst"), ("limit", "2")]).await, ["Carl", "Ann"]);
    assert_eq!(names(&emu, &[("order", "age.asc.nullslast"), ("offset", "4")]).await, ["Carl"]);
    assert_eq!(names(&emu, &[("order", "age.desc.nullsfirst"), ("limit", "1")]).await, ["Carl"]);
}

#[tokio::test]
async fn single_object_or_406() {
    let emu = start().await;
    let single = |query: &'static [(&'static str, &'static str)]| {
        rest(&emu, Method::GET, "users", KEY).query(query).header("accept", "application/vnd.pgrst.object+json")
    };
    let response = single(&[("id", "eq.2"), ("select", "name")]).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"name": "Bob"}));
    let message = envelope(single(&[("age", "gt.20")]).send().await.unwrap(), 406, "INVALID_REQUEST").await;
    assert!(
        message.contains("JSON object requested, multiple (or no) rows returned") && message.contains('3'),
        "{message}"
    );
    let message = envelope(single(&[("id", "eq.99")]).send().await.unwrap(), 406, "INVALID_REQUEST").await;
    assert!(message.contains(" 0 "), "{message}");
}
