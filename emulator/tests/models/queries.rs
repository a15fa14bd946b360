//! Queries: the where grammar and relation filters; select, paging, order and count, and their limits.

use reqwest::Method;
use serde_json::json;

use crate::common::user;
use crate::helpers::{KEY, code, data, list, seed_posts, start, titles};

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
