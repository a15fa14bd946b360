//! Data models (`/v1/model`) over HTTP: the twelve record operations, the where grammar, relations, paging
//! limits, system fields, permissions, data sources, `mysqlCommand`, seeding, and injection attempts.

mod common;

use std::time::Duration;

use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FieldType, ModelDef};
use common::{anonymous, bearer, envelope, get_json, http, user};
use reqwest::Method;
use serde_json::{Value, json};

const KEY: &str = "pk-models";

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

async fn start() -> EmulatorHandle {
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
async fn call(emu: &EmulatorHandle, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
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
async fn data(emu: &EmulatorHandle, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let reply = call(emu, token, method, path, body).await;
    assert!(reply.get("code").is_none(), "{path}: {reply}");
    reply["data"].clone()
}

/// The `code` of a failed call.
async fn code(emu: &EmulatorHandle, token: &str, method: Method, path: &str, body: Option<Value>) -> String {
    let reply = call(emu, token, method, path, body).await;
    assert!(reply.get("data").is_none(), "{path}: {reply}");
    assert!(reply["message"].is_string(), "{reply}");
    reply["code"].as_str().unwrap_or_else(|| panic!("{reply}")).to_owned()
}

async fn create(emu: &EmulatorHandle, token: &str, model: &str, record: Value) -> String {
    let data = data(emu, token, Method::POST, &format!("prod/{model}/create"), Some(json!({ "data": record }))).await;
    data["id"].as_str().unwrap().to_owned()
}

async fn list(emu: &EmulatorHandle, body: Value) -> Value {
    data(emu, KEY, Method::POST, "prod/post/list", Some(body)).await
}

/// The titles a `where` selects, in insertion order.
async fn titles(emu: &EmulatorHandle, where_: Value) -> Vec<String> {
    let data = list(emu, json!({"filter": {"where": where_}, "pageSize": 200})).await;
    data["records"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap().to_owned()).collect()
}

/// Five posts (a..e) and comments on a and c.
async fn seed_posts(emu: &EmulatorHandle, token: &str) -> Vec<String> {
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

#[tokio::test]
async fn crud_and_system_fields() {
    let emu = start().await;
    let (token, uid) = user(&emu, "writer").await;
    let id =
        create(&emu, &token, "post", json!({"title": "hello", "views": 1, "owner": "forged", "createdAt": 1})).await;
    assert!(id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    let record = data(&emu, KEY, Method::GET, &format!("prod/post/{id}/get"), None).await["record"].clone();
    assert_eq!(record["_id"], json!(id));
    assert_eq!(record["title"], json!("hello"));
    for key in ["owner", "createBy", "updateBy", "_openid"] {
        assert_eq!(record[key], json!(uid), "{key}");
    }
    let created_at = record["createdAt"].as_i64().unwrap();
    assert!(created_at > 1_700_000_000_000, "{created_at}");
    assert_eq!(record["updatedAt"], json!(created_at));
    // getById of nothing, get with a filter.
    assert_eq!(data(&emu, KEY, Method::GET, "prod/post/nope/get", None).await, json!({"record": null}));
    let got = data(
        &emu,
        KEY,
        Method::POST,
        "prod/post/get",
        Some(json!({"filter": {"where": {"title": {"$eq": "hello"}}}, "select": {"views": true}})),
    )
    .await;
    assert_eq!(got, json!({"record": {"_id": id, "views": 1}}));
    let none =
        data(&emu, KEY, Method::POST, "prod/post/get", Some(json!({"filter": {"where": {"title": {"$eq": "x"}}}})))
            .await;
    assert_eq!(none, json!({"record": null}));
    // A given _id is kept; a duplicate is refused.
    let mine = create(&emu, &token, "post", json!({"_id": "my-id", "title": "mine"})).await;
    assert_eq!(mine, "my-id");
    assert_eq!(
        code(&emu, &token, Method::POST, "prod/post/create", Some(json!({"data": {"_id": "my-id", "title": "again"}})))
            .await,
        "INVALID_PARAMETER"
    );
    // Types and required fields.
    assert_eq!(
        code(&emu, &token, Method::POST, "prod/post/create", Some(json!({"data": {"views": 1}}))).await,
        "INVALID_PARAMETER"
    );
    assert_eq!(
        code(&emu, &token, Method::POST, "prod/post/create", Some(json!({"data": {"title": 5}}))).await,
        "INVALID_PARAMETER"
    );
    assert_eq!(code(&emu, &token, Method::POST, "prod/post/create", Some(json!({}))).await, "MISSING_PARAMETER");
    // createMany
    let many = data(
        &emu,
        &token,
        Method::POST,
        "prod/post/createMany",
        Some(json!({"data": [{"title": "m1"}, {"title": "m2"}]})),
    )
    .await;
    assert_eq!(many["idList"].as_array().unwrap().len(), 2);
    assert_eq!(
        code(
            &emu,
            &token,
            Method::POST,
            "prod/post/createMany",
            Some(json!({"data": [{"title": "ok"}, {"views": 1}]}))
        )
        .await,
        "INVALID_PARAMETER"
    );
    assert_eq!(titles(&emu, json!({})).await, ["hello", "mine", "m1", "m2"], "the failed createMany left nothing");

    // update changes the first match only; updatedAt and updateBy follow the writer and the clock.
    emu.advance_clock(Duration::from_secs(5));
    let (other, other_id) = user(&emu, "editor").await;
    let updated = data(
        &emu,
        &other,
        Method::PUT,
        "prod/post/update",
        Some(json!({"filter": {"where": {"title": {"$search": "m"}}}, "data": {"views": 9, "_id": "x", "owner": "y"}})),
    )
    .await;
    assert_eq!(updated, json!({"count": 1}));
    let record = data(&emu, KEY, Method::GET, "prod/post/my-id/get", None).await["record"].clone();
    assert_eq!(record["views"], json!(9));
    assert_eq!(record["owner"], json!(uid));
    assert_eq!(record["updateBy"], json!(other_id));
    assert!(record["updatedAt"].as_i64().unwrap() >= record["createdAt"].as_i64().unwrap() + 5000);
    let many = data(
        &emu,
        &other,
        Method::PUT,
        "prod/post/updateMany",
        Some(json!({"filter": {"where": {"title": {"$search": "m"}}}, "data": {"status": "x"}})),
    )
    .await;
    assert_eq!(many["count"], json!(3));
    assert_eq!(many["legalIdList"].as_array().unwrap().len(), 3);
    assert_eq!(many["illegalIdList"], json!([]));
    assert_eq!(
        code(&emu, &other, Method::PUT, "prod/post/update", Some(json!({"data": {"views": 1}}))).await,
        "MISSING_PARAMETER"
    );
    assert_eq!(
        code(&emu, &other, Method::PUT, "prod/post/updateMany", Some(json!({"filter": {"where": {}}}))).await,
        "MISSING_PARAMETER"
    );

    // upsert: creates when nothing matches, updates otherwise.
    let upsert = |n: i64| json!({"filter": {"where": {"title": {"$eq": "up"}}}, "create": {"title": "up", "views": n}, "update": {"views": n}});
    let created = data(&emu, &token, Method::POST, "prod/post/upsert", Some(upsert(1))).await;
    assert_eq!(created["count"], json!(0));
    let up_id = created["id"].as_str().unwrap().to_owned();
    assert!(!up_id.is_empty());
    assert_eq!(
        data(&emu, &token, Method::POST, "prod/post/upsert", Some(upsert(2))).await,
        json!({"count": 1, "id": ""})
    );
    assert_eq!(
        data(&emu, KEY, Method::GET, &format!("prod/post/{up_id}/get"), None).await["record"]["views"],
        json!(2)
    );
    assert_eq!(
        code(&emu, &token, Method::POST, "prod/post/upsert", Some(json!({"filter": {}, "create": {}}))).await,
        "MISSING_PARAMETER"
    );

    // deletes
    assert_eq!(
        data(&emu, &token, Method::DELETE, &format!("prod/post/{up_id}/delete"), None).await,
        json!({"count": 1})
    );
    assert_eq!(
        data(&emu, &token, Method::DELETE, &format!("prod/post/{up_id}/delete"), None).await,
        json!({"count": 0})
    );
    assert_eq!(
        data(
            &emu,
            &token,
            Method::POST,
            "prod/post/delete",
            Some(json!({"filter": {"where": {"status": {"$eq": "x"}}}}))
        )
        .await,
        json!({"count": 1})
    );
    let gone = data(
        &emu,
        &token,
        Method::POST,
        "prod/post/deleteMany",
        Some(json!({"filter": {"where": {"status": {"$eq": "x"}}}})),
    )
    .await;
    assert_eq!(gone["count"], json!(2));
    assert_eq!(gone["legalIdList"].as_array().unwrap().len(), 2);
    assert_eq!(code(&emu, &token, Method::POST, "prod/post/deleteMany", Some(json!({}))).await, "MISSING_PARAMETER");
    assert_eq!(titles(&emu, json!({})).await, ["hello"]);
}

#[tokio::test]
async fn where_grammar() {
    let emu = start().await;
    let (token, _) = user(&emu, "writer2").await;
    seed_posts(&emu, &token).await;
    assert_eq!(titles(&emu, json!({})).await, ["a", "b", "c", "d", "e"]);
    assert_eq!(titles(&emu, json!({"views": {"$eq": 50}})).await, ["b"], "a number is not the string \"50\"");
    assert_eq!(titles(&emu, json!({"views": {"$eq": "50"}})).await, ["d"]);
    assert_eq!(titles(&emu, json!({"views": {"$neq": 50}})).await, ["a", "c", "d", "e"]);
    assert_eq!(titles(&emu, json!({"views": {"$gt": 7}})).await, ["b", "c", "e"], "numbers compare as numbers");
    assert_eq!(titles(&emu, json!({"views": {"$gte": 7.5, "$lt": 500}})).await, ["b", "e"]);
    assert_eq!(titles(&emu, json!({"views": {"$lte": 5}})).await, ["a"]);
    assert_eq!(titles(&emu, json!({"title": {"$gt": "c"}})).await, ["d", "e"], "strings compare as strings");
    assert_eq!(titles(&emu, json!({"views": {"$in": [5, 500, "50"]}})).await, ["a", "c", "d"]);
    assert_eq!(titles(&emu, json!({"views": {"$nin": [5, 500]}})).await, ["b", "d", "e"]);
    assert_eq!(titles(&emu, json!({"status": {"$in": []}})).await, Vec::<String>::new());
    assert_eq!(titles(&emu, json!({"published": {"$eq": true}})).await, ["a", "c"]);
    assert_eq!(titles(&emu, json!({"published": {"$eq": false}})).await, ["b"]);
    assert_eq!(titles(&emu, json!({"tags": {"$eq": ["x"]}})).await, ["a"]);
    // $search is a literal, case-sensitive substring test; _ci folds case (Unicode too).
    assert_eq!(titles(&emu, json!({"body": {"$search": "0% real_"}})).await, ["a"]);
    assert_eq!(titles(&emu, json!({"body": {"$search": "%"}})).await, ["a"]);
    assert_eq!(titles(&emu, json!({"body": {"$search": "hello"}})).await, Vec::<String>::new());
    assert_eq!(titles(&emu, json!({"body": {"$search_ci": "hello"}})).await, ["b"]);
    assert_eq!(titles(&emu, json!({"body": {"$search_ci": "école"}})).await, ["c"]);
    assert_eq!(titles(&emu, json!({"body": {"$nsearch": "o"}})).await, ["a", "c", "d", "e"]);
    assert_eq!(titles(&emu, json!({"body": {"$nsearch_ci": "É"}})).await, ["a", "b", "d", "e"]);
    // $empty: null or missing.
    assert_eq!(titles(&emu, json!({"status": {"$empty": true}})).await, ["d", "e"]);
    assert_eq!(titles(&emu, json!({"status": {"$nempty": true}})).await, ["a", "b", "c"]);
    // Logic, nested.
    assert_eq!(
        titles(&emu, json!({"$or": [{"$and": [{"status": {"$eq": "published"}}, {"views": {"$gt": 100}}]}, {"title": {"$eq": "e"}}]})).await,
        ["c", "e"]
    );
    assert_eq!(
        titles(
            &emu,
            json!({"$and": [{"$or": [{"title": {"$eq": "a"}}, {"title": {"$eq": "b"}}]}, {"views": {"$gt": 10}}]})
        )
        .await,
        ["b"]
    );
    assert_eq!(titles(&emu, json!({"$or": []})).await, Vec::<String>::new());
    assert_eq!(titles(&emu, json!({"title": "c"})).await, ["c"], "a bare value is $eq");
    // relateWhere: posts with a comment matching.
    let related =
        list(&emu, json!({"filter": {"relateWhere": {"comments": {"where": {"content": {"$search": "good"}}}}}})).await;
    let got: Vec<_> = related["records"].as_array().unwrap().iter().map(|r| r["title"].clone()).collect();
    assert_eq!(got, vec![json!("a"), json!("c")]);
    let related = list(&emu, json!({"filter": {"where": {"views": {"$gt": 100}}, "relateWhere": {"comments": {"where": {"likes": {"$gt": 2}}}}}})).await;
    assert_eq!(related["records"], json!([]));
    // Errors.
    for where_ in [
        json!({"title": {"$like": "a"}}),
        json!({"$not": [{}]}),
        json!({"$or": {"title": {"$eq": "a"}}}),
        json!({"views": {"$in": 5}}),
        json!({"views": {"$gt": [1]}}),
        json!({"bad field": {"$eq": 1}}),
        json!("title"),
    ] {
        let reply = code(&emu, KEY, Method::POST, "prod/post/list", Some(json!({"filter": {"where": where_}}))).await;
        assert_eq!(reply, "INVALID_PARAMETER", "{where_}");
    }
    let mut deep = json!({"title": {"$eq": "a"}});
    for _ in 0..20 {
        deep = json!({ "$and": [deep] });
    }
    assert_eq!(
        code(&emu, KEY, Method::POST, "prod/post/list", Some(json!({"filter": {"where": deep}}))).await,
        "INVALID_PARAMETER"
    );
    let bad_relation = json!({"filter": {"relateWhere": {"author": {"where": {}}}}});
    assert_eq!(code(&emu, KEY, Method::POST, "prod/post/list", Some(bad_relation)).await, "INVALID_PARAMETER");
}

#[tokio::test]
async fn select_paging_order_and_count() {
    let emu = start().await;
    let (token, _) = user(&emu, "writer2").await;
    let ids = seed_posts(&emu, &token).await;
    // Nested select embeds the related records.
    let one = list(
        &emu,
        json!({
            "filter": {"where": {"title": {"$eq": "a"}}},
            "select": {"title": true, "comments": {"content": true}},
        }),
    )
    .await;
    let record = &one["records"][0];
    assert_eq!(record["_id"], json!(ids[0]));
    assert_eq!(record["title"], json!("a"));
    assert!(record.get("views").is_none());
    let comments = record["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].as_object().unwrap().keys().collect::<Vec<_>>(), ["_id", "content"]);
    let master = list(&emu, json!({"filter": {"where": {"title": {"$eq": "c"}}}, "select": {"$master": true, "comments": {"$master": true}}})).await;
    assert_eq!(master["records"][0]["views"], json!(500));
    assert_eq!(master["records"][0]["comments"][0]["likes"], json!(1));
    assert!(master.get("total").is_none());
    // Paging, count, order.
    let page =
        list(&emu, json!({"pageSize": 2, "pageNumber": 2, "getCount": true, "orderBy": [{"title": "desc"}]})).await;
    assert_eq!(page["total"], json!(5));
    let titles: Vec<_> = page["records"].as_array().unwrap().iter().map(|r| r["title"].clone()).collect();
    assert_eq!(titles, vec![json!("c"), json!("b")]);
    let page = list(&emu, json!({"orderBy": [{"status": "asc"}, {"views": "desc"}]})).await;
    let titles: Vec<_> =
        page["records"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap().to_owned()).collect();
    assert_eq!(titles, ["d", "e", "b", "c", "a"]);
    let default = list(&emu, json!({})).await;
    assert_eq!(default["records"].as_array().unwrap().len(), 5);
    // listSimple reads the query.
    let simple = data(&emu, KEY, Method::GET, "prod/post/list?pageSize=2&pageNumber=3&getCount=true", None).await;
    assert_eq!(simple["total"], json!(5));
    assert_eq!(simple["records"].as_array().unwrap().len(), 1);
    let simple = data(&emu, KEY, Method::GET, "prod/post/list", None).await;
    assert!(simple.get("total").is_none());
    // Limits.
    for body in [
        json!({"pageSize": 201}),
        json!({"pageSize": 0}),
        json!({"pageNumber": 0}),
        json!({"pageSize": "x"}),
        json!({"orderBy": [{"a": "asc"}, {"b": "asc"}, {"c": "asc"}, {"d": "asc"}]}),
        json!({"orderBy": [{"a": "up"}]}),
        json!({"orderBy": [{"a b": "asc"}]}),
        json!({"orderBy": {"a": "asc"}}),
        json!({"select": "title"}),
    ] {
        assert_eq!(
            code(&emu, KEY, Method::POST, "prod/post/list", Some(body.clone())).await,
            "INVALID_PARAMETER",
            "{body}"
        );
    }
    assert_eq!(list(&emu, json!({"pageSize": 200})).await["records"].as_array().unwrap().len(), 5);
    assert_eq!(code(&emu, KEY, Method::GET, "prod/post/list?pageSize=500", None).await, "INVALID_PARAMETER");
}

#[tokio::test]
async fn environments_credentials_and_unknown_models() {
    let emu = start().await;
    let (anon, anon_id) = anonymous(&emu).await;
    // pre and prod are separate; the JS client's envType in the body is ignored.
    let id = create(&emu, &anon, "post", json!({"title": "live"})).await;
    let pre =
        data(&emu, &anon, Method::POST, "pre/post/create", Some(json!({"data": {"title": "trial"}, "envType": "pre"})))
            .await;
    let pre_list = data(
        &emu,
        KEY,
        Method::POST,
        "pre/post/list",
        Some(json!({"filter": {"where": {}}, "select": {"$master": true}, "envType": "pre"})),
    )
    .await;
    assert_eq!(pre_list["records"].as_array().unwrap().len(), 1);
    assert_eq!(pre_list["records"][0]["_id"], pre["id"]);
    assert_eq!(pre_list["records"][0]["_openid"], json!(anon_id));
    assert_eq!(list(&emu, json!({})).await["records"][0]["_id"], json!(id));
    assert_eq!(code(&emu, KEY, Method::POST, "test/post/list", Some(json!({}))).await, "INVALID_PARAMETER");
    // Unknown models.
    assert_eq!(code(&emu, KEY, Method::POST, "prod/nope/list", Some(json!({}))).await, "DATASOURCE_NOT_EXIST");
    assert_eq!(code(&emu, KEY, Method::GET, "prod/nope/x/get", None).await, "DATASOURCE_NOT_EXIST");
    // The publishable key reads but does not write; a client token writes without owner fields.
    assert_eq!(
        code(&emu, KEY, Method::POST, "prod/post/create", Some(json!({"data": {"title": "k"}}))).await,
        "OPERATION_DENIED"
    );
    assert_eq!(
        code(&emu, KEY, Method::PUT, "prod/post/update", Some(json!({"filter": {}, "data": {}}))).await,
        "OPERATION_DENIED"
    );
    assert_eq!(code(&emu, KEY, Method::DELETE, &format!("prod/post/{id}/delete"), None).await, "OPERATION_DENIED");
    let client: Value = http()
        .post(format!("{}/auth/v1/token", emu.url()))
        .basic_auth(emu.env_id(), Some("secret"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client = client["access_token"].as_str().unwrap().to_owned();
    let cid = create(&emu, &client, "post", json!({"title": "by client"})).await;
    let record = data(&emu, KEY, Method::GET, &format!("prod/post/{cid}/get"), None).await["record"].clone();
    assert!(record.get("owner").is_none(), "{record}");
    // Missing or bad credentials: the gateway's 401 envelope.
    let response = http().post(format!("{}/v1/model/prod/post/list", emu.url())).json(&json!({})).send().await.unwrap();
    envelope(response, 401, "MISSING_CREDENTIALS").await;
    let response = http()
        .post(format!("{}/v1/model/prod/post/list", emu.url()))
        .header("authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    envelope(response, 401, "INVALID_ACCESS_TOKEN").await;
    // Malformed bodies.
    let response = http()
        .post(format!("{}/v1/model/prod/post/list", emu.url()))
        .header("authorization", bearer(KEY))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], json!("INVALID_PARAMETER"));
    assert_eq!(emu.count("model_list"), 7);
    assert_eq!(emu.count("model_create"), 4);
}

#[tokio::test]
async fn injection_attempts_change_nothing() {
    let emu = start().await;
    let (token, _) = user(&emu, "writer2").await;
    seed_posts(&emu, &token).await;
    let attacks = ["x\") OR 1=1 --", "title'; DROP TABLE model_prod_post; --", "$.\"title\"", "a\"]"];
    for attack in attacks {
        for body in [
            json!({"filter": {"where": { attack: {"$eq": 1} }}}),
            json!({"filter": {"where": {"$or": [{ attack: {"$neq": 1} }]}}}),
            json!({"orderBy": [{ attack: "asc" }]}),
            json!({"filter": {"relateWhere": { attack: {"where": {}} }}}),
            json!({"filter": {"relateWhere": {"comments": {"where": { attack: {"$eq": 1} }}}}}),
        ] {
            assert_eq!(
                code(&emu, KEY, Method::POST, "prod/post/list", Some(body.clone())).await,
                "INVALID_PARAMETER",
                "{body}"
            );
        }
        // Values are data.
        assert_eq!(titles(&emu, json!({"title": {"$eq": attack}})).await, Vec::<String>::new());
        assert_eq!(titles(&emu, json!({"title": {"$search": attack}})).await, Vec::<String>::new());
        // Model names in the path.
        let path = format!("prod/{}/list", attack.replace(['/', '"', ' '], "_"));
        assert_eq!(code(&emu, KEY, Method::POST, &path, Some(json!({}))).await, "DATASOURCE_NOT_EXIST");
        let encoded: String = attack.bytes().map(|b| format!("%{b:02X}")).collect();
        let response = http()
            .post(format!("{}/v1/model/prod/{encoded}/list", emu.url()))
            .header("authorization", bearer(KEY))
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 200 {
            assert_eq!(response.json::<Value>().await.unwrap()["code"], json!("DATASOURCE_NOT_EXIST"));
        } else {
            assert_eq!(status, 404, "{attack}");
        }
        // Keys of written data.
        assert_eq!(
            code(&emu, &token, Method::POST, "prod/post/create", Some(json!({"data": {"title": "t", attack: 1}})))
                .await,
            "INVALID_PARAMETER"
        );
    }
    let all = list(&emu, json!({"getCount": true})).await;
    assert_eq!(all["total"], json!(5));
    let comments = data(&emu, KEY, Method::POST, "prod/comment/list", Some(json!({"getCount": true}))).await;
    assert_eq!(comments["total"], json!(3));
    // The invalid model definitions are refused.
    let bad = ModelDef::new("x\"; DROP TABLE orders; --");
    assert!(emu.create_model(bad).is_err());
    let bad = ModelDef::new("ok").field("a\"b", FieldType::String, false);
    assert!(emu.create_model(bad).is_err());
    let count = command(&emu, &token, json!({"sqlTemplate": "select count(*) as n from orders"})).await;
    assert_eq!(count["data"]["executeResultList"], json!([{"n": 3}]));
}

/// `POST /auth/v1/token/clientCredential`, as the JS SDK sends it with no session: the status and the body.
async fn guest_token(emu: &EmulatorHandle, body: Value) -> (u16, Value) {
    let response =
        http().post(format!("{}/auth/v1/token/clientCredential", emu.url())).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn guest_tokens_read_but_do_not_write() {
    let emu = start().await;
    let (anon, _) = anonymous(&emu).await;
    let id = create(&emu, &anon, "post", json!({"title": "by a user"})).await;

    let (status, tokens) = guest_token(&emu, json!({"grant_type": "client_credentials"})).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!((tokens["token_type"].as_str(), tokens["scope"].as_str()), (Some("Bearer"), Some("guest")));
    assert!(tokens["expires_in"].as_u64().is_some_and(|s| s > 0), "{tokens}");
    assert!(tokens.get("refresh_token").is_none() && tokens.get("sub").is_none(), "{tokens}");
    let guest = tokens["access_token"].as_str().unwrap().to_owned();
    let introspected = get_json(&format!("{}/auth/v1/token/introspect", emu.url()), &guest).await;
    assert_eq!(introspected["scope"], json!("guest"), "{introspected}");

    // Reads, as the publishable key does: models and tables.
    let record = data(&emu, &guest, Method::GET, &format!("prod/post/{id}/get"), None).await;
    assert_eq!(record["record"]["title"], json!("by a user"));
    let rows = get_json(&format!("{}/v1/rdb/rest/orders?select=id&status=eq.paid&order=id", emu.url()), &guest).await;
    assert_eq!(rows, json!([{"id": 1}, {"id": 2}]));
    // No model writes, no SQL commands; nothing changed.
    assert_eq!(
        code(&emu, &guest, Method::POST, "prod/post/create", Some(json!({"data": {"title": "guest"}}))).await,
        "OPERATION_DENIED"
    );
    assert_eq!(code(&emu, &guest, Method::DELETE, &format!("prod/post/{id}/delete"), None).await, "OPERATION_DENIED");
    let denied = command(&emu, &guest, json!({"sqlTemplate": "delete from orders"})).await;
    assert_eq!(denied["code"], json!("OPERATION_DENIED"), "{denied}");
    assert_eq!(list(&emu, json!({})).await["records"].as_array().unwrap().len(), 1);
    let count = command(&emu, &anon, json!({"sqlTemplate": "select count(*) as n from orders"})).await;
    assert_eq!(count["data"]["executeResultList"], json!([{"n": 3}]));

    // Only the client-credentials grant, with a body.
    let (status, refused) = guest_token(&emu, json!({"grant_type": "password"})).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("unsupported_grant_type")), "{refused}");
    let (status, refused) = guest_token(&emu, json!({})).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_argument")), "{refused}");
    assert_eq!(emu.count("grant_client_credential_token"), 3);
}

async fn command(emu: &EmulatorHandle, token: &str, body: Value) -> Value {
    call(emu, token, Method::POST, "plugin/prod/mysqlCommand", Some(body)).await
}

#[tokio::test]
async fn mysql_command() {
    let emu = start().await;
    let (token, _) = user(&emu, "sql").await;
    let rows = command(&emu, &token, json!({
        "sqlTemplate": "select id, status, amount from orders where status = {{ s }} and amount > {{n}} order by id",
        "parameter": [{"key": "s", "type": "STRING", "value": "paid"}, {"key": "n", "type": "NUMBER", "value": "10.5"}],
        "config": {"timeout": 5, "preparedStatements": true},
    }))
    .await;
    let data = &rows["data"];
    assert_eq!(data["executeResultList"], json!([{"id": 2, "status": "paid", "amount": 20.5}]));
    assert_eq!(data["total"], json!(1));
    assert!(data["backendExecute"].as_str().unwrap().parse::<u64>().is_ok());
    // ARRAY expands to a list of bound values; BOOLEAN is 1/0; OBJECT is JSON text.
    let rows = command(&emu, &token, json!({
        "sqlTemplate": "select id from orders where id in {{ ids }} and {{ yes }} = 1 order by id",
        "parameter": [{"key": "ids", "type": "ARRAY", "value": "[1,3,\"x\"]"}, {"key": "yes", "type": "BOOLEAN", "value": "true"}],
    }))
    .await;
    assert_eq!(rows["data"]["executeResultList"], json!([{"id": 1}, {"id": 3}]));
    let inserted = command(&emu, &token, json!({
        "sqlTemplate": "insert into orders (status, amount, meta) values ({{s}}, {{a}}, {{m}})",
        "parameter": [{"key": "s", "type": "STRING", "value": "x'); drop table orders; --"}, {"key": "a", "type": "NUMBER", "value": "7"}, {"key": "m", "type": "OBJECT", "value": "{\"k\": [1]}"}],
    }))
    .await;
    assert_eq!(inserted["data"]["executeResultList"], json!([{"affectedRows": 1, "insertId": 4}]));
    assert_eq!(inserted["data"]["total"], json!(1));
    let row = command(&emu, &token, json!({"sqlTemplate": "select status, meta from orders where id = 4"})).await;
    assert_eq!(
        row["data"]["executeResultList"],
        json!([{"status": "x'); drop table orders; --", "meta": "{\"k\":[1]}"}])
    );
    let updated = command(&emu, &token, json!({"sqlTemplate": "update orders set status = 'done' where status = {{s}}", "parameter": [{"key": "s", "type": "STRING", "value": "paid"}]})).await;
    assert_eq!(updated["data"]["total"], json!(2));
    // Errors.
    let err = |body: Value| {
        let emu = emu.clone();
        let token = token.clone();
        async move {
            let reply = command(&emu, &token, body).await;
            assert!(reply.get("data").is_none(), "{reply}");
            reply["code"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(err(json!({"sqlTemplate": "select {{ x }}"})).await, "MISSING_PARAMETER");
    assert_eq!(err(json!({})).await, "MISSING_PARAMETER");
    assert_eq!(err(json!({"sqlTemplate": "select 1; drop table orders"})).await, "INVALID_PARAMETER");
    assert_eq!(
        err(json!({"sqlTemplate": "select {{n}}", "parameter": [{"key": "n", "type": "NUMBER", "value": "abc"}]}))
            .await,
        "INVALID_PARAMETER"
    );
    assert_eq!(
        err(json!({"sqlTemplate": "select {{n}}", "parameter": [{"key": "n", "type": "ARRAY", "value": "{}"}]})).await,
        "INVALID_PARAMETER"
    );
    assert_eq!(err(json!({"sqlTemplate": "select * from nope"})).await, "INVALID_PARAMETER");
    assert_eq!(err(json!({"sqlTemplate": "select 1", "config": {"timeout": 99}})).await, "INVALID_PARAMETER");
    let reply = command(&emu, KEY, json!({"sqlTemplate": "select 1"})).await;
    assert_eq!(reply["code"], json!("OPERATION_DENIED"));
    // The table survived, and the RESTful API sees the same database.
    let response = http()
        .get(format!("{}/v1/rdb/rest/orders", emu.url()))
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Vec<Value>>().await.unwrap().len(), 4);
}

#[tokio::test]
async fn data_sources() {
    let emu = start().await;
    let get = |path: &str| {
        let (emu, path) = (emu.clone(), path.to_owned());
        async move { data(&emu, KEY, Method::GET, &path, None).await }
    };
    let aggregate = get("datasource/prod/aggregateDataSourceList?pageSize=1&pageIndex=0").await;
    assert_eq!(aggregate["Count"], json!(2));
    assert_eq!(aggregate["Rows"].as_array().unwrap().len(), 1);
    assert_eq!(aggregate["Rows"][0]["Name"], json!("comment"));
    let aggregate = get("datasource/prod/aggregateDataSourceList?pageSize=1&pageIndex=2").await;
    assert_eq!(aggregate["Rows"][0]["Name"], json!("post"));
    let post = &aggregate["Rows"][0];
    assert_eq!(post["Id"], json!("ds-post"));
    assert_eq!(post["Title"], json!("Posts"));
    assert_eq!(
        (post["Type"].as_str(), post["SubType"].as_str(), post["DbSourceType"].as_str()),
        (Some("database"), Some("FlexDB"), Some("flexdb"))
    );
    let schema: Value = serde_json::from_str(post["Schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema["properties"]["title"]["type"], json!("string"));
    assert_eq!(schema["properties"]["at"]["format"], json!("datetime"));
    assert_eq!(schema["required"], json!(["title"]));
    let methods: Vec<String> = serde_json::from_str(post["Methods"].as_str().unwrap()).unwrap();
    assert!(!methods.is_empty());
    for query in [
        "dataSourceNames=post",
        "dataSourceNames[]=post",
        "dataSourceNames=post,nope",
        "dataSourceNames=nope&dataSourceNames=post",
    ] {
        let filtered = get(&format!("datasource/prod/aggregateDataSourceList?pageSize=10&{query}")).await;
        assert_eq!(filtered["Count"], json!(1), "{query}");
    }
    assert_eq!(
        code(&emu, KEY, Method::GET, "datasource/prod/aggregateDataSourceList", None).await,
        "MISSING_PARAMETER"
    );
    assert_eq!(
        code(&emu, KEY, Method::GET, "datasource/prod/aggregateDataSourceList?pageSize=x", None).await,
        "INVALID_PARAMETER"
    );

    let detail = get("datasource/prod/dataSourceAggregateDetail?dataSourceName=post").await;
    assert_eq!(detail["Name"], json!("post"));
    assert_eq!(
        get("datasource/prod/dataSourceAggregateDetail?datasourceId=ds-comment").await["Name"],
        json!("comment")
    );
    assert_eq!(
        code(&emu, KEY, Method::GET, "datasource/prod/dataSourceAggregateDetail", None).await,
        "MISSING_PARAMETER"
    );
    assert_eq!(
        code(&emu, KEY, Method::GET, "datasource/prod/basicDataSource?dataSourceName=nope", None).await,
        "DATASOURCE_NOT_EXIST"
    );
    let basic = get("datasource/prod/basicDataSource?dataSourceName=post").await;
    assert_eq!(basic["PublishStatus"], json!(1));

    let by_table = get(
        "datasource/prod/dataSourceByTableName?tableNames=model_prod_post&tableNames=model_pre_comment&tableNames=nope",
    )
    .await;
    let infos = by_table["DataSourceTableInfos"].as_array().unwrap();
    assert_eq!(infos.len(), 2);
    assert_eq!((infos[0]["Name"].as_str(), infos[0]["IsPreview"].as_bool()), (Some("post"), Some(false)));
    assert_eq!((infos[1]["Name"].as_str(), infos[1]["IsPreview"].as_bool()), (Some("comment"), Some(true)));
    assert_eq!(code(&emu, KEY, Method::GET, "datasource/prod/dataSourceByTableName", None).await, "MISSING_PARAMETER");

    let basic_list = data(
        &emu,
        KEY,
        Method::POST,
        "datasource/prod/basicDataSourceList",
        Some(json!({"PageNum": 1, "PageSize": 10})),
    )
    .await;
    assert_eq!(basic_list["Total"], json!(2));
    let named =
        data(&emu, KEY, Method::POST, "datasource/prod/basicDataSourceList", Some(json!({"NameList": ["post"]}))).await;
    assert_eq!(named["DataSourceList"][0]["Name"], json!("post"));
    let filtered = data(
        &emu,
        KEY,
        Method::POST,
        "datasource/prod/basicDataSourceList",
        Some(json!({"QueryFilterList": [{"Name": "Title", "Values": ["Pos"], "Like": true}]})),
    )
    .await;
    assert_eq!(filtered["Total"], json!(1));
    let excluded = data(
        &emu,
        KEY,
        Method::POST,
        "datasource/prod/basicDataSourceList",
        Some(json!({"QueryFilterList": [{"Name": "Name", "Values": ["post"], "Match": false}]})),
    )
    .await;
    assert_eq!(excluded["DataSourceList"][0]["Name"], json!("comment"));
    let bad = json!({"QueryFilterList": [{"Name": "Name", "Values": []}]});
    assert_eq!(
        code(&emu, KEY, Method::POST, "datasource/prod/basicDataSourceList", Some(bad)).await,
        "MISSING_PARAMETER"
    );
    assert_eq!(
        code(&emu, KEY, Method::POST, "datasource/prod/basicDataSourceList", Some(json!({"PageSize": 0}))).await,
        "INVALID_PARAMETER"
    );

    let schemas = get("datasource/prod/schemaList").await;
    assert_eq!(schemas["DataSourceRelationInfoList"].as_array().unwrap().len(), 2);
    let schemas = get("datasource/prod/schemaList?dataSourceNameList=post").await;
    let info = &schemas["DataSourceRelationInfoList"][0];
    assert_eq!(info["Name"], json!("post"));
    assert_eq!(info["RelationViewList"][0]["RelatedFieldKey"], json!("post_id"));

    let tables = get("datasource/prod/tableName?dataSourceName=post").await;
    assert_eq!(tables, json!({"TableName": ["model_prod_post", "model_pre_post"], "DbType": "FLEXDB"}));
    assert_eq!(
        code(&emu, KEY, Method::GET, "datasource/prod/tableName?dataSourceName=nope", None).await,
        "DATASOURCE_NOT_EXIST"
    );
    assert_eq!(emu.count("get_table_name"), 2);
}

#[tokio::test]
async fn models_are_seeded_created_and_reset() {
    let emu = start().await;
    let (token, _) = user(&emu, "writer2").await;
    let response = http()
        .post(format!("{}/_emulator/models", emu.url()))
        .json(&json!({"name": "todo", "title": "Todos", "fields": [{"name": "done", "type": "boolean", "required": true}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    create(&emu, &token, "todo", json!({"done": false})).await;
    let response =
        http().post(format!("{}/_emulator/models", emu.url())).json(&json!({"name": "9bad"})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    emu.create_model(ModelDef::new("note")).unwrap();
    create(&emu, &token, "note", json!({"anything": [1, 2]})).await;
    create(&emu, &token, "post", json!({"title": "t"})).await;
    // SQL seeds can fill a model's table.
    emu.sql(r#"INSERT INTO model_prod_comment (_id, doc) VALUES ('c1', '{"_id":"c1","content":"seeded"}')"#).unwrap();
    assert_eq!(data(&emu, KEY, Method::GET, "prod/comment/c1/get", None).await["record"]["content"], json!("seeded"));

    emu.reset();
    let (token, _) = user(&emu, "writer2").await;
    assert_eq!(code(&emu, KEY, Method::POST, "prod/todo/list", Some(json!({}))).await, "DATASOURCE_NOT_EXIST");
    assert_eq!(code(&emu, KEY, Method::POST, "prod/note/list", Some(json!({}))).await, "DATASOURCE_NOT_EXIST");
    assert_eq!(list(&emu, json!({"getCount": true})).await["total"], json!(0));
    create(&emu, &token, "post", json!({"title": "after reset"})).await;

    // A bad model in the builder fails the start.
    assert!(Emulator::builder().model(ModelDef::new("a b")).start().await.is_err());
}

/// The JS SDK's `list` body from its traffic reference (defaults merged, `envType` in the body, a relation
/// select next to a non-relation object select), and its `get` defaults.
#[tokio::test]
async fn js_sdk_bodies() {
    let emu = start().await;
    let (token, _) = user(&emu, "jsuser").await;
    let ids = seed_posts(&emu, &token).await;
    let body = json!({
        "filter": {"where": {"$and": [{"views": {"$gte": 5, "$lt": 100}},
                                      {"$or": [{"status": {"$eq": "published"}}, {"title": {"$search_ci": "B"}}]},
                                      {"status": {"$in": ["published", "draft"]}}, {"title": {"$nsearch": "spam"}}]},
                   "relateWhere": {"comments": {"where": {"likes": {"$gt": 1}}}}},
        "select": {"$master": true, "author": {"name": true}, "comments": {"content": true}},
        "orderBy": [{"views": "desc"}, {"createdAt": "asc"}], "pageSize": 2, "pageNumber": 1, "getCount": true,
        "envType": "prod"
    });
    let found = data(&emu, KEY, Method::POST, "prod/post/list", Some(body)).await;
    assert_eq!(found["total"], json!(1));
    assert_eq!(found["records"][0]["_id"], json!(ids[0]));
    assert_eq!(
        found["records"][0]["comments"],
        json!([{"_id": found["records"][0]["comments"][0]["_id"], "content": "good one"}, {"_id": found["records"][0]["comments"][1]["_id"], "content": "meh"}])
    );
    let got = data(
        &emu,
        KEY,
        Method::POST,
        "prod/post/get",
        Some(json!({"filter": {"where": {}}, "select": {"$master": true}, "envType": "prod"})),
    )
    .await;
    assert_eq!(got["record"]["_id"], json!(ids[0]));
}
