//! The services the emulator serves and the route metadata the gateway reads: which operation each
//! (method, path template) is.
//!
//! Adding a service (data, storage): write a module with a `SERVICE` constant naming its mount point, its
//! operation table, how the gateway treats its bodies and errors, and its `router()`, then add it to
//! [`SERVICES`]. The router sits behind the gateway (request log, exchanges, faults by operation id) without
//! further wiring; handlers that need a signed-in caller take a [`crate::gateway::Caller`] argument.

use std::sync::Arc;

use axum::Router;

use crate::state::State;
use crate::{apis, auth, cloudrun, data, functions, storage};

/// One operation of a service: the spec's method, path and `operationId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Operation {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// The path template below the service's base, in the spec's and axum's syntax: `/user/provider/{id}`.
    pub path: &'static str,
    /// The spec's `operationId`: what faults, counts and logs are keyed by.
    pub id: &'static str,
}

/// How the gateway's edge reads a service's request bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyPolicy {
    /// Read whole (at most this many bytes, else 413) before the service sees the request; logged as JSON.
    Buffered(usize),
    /// Passed to the service as a stream, never read whole by the gateway, never logged; more than this many
    /// bytes (by `Content-Length`, else counted as they pass) answers 413 or ends the stream with an error.
    Streamed(u64),
}

/// The error body shape of a service (and of the gateway's own answers for it: 413, injected faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorStyle {
    /// Auth's `{error, error_code, error_description}`.
    Auth,
    /// The gateway envelope `{code, message, requestId}`.
    Gateway,
    /// The object store's XML `<Error>` document (the `/_cos` routes).
    Cos,
}

/// A service: its operations and the router that serves them.
pub(crate) struct Service {
    /// Where the router is nested: `/auth/v1`.
    pub base: &'static str,
    /// How request bodies reach the service.
    pub body: BodyPolicy,
    /// The shape of its errors.
    pub errors: ErrorStyle,
    /// Every operation the router serves. The gateway names a request's operation from this table, so a
    /// route missing here is served but never faulted or counted.
    pub operations: &'static [Operation],
    /// The service's routes, paths relative to `base`.
    pub router: fn() -> Router<Arc<State>>,
}

/// Every service, mounted in this order.
pub(crate) const SERVICES: &[&Service] = &[
    &auth::SERVICE,
    &functions::SERVICE,
    &cloudrun::SERVICE,
    &apis::SERVICE,
    &storage::SERVICE,
    &storage::COS_SERVICE,
    &data::rest::SERVICE,
    &data::model::SERVICE,
];

/// The service whose base the request path is under.
pub(crate) fn service_of(path: &str) -> Option<&'static Service> {
    SERVICES
        .iter()
        .copied()
        .find(|s| path.strip_prefix(s.base).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// Every service router nested at its base.
pub(crate) fn router() -> Router<Arc<State>> {
    SERVICES.iter().fold(Router::new(), |router, service| router.nest(service.base, (service.router)()))
}

/// Every operation of every service: (method, full path template, operation id).
pub(crate) fn operations() -> impl Iterator<Item = (&'static str, String, &'static str)> {
    SERVICES.iter().flat_map(|s| s.operations.iter().map(|op| (op.method, format!("{}{}", s.base, op.path), op.id)))
}

/// Whether `operation_id` names an operation of some service.
pub(crate) fn is_operation(operation_id: &str) -> bool {
    SERVICES.iter().any(|s| s.operations.iter().any(|op| op.id == operation_id))
}

/// The operation of a route axum matched: `template` is its full `MatchedPath` (base included).
pub(crate) fn operation(method: &str, template: &str) -> Option<&'static str> {
    SERVICES.iter().find_map(|s| {
        let path = template.strip_prefix(s.base)?;
        s.operations.iter().find(|op| op.method == method && op.path == path).map(|op| op.id)
    })
}

/// The operation a concrete request path addresses, matching templates segment by segment (a `{param}`
/// segment matches one non-empty segment, a `{*rest}` segment one or more segments). Agrees with the routers for the paths they serve; for tools that
/// see a path without going through a router.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn route(method: &str, path: &str) -> Option<&'static str> {
    operations().find(|(m, template, _)| *m == method && matches_template(template, path)).map(|(_, _, id)| id)
}

fn matches_template(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with("{*") => return !ps.is_empty(),
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') => {
                if ps.is_empty() {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_matches_templates() {
        assert_eq!(route("POST", "/auth/v1/signin"), Some("sign_in"));
        assert_eq!(route("GET", "/auth/v1/signin"), None);
        assert_eq!(route("DELETE", "/auth/v1/user/provider/github"), Some("unbind_provider"));
        assert_eq!(route("DELETE", "/auth/v1/user/provider/"), None);
        assert_eq!(route("DELETE", "/auth/v1/user/provider/a/b"), None);
        assert_eq!(route("POST", "/auth/v1/user/provider/bind"), Some("bind_provider"));
        assert_eq!(route("POST", "/auth/v1/signin/"), None);
    }

    #[test]
    fn gateway_services_route() {
        assert_eq!(route("POST", "/v1/functions/sum"), Some("call_function"));
        assert_eq!(route("GET", "/v1/functions/sum"), None);
        assert_eq!(route("GET", "/v1/cloudrun/svc"), Some("call_container_get"));
        assert_eq!(route("OPTIONS", "/v1/cloudrun/svc/"), Some("call_container_options"));
        assert_eq!(route("PATCH", "/v1/cloudrun/svc/a/b/c"), Some("call_container_patch"));
        assert_eq!(route("HEAD", "/v1/apis/label/x"), Some("call_api_head"));
        assert_eq!(service_of("/v1/cloudrun/x").map(|s| s.base), Some("/v1/cloudrun"));
        assert_eq!(service_of("/v1/cloudrunx").map(|s| s.base), None);
        assert_eq!(route("POST", "/v1/storages/copy-objects"), Some("copy_objects"));
        assert_eq!(route("PUT", "/_cos/b/a"), Some("cos_put_object"));
        assert_eq!(route("GET", "/_cos/b/a/b/c"), Some("cos_get_object"));
        assert_eq!(route("HEAD", "/_cos/b/a"), Some("cos_head_object"));
        assert_eq!(route("GET", "/_cos/b"), None);
    }

    #[test]
    fn an_operation_id_names_one_method_and_each_route_one_operation() {
        let mut routes: Vec<_> = operations().map(|(m, p, _)| (m, p)).collect();
        let all = routes.len();
        routes.sort_unstable();
        routes.dedup();
        assert_eq!(routes.len(), all);
        let mut ids: Vec<_> = operations().map(|(m, _, id)| (id, m)).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut names: Vec<_> = ids.iter().map(|(id, _)| *id).collect();
        names.dedup();
        assert_eq!(names.len(), ids.len());
    }
}
