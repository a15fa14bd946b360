//! APIs (`/v1/apis`): `{METHOD} /v1/apis/{name}[/{path}]` reaches the API registered as `name` (the "APIs
//! label": [`crate::EmulatorBuilder::api`], or forwarded to a local server); see [`crate::proxy`]. The
//! reference documents no error code for an unknown API: `404 API_NOT_FOUND` is this emulator's choice.

use std::sync::Arc;

use axum::Router;

use crate::proxy::{self, Kind};
use crate::service::{BodyPolicy, ErrorStyle, Operation, Service};
use crate::state::State;

const OPERATIONS: [Operation; 21] = proxy::operations([
    "call_api_get",
    "call_api_post",
    "call_api_put",
    "call_api_patch",
    "call_api_delete",
    "call_api_head",
    "call_api_options",
]);

static KIND: Kind = Kind { base: "/v1/apis", not_found: "API_NOT_FOUND", what: "API", targets: |t| &t.apis };

/// The APIs service as mounted by [`crate::service::SERVICES`].
pub(crate) const SERVICE: Service = Service {
    base: "/v1/apis",
    body: BodyPolicy::Streamed(proxy::MAX_BODY),
    errors: ErrorStyle::Gateway,
    operations: &OPERATIONS,
    router,
};

fn router() -> Router<Arc<State>> {
    proxy::router(&KIND)
}
