//! The requests the JS SDK sends.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{bearer, http};
use crate::helpers::{KEY, start};

/// What `@cloudbase/js-sdk` 3.7 (`app.mysql()`) puts on the wire: form-encoded queries, its header spellings,
/// `content-type: application/json, application/json` on writes, `prefer` values joined by `, `.
#[tokio::test]
async fn js_sdk_wire_shapes() {
    let emu = start().await;
    let env = emu.env_id();
    let js = |method: Method, query: &str| {
        let mut request = http()
            .request(method.clone(), format!("{}/v1/rdb/rest/users?{query}", emu.url()))
            .header("authorization", bearer(KEY))
            .header("X-Db-Instance", "default")
            .header("Accept-Profile", env.as_str())
            .header("Content-Profile", env.as_str())
            .header("accept", "*/*");
        request = if method == Method::GET || method == Method::HEAD {
            request.header("content-type", "application/json")
        } else {
            request.header("content-type", "application/json, application/json")
        };
        request
    };
    // select('id, name').in('note', ['Bob, Jr. (admin)', 'a,b']).order('id')
    let response =
        js(Method::GET, "select=id%2Cname&note=in.%28%22Bob%2C+Jr.+%28admin%29%22%2C%22a%2Cb%22%29&order=id.asc")
            .header("prefer", "count=exact")
            .send()
            .await
            .unwrap();
    assert_eq!(response.headers()["content-range"], "0-1/2");
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(rows, vec![json!({"id": 1, "name": "Ann"}), json!({"id": 2, "name": "Bob"})]);
    // eq('note', '50% off'), like with %25, ilike with unicode, or() with a quoted comma.
    let rows: Vec<Value> = js(Method::GET, "note=eq.50%25+off").send().await.unwrap().json().await.unwrap();
    assert_eq!(rows[0]["name"], json!("bob"));
    let rows: Vec<Value> = js(Method::GET, "email=like.%25%40example.com&name=ilike.%25ZO%C3%8B%25")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows[0]["name"], json!("Zoë \"Z\""));
    let rows: Vec<Value> =
        js(Method::GET, "or=%28note.eq.%22a%2Cb%22%2Cand%28age.gte.40%2Cage.lt.50%29%29&order=id.desc")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let names: Vec<_> = rows.iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names, vec![json!("bob"), json!("Ann")]);
    // select('*', {count: 'exact', head: true})
    let response = js(Method::HEAD, "select=*").header("prefer", "count=exact").send().await.unwrap();
    assert_eq!(response.headers()["content-range"], "0-4/5");
    // insert(rows, {count: 'exact', defaultToNull: false}).select()
    let response = js(Method::POST, "columns=%22name%22%2C%22age%22&select=*")
        .header("prefer", "count=exact, missing=default, return=representation")
        .body(json!([{"name": "Kim", "age": 3}, {"name": "Lee"}]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["preference-applied"], "return=representation, count=exact, missing=default");
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!((rows[1]["name"].as_str(), rows[1]["status"].as_str()), (Some("Lee"), Some("new")));
    // upsert(row, {onConflict: 'email'})
    let response = js(Method::POST, "on_conflict=email")
        .header("prefer", "resolution=merge-duplicates")
        .body(json!({"email": "ann@example.com", "name": "Ann C"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    // update(values).eq('id', 1).select('id, name')
    let response = js(Method::PATCH, "id=eq.1&select=id%2Cname")
        .header("prefer", "return=representation")
        .body(r#"{"name":"it's 100% done"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Vec<Value>>().await.unwrap(), vec![json!({"id": 1, "name": "it's 100% done"})]);
    // delete().in('id', [6, 7]); single() on a read.
    let response = js(Method::DELETE, "id=in.%286%2C7%29").send().await.unwrap();
    assert_eq!(response.headers()["content-range"], "*/2");
    let response =
        js(Method::GET, "id=eq.2").header("accept", "application/vnd.pgrst.object+json").send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["name"], json!("Bob"));
}
