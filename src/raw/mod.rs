//! The spec-exact layer: clients generated from `openapi/*.yaml` at build time, usable alone.

pub(crate) mod context;

pub use context::{Context, ResponseMeta};

/// The CloudBase auth service (`openapi/auth.yaml`).
#[allow(missing_docs, clippy::all, clippy::pedantic, unused_imports, dead_code, irrefutable_let_patterns)]
pub mod auth {
    include!(concat!(env!("OUT_DIR"), "/auth.rs"));
}
