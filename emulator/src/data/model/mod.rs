//! Data models (`/v1/model`, `openapi/model.yaml`): the twelve record operations on
//! `/{envType}/{modelName}/...`, the data source queries (`/datasource/prod/...`, [`datasource`]) and
//! `mysqlCommand` (`/plugin/prod/mysqlCommand`, [`command`]).
//!
//! Every answer of the service itself is HTTP 200: `{data, requestId}` or `{code, message, requestId}`. Only
//! the gateway's own refusals (401 credentials, 413 size) use other statuses.

mod command;
mod datasource;
pub(crate) mod def;
mod query;
pub(crate) mod records;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State as AxumState};
use axum::http::Response;
use axum::routing::{delete, get, post, put};
use rusqlite::Connection;
use serde_json::{Map, Value, json};

use self::query::Scope;
use self::records::Writer;
use crate::data::db::lock;
use crate::gateway::{Caller, RequestId, envelope, token::check_token};
use crate::reply::json_response;
use crate::service::{BodyPolicy, ErrorStyle, Operation, Service};
use crate::state::State;
use crate::util::parse_query;

/// Largest request body: 10 MiB.
const MAX_BODY: usize = 10 << 20;
/// Default and largest `pageSize`.
const DEFAULT_PAGE_SIZE: i64 = 10;
const MAX_PAGE_SIZE: i64 = 200;

/// An error answered with HTTP 200 `{code, message, requestId}`.
#[derive(Debug)]
pub(crate) struct ModelErr {
    pub code: &'static str,
    pub message: String,
}

impl ModelErr {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn not_exist(model: &str) -> Self {
        Self::new("DATASOURCE_NOT_EXIST", format!("data source (model) {model:?} does not exist"))
    }
}

/// `INVALID_PARAMETER`.
pub(crate) fn invalid(message: impl Into<String>) -> ModelErr {
    ModelErr::new("INVALID_PARAMETER", message)
}

/// `MISSING_PARAMETER`.
pub(crate) fn missing(name: &str) -> ModelErr {
    ModelErr::new("MISSING_PARAMETER", format!("{name} is required"))
}

/// An unexpected database failure: `FLEXDB_INTERNAL_ERROR`.
pub(crate) fn internal(e: rusqlite::Error) -> ModelErr {
    ModelErr::new("FLEXDB_INTERNAL_ERROR", e.to_string())
}

const RECORD: &str = "/{envType}/{modelName}";

/// The data model service as mounted by [`crate::service::SERVICES`].
pub(crate) const SERVICE: Service = Service {
    base: "/v1/model",
    body: BodyPolicy::Buffered(MAX_BODY),
    errors: ErrorStyle::Gateway,
    operations: &[
        Operation { method: "GET", path: "/{envType}/{modelName}/{recordId}/get", id: "model_get_by_id" },
        Operation { method: "POST", path: "/{envType}/{modelName}/get", id: "model_get" },
        Operation { method: "GET", path: "/{envType}/{modelName}/list", id: "model_list_simple" },
        Operation { method: "POST", path: "/{envType}/{modelName}/list", id: "model_list" },
        Operation { method: "POST", path: "/{envType}/{modelName}/create", id: "model_create" },
        Operation { method: "POST", path: "/{envType}/{modelName}/createMany", id: "model_create_many" },
        Operation { method: "PUT", path: "/{envType}/{modelName}/update", id: "model_update" },
        Operation { method: "PUT", path: "/{envType}/{modelName}/updateMany", id: "model_update_many" },
        Operation { method: "POST", path: "/{envType}/{modelName}/upsert", id: "model_upsert" },
        Operation { method: "DELETE", path: "/{envType}/{modelName}/{recordId}/delete", id: "model_delete_by_id" },
        Operation { method: "POST", path: "/{envType}/{modelName}/delete", id: "model_delete" },
        Operation { method: "POST", path: "/{envType}/{modelName}/deleteMany", id: "model_delete_many" },
        Operation { method: "POST", path: "/plugin/prod/mysqlCommand", id: "mysql_command" },
        Operation { method: "GET", path: datasource::AGGREGATE_LIST, id: "get_aggregate_data_source_list" },
        Operation { method: "GET", path: datasource::AGGREGATE_DETAIL, id: "get_data_source_aggregate_detail" },
        Operation { method: "GET", path: datasource::BY_TABLE_NAME, id: "get_data_source_by_table_name" },
        Operation { method: "POST", path: datasource::BASIC_LIST, id: "get_basic_data_source_list" },
        Operation { method: "GET", path: datasource::BASIC, id: "get_basic_data_source" },
        Operation { method: "GET", path: datasource::SCHEMA_LIST, id: "get_schema_list" },
        Operation { method: "GET", path: datasource::TABLE_NAME, id: "get_table_name" },
    ],
    router,
};

/// The record operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    GetById,
    Get,
    ListSimple,
    List,
    Create,
    CreateMany,
    Update,
    UpdateMany,
    Upsert,
    DeleteById,
    Delete,
    DeleteMany,
}

impl Op {
    fn writes(self) -> bool {
        !matches!(self, Op::GetById | Op::Get | Op::ListSimple | Op::List)
    }
}

type St = AxumState<Arc<State>>;
type Params = Path<HashMap<String, String>>;

fn record_route(
    op: Op,
) -> impl Fn(St, Params, Request) -> std::pin::Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Clone {
    move |AxumState(state): St, Path(params): Params, request: Request| Box::pin(record(state, op, params, request))
}

fn router() -> Router<Arc<State>> {
    let r = |suffix: &str| format!("{RECORD}{suffix}");
    Router::new()
        .route(&r("/{recordId}/get"), get(record_route(Op::GetById)))
        .route(&r("/get"), post(record_route(Op::Get)))
        .route(&r("/list"), get(record_route(Op::ListSimple)).post(record_route(Op::List)))
        .route(&r("/create"), post(record_route(Op::Create)))
        .route(&r("/createMany"), post(record_route(Op::CreateMany)))
        .route(&r("/update"), put(record_route(Op::Update)))
        .route(&r("/updateMany"), put(record_route(Op::UpdateMany)))
        .route(&r("/upsert"), post(record_route(Op::Upsert)))
        .route(&r("/{recordId}/delete"), delete(record_route(Op::DeleteById)))
        .route(&r("/delete"), post(record_route(Op::Delete)))
        .route(&r("/deleteMany"), post(record_route(Op::DeleteMany)))
        .route("/plugin/prod/mysqlCommand", post(command::handle))
        .merge(datasource::router())
}

/// A request that passed the token check.
pub(crate) struct Call {
    pub request_id: String,
    pub caller: Caller,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
}

/// The token check and the request's parts; the 401 envelope when it fails.
pub(crate) async fn accept(state: &State, request: Request) -> Result<Call, Response<Body>> {
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let caller = check_token(state, request.headers()).map_err(|r| envelope(401, r.code, &r.message, &request_id))?;
    let query = parse_query(request.uri().query().unwrap_or_default());
    // The edge already bounded the body.
    let body = axum::body::to_bytes(request.into_body(), usize::MAX).await.unwrap_or_default();
    Ok(Call { request_id, caller, query, body })
}

/// The HTTP 200 answer: `{data, requestId}` or `{code, message, requestId}`.
pub(crate) fn answer(request_id: &str, result: Result<Value, ModelErr>) -> Response<Body> {
    match result {
        Ok(data) => json_response(200, &json!({ "data": data, "requestId": request_id })),
        Err(e) => json_response(200, &json!({ "code": e.code, "message": e.message, "requestId": request_id })),
    }
}

/// The body as a JSON object (`{}` when empty).
pub(crate) fn body_object(bytes: &[u8]) -> Result<Map<String, Value>, ModelErr> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid("the request body must be a JSON object")),
        Err(e) => Err(invalid(format!("malformed JSON body: {e}"))),
    }
}

async fn record(state: Arc<State>, op: Op, params: HashMap<String, String>, request: Request) -> Response<Body> {
    let call = match accept(&state, request).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let result = run_record(&state, op, params, &call).await;
    answer(&call.request_id, result)
}

async fn run_record(state: &State, op: Op, params: HashMap<String, String>, call: &Call) -> Result<Value, ModelErr> {
    let env = params.get("envType").cloned().unwrap_or_default();
    if env != "prod" && env != "pre" {
        return Err(invalid(format!("envType must be prod or pre, not {env:?}")));
    }
    if op.writes() && call.caller.is_guest() {
        return Err(ModelErr::new("OPERATION_DENIED", "a guest (no user) may read models but not write them"));
    }
    let body =
        if matches!(op, Op::GetById | Op::ListSimple | Op::DeleteById) { Map::new() } else { body_object(&call.body)? };
    let models = state.data.models();
    let name = params.get("modelName").cloned().unwrap_or_default();
    if !models.contains_key(&name) {
        return Err(ModelErr::not_exist(&name));
    }
    let record_id = params.get("recordId").cloned();
    let writer = Writer {
        user: call.caller.user_id().map(str::to_owned),
        now_ms: state.core().now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
    };
    let query = call.query.clone();
    let db = state.data.dbs.default_db();
    tokio::task::spawn_blocking(move || {
        let mut conn = lock(&db);
        let scope = Scope { models: &models, env: &env };
        execute(&mut conn, &scope, op, &name, record_id.as_deref(), &body, &query, &writer)
    })
    .await
    .unwrap_or_else(|e| Err(ModelErr::new("FLEXDB_INTERNAL_ERROR", format!("the operation failed: {e}"))))
}

fn page(size: Option<&Value>, number: Option<&Value>) -> Result<(i64, i64), ModelErr> {
    let int = |v: Option<&Value>, name: &str, default: i64| -> Result<i64, ModelErr> {
        match v {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| invalid(format!("{name} must be an integer"))),
            Some(Value::String(s)) => s.trim().parse().map_err(|_| invalid(format!("{name} must be an integer"))),
            Some(_) => Err(invalid(format!("{name} must be an integer"))),
        }
    };
    let size = int(size, "pageSize", DEFAULT_PAGE_SIZE)?;
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(invalid(format!("pageSize must be between 1 and {MAX_PAGE_SIZE}, not {size}")));
    }
    let number = int(number, "pageNumber", 1)?;
    if number < 1 {
        return Err(invalid(format!("pageNumber must be at least 1, not {number}")));
    }
    Ok((size, (number - 1).saturating_mul(size)))
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// The body's `filter`, required by the writes that take one.
fn required<'a>(body: &'a Map<String, Value>, key: &str) -> Result<&'a Value, ModelErr> {
    body.get(key).filter(|v| !v.is_null()).ok_or_else(|| missing(key))
}

#[allow(clippy::too_many_arguments)]
fn execute(
    conn: &mut Connection,
    scope: &Scope<'_>,
    op: Op,
    name: &str,
    record_id: Option<&str>,
    body: &Map<String, Value>,
    query: &[(String, String)],
    writer: &Writer,
) -> Result<Value, ModelErr> {
    let model = scope.model(name)?;
    let by_id = |id: &str| json!({ "where": { "_id": { "$eq": id } } });
    let tx = conn.transaction().map_err(internal)?;
    let data = match op {
        Op::GetById => {
            let filter = by_id(record_id.unwrap_or_default());
            let record = records::find(&tx, scope, model, Some(&filter), None, None, Some((1, 0)))?.pop();
            json!({ "record": record })
        }
        Op::Get => {
            let found = records::find(&tx, scope, model, body.get("filter"), body.get("select"), None, Some((1, 0)))?;
            json!({ "record": found.into_iter().next() })
        }
        Op::ListSimple | Op::List => {
            let get = |key: &str| -> Option<Value> {
                if op == Op::List {
                    body.get(key).cloned()
                } else {
                    query.iter().rev().find(|(k, _)| k == key).map(|(_, v)| Value::String(v.clone()))
                }
            };
            let (limit, offset) = page(get("pageSize").as_ref(), get("pageNumber").as_ref())?;
            let filter = body.get("filter");
            let records = records::find(
                &tx,
                scope,
                model,
                filter,
                body.get("select"),
                body.get("orderBy"),
                Some((limit, offset)),
            )?;
            let mut data = json!({ "records": records });
            if truthy(get("getCount").as_ref()) {
                data["total"] = json!(records::count(&tx, scope, model, filter)?);
            }
            data
        }
        Op::Create => json!({ "id": records::create(&tx, scope, model, required(body, "data")?, writer)? }),
        Op::CreateMany => {
            let items =
                required(body, "data")?.as_array().ok_or_else(|| invalid("data must be an array of objects"))?;
            if items.is_empty() {
                return Err(invalid("data must hold at least one record"));
            }
            let ids = items
                .iter()
                .map(|item| records::create(&tx, scope, model, item, writer))
                .collect::<Result<Vec<_>, _>>()?;
            json!({ "idList": ids })
        }
        Op::Update | Op::UpdateMany => {
            let filter = required(body, "filter")?;
            let data = required(body, "data")?;
            let limit = (op == Op::Update).then_some(1);
            let rows = records::matching(&tx, scope, model, Some(filter), limit)?;
            let ids = records::update(&tx, scope, model, rows, data, writer)?;
            if op == Op::Update {
                json!({ "count": ids.len() })
            } else {
                json!({ "count": ids.len(), "legalIdList": ids, "illegalIdList": [] })
            }
        }
        Op::Upsert => {
            let filter = required(body, "filter")?;
            let create = required(body, "create")?;
            let update = required(body, "update")?;
            let rows = records::matching(&tx, scope, model, Some(filter), Some(1))?;
            if rows.is_empty() {
                json!({ "count": 0, "id": records::create(&tx, scope, model, create, writer)? })
            } else {
                json!({ "count": records::update(&tx, scope, model, rows, update, writer)?.len(), "id": "" })
            }
        }
        Op::DeleteById | Op::Delete | Op::DeleteMany => {
            let filter = match op {
                Op::DeleteById => by_id(record_id.unwrap_or_default()),
                _ => required(body, "filter")?.clone(),
            };
            let limit = (op != Op::DeleteMany).then_some(1);
            let ids: Vec<String> =
                records::matching(&tx, scope, model, Some(&filter), limit)?.into_iter().map(|(id, _)| id).collect();
            let count = records::delete(&tx, scope, model, &ids)?;
            if op == Op::DeleteMany {
                json!({ "count": count, "legalIdList": ids, "illegalIdList": [] })
            } else {
                json!({ "count": count })
            }
        }
    };
    tx.commit().map_err(internal)?;
    Ok(data)
}

/// Validates and registers a model, creating its tables in the default database.
pub(crate) fn create_model(data: &crate::data::Data, def: def::ModelDef) -> Result<(), String> {
    def.validate()?;
    let db = data.dbs.default_db();
    records::create_tables(&lock(&db), &def.name).map_err(|e| format!("model {}: {e}", def.name))?;
    data.insert_model(def);
    Ok(())
}
