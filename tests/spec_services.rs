//! Checks of `openapi/functions.yaml`, `cloudrun.yaml`, `apis.yaml`, `storage.yaml`, `mysql.yaml` and `model.yaml` themselves: every `$ref` resolves, every
//! example validates, every endpoint of the reference is present, and the contract validator matches the
//! rest-of-path of cloud run and APIs.
#![cfg(feature = "contract")]

use cloudbase::contract::Contract;
use serde_json::json;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn specs() -> [(&'static str, &'static Contract); 6] {
    [
        ("functions", Contract::functions()),
        ("cloudrun", Contract::cloudrun()),
        ("apis", Contract::apis()),
        ("storage", Contract::storage()),
        ("mysql", Contract::mysql()),
        ("model", Contract::model()),
    ]
}

#[test]
fn every_ref_resolves_and_every_example_validates() {
    for (name, contract) in specs() {
        assert!(contract.unresolved_refs().is_empty(), "{name}: {:?}", contract.unresolved_refs());
        let examples = contract.examples();
        assert!(!examples.is_empty(), "{name} has examples");
        for (location, schema, example) in examples {
            let validator = jsonschema::validator_for(&schema).expect("schema compiles");
            assert!(validator.is_valid(&example), "{name} {location}: {example}");
        }
    }
}

#[test]
fn every_reference_endpoint_is_in_the_specs() {
    let functions = Contract::functions();
    assert_eq!(functions.find_operation("POST", "/v1/functions/sum").map(|o| o.operation_id), Some("call_function"));
    for method in METHODS {
        let lower = method.to_ascii_lowercase();
        let container =
            Contract::cloudrun().find_operation(method, "/v1/cloudrun/svc/items/42").map(|o| o.operation_id);
        assert_eq!(container, Some(format!("call_container_{lower}").as_str()));
        let api = Contract::apis().find_operation(method, "/v1/apis/weather/today").map(|o| o.operation_id);
        assert_eq!(api, Some(format!("call_api_{lower}").as_str()));
    }
    // The rest of the path may be empty or hold any number of segments.
    for path in ["/v1/cloudrun/svc", "/v1/cloudrun/svc/", "/v1/cloudrun/svc/a/b/c?x=1"] {
        assert!(Contract::cloudrun().find_operation("GET", path).is_some(), "{path}");
    }
    assert_eq!(Contract::for_path("/v1/apis/x/y").map(|c| c as *const _), Some(Contract::apis() as *const _));
    assert!(Contract::for_path("/_emulator/outbox").is_none());
}

#[test]
fn the_function_contract_checks_names_bodies_and_replies() {
    let c = Contract::functions();
    assert!(c.validate_request("POST", "/v1/functions/sum", "", Some(&json!({"a": 1}))).is_ok());
    assert!(c.validate_request("POST", "/v1/functions/sum", "webfn=true", Some(&json!({}))).is_ok());
    assert!(
        c.validate_request("POST", "/v1/functions/sum", "", Some(&json!([1, 2]))).is_err(),
        "an event is an object"
    );
    assert!(c.validate_request("POST", "/v1/functions/1bad", "", Some(&json!({}))).is_err(), "name pattern");
    assert!(c.validate_request("POST", "/v1/functions/sum", "webfn=yes", Some(&json!({}))).is_err());
    // A function's own reply is any JSON, `code` included; errors are the envelope.
    assert!(c.validate_response("POST", "/v1/functions/sum", 200, Some(&json!({"code": 1, "x": 2}))).is_ok());
    let envelope = json!({"code": "FUNCTION_NOT_FOUND", "message": "no", "requestId": "r"});
    assert!(c.validate_response("POST", "/v1/functions/sum", 404, Some(&envelope)).is_ok());
    assert!(c.validate_response("POST", "/v1/functions/sum", 404, Some(&json!({"message": 7}))).is_err());
}

#[test]
fn the_storage_contract_checks_batches_and_items() {
    let c = Contract::storage();
    for (path, id) in [
        ("/v1/storages/get-objects-upload-info", "get_objects_upload_info"),
        ("/v1/storages/get-objects-download-info", "get_objects_download_info"),
        ("/v1/storages/delete-objects", "delete_objects"),
        ("/v1/storages/copy-objects", "copy_objects"),
    ] {
        assert_eq!(c.find_operation("POST", path).map(|o| o.operation_id), Some(id));
        assert_eq!(Contract::for_path(path).map(|c| c as *const _), Some(Contract::storage() as *const _));
    }
    let upload = "/v1/storages/get-objects-upload-info";
    assert!(c.validate_request("POST", upload, "", Some(&json!([{"objectId": "a/b.txt"}]))).is_ok());
    assert!(c.validate_request("POST", upload, "", Some(&json!({"objectId": "a"}))).is_err(), "a batch is an array");
    assert!(c.validate_request("POST", upload, "", Some(&json!([]))).is_err(), "an empty batch");
    assert!(c.validate_request("POST", upload, "", Some(&json!([{"objectId": ""}]))).is_err());
    // An item is a success or an error, never a half of each.
    let download = "/v1/storages/get-objects-download-info";
    let ok = json!([{"cloudObjectId": "cloud://e.b/x", "downloadUrl": "http://h/x"}, {"code": "OBJECT_NOT_EXIST"}]);
    assert!(c.validate_response("POST", download, 200, Some(&ok)).is_ok());
    assert!(c.validate_response("POST", download, 200, Some(&json!([{"cloudObjectId": "cloud://e.b/x"}]))).is_err());
    assert!(c.validate_response("POST", download, 200, Some(&json!({"code": "X"}))).is_err());
    let envelope = json!({"code": "OBJECT_BATCH_TOO_LARGE", "message": "no", "requestId": "r"});
    assert!(c.validate_response("POST", download, 400, Some(&envelope)).is_ok());
}

#[test]
fn the_mysql_contract_has_three_path_forms_and_both_reply_shapes() {
    let c = Contract::mysql();
    let verbs = [("GET", "query_records"), ("HEAD", "count_records"), ("POST", "insert_records")];
    let more = [("PATCH", "update_records"), ("DELETE", "delete_records")];
    for (path, suffix) in [
        ("/v1/rdb/rest/users", ""),
        ("/v1/rdb/rest/shop/users", "_with_schema"),
        ("/v1/rdb/rest/i-1/shop/users", "_with_instance"),
    ] {
        for (method, id) in verbs.iter().chain(more.iter()) {
            let found = c.find_operation(method, path).map(|o| o.operation_id.to_owned());
            assert_eq!(found, Some(format!("{id}{suffix}")), "{method} {path}");
        }
    }
    let path = "/v1/rdb/rest/users";
    assert!(c.validate_request("GET", path, "select=id,name&age=gte.18&limit=10", None).is_ok());
    assert!(c.validate_request("GET", path, "limit=-1", None).is_err());
    assert!(c.validate_request("POST", path, "", Some(&json!([{"name": "a"}]))).is_ok());
    assert!(c.validate_request("POST", path, "", Some(&json!({"name": "a"}))).is_ok());
    assert!(c.validate_request("POST", path, "", Some(&json!("a"))).is_err());
    // An array, an object (single-object Accept), or no body at all (return=minimal).
    assert!(c.validate_response("GET", path, 200, Some(&json!([{"id": 1}]))).is_ok());
    assert!(c.validate_response("GET", path, 200, Some(&json!({"id": 1}))).is_ok());
    assert!(c.validate_response("GET", path, 200, Some(&json!(7))).is_err());
    assert!(c.validate_response("POST", path, 201, None).is_ok());
    assert!(c.validate_response("PATCH", path, 204, None).is_ok());
    let envelope = json!({"code": "BadApiRequest", "message": "UPDATE requires a WHERE clause", "requestId": "r"});
    assert!(c.validate_response("PATCH", path, 400, Some(&envelope)).is_ok());
    assert_eq!(Contract::for_path(path).map(|c| c as *const _), Some(Contract::mysql() as *const _));
}

#[test]
fn the_model_contract_answers_data_or_an_error_under_200() {
    let c = Contract::model();
    let ops = [
        ("GET", "/v1/model/prod/todo/r1/get", "model_get_by_id"),
        ("POST", "/v1/model/prod/todo/get", "model_get"),
        ("GET", "/v1/model/pre/todo/list", "model_list_simple"),
        ("POST", "/v1/model/prod/todo/list", "model_list"),
        ("POST", "/v1/model/prod/todo/create", "model_create"),
        ("POST", "/v1/model/prod/todo/createMany", "model_create_many"),
        ("PUT", "/v1/model/prod/todo/update", "model_update"),
        ("PUT", "/v1/model/prod/todo/updateMany", "model_update_many"),
        ("POST", "/v1/model/prod/todo/upsert", "model_upsert"),
        ("DELETE", "/v1/model/prod/todo/r1/delete", "model_delete_by_id"),
        ("POST", "/v1/model/prod/todo/delete", "model_delete"),
        ("POST", "/v1/model/prod/todo/deleteMany", "model_delete_many"),
        ("POST", "/v1/model/plugin/prod/mysqlCommand", "mysql_command"),
        ("GET", "/v1/model/datasource/prod/aggregateDataSourceList", "get_aggregate_data_source_list"),
        ("GET", "/v1/model/datasource/prod/dataSourceAggregateDetail", "get_data_source_aggregate_detail"),
        ("GET", "/v1/model/datasource/prod/dataSourceByTableName", "get_data_source_by_table_name"),
        ("POST", "/v1/model/datasource/prod/basicDataSourceList", "get_basic_data_source_list"),
        ("GET", "/v1/model/datasource/prod/basicDataSource", "get_basic_data_source"),
        ("GET", "/v1/model/datasource/prod/schemaList", "get_schema_list"),
        ("GET", "/v1/model/datasource/prod/tableName", "get_table_name"),
    ];
    for (method, path, id) in ops {
        assert_eq!(c.find_operation(method, path).map(|o| o.operation_id), Some(id), "{method} {path}");
    }
    let list = "/v1/model/prod/todo/list";
    let body = json!({"filter": {"where": {"done": {"$eq": false}}}, "orderBy": [{"a": "asc"}], "pageSize": 10});
    assert!(c.validate_request("POST", list, "", Some(&body)).is_ok());
    let four = json!({"orderBy": [{"a": "asc"}, {"b": "asc"}, {"c": "asc"}, {"d": "asc"}]});
    assert!(c.validate_request("POST", list, "", Some(&four)).is_err(), "at most 3 order keys");
    assert!(c.validate_request("POST", list, "", Some(&json!({"pageSize": 201}))).is_err());
    assert!(c.validate_request("POST", "/v1/model/staging/todo/list", "", Some(&json!({}))).is_err());
    let ok = json!({"data": {"records": [{"_id": "1"}], "total": 1}, "requestId": "r"});
    assert!(c.validate_response("POST", list, 200, Some(&ok)).is_ok());
    let error = json!({"code": "DATASOURCE_NOT_EXIST", "message": "no", "requestId": "r"});
    assert!(c.validate_response("POST", list, 200, Some(&error)).is_ok());
    assert!(c.validate_response("POST", list, 200, Some(&json!({"data": {"total": 1}}))).is_err());
    assert!(c.validate_request("POST", "/v1/model/prod/todo/update", "", Some(&json!({"data": {}}))).is_err());
}
