//! The document's examples, each with the schema it must match, listed where they are written.

use serde_json::{Map, Value, json};

use super::schema::{bundle, convert_schema, resolve};

/// Walks the document for examples (see [`Contract::examples`]).
pub(super) struct ExampleCollector<'a> {
    pub(super) raw: &'a Value,
    pub(super) components: &'a Value,
    pub(super) found: &'a mut Vec<(String, Value, Value)>,
}

impl ExampleCollector<'_> {
    fn push(&mut self, location: String, schema: Option<&Value>, example: &Value) {
        let schema = schema.map_or_else(|| json!({}), convert_schema);
        self.found.push((location, bundle(&schema, self.components), example.clone()));
    }

    /// `example` and `examples.<name>.value` of a parameter, header or media type object.
    fn examples_of(&mut self, object: &Map<String, Value>, schema: Option<&Value>, location: &str) {
        if let Some(example) = object.get("example") {
            self.push(location.to_owned(), schema, example);
        }
        if let Some(Value::Object(examples)) = object.get("examples") {
            for (name, example) in examples {
                if let Some(value) = resolve(self.raw, example).and_then(|e| e.get("value")) {
                    self.push(format!("{location}.examples.{name}"), schema, value);
                }
            }
        }
    }

    pub(super) fn schema(&mut self, schema: &Value, location: &str) {
        let Value::Object(map) = schema else { return };
        if map.contains_key("$ref") {
            return;
        }
        if let Some(example) = map.get("example") {
            self.push(location.to_owned(), Some(schema), example);
        }
        for (key, value) in map {
            match (key.as_str(), value) {
                ("properties", Value::Object(properties)) => {
                    for (name, property) in properties {
                        self.schema(property, &format!("{location}.properties.{name}"));
                    }
                }
                ("items" | "not" | "additionalProperties", child) => self.schema(child, &format!("{location}.{key}")),
                ("allOf" | "anyOf" | "oneOf", Value::Array(children)) => {
                    for (i, child) in children.iter().enumerate() {
                        self.schema(child, &format!("{location}.{key}.{i}"));
                    }
                }
                _ => {}
            }
        }
    }

    fn content(&mut self, content: Option<&Value>, location: &str) {
        let Some(Value::Object(content)) = content else { return };
        for (media_type, media) in content {
            let Value::Object(media) = media else { continue };
            let location = if media_type == "application/json" {
                location.to_owned()
            } else {
                format!("{location}.content.{media_type}")
            };
            if let Some(schema) = media.get("schema") {
                self.schema(schema, &format!("{location}.schema"));
            }
            self.examples_of(media, media.get("schema"), &location);
        }
    }

    pub(super) fn parameter(&mut self, parameter: &Value, location: &str) {
        let Value::Object(map) = parameter else { return };
        if map.contains_key("$ref") {
            return;
        }
        if let Some(schema) = map.get("schema") {
            self.schema(schema, &format!("{location}.schema"));
        }
        self.examples_of(map, map.get("schema"), location);
        self.content(map.get("content"), location);
    }

    pub(super) fn parameters(&mut self, parameters: Option<&Value>, location: &str) {
        let Some(Value::Array(parameters)) = parameters else { return };
        for parameter in parameters {
            let name = parameter.get("name").and_then(Value::as_str).unwrap_or("?");
            self.parameter(parameter, &format!("{location}.parameters.{name}"));
        }
    }

    pub(super) fn request_body(&mut self, request_body: &Value, location: &str) {
        if request_body.get("$ref").is_none() {
            self.content(request_body.get("content"), location);
        }
    }

    pub(super) fn response(&mut self, response: &Value, location: &str) {
        let Value::Object(map) = response else { return };
        if map.contains_key("$ref") {
            return;
        }
        self.content(map.get("content"), location);
        if let Some(Value::Object(headers)) = map.get("headers") {
            for (name, header) in headers {
                self.parameter(header, &format!("{location}.headers.{name}"));
            }
        }
    }
}
