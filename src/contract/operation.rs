//! One operation of the spec: what it declares, and which declared response a status picks.

use super::OperationRef;
use super::body::{Body, RequestBody};
use super::params::Param;
use super::path::Piece;

pub(super) struct Operation {
    pub(super) method: String,
    pub(super) path_template: String,
    pub(super) operation_id: String,
    pub(super) segments: Vec<Vec<Piece>>,
    pub(super) params: Vec<Param>,
    pub(super) request_body: Option<RequestBody>,
    /// Response keys as written in the spec (`200`, `4XX`, `default`), with their JSON body.
    pub(super) responses: Vec<(String, Body)>,
}

impl Operation {
    pub(super) fn as_ref(&self) -> OperationRef<'_> {
        OperationRef { operation_id: &self.operation_id, method: &self.method, path_template: &self.path_template }
    }

    pub(super) fn response(&self, status: u16) -> Option<(&str, &Body)> {
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let find = |key: &str| {
            self.responses.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(k, body)| (k.as_str(), body))
        };
        find(&exact)
            .or_else(|| find(&range))
            .or_else(|| find("default"))
            .or_else(|| if (200..300).contains(&status) { find("200") } else { None })
    }
}

pub(super) const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
