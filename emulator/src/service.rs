//! The services the emulator serves and the route metadata the gateway reads: which operation each
//! (method, path template) is.
//!
//! Adding a service (functions, cloud run, data, storage): write a module with a `SERVICE` constant naming
//! its mount point, its operation table and its `router()`, then add it to [`SERVICES`]. The router sits
//! behind the gateway (request log, exchanges, faults by operation id) without further wiring; handlers that
//! need a signed-in caller take a [`crate::gateway::Caller`] argument.

use std::sync::Arc;

use axum::Router;

use crate::auth;
use crate::state::State;

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

/// A service: its operations and the router that serves them.
pub(crate) struct Service {
    /// Where the router is nested: `/auth/v1`.
    pub base: &'static str,
    /// Every operation the router serves. The gateway names a request's operation from this table, so a
    /// route missing here is served but never faulted or counted.
    pub operations: &'static [Operation],
    /// The service's routes, paths relative to `base`.
    pub router: fn() -> Router<Arc<State>>,
}

/// Every service, mounted in this order.
pub(crate) const SERVICES: &[&Service] = &[&auth::SERVICE];

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
/// segment matches one non-empty segment). Agrees with the routers for the paths they serve; for tools that
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
    fn operation_ids_are_unique() {
        let mut ids: Vec<_> = operations().map(|(_, _, id)| id).collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all);
    }
}
