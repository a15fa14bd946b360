//! Data models: `app.models()`, the Flutter SDK's `app.models` (`getById`, `get`, `list`, `listSimple`,
//! `create`, `createMany`, `update`, `updateMany`, `upsert`, `deleteById`, `deleteRecord`, `deleteMany`,
//! `mysqlCommand` and the seven data source queries) in snake_case, generic over serde types, with a typed
//! [`Where`] for the filter grammar. Over the generated `raw::model` client.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use cloudbase_emulator::{Emulator, FieldType, ModelDef};
//! # let emu = Emulator::builder()
//! #     .model(ModelDef::new("todo").field("title", FieldType::String, true).field("done", FieldType::Boolean, false))
//! #     .start()
//! #     .await?;
//! # let app = cloudbase::CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
//! # app.auth().sign_in_anonymously().await?;
//! use cloudbase::models::{ListQuery, Where};
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Todo { title: String, done: bool }
//! let todos = app.models().model("todo");
//! let id = todos.create(&Todo { title: "Buy milk".into(), done: false }).await?;
//! let page = todos
//!     .list::<Todo>(ListQuery::new().where_(Where::eq("done", false)).order_by("createdAt", false).get_count(true))
//!     .await?;
//! assert_eq!((page.records.len(), page.total), (1, Some(1)));
//! todos.update(Where::eq("_id", &id), &serde_json::json!({"done": true})).await?;
//! # Ok(()) }
//! ```

mod datasource;
mod query;
mod reply;
mod sql;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use datasource::{AggregateListOptions, BasicListOptions, DataSourceRef};
pub use query::{ListQuery, MAX_ORDER_BY, MAX_PAGE_SIZE, Query, Select, Where};
pub use sql::{SqlParam, SqlResult};

use crate::core::Core;
use crate::raw::model::Client;
use crate::raw::model::types;
use crate::{CloudBase, Error};
use reply::call;

/// Which data a model call reads and writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnvType {
    /// Published data (the Flutter SDK's only one).
    #[default]
    Prod,
    /// Trial data.
    Pre,
}

impl CloudBase {
    /// The environment's data models (published data; [`Models::env_type`] for trial data), the data source
    /// queries and SQL commands, as the signed-in user or with the publishable key.
    pub fn models(&self) -> Models {
        Models { core: Arc::clone(self.core()), env_type: EnvType::Prod }
    }
}

/// Data models ([`CloudBase::models`]). Cheap to clone.
#[derive(Clone)]
pub struct Models {
    core: Arc<Core>,
    env_type: EnvType,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models").field("env_type", &self.env_type).finish_non_exhaustive()
    }
}

impl Models {
    /// Reads and writes `env_type`'s data.
    pub fn env_type(mut self, env_type: EnvType) -> Self {
        self.env_type = env_type;
        self
    }

    /// The model `name` (its identifier).
    pub fn model(&self, name: impl Into<String>) -> Model {
        Model { core: Arc::clone(&self.core), env_type: self.env_type, name: name.into() }
    }
}

/// One model ([`Models::model`]). Cheap to clone.
#[derive(Clone)]
pub struct Model {
    core: Arc<Core>,
    env_type: EnvType,
    name: String,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.name).field("env_type", &self.env_type).finish_non_exhaustive()
    }
}

/// A page of records ([`Model::list`]).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
#[non_exhaustive]
pub struct Page<T> {
    /// The records.
    pub records: Vec<T>,
    /// All matching records, when [`ListQuery::get_count`] was set.
    #[serde(default)]
    pub total: Option<u64>,
}

/// What `update_many` and `delete_many` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ManyResult {
    /// Records changed.
    pub count: u64,
    /// The ids of the records changed.
    #[serde(default, rename = "legalIdList")]
    pub legal_ids: Vec<Value>,
    /// The ids of the records that matched but could not be changed.
    #[serde(default, rename = "illegalIdList")]
    pub illegal_ids: Vec<Value>,
}

/// What `upsert` did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upserted {
    /// A record matched and was updated.
    Updated,
    /// No record matched; this one was created.
    Created {
        /// The new record's `_id`.
        id: String,
    },
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Found<T> {
    record: Option<T>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct CreatedMany {
    #[serde(rename = "idList")]
    id_list: Vec<String>,
}

#[derive(Deserialize)]
struct Counted {
    count: u64,
}

#[derive(Deserialize)]
struct UpsertData {
    count: u64,
    #[serde(default)]
    id: Option<String>,
}

fn record<T: Serialize + ?Sized>(field: &'static str, data: &T) -> Result<types::Record, Error> {
    match serde_json::to_value(data) {
        Ok(Value::Object(map)) => Ok(types::Record(map)),
        Ok(_) => Err(Error::invalid(field, "a record must serialise to a JSON object")),
        Err(e) => Err(Error::invalid(field, format!("cannot serialise: {e}"))),
    }
}

fn raw_env(env_type: EnvType) -> types::EnvType {
    match env_type {
        EnvType::Prod => types::EnvType::Prod,
        EnvType::Pre => types::EnvType::Pre,
    }
}

impl Model {
    fn checked_name<T: std::str::FromStr>(&self) -> Result<T, Error> {
        self.name.parse().map_err(|_| Error::invalid("model", format!("{:?} is not a model identifier", self.name)))
    }

    fn checked_id<T: std::str::FromStr>(id: &str) -> Result<T, Error> {
        if id.is_empty() {
            return Err(Error::invalid("record_id", "is empty"));
        }
        id.parse().map_err(|_| Error::invalid("record_id", "not a record id"))
    }

    /// The record whose `_id` is `id`, `None` when there is none. The Flutter SDK's `getById`.
    pub async fn get_by_id<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, Error> {
        let (name, id, env) = (self.checked_name()?, Self::checked_id(id)?, raw_env(self.env_type));
        let (name, id, env) = (&name, &id, env);
        let send = |c: Client| async move { c.model_get_by_id(env, name, id).await };
        let (found, _) = call::<Found<T>, _, _>(&self.core, "model_get_by_id", send).await?;
        Ok(found.record)
    }

    /// The first record `query` matches, `None` when none does. The Flutter SDK's `get`.
    pub async fn get<T: DeserializeOwned>(&self, query: Query) -> Result<Option<T>, Error> {
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let body = types::GetRequest { filter: Some(query.raw_filter()?), select: Some(query.raw_select()?) };
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_get(env, name, body).await };
        let (found, _) = call::<Found<T>, _, _>(&self.core, "model_get", send).await?;
        Ok(found.record)
    }

    /// A page of the records `query` matches. The Flutter SDK's `list`.
    pub async fn list<T: DeserializeOwned>(&self, query: ListQuery) -> Result<Page<T>, Error> {
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let body = query.into_raw()?;
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_list(env, name, body).await };
        Ok(call::<Page<T>, _, _>(&self.core, "model_list", send).await?.0)
    }

    /// A page of records, without a filter (`GET .../list`). The Flutter SDK's `listSimple`.
    pub async fn list_simple<T: DeserializeOwned>(
        &self,
        page_size: u32,
        page_number: u32,
        get_count: bool,
    ) -> Result<Page<T>, Error> {
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(Error::invalid("page_size", format!("{page_size} is not within 1..={MAX_PAGE_SIZE}")));
        }
        let page_number = std::num::NonZeroU32::new(page_number)
            .ok_or_else(|| Error::invalid("page_number", "pages count from 1"))?;
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let (name, env, size) = (&name, env, std::num::NonZeroU32::new(page_size));
        let send =
            |c: Client| async move { c.model_list_simple(env, name, Some(get_count), Some(page_number), size).await };
        Ok(call::<Page<T>, _, _>(&self.core, "model_list_simple", send).await?.0)
    }

    /// Creates a record; answers its `_id`. The Flutter SDK's `create`.
    pub async fn create<T: Serialize + ?Sized>(&self, data: &T) -> Result<String, Error> {
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let body = types::CreateRequest { data: record("data", data)? };
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_create(env, name, body).await };
        Ok(call::<Created, _, _>(&self.core, "model_create", send).await?.0.id)
    }

    /// Creates records; answers their ids, in order. The Flutter SDK's `createMany`.
    pub async fn create_many<T: Serialize>(&self, data: &[T]) -> Result<Vec<String>, Error> {
        if data.is_empty() {
            return Err(Error::invalid("data", "no record to create"));
        }
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let records = data.iter().map(|d| record("data", d)).collect::<Result<Vec<_>, _>>()?;
        let body = types::CreateManyRequest { data: records };
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_create_many(env, name, body).await };
        Ok(call::<CreatedMany, _, _>(&self.core, "model_create_many", send).await?.0.id_list)
    }

    /// Sets `data`'s fields on the first record `condition` matches; answers 1 when one changed, else 0.
    /// The Flutter SDK's `update`.
    pub async fn update<T: Serialize + ?Sized>(&self, condition: Where, data: &T) -> Result<u64, Error> {
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let body = types::UpdateRequest { filter: query::raw_filter(condition, &[])?, data: record("data", data)? };
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_update(env, name, body).await };
        Ok(call::<Counted, _, _>(&self.core, "model_update", send).await?.0.count)
    }

    /// Sets `data`'s fields on every record `condition` matches. The Flutter SDK's `updateMany`.
    pub async fn update_many<T: Serialize + ?Sized>(&self, condition: Where, data: &T) -> Result<ManyResult, Error> {
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let body = types::UpdateRequest { filter: query::raw_filter(condition, &[])?, data: record("data", data)? };
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_update_many(env, name, body).await };
        Ok(call::<ManyResult, _, _>(&self.core, "model_update_many", send).await?.0)
    }

    /// Updates the record `condition` matches with `update`, or creates `create` when none does. The Flutter
    /// SDK's `upsert`.
    pub async fn upsert<C: Serialize + ?Sized, U: Serialize + ?Sized>(
        &self,
        condition: Where,
        create: &C,
        update: &U,
    ) -> Result<Upserted, Error> {
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let body = types::UpsertRequest {
            filter: query::raw_filter(condition, &[])?,
            create: record("create", create)?,
            update: record("update", update)?,
        };
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_upsert(env, name, body).await };
        let (done, request_id) = call::<UpsertData, _, _>(&self.core, "model_upsert", send).await?;
        match (done.count, done.id.filter(|id| !id.is_empty())) {
            (_, Some(id)) => Ok(Upserted::Created { id }),
            (n, None) if n > 0 => Ok(Upserted::Updated),
            _ => Err(Error::Decode {
                operation: "model_upsert",
                status: 200,
                request_id,
                body_len: 0,
                reason: "neither updated (`count`) nor created (`id`)".to_owned(),
            }),
        }
    }

    /// Deletes the record whose `_id` is `id`; answers 1 when it existed. The Flutter SDK's `deleteById`.
    pub async fn delete_by_id(&self, id: &str) -> Result<u64, Error> {
        let (name, id, env) = (self.checked_name()?, Self::checked_id(id)?, raw_env(self.env_type));
        let (name, id, env) = (&name, &id, env);
        let send = |c: Client| async move { c.model_delete_by_id(env, name, id).await };
        Ok(call::<Counted, _, _>(&self.core, "model_delete_by_id", send).await?.0.count)
    }

    /// Deletes the first record `condition` matches. The Flutter SDK's `deleteRecord` (the JS SDK's `delete`).
    pub async fn delete_record(&self, condition: Where) -> Result<u64, Error> {
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let body = types::FilterRequest { filter: query::raw_filter(condition, &[])? };
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_delete(env, name, body).await };
        Ok(call::<Counted, _, _>(&self.core, "model_delete", send).await?.0.count)
    }

    /// Deletes every record `condition` matches. The Flutter SDK's `deleteMany`.
    pub async fn delete_many(&self, condition: Where) -> Result<ManyResult, Error> {
        let (name, env) = (self.checked_name()?, raw_env(self.env_type));
        let body = types::FilterRequest { filter: query::raw_filter(condition, &[])? };
        let (name, env, body) = (&name, env, &body);
        let send = |c: Client| async move { c.model_delete_many(env, name, body).await };
        Ok(call::<ManyResult, _, _>(&self.core, "model_delete_many", send).await?.0)
    }
}
