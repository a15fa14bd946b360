//! The seven read-only data source queries, by their Flutter names, answering the spec's types.

use std::num::NonZeroU32;

use super::Models;
use super::reply::call;
use crate::Error;
use crate::raw::model::Client;
use crate::raw::model::types::{
    AggregateListData, BasicDataSource, BasicListData, BasicListRequest, DataSource, DataSourceRelationInfo,
    DataSourceTableInfo, QueryFilter, TableNameData,
};

/// Names one data source: by id or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSourceRef {
    /// The data source's id.
    Id(String),
    /// The data source's name (a model's identifier).
    Name(String),
}

impl DataSourceRef {
    fn parts(&self) -> Result<(Option<&str>, Option<&str>), Error> {
        let (id, name) = match self {
            DataSourceRef::Id(id) => (Some(id.as_str()), None),
            DataSourceRef::Name(name) => (None, Some(name.as_str())),
        };
        if id.or(name).is_some_and(str::is_empty) {
            return Err(Error::invalid("data_source", "an empty id or name"));
        }
        Ok((id, name))
    }
}

/// The options of [`Models::get_aggregate_data_source_list`] (the Flutter SDK's named arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AggregateListOptions {
    /// Data sources per page (at least 1).
    pub page_size: u32,
    /// The page, from 1.
    pub page_index: Option<u32>,
    /// The environment (default: the app's).
    pub env_id: Option<String>,
    /// Only these ids.
    pub data_source_ids: Vec<String>,
    /// Only these names.
    pub data_source_names: Vec<String>,
    /// Only this type.
    pub data_source_type: Option<String>,
    /// Only these database tables.
    pub database_table_names: Vec<String>,
    /// Only this database instance type.
    pub db_instance_type: Option<String>,
    /// Every data source (`1`).
    pub query_all: Option<i32>,
    /// Also system models (the service's default: true).
    pub query_system_model: Option<bool>,
    /// Also the relations.
    pub query_data_source_relation_list: Option<bool>,
}

impl AggregateListOptions {
    /// The first page of `page_size` data sources.
    pub fn new(page_size: u32) -> Self {
        Self {
            page_size,
            page_index: None,
            env_id: None,
            data_source_ids: Vec::new(),
            data_source_names: Vec::new(),
            data_source_type: None,
            database_table_names: Vec::new(),
            db_instance_type: None,
            query_all: None,
            query_system_model: None,
            query_data_source_relation_list: None,
        }
    }

    /// The page, from 1.
    pub fn page_index(mut self, index: u32) -> Self {
        self.page_index = Some(index);
        self
    }

    /// Only these names.
    pub fn names<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.data_source_names = names.into_iter().map(Into::into).collect();
        self
    }
}

/// The options of [`Models::get_basic_data_source_list`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BasicListOptions {
    /// Only these names.
    pub name_list: Vec<String>,
    /// Only these ids.
    pub id_list: Vec<String>,
    /// Data sources per page (default 10).
    pub page_size: Option<u32>,
    /// The page, from 1 (default 1).
    pub page_num: Option<u32>,
    /// Every data source.
    pub query_all: Option<bool>,
}

impl BasicListOptions {
    /// The first page of 10.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only these names.
    pub fn names<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.name_list = names.into_iter().map(Into::into).collect();
        self
    }

    /// A page.
    pub fn page(mut self, page_num: u32, page_size: u32) -> Self {
        self.page_num = Some(page_num);
        self.page_size = Some(page_size);
        self
    }
}

fn non_zero(field: &'static str, value: Option<u32>) -> Result<Option<NonZeroU32>, Error> {
    match value {
        None => Ok(None),
        Some(v) => NonZeroU32::new(v).map(Some).ok_or_else(|| Error::invalid(field, "must be at least 1")),
    }
}

impl Models {
    /// A page of the environment's data sources with their details. The Flutter SDK's
    /// `getAggregateDataSourceList`.
    pub async fn get_aggregate_data_source_list(
        &self,
        options: AggregateListOptions,
    ) -> Result<AggregateListData, Error> {
        let page_size =
            NonZeroU32::new(options.page_size).ok_or_else(|| Error::invalid("page_size", "must be at least 1"))?;
        let env_id = options.env_id.clone().unwrap_or_else(|| self.core.env.clone());
        let o = &options;
        let (env_id, ids, names, tables) = (&env_id, &o.data_source_ids, &o.data_source_names, &o.database_table_names);
        fn some(v: &Vec<String>) -> Option<&Vec<String>> {
            (!v.is_empty()).then_some(v)
        }
        let (ids, names, tables) = (some(ids), some(names), some(tables));
        let send = |c: Client| async move {
            c.get_aggregate_data_source_list(
                None,
                None,
                None,
                ids,
                names,
                o.data_source_type.as_deref(),
                tables,
                o.db_instance_type.as_deref(),
                Some(env_id.as_str()),
                o.page_index,
                page_size,
                o.query_all,
                None,
                None,
                o.query_data_source_relation_list,
                o.query_system_model,
                None,
            )
            .await
        };
        Ok(call(&self.core, "get_aggregate_data_source_list", send).await?.0)
    }

    /// One data source with its details. The Flutter SDK's `getDataSourceAggregateDetail`.
    pub async fn get_data_source_aggregate_detail(&self, data_source: DataSourceRef) -> Result<DataSource, Error> {
        let (id, name) = data_source.parts()?;
        let send =
            |c: Client| async move { c.get_data_source_aggregate_detail(name, None, id, None, None, None, None).await };
        Ok(call(&self.core, "get_data_source_aggregate_detail", send).await?.0)
    }

    /// The data sources behind these tables. The Flutter SDK's `getDataSourceByTableName`.
    pub async fn get_data_source_by_table_name<I, S>(&self, table_names: I) -> Result<Vec<DataSourceTableInfo>, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = table_names.into_iter().map(Into::into).collect();
        if names.is_empty() || names.iter().any(String::is_empty) {
            return Err(Error::invalid("table_names", "at least one non-empty table name"));
        }
        let names = &names;
        let send = |c: Client| async move { c.get_data_source_by_table_name(names).await };
        let (data, _) =
            call::<crate::raw::model::types::TableInfosData, _, _>(&self.core, "get_data_source_by_table_name", send)
                .await?;
        Ok(data.data_source_table_infos)
    }

    /// A page of data sources, basic fields only. The Flutter SDK's `getBasicDataSourceList`.
    pub async fn get_basic_data_source_list(&self, options: BasicListOptions) -> Result<BasicListData, Error> {
        let body = BasicListRequest {
            id_list: options.id_list,
            name_list: options.name_list,
            page_num: non_zero("page_num", options.page_num)?,
            page_size: non_zero("page_size", options.page_size)?,
            query_all: options.query_all,
            query_filter_list: Vec::<QueryFilter>::new(),
            only_flex_db: None,
        };
        let body = &body;
        let send = |c: Client| async move { c.get_basic_data_source_list(body).await };
        Ok(call(&self.core, "get_basic_data_source_list", send).await?.0)
    }

    /// One data source, basic fields only. The Flutter SDK's `getBasicDataSource`.
    pub async fn get_basic_data_source(&self, data_source: DataSourceRef) -> Result<BasicDataSource, Error> {
        let (id, name) = data_source.parts()?;
        let send = |c: Client| async move { c.get_basic_data_source(name, None, id, None, None, None, None).await };
        Ok(call(&self.core, "get_basic_data_source", send).await?.0)
    }

    /// The schemas and relations of these data sources (all without names). The Flutter SDK's `getSchemaList`.
    pub async fn get_schema_list<I, S>(&self, names: I) -> Result<Vec<DataSourceRelationInfo>, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let names = (!names.is_empty()).then_some(&names);
        let send = |c: Client| async move { c.get_schema_list(names).await };
        let (data, _) =
            call::<crate::raw::model::types::SchemaListData, _, _>(&self.core, "get_schema_list", send).await?;
        Ok(data.data_source_relation_info_list)
    }

    /// The tables behind a data source and the database type. The Flutter SDK's `getTableName`.
    pub async fn get_table_name(&self, data_source_name: &str) -> Result<TableNameData, Error> {
        crate::validate::non_empty("data_source_name", data_source_name)?;
        let send = |c: Client| async move { c.get_table_name(Some(data_source_name)).await };
        Ok(call(&self.core, "get_table_name", send).await?.0)
    }
}
