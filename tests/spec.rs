//! Checks of `openapi/auth.yaml` itself, and of the generated types against it.
#![cfg(feature = "contract")]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use cloudbase::contract::Contract;
use cloudbase::raw::auth::types;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const SPEC: &str = include_str!("../openapi/auth.yaml");
/// `METHOD PATH` of every endpoint in section 7 (7.1 to 7.29) of the CloudBase auth HTTP API reference.
const REFERENCE_ENDPOINTS: &str = include_str!("fixtures/reference-endpoints.txt");
/// `METHOD PATH` of the endpoints the docs do not list but the official JS SDK calls (its traffic, reference
/// `jssdk-platform-traffic.md` 1.3), each with its decision written in the spec.
const TRAFFIC_ENDPOINTS: &str = include_str!("fixtures/traffic-endpoints.txt");
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn raw_spec() -> Value {
    serde_norway::from_str(SPEC).expect("openapi/auth.yaml is YAML")
}

fn component_schemas(raw: &Value) -> &serde_json::Map<String, Value> {
    raw.pointer("/components/schemas").and_then(Value::as_object).expect("the spec has components.schemas")
}

/// Deserializes JSON into a generated type and reports what the type does with it: its `Debug` text and the
/// JSON it serializes back to.
type Codec = fn(&Value) -> Result<(String, Value), String>;

fn codec<T: DeserializeOwned + Serialize + Debug>(value: &Value) -> Result<(String, Value), String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| format!("does not deserialize: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("does not serialize: {e}"))?;
    Ok((format!("{typed:?}"), back))
}

macro_rules! codecs {
    ($($name:ident),* $(,)?) => {
        BTreeMap::from([$((stringify!($name), codec::<types::$name> as Codec)),*])
    };
}

/// Every type generated from `#/components/schemas`, by schema name.
fn generated_types() -> BTreeMap<&'static str, Codec> {
    // `ErrorBody` is the one hand-owned type every spec's error body maps to (build.rs `with_replacement`).
    let mut types = codecs![
        AnonymousSignInRequest,
        BindProviderRequest,
        CaptchaData,
        CaptchaDataRequest,
        CaptchaInit,
        CaptchaInitRequest,
        CaptchaToken,
        CaptchaVerifyRequest,
        ClientCredentialRequest,
        ConflictResolution,
        CustomSignInRequest,
        EditUserBasicRequest,
        EmptyResponse,
        Gender,
        GrantType,
        PatchUserProfileRequest,
        ProviderList,
        ProviderListItem,
        ProviderParams,
        ProviderProfile,
        ProviderSignInRequest,
        ProviderTokenRequest,
        ProviderTokenResponse,
        ProviderUri,
        ResetPasswordRequest,
        RevokeRequest,
        SetPasswordRequest,
        SignInRequest,
        SignOutRequest,
        SignOutResponse,
        SignUpRequest,
        SudoRequest,
        SudoResponse,
        TokenIntrospection,
        TokenRequest,
        TokenResponse,
        UpdateContactRequest,
        UserExistence,
        UserGroup,
        UserProfile,
        UserProvider,
        VerificationLimit,
        VerificationRequest,
        VerificationResponse,
        VerificationTarget,
        VerifyRequest,
        VerifyResponse,
    ];
    types.insert("ErrorBody", codec::<cloudbase::ErrorBody> as Codec);
    types
}

/// The component schemas every operation's request body or 200 response uses.
fn body_schemas(raw: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for item in raw["paths"].as_object().expect("paths").values() {
        for method in METHODS {
            let Some(op) = item.get(*method) else { continue };
            for pointer in [
                "/requestBody/content/application~1json/schema/$ref",
                "/responses/200/content/application~1json/schema/$ref",
            ] {
                if let Some(reference) = op.pointer(pointer).and_then(Value::as_str) {
                    let name = reference.strip_prefix("#/components/schemas/").expect("a component schema");
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn operation_ids_are_unique() {
    let raw = raw_spec();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut count = 0;
    for (path, item) in raw["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(*method) else { continue };
            count += 1;
            let place = format!("{} {path}", method.to_uppercase());
            let id = op.get("operationId").and_then(Value::as_str).unwrap_or_default();
            assert!(!id.is_empty(), "{place} has no operationId");
            if let Some(previous) = seen.insert(id.to_owned(), place.clone()) {
                panic!("operationId `{id}` is used by both {previous} and {place}");
            }
        }
    }
    // The reference's 29, and the guest token the JS SDK asks for with no session (seen only in its traffic).
    assert_eq!(count, 30, "the spec should describe the 29 operations of the reference and the guest token");
}

#[test]
fn every_ref_resolves() {
    let unresolved = Contract::auth().unresolved_refs();
    assert!(unresolved.is_empty(), "unresolved $refs in openapi/auth.yaml: {unresolved:?}");
}

#[test]
fn a_broken_ref_is_reported() {
    let broken = SPEC
        .replacen("$ref: '#/components/schemas/TokenResponse'", "$ref: '#/components/schemas/TokenResponz'", 1)
        .replacen("$ref: '#/components/responses/Error'", "$ref: '#/components/responses/Eror'", 1);
    assert_ne!(broken, SPEC);
    let contract = Contract::from_yaml(&broken).expect("a broken $ref does not stop parsing");
    assert_eq!(contract.unresolved_refs(), ["#/components/schemas/TokenResponz", "#/components/responses/Eror"]);
    // The operations that use them report it instead of passing silently.
    let violations = contract
        .validate_response("POST", "/auth/v1/signup", 200, Some(&json!({"access_token": "a", "expires_in": 1})))
        .unwrap_err();
    assert!(violations[0].message.contains("does not compile"), "{violations:?}");
    let violations = contract.validate_response("POST", "/auth/v1/signup", 400, Some(&json!({}))).unwrap_err();
    assert!(violations[0].message.contains("#/components/responses/Eror"), "{violations:?}");
}

#[test]
fn every_example_validates_against_its_schema() {
    let contract = Contract::auth();
    let examples = contract.examples();
    for (location, schema, example) in &examples {
        let validator = jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("{location}: schema: {e}"));
        let errors: Vec<String> = validator.iter_errors(example).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "the example at {location} does not match its schema: {errors:?}");
    }

    // Every schema example is found, and validates through the Contract as well.
    let raw = raw_spec();
    let locations: BTreeSet<&str> = examples.iter().map(|(location, _, _)| location.as_str()).collect();
    let mut with_example = 0;
    for (name, schema) in component_schemas(&raw) {
        let Some(example) = schema.get("example") else { continue };
        with_example += 1;
        assert!(locations.contains(format!("components.schemas.{name}").as_str()), "{name}'s example is not listed");
        if let Err(violations) = contract.validate_schema(name, example) {
            panic!("{name}'s example: {violations:?}");
        }
    }
    assert!(with_example >= 40, "only {with_example} schemas have an example");
    assert!(locations.contains("components.responses.Error"));
    assert!(locations.contains("components.schemas.TokenResponse.properties.expires_in"));
}

/// A value of another JSON type than `value`.
fn wrong_type(value: &Value) -> Value {
    match value {
        Value::String(_) => json!(12345),
        _ => json!("wrong type"),
    }
}

#[test]
fn mutated_examples_fail() {
    let contract = Contract::auth();
    let examples: BTreeMap<String, (Value, Value)> =
        contract.examples().into_iter().map(|(location, schema, example)| (location, (schema, example))).collect();
    let raw = raw_spec();
    let mut mutated = 0;
    for (name, schema) in component_schemas(&raw) {
        let (Some(Value::Object(example)), Some(Value::Array(required))) =
            (schema.get("example"), schema.get("required"))
        else {
            continue;
        };
        let Some(field) = required.first().and_then(Value::as_str) else { continue };
        let (bundled, _) = &examples[&format!("components.schemas.{name}")];
        let validator = jsonschema::validator_for(bundled).expect("bundled schema compiles");

        let mut wrong = example.clone();
        wrong.insert(field.to_owned(), wrong_type(&example[field]));
        let wrong = Value::Object(wrong);
        assert!(!validator.is_valid(&wrong), "{name} with a wrong-typed `{field}` still validates");
        let violations = contract.validate_schema(name, &wrong).expect_err("a wrong type is a violation");
        assert_eq!(violations[0].location, format!("{name}/{field}"));

        let mut missing = example.clone();
        missing.remove(field);
        let missing = Value::Object(missing);
        assert!(!validator.is_valid(&missing), "{name} without `{field}` still validates");
        assert!(contract.validate_schema(name, &missing).is_err());
        mutated += 1;
    }
    assert!(mutated >= 15, "only {mutated} examples were mutated");

    let token = json!({"access_token": "a", "expires_in": "7200"});
    let violations = contract.validate_schema("TokenResponse", &token).unwrap_err();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].location, "TokenResponse/expires_in");
}

fn reference_endpoints() -> Vec<(&'static str, &'static str)> {
    endpoints(REFERENCE_ENDPOINTS)
}

fn endpoints(list: &'static str) -> Vec<(&'static str, &'static str)> {
    list.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split_once(' ').unwrap_or_else(|| panic!("not `METHOD PATH`: {line}")))
        .collect()
}

#[test]
fn every_reference_endpoint_is_in_the_spec() {
    let contract = Contract::auth();
    let endpoints = reference_endpoints();
    assert_eq!(endpoints.len(), 29, "the reference's section 7 has 29 endpoints (7.1 to 7.29)");
    for (method, template) in &endpoints {
        // A concrete path, as a client sends it.
        let concrete = template.replace("{provider_id}", "github");
        let op = contract
            .find_operation(method, &concrete)
            .unwrap_or_else(|| panic!("{method} {template} (reference section 7) is not in the spec"));
        assert_eq!(
            (op.method, op.path_template),
            (*method, *template),
            "{method} {concrete} found the wrong operation"
        );
    }

    let traffic = self::endpoints(TRAFFIC_ENDPOINTS);
    let raw = raw_spec();
    for (method, template) in &traffic {
        assert!(contract.find_operation(method, template).is_some(), "{method} {template} is not in the spec");
        let description = raw["paths"][template][method.to_lowercase()]["description"].as_str().unwrap_or_default();
        assert!(description.contains("seen only in the official JS SDK"), "{method} {template}: where is it from?");
    }
    let listed: BTreeSet<(&str, &str)> = endpoints.iter().chain(&traffic).copied().collect();
    assert_eq!(listed.len(), endpoints.len() + traffic.len(), "the fixtures list an endpoint twice");
    let extra: Vec<String> = contract
        .operations()
        .iter()
        .filter(|op| !listed.contains(&(op.method, op.path_template)))
        .map(|op| format!("{} {} ({})", op.method, op.path_template, op.operation_id))
        .collect();
    assert!(
        extra.is_empty(),
        "operations in neither tests/fixtures/reference-endpoints.txt nor traffic-endpoints.txt: {extra:?}"
    );
}

#[test]
fn literal_paths_win_over_templates() {
    let contract = Contract::auth();
    let bind = contract.find_operation("POST", "/auth/v1/user/provider/bind").expect("bind");
    assert_eq!(bind.operation_id, "bind_provider");
    let unbind =
        contract.find_operation("DELETE", "/auth/v1/user/provider/bind").expect("unbind a provider named bind");
    assert_eq!(unbind.operation_id, "unbind_provider");
    let me = contract.find_operation("DELETE", "/auth/v1/user/me?sudo_token=x").expect("delete me");
    assert_eq!(me.operation_id, "delete_user_me");
    assert!(contract.find_operation("PATCH", "/auth/v1/user/me").is_none());
}

#[test]
fn the_contract_checks_auth_exchanges() {
    let contract = Contract::auth();
    let ok = |r: Result<(), Vec<cloudbase::contract::Violation>>| r.map_err(|v| format!("{v:?}"));

    // Query parameters: required ones present, typed ones parse; client_id and captcha_token are always allowed.
    ok(contract.validate_request("DELETE", "/auth/v1/user/me", "sudo_token=s&client_id=e&captcha_token=c", None))
        .unwrap();
    let v = contract.validate_request("DELETE", "/auth/v1/user/provider/github", "with_user_center=yes", None);
    assert_eq!(v.unwrap_err()[0].location, "request.query.with_user_center");
    ok(contract.validate_request("DELETE", "/auth/v1/user/provider/github", "with_user_center=true", None)).unwrap();
    let v = contract.validate_request("GET", "/auth/v1/checkIfUserExist", "", None);
    assert_eq!(v.unwrap_err()[0].location, "request.query.username");

    // Bodies.
    let v = contract.validate_request("POST", "/auth/v1/token", "", None);
    assert_eq!(v.unwrap_err()[0].location, "request.body");
    let v = contract.validate_request("POST", "/auth/v1/token", "", Some(&json!({"grant_type": "magic"})));
    assert_eq!(v.unwrap_err()[0].location, "request.body/grant_type");
    ok(contract.validate_request("POST", "/auth/v1/token", "", Some(&json!({"grant_type": "refresh_token"})))).unwrap();

    // Responses: errors by range, HTML only for 5xx, error bodies with HTTP 200.
    let error = json!({"error": "invalid_grant", "error_code": 4001, "error_description": "expired"});
    ok(contract.validate_response("POST", "/auth/v1/token", 400, Some(&error))).unwrap();
    ok(contract.validate_response("POST", "/auth/v1/token", 200, Some(&error))).unwrap();
    ok(contract.validate_response("POST", "/auth/v1/token", 502, None)).unwrap();
    assert!(contract.validate_response("POST", "/auth/v1/token", 401, None).is_err());
    ok(contract.validate_response("GET", "/auth/v1/user/me", 200, Some(&json!({"sub": "1"})))).unwrap();
    assert!(contract.validate_response("GET", "/auth/v1/user/me", 200, Some(&json!({"name": "no sub"}))).is_err());
    let is_user_null = json!({"verification_id": "v", "is_user": null});
    ok(contract.validate_response("POST", "/auth/v1/verification", 200, Some(&is_user_null))).unwrap();
    assert!(contract.validate_response("POST", "/auth/v1/nowhere", 200, Some(&json!({}))).is_err());
}

/// `value` without the optional properties that hold `[]` or `{}`.
///
/// progenitor maps an optional array to a `Vec` and an optional free-form object to a `Map`, both skipped
/// when empty; so `"providers": []` comes back absent, which means the same on the wire. Everything else
/// must come back exactly.
fn without_empty_optionals(raw: &Value, schema: &Value, value: &Value) -> Value {
    let mut schema = schema;
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        schema = raw.pointer(reference.trim_start_matches('#')).expect("the $ref resolves");
    }
    match value {
        Value::Object(object) => {
            let required: BTreeSet<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let properties = schema.get("properties");
            let mut kept = serde_json::Map::new();
            for (key, field) in object {
                let is_empty =
                    field.as_array().is_some_and(Vec::is_empty) || field.as_object().is_some_and(|o| o.is_empty());
                if is_empty && !required.contains(key.as_str()) {
                    continue;
                }
                let field = match properties.and_then(|p| p.get(key)) {
                    Some(property) => without_empty_optionals(raw, property, field),
                    None => field.clone(),
                };
                kept.insert(key.clone(), field);
            }
            Value::Object(kept)
        }
        Value::Array(items) => match schema.get("items") {
            Some(item) => Value::Array(items.iter().map(|v| without_empty_optionals(raw, item, v)).collect()),
            None => value.clone(),
        },
        _ => value.clone(),
    }
}

#[test]
fn generated_types_round_trip_the_examples() {
    let raw = raw_spec();
    let codecs = generated_types();
    let mut covered = BTreeSet::new();
    for (name, schema) in component_schemas(&raw) {
        let Some(example) = schema.get("example") else { continue };
        let codec = codecs.get(name.as_str()).unwrap_or_else(|| {
            panic!("schema {name} has an example but no generated type in the list; add it to generated_types()")
        });
        let (_, back) = codec(example).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = without_empty_optionals(&raw, schema, example);
        assert_eq!(back, expected, "{name} does not round-trip its example through serde");
        covered.insert(name.clone());
    }
    let missing: Vec<String> = body_schemas(&raw).difference(&covered).cloned().collect();
    assert!(missing.is_empty(), "request/response body schemas without a round-tripped example: {missing:?}");
    // The list is exactly the generated types: a type missing from it would go unchecked.
    let names: BTreeSet<&str> = component_schemas(&raw).keys().map(String::as_str).collect();
    let listed: BTreeSet<&str> = codecs.keys().copied().collect();
    assert_eq!(names, listed, "generated_types() must list every component schema");
}

/// The names of the `format: secret` properties of a schema.
fn secret_properties(schema: &Value) -> Vec<String> {
    let Some(Value::Object(properties)) = schema.get("properties") else { return Vec::new() };
    properties
        .iter()
        .filter(|(_, property)| property.get("format").and_then(Value::as_str) == Some("secret"))
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn debug_of_generated_types_never_prints_a_secret() {
    let raw = raw_spec();
    let codecs = generated_types();
    let mut checked = BTreeSet::new();
    for (name, schema) in component_schemas(&raw) {
        let secrets = secret_properties(schema);
        if secrets.is_empty() {
            continue;
        }
        // The example (valid for the other required fields) with every secret set to a recognisable value.
        let mut value = schema.get("example").cloned().unwrap_or_else(|| json!({}));
        let mut planted = Vec::new();
        for property in &secrets {
            let secret = format!("SECRET-{}-{}", name.to_uppercase(), property.to_uppercase());
            value[property.as_str()] = Value::String(secret.clone());
            planted.push(secret);
        }
        let codec = codecs.get(name.as_str()).unwrap_or_else(|| panic!("no generated type for {name}"));
        let (debug, back) = codec(&value).unwrap_or_else(|e| panic!("{name}: {e}"));
        let wire = serde_json::to_string(&back).expect("JSON");
        for secret in &planted {
            assert!(!debug.contains(secret.as_str()), "Debug of {name} prints {secret}: {debug}");
            assert!(wire.contains(secret.as_str()), "{name} does not serialize {secret}: {wire}");
        }
        assert!(debug.contains("Secret([REDACTED])"), "{name}: {debug}");
        checked.insert(name.as_str());
    }
    for name in [
        "TokenResponse",
        "SudoResponse",
        "VerifyResponse",
        "CaptchaToken",
        "CaptchaInit",
        "SignInRequest",
        "SignUpRequest",
        "TokenRequest",
        "ProviderTokenRequest",
        "ProviderTokenResponse",
        "ResetPasswordRequest",
        "SetPasswordRequest",
        "UpdateContactRequest",
        "SudoRequest",
        "VerifyRequest",
        "RevokeRequest",
    ] {
        assert!(checked.contains(name), "{name} holds a credential but was not checked");
    }

    // The same, spelled out for the token response.
    let tokens: types::TokenResponse = serde_json::from_value(json!({
        "access_token": "SECRET-ACCESS-123",
        "refresh_token": "SECRET-REFRESH-456",
        "id_token": "SECRET-ID-789",
        "expires_in": 7200,
    }))
    .expect("a token response");
    let debug = format!("{tokens:?}");
    let wire = serde_json::to_string(&tokens).expect("JSON");
    for secret in ["SECRET-ACCESS-123", "SECRET-REFRESH-456", "SECRET-ID-789"] {
        assert!(!debug.contains(secret), "{debug}");
        assert!(wire.contains(secret), "{wire}");
    }
}

#[test]
fn schemars_schema_of_token_response_accepts_the_example() {
    let schema = serde_json::to_value(schemars::schema_for!(types::TokenResponse)).expect("schema as JSON");
    let validator = jsonschema::validator_for(&schema).expect("schemars output compiles");
    let raw = raw_spec();
    let example = &raw["components"]["schemas"]["TokenResponse"]["example"];
    assert!(example.is_object());
    let errors: Vec<String> = validator.iter_errors(example).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");

    let mut wrong = example.clone();
    wrong["expires_in"] = json!("7200");
    assert!(!validator.is_valid(&wrong));
    let mut missing = example.clone();
    missing.as_object_mut().expect("object").remove("access_token");
    assert!(!validator.is_valid(&missing));
}
