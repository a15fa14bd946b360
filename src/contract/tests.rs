use super::*;

const SPEC: &str = r##"
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /things/{id}:
    get:
      operationId: get_thing
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: verbose, in: query, required: false, schema: {type: boolean}}
        - {name: token, in: query, required: true, schema: {type: string}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
        '4XX': {$ref: '#/components/responses/Error'}
        '5XX': {$ref: '#/components/responses/Error'}
  /things/special:
    get:
      operationId: get_special
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: object}}}}
    post:
      operationId: make_special
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        '200': {description: ok}
components:
  responses:
    Error:
      description: error
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Error'}
          example: {error: bad}
  schemas:
    Error:
      type: object
      properties:
        error: {type: string}
    Kind:
      type: string
      enum: [a, b]
    Thing:
      type: object
      required: [name, count]
      properties:
        name: {type: string, format: secret, example: x}
        count: {type: integer, format: int32}
        note: {type: string, nullable: true}
        kind: {$ref: '#/components/schemas/Kind'}
        maybe_kind:
          nullable: true
          allOf: [{$ref: '#/components/schemas/Kind'}]
        example: {type: boolean}
      example: {name: n, count: 1, note: null, kind: a}
"##;

fn contract() -> Contract {
    Contract::from_yaml(SPEC).expect("test spec parses")
}

fn locations(result: Result<(), Vec<Violation>>) -> Vec<String> {
    result.err().unwrap_or_default().into_iter().map(|v| v.location).collect()
}

#[test]
fn nullable_admits_null_only_where_declared() {
    let c = contract();
    assert!(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "note": null})).is_ok());
    assert!(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "maybe_kind": null})).is_ok());
    assert!(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "maybe_kind": "b"})).is_ok());
    assert_eq!(
        locations(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "maybe_kind": "c"}))),
        ["Thing/maybe_kind"]
    );
    assert_eq!(locations(c.validate_schema("Thing", &json!({"name": null, "count": 1}))), ["Thing/name"]);
}

#[test]
fn refs_resolve_through_components() {
    let c = contract();
    assert!(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "kind": "b"})).is_ok());
    assert_eq!(locations(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "kind": "z"}))), ["Thing/kind"]);
    assert!(c.unresolved_refs().is_empty());
    let broken = SPEC.replace("'#/components/schemas/Kind'}", "'#/components/schemas/Nope'}");
    let broken = Contract::from_yaml(&broken).unwrap();
    assert_eq!(broken.unresolved_refs(), ["#/components/schemas/Nope"]);
    let violations = broken.validate_schema("Thing", &json!({"name": "n", "count": 1})).unwrap_err();
    assert!(violations[0].message.contains("does not compile"), "{violations:?}");
}

#[test]
fn wrong_types_and_missing_fields_are_rejected_without_echoing_values() {
    let c = contract();
    let violations = c.validate_schema("Thing", &json!({"name": "TOP-SECRET", "count": "TOP-SECRET"})).unwrap_err();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].location, "Thing/count");
    assert!(!violations[0].to_string().contains("TOP-SECRET"), "{}", violations[0]);
    assert_eq!(locations(c.validate_schema("Thing", &json!({"count": 1}))), ["Thing"]);
    // int32 range, and `format: secret` is not asserted.
    assert_eq!(locations(c.validate_schema("Thing", &json!({"name": "n", "count": 1u64 << 40}))), ["Thing/count"]);
    // A property named like an OpenAPI keyword is still a property.
    assert_eq!(
        locations(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "example": 3}))),
        ["Thing/example"]
    );
    assert!(c.validate_schema("Nope", &json!({})).is_err());
}

#[test]
fn operations_match_literal_before_template() {
    let c = contract();
    assert_eq!(c.operations().len(), 3);
    assert_eq!(c.find_operation("get", "/things/special").unwrap().operation_id, "get_special");
    assert_eq!(c.find_operation("GET", "/things/42?x=1").unwrap().operation_id, "get_thing");
    assert_eq!(c.find_operation("GET", "https://h.example/things/42").unwrap().path_template, "/things/{id}");
    assert!(c.find_operation("POST", "/things/42").is_none());
    assert!(c.find_operation("GET", "/things/").is_none());
    assert!(c.find_operation("GET", "/things/1/2").is_none());
    assert!(c.find_operation("GET", "").is_none());
}

#[test]
fn requests_check_params_and_body() {
    let c = contract();
    assert!(c.validate_request("GET", "/things/42", "token=t&verbose=true&client_id=x", None).is_ok());
    assert!(c.validate_request("GET", "/things/42?token=t", "", None).is_ok());
    assert_eq!(
        locations(c.validate_request("GET", "/things/abc", "?verbose=yes", None)),
        ["request.path.id", "request.query.verbose", "request.query.token"]
    );
    assert_eq!(locations(c.validate_request("GET", "/things/1", "token=t", Some(&json!({})))), ["request.body"]);
    assert_eq!(locations(c.validate_request("POST", "/things/special", "", None)), ["request.body"]);
    assert_eq!(
        locations(c.validate_request("POST", "/things/special", "", Some(&json!({"name": 1, "count": 1})))),
        ["request.body/name"]
    );
    assert_eq!(locations(c.validate_request("PUT", "/things/special", "", None)), ["operation"]);
}

#[test]
fn responses_pick_the_declared_status() {
    let c = contract();
    let thing = json!({"name": "n", "count": 1});
    assert!(c.validate_response("GET", "/things/1", 200, Some(&thing)).is_ok());
    assert!(c.validate_response("GET", "/things/1", 201, Some(&thing)).is_ok());
    assert_eq!(locations(c.validate_response("GET", "/things/1", 200, Some(&json!({"count": 1})))), ["response.body"]);
    assert!(c.validate_response("GET", "/things/1", 404, Some(&json!({"error": "x"}))).is_ok());
    assert_eq!(
        locations(c.validate_response("GET", "/things/1", 404, Some(&json!({"error": 1})))),
        ["response.body/error"]
    );
    assert_eq!(locations(c.validate_response("GET", "/things/1", 404, None)), ["response.body"]);
    assert!(c.validate_response("GET", "/things/1", 502, None).is_ok());
    assert_eq!(locations(c.validate_response("GET", "/things/1", 302, None)), ["response.status"]);
    // An error body with HTTP 200 is an error, not a broken success body.
    assert!(c.validate_response("GET", "/things/1", 200, Some(&json!({"error": "x"}))).is_ok());
    // A response without content accepts anything.
    assert!(c.validate_response("POST", "/things/special", 200, None).is_ok());
}

#[test]
fn examples_are_found_with_self_contained_schemas() {
    let c = contract();
    let examples = c.examples();
    let found: Vec<&str> = examples.iter().map(|(location, _, _)| location.as_str()).collect();
    assert_eq!(
        found,
        ["components.responses.Error", "components.schemas.Thing", "components.schemas.Thing.properties.name"]
    );
    for (location, schema, example) in &examples {
        let validator = jsonschema::validator_for(schema).expect("bundled schema compiles");
        assert!(validator.is_valid(example), "{location}");
    }
}

#[test]
fn bad_documents_are_errors_not_panics() {
    assert!(matches!(Contract::from_yaml(": : :\n  - ["), Err(ContractError::Yaml(_))));
    assert!(matches!(Contract::from_yaml("[1, 2]"), Err(ContractError::NotOpenApi(_))));
    assert!(matches!(Contract::from_yaml("openapi: 3.1.0\npaths: {}"), Err(ContractError::NotOpenApi(_))));
    assert!(matches!(Contract::from_yaml("openapi: 3.0.3"), Err(ContractError::NotOpenApi(_))));
    // Odd but parseable: nothing panics, problems surface as violations.
    let odd = "openapi: 3.0.3\npaths:\n  /a/{x}{y}:\n    get:\n      requestBody: {$ref: '#/nope'}\n      responses:\n        '200': {$ref: '#/components/responses/Loop'}\ncomponents:\n  responses:\n    Loop: {$ref: '#/components/responses/Loop'}\n  schemas:\n    S: {type: object, properties: 3, pattern: '('}\n";
    let c = Contract::from_yaml(odd).unwrap();
    assert!(c.validate_schema("S", &json!("x")).is_err());
    assert!(c.validate_request("GET", "/a/bc", "%zz=%", Some(&json!(1))).is_err());
    assert!(c.validate_response("GET", "/a/bc", 200, None).is_err());
    assert_eq!(c.unresolved_refs(), ["#/nope"]);
    let _ = c.examples();
}

#[test]
fn auth_spec_loads() {
    let c = Contract::auth();
    assert_eq!(c.operations().len(), 30, "the reference's 29 and the JS SDK's guest token");
    assert!(c.unresolved_refs().is_empty());
}
