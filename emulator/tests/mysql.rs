//! MySQL RESTful (`/v1/rdb/rest`) over HTTP: reads, the filter grammar, writes, `Prefer`, errors, addressing by
//! path and by header, seeding, and SQL injection attempts that must leave the database unchanged.

mod common;

use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use common::{anonymous, bearer, envelope, http, user};
use reqwest::Method;
use serde_json::{Value, json};

const KEY: &str = "pk-mysql";

const SEED: &str = r#"
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

async fn start() -> EmulatorHandle {
    Emulator::builder()
        .config(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() })
        .sql(SEED)
        .start()
        .await
        .unwrap()
}

fn rest(emu: &EmulatorHandle, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    http().request(method, format!("{}/v1/rdb/rest/{path}", emu.url())).header("authorization", bearer(token))
}

async fn get_rows(emu: &EmulatorHandle, token: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let response = rest(emu, Method::GET, "users", token).query(query).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{query:?}: {body}");
    body.as_array().unwrap().clone()
}

async fn names(emu: &EmulatorHandle, query: &[(&str, &str)]) -> Vec<String> {
    let mut query = query.to_vec();
    if !query.iter().any(|(k, _)| *k == "order") {
        query.push(("order", "id.asc"));
    }
    get_rows(emu, KEY, &query).await.iter().map(|r| r["name"].as_str().unwrap_or("<null>").to_owned()).collect()
}

async fn count(emu: &EmulatorHandle, table: &str) -> usize {
    let response = rest(emu, Method::GET, table, KEY).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json::<Vec<Value>>().await.unwrap().len()
}

/// The database is as seeded: five users, the sentinel table with its row.
async fn assert_unchanged(emu: &EmulatorHandle) {
    assert_eq!(count(emu, "users").await, 5);
    let rows: Vec<Value> = rest(emu, Method::GET, "sentinel", KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(rows, vec![json!({"x": 42})]);
}

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

#[tokio::test]
async fn filter_grammar() {
    let emu = start().await;
    let all = ["Ann", "Bob", "bob", "Zoë \"Z\"", "Carl"];
    assert_eq!(names(&emu, &[]).await, all);
    assert_eq!(names(&emu, &[("age", "gt.18")]).await, ["Bob", "bob", "Zoë \"Z\""]);
    // Numeric comparison, not text: 9 < 30 numerically but "9" > "30" as text.
    assert_eq!(names(&emu, &[("age", "lt.9")]).await, Vec::<String>::new());
    assert_eq!(names(&emu, &[("age", "gte.30"), ("age", "lte.45")]).await, ["Bob", "bob"]);
    assert_eq!(names(&emu, &[("name", "neq.Bob")]).await, ["Ann", "bob", "Zoë \"Z\"", "Carl"]);
    assert_eq!(names(&emu, &[("score", "gt.2.4")]).await, ["Bob", "Zoë \"Z\"", "Carl"]);
    // Values with dots, commas, parentheses, quotes, percent signs and unicode.
    assert_eq!(names(&emu, &[("note", "eq.x.y")]).await, ["Carl"]);
    assert_eq!(names(&emu, &[("note", "eq.Bob, Jr. (admin)")]).await, ["Bob"]);
    assert_eq!(names(&emu, &[("name", "eq.Zoë \"Z\"")]).await, ["Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("note", "eq.50% off")]).await, ["bob"]);
    // like is case-sensitive, ilike is not; `*` is a wildcard too.
    assert_eq!(names(&emu, &[("name", "like.b%")]).await, ["bob"]);
    assert_eq!(names(&emu, &[("name", "ilike.b*")]).await, ["Bob", "bob"]);
    assert_eq!(names(&emu, &[("name", "ilike.ZOË*")]).await, ["Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("name", "not.like.*o*")]).await, ["Ann", "Carl"]);
    // match / imatch are regular expressions.
    assert_eq!(names(&emu, &[("name", "match.^[A-Z][a-z]+$")]).await, ["Ann", "Bob", "Carl"]);
    assert_eq!(names(&emu, &[("name", "imatch.^B.B$")]).await, ["Bob", "bob"]);
    // in: PostgREST lists, the vendor's bracket form, quoted items.
    assert_eq!(names(&emu, &[("id", "in.(1,3)")]).await, ["Ann", "bob"]);
    assert_eq!(names(&emu, &[("id", "in.[2,4]")]).await, ["Bob", "Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("note", "in.(\"a,b\",\"Bob, Jr. (admin)\",x.y)")]).await, ["Ann", "Bob", "Carl"]);
    assert_eq!(names(&emu, &[("name", "in.(\"Zoë \\\"Z\\\"\")")]).await, ["Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("id", "not.in.(1,2,3)")]).await, ["Zoë \"Z\"", "Carl"]);
    assert_eq!(names(&emu, &[("id", "in.()")]).await, Vec::<String>::new());
    // is
    assert_eq!(names(&emu, &[("age", "is.null")]).await, ["Carl"]);
    assert_eq!(names(&emu, &[("note", "not.is.null"), ("age", "not.is.unknown")]).await, ["Ann", "Bob", "bob"]);
    emu.sql("CREATE TABLE flags (n TEXT, on_ INTEGER); INSERT INTO flags VALUES ('t', 1), ('f', 0), ('n', NULL);")
        .unwrap();
    let flags = |q: &'static str| {
        let emu = emu.clone();
        async move {
            let rows: Vec<Value> =
                rest(&emu, Method::GET, "flags", KEY).query(&[("on_", q)]).send().await.unwrap().json().await.unwrap();
            rows.iter().map(|r| r["n"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(flags("is.true").await, ["t"]);
    assert_eq!(flags("is.false").await, ["f"]);
    assert_eq!(flags("not.is.true").await, ["f", "n"]);
    // Logic trees.
    assert_eq!(names(&emu, &[("or", "(age.lt.18,age.gt.65)")]).await, ["Ann", "Zoë \"Z\""]);
    assert_eq!(names(&emu, &[("and", "(age.gt.18,age.lt.65)")]).await, ["Bob", "bob"]);
    assert_eq!(names(&emu, &[("not.or", "(age.lt.18,age.gt.65,age.is.null)")]).await, ["Bob", "bob"]);
    // SQL's three-valued logic: NOT (NULL AND NULL) is NULL, so Carl (no age) is not listed.
    assert_eq!(names(&emu, &[("not.and", "(age.gt.18,age.lt.65)")]).await, ["Ann", "Zoë \"Z\""]);
    assert_eq!(
        names(
            &emu,
            &[(
                "or",
                "(name.eq.Ann,and(age.gte.40,not.or(note.is.null,note.eq.\"a,b\")),note.eq.\"Bob, Jr. (admin)\")"
            )]
        )
        .await,
        ["Ann", "Bob", "bob"]
    );
    assert_eq!(names(&emu, &[("or", "(note.eq.x.y,id.in.(1,2))"), ("id", "neq.2")]).await, ["Ann", "Carl"]);
    assert_eq!(names(&emu, &[("or", "(name.like.Zo*,name.ilike.*ANN*)")]).await, ["Ann", "Zoë \"Z\""]);
    // Grammar errors.
    for bad in [
        ("age", "gtx.1"),
        ("age", "cs.{1}"),
        ("age", "18"),
        ("or", "age.eq.1"),
        ("or", "(age.eq.1"),
        ("note", "in.(\"a)"),
        ("limit", "-1"),
        ("offset", "two"),
        ("select", "id,teams(name)"),
        ("order", "age.upward"),
        ("nope", "eq.1"),
        ("select", "nope"),
        ("order", "nope.asc"),
        ("or", "(nope.eq.1)"),
    ] {
        let response = rest(&emu, Method::GET, "users", KEY).query(&[bad]).send().await.unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
    }
    let deep = format!("({}age.eq.1{})", "or(".repeat(20), ")".repeat(20));
    envelope(rest(&emu, Method::GET, "users", KEY).query(&[("or", deep)]).send().await.unwrap(), 400, "INVALID_PARAM")
        .await;
    let many = format!("({})", vec!["age.eq.1"; 250].join(","));
    envelope(rest(&emu, Method::GET, "users", KEY).query(&[("or", many)]).send().await.unwrap(), 400, "INVALID_PARAM")
        .await;
    // A bad regular expression is an SQL error.
    let response = rest(&emu, Method::GET, "users", KEY).query(&[("name", "match.(")]).send().await.unwrap();
    envelope(response, 400, "INVALID_REQUEST").await;
}

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

#[tokio::test]
async fn addressing_and_credentials() {
    let emu = Emulator::builder()
        .config(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() })
        .sql(SEED)
        .sql_in(
            "inst-1",
            "shop",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT); INSERT INTO items VALUES (1, 'in shop');",
        )
        .start()
        .await
        .unwrap();
    let env = emu.env_id();
    // Path forms 2 and 3 and the JS client's headers reach the same databases.
    let items = |response: reqwest::Response| async move {
        assert_eq!(response.status().as_u16(), 200);
        response.json::<Vec<Value>>().await.unwrap()
    };
    let rows = items(rest(&emu, Method::GET, "inst-1/shop/items", KEY).send().await.unwrap()).await;
    assert_eq!(rows[0]["label"], json!("in shop"));
    let rows = items(
        rest(&emu, Method::GET, "items", KEY)
            .header("x-db-instance", "inst-1")
            .header("accept-profile", "shop")
            .header("content-profile", "other")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rows.len(), 1);
    let response = rest(&emu, Method::POST, "items", KEY)
        .header("x-db-instance", "inst-1")
        .header("content-profile", "shop")
        .json(&json!({"id": 2, "label": "two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(items(rest(&emu, Method::GET, "inst-1/shop/items", KEY).send().await.unwrap()).await.len(), 2);
    assert_eq!(items(rest(&emu, Method::GET, &format!("{env}/users"), KEY).send().await.unwrap()).await.len(), 5);
    assert_eq!(
        items(rest(&emu, Method::GET, &format!("default/{env}/users"), KEY).send().await.unwrap()).await.len(),
        5
    );
    let rows = items(
        rest(&emu, Method::GET, "users", KEY)
            .header("x-db-instance", "default")
            .header("accept-profile", env.as_str())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rows.len(), 5);

    // Unknown table, schema, instance: 404.
    for path in ["nope", "shop/users", "inst-2/shop/items", "inst-1/shop/users", "sqlite_master"] {
        envelope(rest(&emu, Method::GET, path, KEY).send().await.unwrap(), 404, "RESOURCE_NOT_FOUND").await;
    }
    let response = rest(&emu, Method::HEAD, "nope", KEY).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);

    // Credentials.
    let response = http().get(format!("{}/v1/rdb/rest/users", emu.url())).send().await.unwrap();
    envelope(response, 401, "MISSING_CREDENTIALS").await;
    envelope(rest(&emu, Method::GET, "users", "bogus").send().await.unwrap(), 401, "INVALID_ACCESS_TOKEN").await;
    let (token, _) = anonymous(&emu).await;
    assert_eq!(items(rest(&emu, Method::GET, "users", &token).send().await.unwrap()).await.len(), 5);
    assert_eq!(emu.count("query_records"), 7);
    assert_eq!(emu.count("query_records_with_instance"), 5);
    assert_eq!(emu.count("insert_records"), 1);
}

#[tokio::test]
async fn sql_injection_attempts_change_nothing() {
    let emu = start().await;
    let attacks = [
        "1; DROP TABLE sentinel; --",
        "1' OR '1'='1",
        "\" OR 1=1 --",
        "x'); DELETE FROM users; --",
        "\\\"; DROP TABLE sentinel; --",
    ];
    for attack in attacks {
        // Through values, at the top level and inside lists.
        for query in [
            vec![("name", format!("eq.{attack}"))],
            vec![("id", format!("in.({attack})"))],
            vec![("or", format!("(name.eq.\"{}\",id.eq.{attack})", attack.replace('"', "\\\"")))],
            vec![("name", format!("like.{attack}"))],
            vec![("name", format!("match.{attack}"))],
        ] {
            let response = rest(&emu, Method::GET, "users", KEY).query(&query).send().await.unwrap();
            let status = response.status().as_u16();
            assert!(status == 200 || status == 400, "{query:?}: {status}");
            if status == 200 {
                assert_eq!(response.json::<Vec<Value>>().await.unwrap(), Vec::<Value>::new(), "{query:?}");
            }
            let response = rest(&emu, Method::DELETE, "users", KEY).query(&query).send().await.unwrap();
            assert!(matches!(response.status().as_u16(), 204 | 400), "{query:?}");
            let response = rest(&emu, Method::PATCH, "users", KEY)
                .query(&query)
                .json(&json!({"name": attack}))
                .send()
                .await
                .unwrap();
            assert!(matches!(response.status().as_u16(), 204 | 400), "{query:?}");
        }
        // Through names: columns, select, order, on_conflict, columns=, body keys, tables.
        for query in [
            vec![(attack.to_owned(), "eq.1".to_owned())],
            vec![("select".to_owned(), attack.to_owned())],
            vec![("select".to_owned(), format!("id,x:{attack}"))],
            vec![("order".to_owned(), attack.replace('.', ""))],
            vec![("order".to_owned(), format!("id.asc,{}", attack.replace('.', "")))],
        ] {
            let response = rest(&emu, Method::GET, "users", KEY).query(&query).send().await.unwrap();
            envelope(response, 400, "INVALID_PARAM").await;
        }
        let response = rest(&emu, Method::POST, "users", KEY)
            .header("prefer", "resolution=merge-duplicates")
            .query(&[("on_conflict", attack.replace(',', ""))])
            .json(&json!({"name": "n"}))
            .send()
            .await
            .unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
        let response = rest(&emu, Method::POST, "users", KEY)
            .query(&[("columns", format!("\"{}\"", attack.replace('"', "\\\"")))])
            .json(&json!([{"name": "n"}]))
            .send()
            .await
            .unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
        let response = rest(&emu, Method::POST, "users", KEY).json(&json!({ attack: 1 })).send().await.unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
        let table = attack.replace('/', "");
        let response = http()
            .get(format!("{}/v1/rdb/rest/{}", emu.url(), urlencode(&table)))
            .header("authorization", bearer(KEY))
            .send()
            .await
            .unwrap();
        envelope(response, 404, "RESOURCE_NOT_FOUND").await;
        let response = rest(&emu, Method::GET, "users", KEY)
            .header("accept-profile", "x; DROP TABLE sentinel")
            .send()
            .await
            .unwrap();
        envelope(response, 404, "RESOURCE_NOT_FOUND").await;
        assert_unchanged(&emu).await;
    }
    // The values were stored and read back as plain data.
    let response = rest(&emu, Method::POST, "users", KEY)
        .header("prefer", "return=representation")
        .json(&json!({"name": attacks[0], "note": attacks[1]}))
        .send()
        .await
        .unwrap();
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(rows[0]["name"], json!(attacks[0]));
    assert_eq!(names(&emu, &[("note", &format!("eq.{}", attacks[1]))]).await, [attacks[0]]);
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn seeding_controls_and_reset() {
    let emu = start().await;
    let control = |body: Value| {
        let url = format!("{}/_emulator/sql", emu.url());
        async move { http().post(url).json(&body).send().await.unwrap() }
    };
    let response = control(json!({"sql": "CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x');"})).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": true}));
    assert_eq!(count(&emu, "t").await, 1);
    let response = control(json!({"sql": "CREATE TABLE o (a TEXT)", "instance": "i2", "schema": "s2"})).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(rest(&emu, Method::GET, "i2/s2/o", KEY).send().await.unwrap().status().as_u16(), 200);
    let response = control(json!({"sql": "CREATE TABLE broken ("})).await;
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("syntax error") || body.to_string().contains("incomplete"), "{body}");
    assert_eq!(control(json!({"schema": "x"})).await.status().as_u16(), 400);
    assert_eq!(control(json!({"sql": "SELECT 1", "schema": "../etc"})).await.status().as_u16(), 400);
    assert!(emu.sql("INSERT INTO nope VALUES (1)").unwrap_err().contains("no such table"));
    emu.sql("DELETE FROM sentinel").unwrap();

    // Reset drops everything and re-runs the builder's seeds.
    emu.reset();
    assert_unchanged(&emu).await;
    envelope(rest(&emu, Method::GET, "t", KEY).send().await.unwrap(), 404, "RESOURCE_NOT_FOUND").await;
    envelope(rest(&emu, Method::GET, "i2/s2/o", KEY).send().await.unwrap(), 404, "RESOURCE_NOT_FOUND").await;

    // A failing builder seed fails the start.
    let error = Emulator::builder().sql("CREATE TABLE (").start().await.unwrap_err();
    assert!(error.to_string().contains("seed"), "{error}");
}

#[tokio::test]
async fn data_dir_keeps_databases_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = || EmulatorConfig {
        data_dir: Some(dir.path().to_owned()),
        publishable_key: Some(KEY.into()),
        ..Default::default()
    };
    let emu = Emulator::start_with(config()).await.unwrap();
    emu.sql("CREATE TABLE kept (a TEXT); INSERT INTO kept VALUES ('x');").unwrap();
    emu.sql_in("other", "db", "CREATE TABLE o (a TEXT)").unwrap();
    let file = dir.path().join(format!("default.{}.sqlite3", emu.env_id()));
    assert!(file.exists());
    assert!(dir.path().join("other.db.sqlite3").exists());
    emu.shutdown().await;
    // A new emulator on the same directory finds both databases.
    let emu = Emulator::start_with(config()).await.unwrap();
    assert_eq!(count(&emu, "kept").await, 1);
    assert_eq!(rest(&emu, Method::GET, "other/db/o", KEY).send().await.unwrap().status().as_u16(), 200);
    emu.reset();
    assert!(!dir.path().join("other.db.sqlite3").exists());
    envelope(rest(&emu, Method::GET, "kept", KEY).send().await.unwrap(), 404, "RESOURCE_NOT_FOUND").await;
}

#[tokio::test]
async fn any_env_id_works_in_memory() {
    let config = EmulatorConfig { env_id: "my env.1".into(), publishable_key: Some(KEY.into()), ..Default::default() };
    let emu = Emulator::builder()
        .config(config)
        .sql("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
        .start()
        .await
        .unwrap();
    assert_eq!(count(&emu, "t").await, 1);
    // As files, the database names must be plain.
    let dir = tempfile::tempdir().unwrap();
    let config =
        EmulatorConfig { env_id: "my env.1".into(), data_dir: Some(dir.path().to_owned()), ..Default::default() };
    let error = Emulator::start_with(config).await.unwrap_err();
    assert!(error.to_string().contains("invalid instance or schema name"), "{error}");
}

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
