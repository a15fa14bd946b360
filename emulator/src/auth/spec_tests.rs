//! The auth route table checked against `openapi/auth.yaml`: the spec, not a hand count, says what the
//! router serves.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

use super::SERVICE;
use crate::EmulatorConfig;
use crate::state::State;

const SPEC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/auth.yaml"));
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Every (method, path, operationId) of the spec.
fn spec_operations() -> BTreeSet<(String, String, String)> {
    let spec: serde_norway::Value = serde_norway::from_str(SPEC).expect("auth.yaml parses");
    let paths = spec["paths"].as_mapping().expect("the spec has paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().expect("paths are strings");
        for method in METHODS {
            if let Some(op) = item.get(method.to_lowercase()) {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has an operationId"));
                operations.insert(((*method).to_owned(), path.to_owned(), id.to_owned()));
            }
        }
    }
    operations
}

fn table_operations() -> BTreeSet<(String, String, String)> {
    SERVICE
        .operations
        .iter()
        .map(|op| (op.method.to_owned(), format!("{}{}", SERVICE.base, op.path), op.id.to_owned()))
        .collect()
}

#[test]
fn the_route_table_is_the_spec() {
    let spec = spec_operations();
    assert!(!spec.is_empty());
    let table = table_operations();
    let missing: Vec<_> = spec.difference(&table).collect();
    let extra: Vec<_> = table.difference(&spec).collect();
    assert!(missing.is_empty() && extra.is_empty(), "not routed: {missing:?}; not in the spec: {extra:?}");
}

/// What the gateway names a request's operation, sending it through the whole app.
async fn routed_operation(state: &Arc<State>, method: &str, path: &str) -> (Option<String>, u16) {
    let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
    let response = crate::server::app(state.clone()).oneshot(request).await.unwrap();
    let recorded = state.requests().pop().expect("service requests are recorded");
    assert_eq!(recorded.path, path);
    (recorded.operation_id, response.status().as_u16())
}

#[tokio::test]
async fn the_router_routes_each_spec_operation_to_its_id_and_nothing_else() {
    let state = Arc::new(State::new(EmulatorConfig::default(), "http://127.0.0.1:9".into()).unwrap());
    let spec = spec_operations();
    let paths: BTreeSet<&str> = spec.iter().map(|(_, path, _)| path.as_str()).collect();
    for path in paths {
        // A concrete path for the template: `{provider_id}` -> `p1`.
        let concrete: String = path
            .split('/')
            .map(|segment| if segment.starts_with('{') { "p1" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let expected = spec.iter().find(|(m, p, _)| m == method && p == path).map(|(_, _, id)| id.clone());
            let (routed, status) = routed_operation(&state, method, &concrete).await;
            assert_eq!(routed, expected, "{method} {concrete}");
            if expected.is_none() {
                assert_eq!(status, 404, "{method} {concrete} is not an operation");
            }
        }
    }
}
