//! The data services, backed by embedded SQLite databases ([`db`]): MySQL RESTful (`/v1/rdb/rest`, [`rest`])
//! and data models with their data sources and `mysqlCommand` (`/v1/model`, [`model`]).
//!
//! Seeds (SQL batches and model definitions given to the builder or the binary) run at start and again after
//! every reset; the databases and the models created at run time are dropped by a reset.

pub(crate) mod db;
mod grammar;
pub(crate) mod model;
pub(crate) mod rest;
mod rest_sql;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use self::db::{DEFAULT_INSTANCE, Databases, lock};
use self::model::def::{ModelDef, Models};

/// One SQL batch to run at start: in the default database unless it names an instance or a schema.
#[derive(Clone, Debug, Default)]
pub(crate) struct SqlSeed {
    pub instance: Option<String>,
    pub schema: Option<String>,
    pub sql: String,
}

/// What the data services are seeded with (kept across resets): models first, then the SQL batches (which
/// may fill the models' tables).
#[derive(Clone, Debug, Default)]
pub(crate) struct Seeds {
    pub models: Vec<ModelDef>,
    pub sql: Vec<SqlSeed>,
}

/// The data services' state.
pub(crate) struct Data {
    pub dbs: Databases,
    models: Mutex<Models>,
}

impl Data {
    pub fn new(dir: Option<PathBuf>, env_id: &str) -> Result<Self, String> {
        Ok(Self { dbs: Databases::new(dir, env_id)?, models: Mutex::default() })
    }

    fn models_lock(&self) -> MutexGuard<'_, Models> {
        self.models.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every model (a copy: requests work on a snapshot).
    pub fn models(&self) -> Models {
        self.models_lock().clone()
    }

    /// Registers (or replaces) a model whose tables exist.
    pub fn insert_model(&self, def: ModelDef) {
        self.models_lock().insert(def.name.clone(), def);
    }

    /// Validates and registers a model, creating its tables.
    pub fn create_model(&self, def: ModelDef) -> Result<(), String> {
        model::create_model(self, def)
    }

    /// Runs an SQL batch (several statements) in the database of (instance, schema), created if missing.
    pub fn exec(&self, instance: Option<&str>, schema: Option<&str>, sql: &str) -> Result<(), String> {
        let schema = schema.map_or_else(|| self.dbs.default_schema().to_owned(), str::to_owned);
        let db = self.dbs.create(instance.unwrap_or(DEFAULT_INSTANCE), &schema)?;
        lock(&db).execute_batch(sql).map_err(|e| e.to_string())
    }

    /// Runs the seeds in order.
    pub fn seed(&self, seeds: &Seeds) -> Result<(), String> {
        for def in &seeds.models {
            self.create_model(def.clone()).map_err(|e| format!("seed model failed: {e}"))?;
        }
        for seed in &seeds.sql {
            self.exec(seed.instance.as_deref(), seed.schema.as_deref(), &seed.sql)
                .map_err(|e| format!("seed SQL failed: {e}"))?;
        }
        Ok(())
    }

    /// Drops every database and model, then runs the seeds again.
    pub fn reset(&self, seeds: &Seeds) {
        self.models_lock().clear();
        self.dbs.reset();
        // The seeds ran at start, so they run again (a failure would have stopped the start).
        if let Err(e) = self.seed(seeds) {
            tracing::warn!("re-seeding after reset: {e}");
        }
    }
}
