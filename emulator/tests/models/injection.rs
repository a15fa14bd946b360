//! Injection attempts through field names, values, model names and model definitions change nothing.

use cloudbase_emulator::{FieldType, ModelDef};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{bearer, http, user};
use crate::helpers::{KEY, code, command, data, list, seed_posts, start, titles};

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
