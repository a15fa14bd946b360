//! MySQL RESTful (`/v1/rdb/rest`) over HTTP: reads, the filter grammar, writes, `Prefer`, errors, addressing by
//! path and by header, seeding, and SQL injection attempts that must leave the database unchanged.

#[path = "../common/mod.rs"]
mod common;

mod addressing;
mod databases;
mod filters;
mod helpers;
mod injection;
mod js_sdk;
mod reads;
mod writes;
