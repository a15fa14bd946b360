//! Model definitions ([`ModelDef`]) and the registry of the models an emulator serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The type of a model field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// A JSON string.
    #[default]
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// Milliseconds since the epoch (a number), or a date-time string.
    Datetime,
}

impl FieldType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Object => "object",
            FieldType::Array => "array",
            FieldType::Datetime => "datetime",
        }
    }

    /// Whether `value` (not null) has this type.
    pub(crate) fn accepts(self, value: &Value) -> bool {
        match self {
            FieldType::String => value.is_string(),
            FieldType::Number => value.is_number(),
            FieldType::Boolean => value.is_boolean(),
            FieldType::Object => value.is_object(),
            FieldType::Array => value.is_array(),
            FieldType::Datetime => value.is_number() || value.is_string(),
        }
    }
}

/// A field of a model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelField {
    /// The field's name: `^[A-Za-z_][A-Za-z0-9_]{0,63}$`.
    pub name: String,
    /// Its type (default `string`); a value of another type is refused on create and update.
    #[serde(rename = "type", default)]
    pub field_type: FieldType,
    /// Whether a create must give it (non-null).
    #[serde(default)]
    pub required: bool,
}

/// A one-to-many relation: the records of `model` whose `foreign_key` field equals this record's `_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRelation {
    /// The relation field's name (used in `select` and `relateWhere`).
    pub field: String,
    /// The related model.
    pub model: String,
    /// The related model's field holding this record's `_id`.
    #[serde(alias = "foreignKey")]
    pub foreign_key: String,
}

/// A data model: a collection of JSON records served at `/v1/model/{envType}/{name}/...` and listed as a
/// data source. Created with [`crate::EmulatorBuilder::model`], [`crate::EmulatorHandle::create_model`],
/// `POST /_emulator/models` or the binary's `--seed-data`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDef {
    /// The model's identifier: `^[A-Za-z_][A-Za-z0-9_-]{0,63}$`.
    pub name: String,
    /// Display name (default: the name).
    #[serde(default)]
    pub title: String,
    /// The declared fields (records may carry others).
    #[serde(default)]
    pub fields: Vec<ModelField>,
    /// One-to-many relations to other models.
    #[serde(default)]
    pub relations: Vec<ModelRelation>,
}

impl ModelDef {
    /// A model with no declared fields (any record is accepted).
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Default::default() }
    }

    /// Adds a field.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, field_type: FieldType, required: bool) -> Self {
        self.fields.push(ModelField { name: name.into(), field_type, required });
        self
    }

    /// Adds a one-to-many relation.
    #[must_use]
    pub fn relation(
        mut self,
        field: impl Into<String>,
        model: impl Into<String>,
        foreign_key: impl Into<String>,
    ) -> Self {
        self.relations.push(ModelRelation {
            field: field.into(),
            model: model.into(),
            foreign_key: foreign_key.into(),
        });
        self
    }

    /// The title, or the name when none was given.
    pub(crate) fn display_title(&self) -> &str {
        if self.title.is_empty() { &self.name } else { &self.title }
    }

    pub(crate) fn relation_named(&self, field: &str) -> Option<&ModelRelation> {
        self.relations.iter().find(|r| r.field == field)
    }

    /// The fields as a JSON Schema-like object (the data source's `Schema`, as a string).
    pub(crate) fn schema_json(&self) -> String {
        let mut properties = serde_json::Map::new();
        for f in &self.fields {
            let mut p = json!({ "type": f.field_type.name(), "title": f.name });
            if f.field_type == FieldType::Datetime {
                p = json!({ "type": "number", "format": "datetime", "title": f.name });
            }
            properties.insert(f.name.clone(), p);
        }
        for r in &self.relations {
            properties.insert(
                r.field.clone(),
                json!({ "type": "array", "format": "one-many", "relatedModel": r.model, "foreignKey": r.foreign_key }),
            );
        }
        let required: Vec<&str> = self.fields.iter().filter(|f| f.required).map(|f| f.name.as_str()).collect();
        json!({ "type": "object", "properties": properties, "required": required }).to_string()
    }

    /// Checks the names; the error says what is wrong.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !valid_model_name(&self.name) {
            return Err(format!("invalid model name {:?} (^[A-Za-z_][A-Za-z0-9_-]{{0,63}}$)", self.name));
        }
        for name in self.fields.iter().map(|f| &f.name).chain(self.relations.iter().map(|r| &r.field)) {
            if !valid_field_name(name) {
                return Err(format!(
                    "model {}: invalid field name {name:?} (^[A-Za-z_][A-Za-z0-9_]{{0,63}}$)",
                    self.name
                ));
            }
        }
        for r in &self.relations {
            if !valid_model_name(&r.model) || !valid_field_name(&r.foreign_key) {
                return Err(format!("model {}: relation {} names an invalid model or foreign key", self.name, r.field));
            }
        }
        Ok(())
    }
}

/// `^[A-Za-z_][A-Za-z0-9_-]{0,63}$`.
pub(crate) fn valid_model_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// `^[A-Za-z_][A-Za-z0-9_]{0,63}$`: what may appear in a JSON path.
pub(crate) fn valid_field_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The SQLite table of a model's records in one environment type: `model_{prod|pre}_{name}`.
pub(crate) fn table_name(env: &str, model: &str) -> String {
    format!("model_{env}_{model}")
}

/// Every model, by name.
pub(crate) type Models = BTreeMap<String, ModelDef>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_json_shape() {
        assert!(valid_model_name("todo-list_2"));
        assert!(!valid_model_name("2todo"));
        assert!(!valid_model_name("a\"b"));
        assert!(valid_field_name("_openid"));
        assert!(!valid_field_name("a-b"));
        assert!(!valid_field_name("a.b"));
        let def: ModelDef = serde_json::from_value(json!({
            "name": "post",
            "fields": [{"name": "title", "type": "string", "required": true}, {"name": "at", "type": "datetime"}],
            "relations": [{"field": "comments", "model": "comment", "foreignKey": "post_id"}]
        }))
        .unwrap();
        assert_eq!(
            def,
            ModelDef::new("post")
                .field("title", FieldType::String, true)
                .field("at", FieldType::Datetime, false)
                .relation("comments", "comment", "post_id")
        );
        assert_eq!(def.display_title(), "post");
        assert!(def.validate().is_ok());
        assert!(ModelDef::new("x").field("bad name", FieldType::String, false).validate().is_err());
        let schema: Value = serde_json::from_str(&def.schema_json()).unwrap();
        assert_eq!(schema["required"], json!(["title"]));
        assert_eq!(schema["properties"]["comments"]["relatedModel"], json!("comment"));
    }
}
