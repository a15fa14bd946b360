//! `build.rs` on specs it must refuse: the build fails with a message naming the spec file and the
//! operation, never a bare panic backtrace. Runs the compiled build script in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SPEC: &str = include_str!("../openapi/auth.yaml");

/// The build script cargo compiled for this build. `OUT_DIR` is `target/<profile>/build/cloudbase-<hash>/out`;
/// the script binary sits in a sibling `cloudbase-<hash>/` directory. The newest one is this build's.
fn build_script() -> PathBuf {
    let build_dir = Path::new(env!("OUT_DIR")).parent().and_then(Path::parent).expect("OUT_DIR layout");
    std::fs::read_dir(build_dir)
        .expect("target build directory")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("cloudbase-"))
        .map(|e| e.path().join("build-script-build"))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("the compiled build script")
}

/// Runs the build script on `spec` as `openapi/auth.yaml` of a scratch package.
fn generate(spec: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("openapi")).unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("openapi/auth.yaml"), spec).unwrap();
    let output = Command::new(build_script())
        .current_dir(dir.path())
        .env("OUT_DIR", dir.path().join("out"))
        .output()
        .expect("the build script runs");
    (output, dir)
}

fn refused(spec: &str) -> String {
    let (output, dir) = generate(spec);
    assert!(!output.status.success(), "the build script accepted a bad spec");
    assert!(!dir.path().join("out/auth.rs").exists(), "nothing is generated from a bad spec");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked at"), "a clean message, not a panic: {stderr}");
    assert!(stderr.contains("openapi/auth.yaml"), "names the file: {stderr}");
    stderr
}

fn replace_once(from: &str, to: &str) -> String {
    assert!(SPEC.contains(from), "the spec changed: {from}");
    SPEC.replacen(from, to, 1)
}

#[test]
fn the_real_spec_generates_exactly_the_committed_code() {
    let (output, dir) = generate(SPEC);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let generated = std::fs::read_to_string(dir.path().join("out/auth.rs")).unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/generated/auth.rs")).unwrap();
    assert!(
        generated == committed,
        "generated/auth.rs is stale: run CLOUDBASE_UPDATE_GENERATED=1 cargo test --test generated_drift"
    );
}

#[test]
fn a_duplicate_operation_id_names_both_operations() {
    let stderr = refused(&replace_once("operationId: get_sudo_token", "operationId: sign_in"));
    assert!(
        stderr.contains("operationId `sign_in` is used by both POST /auth/v1/signin and POST /auth/v1/user/sudo"),
        "{stderr}"
    );
}

#[test]
fn a_missing_operation_id_names_the_path() {
    let stderr = refused(&replace_once("      operationId: get_sudo_token\n", ""));
    assert!(stderr.contains("POST /auth/v1/user/sudo has no operationId"), "{stderr}");
}

#[test]
fn a_default_response_names_the_operation() {
    let stderr = refused(&replace_once(
        "                $ref: '#/components/schemas/SudoResponse'\n        '4XX':",
        "                $ref: '#/components/schemas/SudoResponse'\n        default:\n          $ref: '#/components/responses/Error'\n        '4XX':",
    ));
    assert!(stderr.contains("`get_sudo_token`") && stderr.contains("default"), "{stderr}");
}

#[test]
fn a_generator_panic_is_reported_with_the_failing_operation() {
    // A second success type beside 200: progenitor asserts on it.
    let stderr = refused(&replace_once(
        "                $ref: '#/components/schemas/SudoResponse'\n        '4XX':",
        "                $ref: '#/components/schemas/SudoResponse'\n        '201':\n          description: another success type\n          content:\n            application/json:\n              schema:\n                $ref: '#/components/schemas/CaptchaData'\n        '4XX':",
    ));
    assert!(stderr.contains("failing operation(s): `get_sudo_token`"), "{stderr}");
}

#[test]
fn invalid_yaml_is_named() {
    let stderr = refused("openapi: 3.0.3\ninfo: [not, a, mapping\n");
    assert!(stderr.contains("not a valid OpenAPI 3.0 document"), "{stderr}");
}
