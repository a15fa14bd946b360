//! The bodies the JS SDK sends.

use reqwest::Method;
use serde_json::json;

use crate::common::user;
use crate::helpers::{KEY, data, seed_posts, start};

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
