//! Data sources (`/v1/model/datasource`): the aggregate, basic, schema and table-name lookups.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{KEY, code, data, start};

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
