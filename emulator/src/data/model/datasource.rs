//! The read-only data source queries (`/v1/model/datasource/prod/...`): every model is a FlexDB data source.
//!
//! Array query parameters are read in every spelling clients use: repeated keys (`names=a&names=b`), the
//! bracket form (`names[]=a`, `names[0]=a`) and comma-joined values (`names=a,b`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::def::{ModelDef, Models, table_name};
use super::{ModelErr, accept, answer, body_object, invalid, missing};
use crate::state::State;

pub(crate) const AGGREGATE_LIST: &str = "/datasource/prod/aggregateDataSourceList";
pub(crate) const AGGREGATE_DETAIL: &str = "/datasource/prod/dataSourceAggregateDetail";
pub(crate) const BY_TABLE_NAME: &str = "/datasource/prod/dataSourceByTableName";
pub(crate) const BASIC_LIST: &str = "/datasource/prod/basicDataSourceList";
pub(crate) const BASIC: &str = "/datasource/prod/basicDataSource";
pub(crate) const SCHEMA_LIST: &str = "/datasource/prod/schemaList";
pub(crate) const TABLE_NAME: &str = "/datasource/prod/tableName";

/// The methods every model offers (the data source's `Methods`).
const METHODS: [&str; 12] = [
    "wedaGetItem",
    "wedaGetRecords",
    "wedaCreate",
    "wedaCreateMany",
    "wedaUpdate",
    "wedaUpdateMany",
    "wedaUpsert",
    "wedaDelete",
    "wedaDeleteMany",
    "wedaGetItemById",
    "wedaGetRecordsSimple",
    "wedaDeleteById",
];

type Query = [(String, String)];
type Handler = fn(&Models, &Query, &[u8]) -> Result<Value, ModelErr>;

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route(AGGREGATE_LIST, get(|s: AxumState<Arc<State>>, r: Request| serve(s, r, aggregate_list)))
        .route(AGGREGATE_DETAIL, get(|s: AxumState<Arc<State>>, r: Request| serve(s, r, aggregate_detail)))
        .route(BY_TABLE_NAME, get(|s: AxumState<Arc<State>>, r: Request| serve(s, r, by_table_name)))
        .route(BASIC_LIST, post(|s: AxumState<Arc<State>>, r: Request| serve(s, r, basic_list)))
        .route(BASIC, get(|s: AxumState<Arc<State>>, r: Request| serve(s, r, basic)))
        .route(SCHEMA_LIST, get(|s: AxumState<Arc<State>>, r: Request| serve(s, r, schema_list)))
        .route(TABLE_NAME, get(|s: AxumState<Arc<State>>, r: Request| serve(s, r, table_names)))
}

async fn serve(AxumState(state): AxumState<Arc<State>>, request: Request, handler: Handler) -> Response<Body> {
    let call = match accept(&state, request).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    answer(&call.request_id, handler(&state.data.models(), &call.query, &call.body))
}

/// Every value of the array parameter `name`, whatever the spelling.
fn list(query: &Query, name: &str) -> Vec<String> {
    let bracket = format!("{name}[");
    query
        .iter()
        .filter(|(k, _)| k == name || (k.starts_with(&bracket) && k.ends_with(']')))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn single<'a>(query: &'a Query, name: &str) -> Option<&'a str> {
    query.iter().rev().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim())
}

fn int(query: &Query, name: &str) -> Result<Option<i64>, ModelErr> {
    single(query, name)
        .map(|v| v.parse().map_err(|_| invalid(format!("{name} must be an integer, not {v:?}"))))
        .transpose()
}

fn id_of(model: &ModelDef) -> String {
    format!("ds-{}", model.name)
}

/// The basic fields of a model's data source.
fn basic_json(model: &ModelDef) -> Value {
    json!({
        "Id": id_of(model),
        "Name": model.name,
        "Title": model.display_title(),
        "Type": "database",
        "SubType": "FlexDB",
        "DbSourceType": "flexdb",
        "DbInstanceType": "FLEXDB",
        "DbLinkType": "",
        "Methods": serde_json::to_string(&METHODS).unwrap_or_default(),
        "Schema": model.schema_json(),
        "Fun": "[]",
        "ChildDataSourceNames": [],
        "PublishStatus": 1,
        "PublishCacheStatus": 1,
        "PublishedTableName": table_name("prod", &model.name),
        "PreviewTableName": table_name("pre", &model.name),
        "TableNameRule": "only_name",
        "UpdateTime": "1970-01-01T00:00:00Z",
    })
}

/// The aggregated data source: the basic fields and more.
fn detail_json(model: &ModelDef) -> Value {
    let mut value = basic_json(model);
    let extra = json!({
        "Description": "",
        "TableName": table_name("prod", &model.name),
        "ChildDataSourceIds": [],
        "AppUsageList": [],
        "CmsProject": "",
        "Configuration": "{}",
        "CreatedAt": "1970-01-01T00:00:00Z",
        "CreatorId": "",
        "DataSourceVersion": "v1",
        "DbLinkName": "",
    });
    if let (Some(map), Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    value
}

/// The model a `datasourceId` or `dataSourceName` names.
fn named<'a>(models: &'a Models, query: &Query) -> Result<&'a ModelDef, ModelErr> {
    if let Some(id) = single(query, "datasourceId") {
        return models.values().find(|m| id_of(m) == id).ok_or_else(|| ModelErr::not_exist(id));
    }
    let name = single(query, "dataSourceName").ok_or_else(|| missing("datasourceId or dataSourceName"))?;
    models.get(name).ok_or_else(|| ModelErr::not_exist(name))
}

fn aggregate_list(models: &Models, query: &Query, _: &[u8]) -> Result<Value, ModelErr> {
    let size = int(query, "pageSize")?.ok_or_else(|| missing("pageSize"))?;
    if size < 1 {
        return Err(invalid("pageSize must be at least 1"));
    }
    // Both bases are in use (the doc example passes 0, the demo 1): 0 is the first page too.
    let index = int(query, "pageIndex")?.unwrap_or(1).max(1);
    let (names, ids) = (list(query, "dataSourceNames"), list(query, "dataSourceIds"));
    let matching: Vec<&ModelDef> = models
        .values()
        .filter(|m| names.is_empty() || names.contains(&m.name))
        .filter(|m| ids.is_empty() || ids.contains(&id_of(m)))
        .collect();
    let rows: Vec<Value> = matching
        .iter()
        .skip(((index - 1).saturating_mul(size)) as usize)
        .take(size as usize)
        .map(|m| detail_json(m))
        .collect();
    Ok(json!({ "Count": matching.len(), "Rows": rows }))
}

fn aggregate_detail(models: &Models, query: &Query, _: &[u8]) -> Result<Value, ModelErr> {
    Ok(detail_json(named(models, query)?))
}

fn basic(models: &Models, query: &Query, _: &[u8]) -> Result<Value, ModelErr> {
    Ok(basic_json(named(models, query)?))
}

fn by_table_name(models: &Models, query: &Query, _: &[u8]) -> Result<Value, ModelErr> {
    let tables = list(query, "tableNames");
    if tables.is_empty() {
        return Err(missing("tableNames"));
    }
    let mut infos = Vec::new();
    for table in &tables {
        for model in models.values() {
            for (env, preview) in [("prod", false), ("pre", true)] {
                if table_name(env, &model.name) == *table {
                    infos.push(json!({
                        "IsDataSource": true,
                        "IsPreview": preview,
                        "Name": model.name,
                        "Schema": model.schema_json(),
                        "TableName": table,
                        "Title": model.display_title(),
                    }));
                }
            }
        }
    }
    Ok(json!({ "DataSourceTableInfos": infos }))
}

fn strings(value: Option<&Value>, name: &str) -> Result<Vec<String>, ModelErr> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| invalid(format!("{name} must be a list of strings"))))
            .collect(),
        Some(_) => Err(invalid(format!("{name} must be a list of strings"))),
    }
}

fn basic_list(models: &Models, _: &Query, body: &[u8]) -> Result<Value, ModelErr> {
    let body = body_object(body)?;
    let positive = |key: &str, default: i64| -> Result<i64, ModelErr> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_i64().filter(|n| *n >= 1).ok_or_else(|| invalid(format!("{key} must be an integer >= 1"))),
        }
    };
    let (page, size) = (positive("PageNum", 1)?, positive("PageSize", 10)?);
    let (ids, names) = (strings(body.get("IdList"), "IdList")?, strings(body.get("NameList"), "NameList")?);
    let mut filters = Vec::new();
    for filter in body.get("QueryFilterList").and_then(Value::as_array).into_iter().flatten() {
        let field =
            filter.get("Name").and_then(Value::as_str).ok_or_else(|| missing("QueryFilterList[].Name"))?.to_owned();
        let values = strings(filter.get("Values"), "QueryFilterList[].Values")?;
        if values.is_empty() {
            return Err(missing("QueryFilterList[].Values"));
        }
        let matches = filter.get("Match").and_then(Value::as_bool).unwrap_or(true);
        let like = filter.get("Like").and_then(Value::as_bool).unwrap_or(false);
        filters.push((field, values, matches, like));
    }
    let query_all = body.get("QueryAll").and_then(Value::as_bool).unwrap_or(false);
    let rows: Vec<Value> = models
        .values()
        .filter(|m| ids.is_empty() || ids.contains(&id_of(m)))
        .filter(|m| names.is_empty() || names.contains(&m.name))
        .map(basic_json)
        .filter(|ds| {
            filters.iter().all(|(field, values, matches, like)| {
                let actual =
                    ds.get(field).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default();
                let hit = values.iter().any(|v| if *like { actual.contains(v.as_str()) } else { actual == *v });
                hit == *matches
            })
        })
        .collect();
    let total = rows.len();
    let page_rows: Vec<Value> = if query_all {
        rows
    } else {
        rows.into_iter().skip(((page - 1).saturating_mul(size)) as usize).take(size as usize).collect()
    };
    Ok(json!({ "DataSourceList": page_rows, "Total": total }))
}

fn schema_list(models: &Models, query: &Query, _: &[u8]) -> Result<Value, ModelErr> {
    let names = list(query, "dataSourceNameList");
    let infos: Vec<Value> = models
        .values()
        .filter(|m| names.is_empty() || names.contains(&m.name))
        .map(|m| {
            let relations: Vec<Value> = m
                .relations
                .iter()
                .map(|r| json!({ "Field": r.field, "RelatedDataSourceName": r.model, "RelatedFieldKey": r.foreign_key, "RelatedType": "one-many" }))
                .collect();
            json!({
                "Id": id_of(m),
                "Name": m.name,
                "Title": m.display_title(),
                "Schema": m.schema_json(),
                "RelationViewList": relations,
            })
        })
        .collect();
    Ok(json!({ "DataSourceRelationInfoList": infos }))
}

fn table_names(models: &Models, query: &Query, _: &[u8]) -> Result<Value, ModelErr> {
    let name = single(query, "dataSourceName").ok_or_else(|| missing("dataSourceName"))?;
    let model = models.get(name).ok_or_else(|| ModelErr::not_exist(name))?;
    Ok(json!({ "TableName": [table_name("prod", &model.name), table_name("pre", &model.name)], "DbType": "FLEXDB" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_parameters_in_every_spelling() {
        let q: Vec<(String, String)> = [("n", "a"), ("n[]", "b,c"), ("n[0]", "d"), ("nx", "e"), ("n", "")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(list(&q, "n"), ["a", "b", "c", "d"]);
    }
}
