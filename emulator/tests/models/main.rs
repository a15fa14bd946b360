//! Data models (`/v1/model`) over HTTP: the twelve record operations, the where grammar, relations, paging
//! limits, system fields, permissions, data sources, `mysqlCommand`, seeding, and injection attempts.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod data_sources;
mod helpers;
mod injection;
mod js_sdk;
mod mysql_command;
mod queries;
mod records;
