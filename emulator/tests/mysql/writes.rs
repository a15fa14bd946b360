//! Writes: inserts, `Prefer`, upserts, `_openid`, and updates and deletes with their required filter.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{anonymous, envelope, user};
use crate::helpers::{KEY, assert_unchanged, count, names, rest, start};

#[tokio::test]
async fn inserts_prefer_and_upserts() {
    let emu = start().await;
    // Default: return=minimal, empty body, */n.
    let response = rest(&emu, Method::POST, "users", KEY)
        .header("content-type", "application/json, application/json")
        .body(json!({"name": "Dan", "age": 20, "email": "dan@example.com"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["content-range"], "*/1");
    assert_eq!(response.headers()["preference-applied"], "return=minimal");
    assert!(response.bytes().await.unwrap().is_empty());

    // Bulk with representation, select and columns=; missing keys become NULL (not the default).
    let response = rest(&emu, Method::POST, "users", KEY)
        .query(&[("select", "id,name,status"), ("columns", "\"name\",\"age\",\"status\"")])
        .header("prefer", "return=representation, count=exact")
        .json(&json!([{"name": "Eve", "age": 1, "status": "vip", "email": "ignored@example.com"}, {"name": "Fay"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409, "status NOT NULL: Fay has no status");
    assert_eq!(count(&emu, "users").await, 6, "the failed batch was rolled back");
    let response = rest(&emu, Method::POST, "users", KEY)
        .query(&[("select", "id,name,status,email"), ("columns", "\"name\",\"age\",\"status\"")])
        .header("prefer", "return=representation")
        .header("prefer", "missing=default")
        .json(&json!([{"name": "Eve", "age": 1, "status": "vip", "email": "ignored@example.com"}, {"name": "Fay"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["content-range"], "*/2");
    assert_eq!(response.headers()["preference-applied"], "return=representation, missing=default");
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(
        rows,
        vec![
            json!({"id": 7, "name": "Eve", "status": "vip", "email": null}),
            json!({"id": 8, "name": "Fay", "status": "new", "email": null})
        ]
    );

    // A unique violation is a conflict.
    let response = rest(&emu, Method::POST, "users", KEY)
        .json(&json!({"name": "Dup", "email": "ann@example.com"}))
        .send()
        .await
        .unwrap();
    let message = envelope(response, 409, "INVALID_REQUEST").await;
    assert!(message.contains("UNIQUE"), "{message}");

    // Upsert on the primary key, then on a unique column, both resolutions.
    let response = rest(&emu, Method::POST, "users", KEY)
        .header("prefer", "resolution=merge-duplicates,return=representation")
        .query(&[("select", "id,name,age")])
        .json(&json!([{"id": 1, "name": "Ann B", "age": 18}, {"id": 100, "name": "New", "age": 5}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["preference-applied"], "return=representation, resolution=merge-duplicates");
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(rows, vec![json!({"id": 1, "name": "Ann B", "age": 18}), json!({"id": 100, "name": "New", "age": 5})]);
    let response = rest(&emu, Method::POST, "users", KEY)
        .header("prefer", "resolution=ignore-duplicates, return=representation")
        .query(&[("on_conflict", "email")])
        .json(&json!([{"name": "Ignored", "email": "bob@example.com"}, {"name": "Gus", "email": "gus@example.com"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-range"], "*/1");
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], json!("Gus"));
    assert_eq!(names(&emu, &[("email", "eq.bob@example.com")]).await, ["Bob"]);
    let response = rest(&emu, Method::POST, "users", KEY)
        .header("prefer", "resolution=merge-duplicates")
        .query(&[("on_conflict", "email")])
        .json(&json!({"name": "Robert", "email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(names(&emu, &[("email", "eq.bob@example.com")]).await, ["Robert"]);
    // on_conflict must name a unique key.
    let response = rest(&emu, Method::POST, "users", KEY)
        .header("prefer", "resolution=merge-duplicates")
        .query(&[("on_conflict", "name")])
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    envelope(response, 400, "INVALID_REQUEST").await;

    // Single object on a write.
    let response = rest(&emu, Method::POST, "users", KEY)
        .header("prefer", "return=representation")
        .header("accept", "application/vnd.pgrst.object+json")
        .query(&[("select", "name")])
        .json(&json!({"name": "Hal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"name": "Hal"}));

    // Bad bodies.
    for body in ["[1]", "\"x\"", "{", ""] {
        let response = rest(&emu, Method::POST, "users", KEY).body(body).send().await.unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
    }
    let response = rest(&emu, Method::POST, "users", KEY).json(&json!({"nope": 1})).send().await.unwrap();
    envelope(response, 400, "INVALID_PARAM").await;
}

#[tokio::test]
async fn openid_is_the_callers_user_id() {
    let emu = start().await;
    let (token, id) = user(&emu, "writer").await;
    let response = rest(&emu, Method::POST, "users", &token)
        .header("prefer", "return=representation")
        .json(&json!({"name": "Ivy", "_openid": "forged"}))
        .send()
        .await
        .unwrap();
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(rows[0]["_openid"], json!(id));
    let (anon, anon_id) = anonymous(&emu).await;
    let response = rest(&emu, Method::POST, "users", &anon)
        .header("prefer", "return=representation")
        .query(&[("columns", "\"name\"")])
        .json(&json!([{"name": "Jo"}]))
        .send()
        .await
        .unwrap();
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(rows[0]["_openid"], json!(anon_id));
    // Tables without the column are written as is.
    let response = rest(&emu, Method::POST, "sentinel", &token).json(&json!({"x": 1})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test]
async fn updates_and_deletes_need_a_filter() {
    let emu = start().await;
    let response = rest(&emu, Method::PATCH, "users", KEY).json(&json!({"age": 1})).send().await.unwrap();
    assert_eq!(envelope(response, 400, "BadApiRequest").await, "UPDATE requires a WHERE clause");
    let response =
        rest(&emu, Method::PATCH, "users", KEY).query(&[("limit", "1")]).json(&json!({"age": 1})).send().await.unwrap();
    envelope(response, 400, "BadApiRequest").await;
    let response = rest(&emu, Method::DELETE, "users", KEY).send().await.unwrap();
    assert_eq!(envelope(response, 400, "BadApiRequest").await, "DELETE requires a WHERE clause");
    assert_unchanged(&emu).await;

    // Update: 204 + */n by default.
    let response = rest(&emu, Method::PATCH, "users", KEY)
        .query(&[("age", "gt.20")])
        .json(&json!({"note": "old"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(response.headers()["content-range"], "*/3");
    assert_eq!(names(&emu, &[("note", "eq.old")]).await, ["Bob", "bob", "Zoë \"Z\""]);
    // order + limit pick the rows; representation answers them.
    let response = rest(&emu, Method::PATCH, "users", KEY)
        .query(&[("note", "eq.old"), ("order", "age.desc"), ("limit", "2"), ("select", "name,note")])
        .header("prefer", "return=representation")
        .json(&json!({"note": "older"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-range"], "*/2");
    let mut rows: Vec<Value> = response.json().await.unwrap();
    rows.sort_by_key(|r| r["name"].to_string());
    assert_eq!(rows, vec![json!({"name": "Zoë \"Z\"", "note": "older"}), json!({"name": "bob", "note": "older"})]);
    let response = rest(&emu, Method::PATCH, "users", KEY)
        .query(&[("id", "eq.1")])
        .json(&json!([{"age": 1}]))
        .send()
        .await
        .unwrap();
    envelope(response, 400, "INVALID_PARAM").await;
    let response = rest(&emu, Method::PATCH, "users", KEY)
        .query(&[("id", "eq.1")])
        .json(&json!({"email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    envelope(response, 409, "INVALID_REQUEST").await;

    // Delete.
    let response = rest(&emu, Method::DELETE, "users", KEY)
        .query(&[("id", "in.(3,4,5)"), ("select", "id")])
        .header("prefer", "return=representation")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Vec<Value>>().await.unwrap(),
        vec![json!({"id": 3}), json!({"id": 4}), json!({"id": 5})]
    );
    let response = rest(&emu, Method::DELETE, "users", KEY)
        .query(&[("id", "gt.0"), ("order", "id.desc"), ("limit", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(response.headers()["content-range"], "*/1");
    assert_eq!(names(&emu, &[]).await, ["Ann"]);
}
