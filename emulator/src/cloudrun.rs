//! Cloud run (`/v1/cloudrun`): `{METHOD} /v1/cloudrun/{name}[/{path}]` reaches the service registered as
//! `name` ([`crate::EmulatorBuilder::cloudrun`], or forwarded to a local server); see [`crate::proxy`].

use std::sync::Arc;

use axum::Router;

use crate::proxy::{self, Kind};
use crate::service::{BodyPolicy, ErrorStyle, Operation, Service};
use crate::state::State;

const OPERATIONS: [Operation; 21] = proxy::operations([
    "call_container_get",
    "call_container_post",
    "call_container_put",
    "call_container_patch",
    "call_container_delete",
    "call_container_head",
    "call_container_options",
]);

static KIND: Kind =
    Kind { base: "/v1/cloudrun", not_found: "SERVICE_NOT_FOUND", what: "cloud run service", targets: |t| &t.cloudrun };

/// The cloud run service as mounted by [`crate::service::SERVICES`].
pub(crate) const SERVICE: Service = Service {
    base: "/v1/cloudrun",
    body: BodyPolicy::Streamed(proxy::MAX_BODY),
    errors: ErrorStyle::Gateway,
    operations: &OPERATIONS,
    router,
};

fn router() -> Router<Arc<State>> {
    proxy::router(&KIND)
}
