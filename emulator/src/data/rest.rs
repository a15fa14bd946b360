//! MySQL RESTful (`/v1/rdb/rest`): a PostgREST dialect over the emulator's SQLite databases.
//!
//! Paths `/{table}`, `/{schema}/{table}`, `/{instance}/{schema}/{table}`; without path segments the
//! instance comes from `X-Db-Instance` (default `default`) and the schema from `Accept-Profile` (GET, HEAD)
//! or `Content-Profile` (writes), default the environment id. Errors are the gateway envelope with real
//! HTTP statuses.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, Response};
use axum::routing::any;
use serde_json::{Map, Value};

use super::db::{DEFAULT_INSTANCE, lock};
use super::grammar;
use super::rest_sql::{Action, Failure, Outcome, Resolution, run, single_failure};
use crate::gateway::{Caller, RequestId, envelope, header_string, token::check_token};
use crate::reply::{json_response, text_response};
use crate::service::{BodyPolicy, ErrorStyle, Operation, Service};
use crate::state::State;
use crate::util::parse_query;

/// Largest request body: 10 MiB.
const MAX_BODY: usize = 10 << 20;
const OBJECT_MEDIA_TYPE: &str = "application/vnd.pgrst.object+json";

macro_rules! ops {
    ($path:literal, $suffix:literal) => {
        [
            Operation { method: "GET", path: $path, id: concat!("query_records", $suffix) },
            Operation { method: "HEAD", path: $path, id: concat!("count_records", $suffix) },
            Operation { method: "POST", path: $path, id: concat!("insert_records", $suffix) },
            Operation { method: "PATCH", path: $path, id: concat!("update_records", $suffix) },
            Operation { method: "DELETE", path: $path, id: concat!("delete_records", $suffix) },
        ]
    };
}

const OPERATIONS: [Operation; 15] = {
    let [a, b, c, d, e] = ops!("/{table}", "");
    let [f, g, h, i, j] = ops!("/{schema}/{table}", "_with_schema");
    let [k, l, m, n, o] = ops!("/{instance}/{schema}/{table}", "_with_instance");
    [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o]
};

/// The MySQL RESTful service as mounted by [`crate::service::SERVICES`].
pub(crate) const SERVICE: Service = Service {
    base: "/v1/rdb/rest",
    body: BodyPolicy::Buffered(MAX_BODY),
    errors: ErrorStyle::Gateway,
    operations: &OPERATIONS,
    router,
};

type St = AxumState<Arc<State>>;

fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/{table}", any(|s: St, Path(table): Path<String>, r: Request| handle(s, None, None, table, r)))
        .route(
            "/{schema}/{table}",
            any(|s: St, Path((schema, table)): Path<(String, String)>, r: Request| {
                handle(s, None, Some(schema), table, r)
            }),
        )
        .route(
            "/{instance}/{schema}/{table}",
            any(|s: St, Path((instance, schema, table)): Path<(String, String, String)>, r: Request| {
                handle(s, Some(instance), Some(schema), table, r)
            }),
        )
}

/// The `Prefer` values a request asked for (several headers, or one with comma-joined values).
#[derive(Default)]
struct Prefer {
    representation: Option<String>,
    count: bool,
    resolution: Option<Resolution>,
    missing_default: bool,
}

impl Prefer {
    fn parse(headers: &HeaderMap) -> Self {
        let mut prefer = Prefer::default();
        for value in headers.get_all("prefer") {
            for item in String::from_utf8_lossy(value.as_bytes()).split(',') {
                match item.trim() {
                    r @ ("return=representation" | "return=minimal" | "return=headers-only") => {
                        prefer.representation = Some(r["return=".len()..].to_owned());
                    }
                    "count=exact" | "count=planned" | "count=estimated" => prefer.count = true,
                    "resolution=merge-duplicates" => prefer.resolution = Some(Resolution::MergeDuplicates),
                    "resolution=ignore-duplicates" => prefer.resolution = Some(Resolution::IgnoreDuplicates),
                    "missing=default" => prefer.missing_default = true,
                    _ => {}
                }
            }
        }
        prefer
    }

    fn wants_rows(&self) -> bool {
        self.representation.as_deref() == Some("representation")
    }

    /// `Preference-Applied`: the ones honoured; writes always name their `return` (default `minimal`).
    fn applied(&self, write: bool, insert: bool) -> String {
        let mut applied = Vec::new();
        if write {
            applied.push(format!("return={}", self.representation.as_deref().unwrap_or("minimal")));
        }
        if self.count {
            applied.push("count=exact".to_owned());
        }
        if insert {
            match self.resolution {
                Some(Resolution::MergeDuplicates) => applied.push("resolution=merge-duplicates".to_owned()),
                Some(Resolution::IgnoreDuplicates) => applied.push("resolution=ignore-duplicates".to_owned()),
                None => {}
            }
            if self.missing_default {
                applied.push("missing=default".to_owned());
            }
        }
        applied.join(", ")
    }
}

async fn handle(
    AxumState(state): St,
    instance: Option<String>,
    schema: Option<String>,
    table: String,
    request: Request,
) -> Response<Body> {
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let (parts, body) = request.into_parts();
    match serve(&state, instance, schema, table, &parts.method, &parts.headers, parts.uri.query(), body).await {
        Ok(response) => response,
        Err(f) => {
            let mut response = envelope(f.status, f.code, &f.message, &request_id);
            if parts.method == Method::HEAD {
                *response.body_mut() = Body::empty();
            }
            response
        }
    }
}

/// The body as JSON (`None` when empty).
fn json_body(bytes: &[u8]) -> Result<Option<Value>, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes).map(Some).map_err(|e| Failure::param(format!("malformed JSON body: {e}")))
}

fn objects(body: Option<Value>) -> Result<Vec<Map<String, Value>>, Failure> {
    let not_object = || Failure::param("the body must be a JSON object or an array of objects");
    match body {
        Some(Value::Object(row)) => Ok(vec![row]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::Object(row) => Ok(row),
                _ => Err(not_object()),
            })
            .collect(),
        _ => Err(not_object()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    state: &State,
    instance: Option<String>,
    schema: Option<String>,
    table: String,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Result<Response<Body>, Failure> {
    let caller = check_token(state, headers).map_err(|r| Failure::new(401, r.code, r.message))?;
    let reading = matches!(*method, Method::GET | Method::HEAD);
    let profile = if reading { "accept-profile" } else { "content-profile" };
    let instance = instance
        .or_else(|| header_string(headers, "x-db-instance").filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| DEFAULT_INSTANCE.to_owned());
    let schema = schema
        .or_else(|| header_string(headers, profile).filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| state.data.dbs.default_schema().to_owned());
    let (instance, schema) = (instance.trim().to_owned(), schema.trim().to_owned());
    let db =
        state.data.dbs.get(&instance, &schema).ok_or_else(|| {
            Failure::new(404, "RESOURCE_NOT_FOUND", format!("database {instance}/{schema} not found"))
        })?;
    let pairs = parse_query(query.unwrap_or_default());
    let query = grammar::parse(&pairs).map_err(Failure::param)?;
    let prefer = Prefer::parse(headers);
    let single =
        headers.get_all("accept").iter().any(|a| String::from_utf8_lossy(a.as_bytes()).contains(OBJECT_MEDIA_TYPE));
    // The edge already bounded the body.
    let bytes: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let action = match *method {
        Method::GET | Method::HEAD => Action::Read { count: prefer.count },
        Method::POST => Action::Insert {
            rows: objects(json_body(&bytes)?)?,
            resolution: prefer.resolution,
            missing_default: prefer.missing_default,
            openid: match &caller {
                Caller::User { user_id, .. } => Some(user_id.clone()),
                _ => None,
            },
        },
        Method::PATCH => {
            if query.filters.is_empty() {
                return Err(Failure::new(400, "BadApiRequest", "UPDATE requires a WHERE clause"));
            }
            match json_body(&bytes)? {
                Some(Value::Object(values)) => Action::Update { values },
                _ => return Err(Failure::param("the body of an update must be a JSON object")),
            }
        }
        Method::DELETE => {
            if query.filters.is_empty() {
                return Err(Failure::new(400, "BadApiRequest", "DELETE requires a WHERE clause"));
            }
            Action::Delete
        }
        _ => return Err(Failure::new(405, "INVALID_REQUEST", format!("method {method} is not allowed"))),
    };
    let write_single = single && !reading && prefer.wants_rows();
    let offset = query.offset.unwrap_or(0);
    let outcome = tokio::task::spawn_blocking(move || {
        let mut conn = lock(&db);
        run(&mut conn, &table, &query, action, write_single)
    })
    .await
    .map_err(|e| Failure::new(500, "SYS_ERR", format!("the query failed: {e}")))??;
    respond(method, &prefer, single, offset, outcome)
}

fn respond(
    method: &Method,
    prefer: &Prefer,
    single: bool,
    offset: u64,
    outcome: Outcome,
) -> Result<Response<Body>, Failure> {
    let Outcome { rows, total } = outcome;
    let n = rows.len() as u64;
    let (status, range, body) = match *method {
        Method::GET | Method::HEAD => {
            let total = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
            let range = if n == 0 { format!("*/{total}") } else { format!("{offset}-{}/{total}", offset + n - 1) };
            let body = if single {
                let mut rows = rows;
                if rows.len() != 1 {
                    return Err(single_failure(rows.len()));
                }
                rows.pop()
            } else {
                Some(Value::Array(rows))
            };
            (200, range, body)
        }
        _ => {
            let created = *method == Method::POST;
            let body = if prefer.wants_rows() {
                Some(if single { rows.into_iter().next().unwrap_or(Value::Null) } else { Value::Array(rows) })
            } else {
                None
            };
            let status = match (&body, created) {
                (_, true) => 201,
                (Some(_), false) => 200,
                (None, false) => 204,
            };
            (status, format!("*/{n}"), body)
        }
    };
    let mut response = match body {
        Some(body) if *method != Method::HEAD => json_response(status, &body),
        _ => text_response(status, "application/json; charset=utf-8", Body::empty()),
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&range) {
        headers.insert("content-range", value);
    }
    let write = !matches!(*method, Method::GET | Method::HEAD);
    let applied = prefer.applied(write, *method == Method::POST);
    if !applied.is_empty()
        && let Ok(value) = HeaderValue::from_str(&applied)
    {
        headers.insert("preference-applied", value);
    }
    Ok(response)
}
