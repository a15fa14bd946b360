//! Records: the write and read operations, system fields, types and required fields; models created at run
//! time, seeded by SQL, and reset.

use std::time::Duration;

use cloudbase_emulator::{Emulator, ModelDef};
use reqwest::Method;
use serde_json::json;

use crate::common::{http, user};
use crate::helpers::{KEY, code, create, data, list, start, titles};

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
