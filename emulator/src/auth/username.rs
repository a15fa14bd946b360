//! Username availability checks.

use serde_json::{Value, json};

use super::Ctx;
use super::request::Req;
use crate::state::{ApiError, ApiResult};
use crate::util;

impl Ctx<'_> {
    pub(super) fn check_username(&mut self, req: &Req) -> ApiResult<Value> {
        // The spec sends `username` in the query; the JS SDK puts it in a GET body.
        let username = req
            .query("username")
            .or_else(|| req.body.get("username").and_then(Value::as_str))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::invalid_argument("username is required"))?;
        if !util::valid_username(username) {
            return Err(ApiError::invalid_argument(
                "username must be 2 to 48 letters, digits or -_.:+@ and start with a letter or digit",
            ));
        }
        Ok(json!({ "exist": self.core.db.username_taken(username, None) }))
    }

    pub(super) fn check_if_user_exist(&mut self, req: &Req) -> ApiResult<Value> {
        let username = req
            .query("username")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::invalid_argument("username is required"))?;
        Ok(json!({ "exist": self.core.db.user_by_login(username).is_some() }))
    }
}
