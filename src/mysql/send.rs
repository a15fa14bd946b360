//! The five generated calls of `openapi/mysql.yaml`, each in its three path forms (default database, a named
//! database, a named instance and database), sent through the core with the session's credential.

use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use progenitor_client::{ByteStream, ResponseValue};

use super::filter::Filters;
use super::{JsonBody, Target};
use crate::core::transport::As;
use crate::core::{Core, ErrorBody};
use crate::raw::mysql::Client;
use crate::{Error, ErrorCode, ServiceError};

type RawError = progenitor_client::Error<ErrorBody>;

/// What the service answered: status, the `Content-Range` total or count, and the body's bytes.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub range: ContentRange,
    pub body: Bytes,
    pub request_id: Option<String>,
}

/// `Content-Range`: `first-last/total`, `*/total`, or `first-last/*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub total: Option<u64>,
}

impl ContentRange {
    pub(crate) fn parse(headers: &reqwest::header::HeaderMap) -> Self {
        let text = headers.get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let total = text.rsplit_once('/').and_then(|(_, total)| total.trim().parse().ok());
        ContentRange { total }
    }
}

/// The parameters of one request besides its body.
#[derive(Debug, Default)]
pub(crate) struct Params<'a> {
    pub filters: Option<&'a Filters>,
    pub select: Option<&'a str>,
    pub order: Option<&'a str>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub on_conflict: Option<&'a str>,
    pub columns: Option<&'a str>,
    pub prefer: Option<&'a str>,
    /// `Accept: application/vnd.pgrst.object+json`: one object, or 406.
    pub single: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Head,
    Post,
    Patch,
    Delete,
}

impl Verb {
    fn operation(self) -> &'static str {
        match self {
            Verb::Get => "query_records",
            Verb::Head => "count_records",
            Verb::Post => "insert_records",
            Verb::Patch => "update_records",
            Verb::Delete => "delete_records",
        }
    }
}

// The generated calls' own error type, returned inside their futures.
#[allow(clippy::result_large_err)]
fn path<T: FromStr>(field: &str, value: &str) -> Result<T, RawError> {
    value.parse().map_err(|_| RawError::InvalidRequest(format!("invalid {field} {value:?}")))
}

/// Sends one request; the body's bytes are read whole (the transport bounds them).
pub(crate) async fn send(
    target: &Target,
    verb: Verb,
    params: &Params<'_>,
    body: Option<&JsonBody>,
) -> Result<Reply, Error> {
    let core: &Arc<Core> = &target.core;
    let operation = verb.operation();
    let accept: Vec<(HeaderName, HeaderValue)> = if params.single {
        vec![(http::header::ACCEPT, HeaderValue::from_static("application/vnd.pgrst.object+json"))]
    } else {
        Vec::new()
    };
    let empty = JsonBody::empty_object();
    let body = body.unwrap_or(&empty);
    let (table, schema, instance) = (target.table.as_str(), target.schema.as_deref(), target.instance.as_deref());
    core.with_session(false, true, |who: As, _| {
        let accept = &accept;
        async move {
            let p = params;
            let send = |c: Client| async move {
                macro_rules! call {
                    ($get:ident, $head:ident, $post:ident, $patch:ident, $delete:ident $(, $pre:expr)*) => {
                        match verb {
                            Verb::Get => c.$get($($pre,)* &path("table", table)?, p.filters, p.limit, p.offset, p.order, p.select, None, p.prefer, None).await,
                            Verb::Head => c.$head($($pre,)* &path("table", table)?, p.filters, p.select, None, p.prefer, None).await.map(empty_stream),
                            Verb::Post => c.$post($($pre,)* &path("table", table)?, p.columns, p.on_conflict, p.select, None, p.prefer, None, body).await,
                            Verb::Patch => c.$patch($($pre,)* &path("table", table)?, p.filters, p.limit, p.order, p.select, None, p.prefer, None, body).await,
                            Verb::Delete => c.$delete($($pre,)* &path("table", table)?, p.filters, p.limit, p.order, p.select, None, p.prefer, None).await,
                        }
                    };
                }
                match (instance, schema) {
                    (None, None) => call!(query_records, count_records, insert_records, update_records, delete_records),
                    (None, Some(schema)) => call!(
                        query_records_with_schema,
                        count_records_with_schema,
                        insert_records_with_schema,
                        update_records_with_schema,
                        delete_records_with_schema,
                        &path("schema", schema)?
                    ),
                    (Some(instance), Some(schema)) => call!(
                        query_records_with_instance,
                        count_records_with_instance,
                        insert_records_with_instance,
                        update_records_with_instance,
                        delete_records_with_instance,
                        &path("instance", instance)?,
                        &path("schema", schema)?
                    ),
                    (Some(_), None) => Err(RawError::InvalidRequest("an instance needs a schema (database)".into())),
                }
            };
            let attempt = core.send_with(operation, &who, None, accept, &send).await;
            let request_id = attempt.request_id;
            let response = attempt.result?;
            let status = response.status().as_u16();
            let range = ContentRange::parse(response.headers());
            let body = crate::core::transport::collect_body(response.into_inner(), operation, &request_id).await?;
            Ok(Reply { status, range, body, request_id })
        }
    })
    .await
}

fn empty_stream(value: ResponseValue<()>) -> ResponseValue<ByteStream> {
    let (status, headers) = (value.status(), value.headers().clone());
    ResponseValue::new(ByteStream::new(Box::pin(futures::stream::empty())), status, headers)
}

/// The client-made error of `maybe_single` with more than one row (what PostgREST answers for `single`).
pub(crate) fn not_one_row(rows: usize, request_id: Option<String>) -> Error {
    Error::Service(ServiceError {
        code: ErrorCode::parse("PGRST116"),
        numeric_code: None,
        description: Some(format!("JSON object requested, {rows} rows returned")),
        status: Some(406),
        request_id,
        operation: "query_records",
        retry_after: None,
    })
}
