//! Property tests: no input makes the SDK's decoders panic.
//!
//! * Every response body of `openapi/auth.yaml` (the 200 bodies, and `ErrorBody` for every error) is decoded
//!   from arbitrary bytes, from mutated near-valid JSON, from arbitrary JSON values whose object keys are
//!   biased to the type's real field names, and from values shaped by the type's own JSON Schema (so that
//!   decoding gets deep). Whatever decodes must re-serialise and decode again to an equal value.
//! * `Claims::decode` on arbitrary strings, on three base64url-looking segments and on real-looking JWTs.
//! * `format_phone` on any string: the output is canonical, idempotent, and mainland numbers get `+86 `.
//!
//! Nothing here touches the network.
#![cfg(feature = "contract")]

use std::fmt::Debug;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudbase::raw::auth::types::{
    CaptchaData, CaptchaInit, CaptchaToken, EmptyResponse, ProviderList, ProviderTokenResponse, ProviderUri,
    SignOutResponse, SudoResponse, TokenIntrospection, TokenResponse, UserExistence, UserProfile, VerificationResponse,
    VerifyResponse,
};
use cloudbase::{Claims, ErrorBody, format_phone};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Cases per property; `PROPTEST_CASES` raises it for a longer hunt.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

fn config() -> ProptestConfig {
    // No regression files written into the tree (a failure prints its minimal input), and the XorShift RNG:
    // ChaCha dominates the run time of a debug build.
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------------------
// JSON value strategies
// ---------------------------------------------------------------------------------------------------------

/// Field names a strategy prefers as object keys.
type Keys = Arc<Vec<String>>;

/// Integers around the edges of the generated types' `i32`/`i64` fields, plus ordinary ones.
fn integer() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (-10_000i64..10_000).prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        2 => prop::sample::select(vec![
            i64::from(i32::MIN) - 1,
            i64::from(i32::MIN),
            i64::from(i32::MAX),
            i64::from(i32::MAX) + 1,
            i64::MIN,
            i64::MAX,
            -1,
            0,
        ])
        .prop_map(Value::from),
        1 => Just(Value::from(u64::MAX)),
    ]
    .boxed()
}

/// Integers for a schema `format`: mostly in range, with the edges and [`integer`] now and then.
fn typed_integer(format: Option<&str>) -> BoxedStrategy<Value> {
    let in_range = match format {
        Some("int32") => any::<i32>().prop_map(Value::from).boxed(),
        Some("uint32") => any::<u32>().prop_map(Value::from).boxed(),
        Some(f) if f.starts_with("uint") => any::<u64>().prop_map(Value::from).boxed(),
        _ => any::<i64>().prop_map(Value::from).boxed(),
    };
    prop_oneof![3 => (0i64..10_000).prop_map(Value::from), 3 => in_range, 1 => integer()].boxed()
}

fn float() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![0.5, -0.0, 1.0, 7200.0, 1e300, -1e-300, 9.007_199_254_740_993e15])
            .prop_map(Value::from),
    ]
    .boxed()
}

/// Any chars, control characters and surrogate-adjacent code points included (cheaper than
/// `any::<String>()`, whose regex-driven generation dominates a debug run).
fn text() -> BoxedStrategy<String> {
    prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter).boxed()
}

fn string(keys: &Keys) -> BoxedStrategy<String> {
    prop_oneof![
        2 => text(),
        2 => "[a-zA-Z0-9_ .:/+=-]{0,16}",
        1 => one_of(keys),
        1 => Just(String::new()),
    ]
    .boxed()
}

/// One of `keys` (without copying the list for every strategy built).
fn one_of(keys: &Keys) -> BoxedStrategy<String> {
    let keys = keys.clone();
    any::<Index>().prop_map(move |i| keys[i.index(keys.len())].clone()).boxed()
}

fn key(keys: &Keys) -> BoxedStrategy<String> {
    prop_oneof![4 => one_of(keys), 1 => text()].boxed()
}

/// Any JSON value (bounded depth and size) whose object keys are mostly `keys`.
fn loose(keys: &Keys) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => integer(),
        1 => float(),
        3 => string(keys).prop_map(Value::String),
    ];
    // Built once: `prop_recursive` calls the closure for every value it generates.
    let key = key(keys);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
    .boxed()
}

/// An arbitrary object with keys biased to `keys`, or (less often) any value.
fn loose_top(keys: &Keys) -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop::collection::vec((key(keys), loose(keys)), 0..10)
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        1 => loose(keys),
    ]
    .boxed()
}

/// The type's JSON Schema (schemars, as the contract validator uses) as plain JSON.
fn schema_of<T: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).expect("schema serialises")
}

/// Every property name in the schema and its `$defs`.
fn field_names(schema: &Value) -> Keys {
    fn walk(node: &Value, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    out.extend(properties.keys().cloned());
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    walk(schema, &mut names);
    names.sort();
    names.dedup();
    if names.is_empty() {
        names.push("data".to_owned());
    }
    Arc::new(names)
}

/// Values that mostly conform to `node` (one of the schema's subschemas), with any value substituted at
/// any level now and then, and unknown fields added.
fn shaped(node: &Value, defs: &Map<String, Value>, keys: &Keys, depth: u32) -> BoxedStrategy<Value> {
    if depth > 6 {
        return loose(keys);
    }
    let node = match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            defs.get(name).unwrap_or_else(|| panic!("unresolved {reference}"))
        }
        None => node,
    };
    let mut alternatives: Vec<BoxedStrategy<Value>> = Vec::new();
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(options)) = node.get(combinator) {
            alternatives.extend(options.iter().map(|option| shaped(option, defs, keys, depth + 1)));
        }
    }
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for t in types {
        alternatives.push(match t {
            "null" => Just(Value::Null).boxed(),
            "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
            "integer" => typed_integer(node.get("format").and_then(Value::as_str)),
            "number" => prop_oneof![integer(), float()].boxed(),
            "string" => string(keys).prop_map(Value::String).boxed(),
            "array" => {
                let items = node.get("items").map_or_else(|| loose(keys), |items| shaped(items, defs, keys, depth + 1));
                prop::collection::vec(items, 0..4).prop_map(Value::Array).boxed()
            }
            "object" => object(node, defs, keys, depth),
            other => panic!("schema type {other} not handled"),
        });
    }
    let conforming = if alternatives.is_empty() { loose(keys) } else { Union::new(alternatives).boxed() };
    prop_oneof![24 => conforming, 1 => loose(keys)].boxed()
}

fn object(node: &Value, defs: &Map<String, Value>, keys: &Keys, depth: u32) -> BoxedStrategy<Value> {
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |r| r.iter().filter_map(Value::as_str).collect());
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = node
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .map(|(name, sub)| {
                    let weight = if required.contains(&name.as_str()) { 0.95 } else { 0.6 };
                    let name = name.clone();
                    prop::option::weighted(
                        weight,
                        shaped(sub, defs, keys, depth + 1).prop_map(move |v| (name.clone(), v)),
                    )
                    .boxed()
                })
                .collect()
        })
        .unwrap_or_default();
    let extra_count = if fields.is_empty() { 0..6 } else { 0..2 };
    (fields, prop::collection::vec((key(keys), loose(keys)), extra_count))
        .prop_map(|(fields, extra)| {
            let mut map = Map::new();
            for (name, value) in extra.into_iter().chain(fields.into_iter().flatten()) {
                map.insert(name, value);
            }
            Value::Object(map)
        })
        .boxed()
}

/// Values shaped by `T`'s schema.
fn shaped_value<T: JsonSchema>() -> BoxedStrategy<Value> {
    let schema = schema_of::<T>();
    let keys = field_names(&schema);
    let defs = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    shaped(&schema, &defs, &keys, 0)
}

/// Arbitrary values biased to `T`'s field names.
fn loose_value<T: JsonSchema>() -> BoxedStrategy<Value> {
    loose_top(&field_names(&schema_of::<T>()))
}

/// Arbitrary bytes, JSON-ish token soup, mutated near-valid JSON, and deeply nested arrays under a field.
fn bytes_for<T: JsonSchema>() -> BoxedStrategy<Vec<u8>> {
    let keys = field_names(&schema_of::<T>());
    let soup: Vec<u8> = b"{}[]\":,0123456789.eE+-truefalsn \\u\xff\xc3".to_vec();
    let mutation = (0u8..4, any::<Index>(), any::<u8>());
    prop_oneof![
        any::<Vec<u8>>(),
        prop::collection::vec(prop::sample::select(soup), 0..64),
        (shaped_value::<T>(), prop::collection::vec(mutation, 1..4)).prop_map(|(value, mutations)| {
            let mut bytes = serde_json::to_vec(&value).expect("a Value serialises");
            for (kind, at, byte) in mutations {
                let i = at.index(bytes.len() + 1);
                match kind {
                    0 => bytes.truncate(i),
                    1 if i < bytes.len() => bytes[i] = byte,
                    2 => bytes.insert(i, byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => {}
                }
            }
            bytes
        }),
        (one_of(&keys), 0usize..400, any::<bool>()).prop_map(|(key, depth, in_object)| {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let inner = if in_object { format!("{{\"x\":{nested}}}") } else { nested };
            format!("{{{}:{inner}}}", Value::String(key)).into_bytes()
        }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------------------
// Decoding checks
// ---------------------------------------------------------------------------------------------------------

/// Decodes `bytes`; whatever decodes must re-serialise and decode again to an equal value.
fn round_trip<T>(bytes: &[u8]) -> Result<Option<T>, TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Ok(first) = serde_json::from_slice::<T>(bytes) else { return Ok(None) };
    let text = serde_json::to_vec(&first).map_err(|e| TestCaseError::fail(format!("re-serialising: {e}")))?;
    let second = serde_json::from_slice::<T>(&text)
        .map_err(|e| TestCaseError::fail(format!("decoding {}: {e}", String::from_utf8_lossy(&text))))?;
    prop_assert_eq!(&first, &second);
    let as_value = serde_json::to_value(&first).map_err(|e| TestCaseError::fail(format!("to_value: {e}")))?;
    let third = serde_json::from_value::<T>(as_value).map_err(|e| TestCaseError::fail(format!("from_value: {e}")))?;
    prop_assert_eq!(&first, &third);
    Ok(Some(first))
}

/// Decodes a JSON value both from its text and directly: same outcome, and the round trip holds.
fn decode_value<T>(value: &Value) -> Result<Option<T>, TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = serde_json::to_vec(value).expect("a Value serialises");
    let from_text = round_trip::<T>(&bytes)?;
    let direct = serde_json::from_value::<T>(value.clone()).ok();
    prop_assert_eq!(&from_text, &direct, "from_slice and from_value disagree on {}", value);
    Ok(from_text)
}

macro_rules! decoder_props {
    ($($module:ident: $ty:ty,)*) => {$(
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(config())]

                #[test]
                fn arbitrary_bytes(bytes in bytes_for::<$ty>()) {
                    round_trip::<$ty>(&bytes)?;
                }

                #[test]
                fn arbitrary_json_with_field_names(value in loose_value::<$ty>()) {
                    decode_value::<$ty>(&value)?;
                }

                #[test]
                fn schema_shaped_json(value in shaped_value::<$ty>()) {
                    decode_value::<$ty>(&value)?;
                }
            }

            /// The shaped inputs do reach the inside of the type: a fair share of them decode.
            #[test]
            fn shaped_inputs_often_decode() {
                let strategy = shaped_value::<$ty>();
                let rng = TestRng::deterministic_rng(RngAlgorithm::XorShift);
                let mut runner = TestRunner::new_with_rng(config(), rng);
                let total = 200;
                let decoded = (0..total)
                    .filter(|_| {
                        let value = strategy.new_tree(&mut runner).expect("a value").current();
                        serde_json::from_value::<$ty>(value).is_ok()
                    })
                    .count();
                assert!(decoded * 5 >= total, "only {decoded}/{total} shaped values decode as {}", stringify!($ty));
            }
        }
    )*};
}

decoder_props! {
    token_response: TokenResponse,
    token_introspection: TokenIntrospection,
    empty_response: EmptyResponse,
    sign_out_response: SignOutResponse,
    user_profile: UserProfile,
    provider_list: ProviderList,
    sudo_response: SudoResponse,
    verification_response: VerificationResponse,
    verify_response: VerifyResponse,
    provider_uri: ProviderUri,
    provider_token_response: ProviderTokenResponse,
    captcha_data: CaptchaData,
    captcha_token: CaptchaToken,
    captcha_init: CaptchaInit,
    user_existence: UserExistence,
    error_body: ErrorBody,
}

/// The list above is every 200 body of the auth spec: a response added to the spec must be added here.
#[test]
fn every_auth_response_body_is_covered() {
    let spec: Value = serde_norway::from_str(include_str!("../openapi/auth.yaml")).expect("openapi/auth.yaml parses");
    let mut bodies: Vec<String> = spec["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().into_iter().flat_map(|ops| ops.values()))
        .filter_map(|operation| operation.pointer("/responses/200/content/application~1json/schema/$ref"))
        .filter_map(Value::as_str)
        .map(|reference| reference.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    bodies.sort();
    bodies.dedup();
    let covered = [
        "CaptchaData",
        "CaptchaInit",
        "CaptchaToken",
        "EmptyResponse",
        "ProviderList",
        "ProviderTokenResponse",
        "ProviderUri",
        "SignOutResponse",
        "SudoResponse",
        "TokenIntrospection",
        "TokenResponse",
        "UserExistence",
        "UserProfile",
        "VerificationResponse",
        "VerifyResponse",
    ];
    assert_eq!(bodies, covered);
}

// ---------------------------------------------------------------------------------------------------------
// Claims::decode
// ---------------------------------------------------------------------------------------------------------

fn claim_keys() -> Keys {
    Arc::new(
        ["exp", "iat", "sub", "iss", "aud", "scope", "project_id", "alg", "kid", "typ", "user_type", "meta"]
            .map(str::to_owned)
            .to_vec(),
    )
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{0,48}={0,3}"
}

/// `exp` as the service sends it, and as it should never send it.
fn exp_claim() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        4 => any::<u64>().prop_map(|n| Some(Value::from(n))),
        2 => (1_600_000_000u64..2_000_000_000).prop_map(|n| Some(Value::from(n))),
        1 => (i64::MIN..0).prop_map(|n| Some(Value::from(n))),
        1 => float().prop_map(Some),
        1 => string(&claim_keys()).prop_map(|s| Some(Value::String(s))),
        1 => Just(Some(Value::Null)),
    ]
}

fn encode(value: &Value, padded: bool) -> String {
    let mut text = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("a Value serialises"));
    if padded {
        while !text.len().is_multiple_of(4) {
            text.push('=');
        }
    }
    text
}

fn json_object(keys: &Keys) -> impl Strategy<Value = Map<String, Value>> + use<> {
    prop::collection::vec((key(keys), loose(keys)), 0..8).prop_map(|entries| entries.into_iter().collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn claims_decode_any_string(token in prop_oneof![any::<String>(), "[A-Za-z0-9_=.+/ -]{0,80}"]) {
        if let Ok(claims) = Claims::decode(&token) {
            prop_assert_eq!(token.split('.').count(), 3);
            prop_assert_eq!(Some(claims.signature.as_str()), token.split('.').nth(2));
        }
    }

    #[test]
    fn claims_decode_base64url_segments(segments in prop::collection::vec(segment(), 1..5)) {
        let token = segments.join(".");
        let decoded = Claims::decode(&token);
        if segments.len() != 3 {
            prop_assert!(decoded.is_err());
        } else if let Ok(claims) = decoded {
            prop_assert_eq!(&claims.signature, &segments[2]);
        }
    }

    #[test]
    fn claims_decode_real_looking_jwts(
        header in json_object(&claim_keys()),
        mut payload in json_object(&claim_keys()),
        exp in exp_claim(),
        signature in segment(),
        padded in any::<bool>(),
    ) {
        match &exp {
            Some(exp) => payload.insert("exp".to_owned(), exp.clone()),
            None => payload.remove("exp"),
        };
        let header_value = Value::Object(header.clone());
        let payload_value = Value::Object(payload.clone());
        let token = format!("{}.{}.{signature}", encode(&header_value, padded), encode(&payload_value, padded));
        let claims = Claims::decode(&token).map_err(|e| TestCaseError::fail(format!("{token}: {e}")))?;
        prop_assert_eq!(&claims.header, &header);
        prop_assert_eq!(&claims.claims, &payload);
        prop_assert_eq!(&claims.signature, &signature);
        // A numeric `exp` that fits the return type comes back as sent; anything else (negative, fractional,
        // a string) reads as no expiry rather than a panic or a wrapped number.
        let expected_exp = exp.as_ref().and_then(Value::as_u64);
        prop_assert_eq!(claims.exp(), expected_exp);
        if let Some(Value::Number(n)) = &exp
            && let Some(n) = n.as_u64()
        {
            prop_assert_eq!(claims.exp(), Some(n));
        }
        prop_assert_eq!(claims.iat(), payload.get("iat").and_then(Value::as_u64));
        prop_assert_eq!(claims.sub(), payload.get("sub").and_then(Value::as_str));
        prop_assert_eq!(claims.iss(), payload.get("iss").and_then(Value::as_str));
        prop_assert_eq!(claims.scope(), payload.get("scope").and_then(Value::as_str));
        prop_assert_eq!(claims.project_id(), payload.get("project_id").and_then(Value::as_str));
        let aud = match payload.get("aud") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Array(list)) => list.first().and_then(Value::as_str),
            _ => None,
        };
        prop_assert_eq!(claims.aud(), aud);
    }

    #[test]
    fn claims_refuse_payloads_that_are_not_objects(
        header in json_object(&claim_keys()),
        payload in loose(&claim_keys()).prop_filter("not an object", |v| !v.is_object()),
        signature in segment(),
    ) {
        let token = format!("{}.{}.{signature}", encode(&Value::Object(header), false), encode(&payload, false));
        prop_assert!(Claims::decode(&token).is_err());
    }
}

// ---------------------------------------------------------------------------------------------------------
// format_phone
// ---------------------------------------------------------------------------------------------------------

/// `+<1 to 3 digits> <4 to 15 digits>`: the only shape `format_phone` returns.
fn is_canonical(phone: &str) -> bool {
    let digits = |s: &str, range: std::ops::RangeInclusive<usize>| {
        range.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    match phone.strip_prefix('+').and_then(|rest| rest.split_once(' ')) {
        Some((code, number)) => digits(code, 1..=3) && digits(number, 4..=15),
        None => false,
    }
}

fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[+ 0-9\t\u{3000}\u{a0}()-]{0,24}",
        "[ \t]{0,2}\\+?[0-9]{0,4}[ \t\u{3000}]{0,2}[0-9]{0,18}[ \n]{0,2}",
        "[+]?[0-9\u{0660}-\u{0669}\u{ff10}-\u{ff19}]{0,16}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn format_phone_output_is_canonical_and_idempotent(phone in phone_like()) {
        if let Ok(formatted) = format_phone(&phone) {
            prop_assert!(is_canonical(&formatted), "{:?} -> {:?}", phone, formatted);
            let again = format_phone(&formatted).map_err(|e| TestCaseError::fail(format!("{formatted:?}: {e}")))?;
            prop_assert_eq!(again, formatted);
        }
    }

    #[test]
    fn format_phone_keeps_canonical_numbers(code in "[0-9]{1,3}", number in "[0-9]{4,15}") {
        let phone = format!("+{code} {number}");
        prop_assert_eq!(format_phone(&phone).ok(), Some(phone));
    }

    #[test]
    fn format_phone_mainland_numbers(
        number in "1[3-9][0-9]{9}",
        prefix in prop::sample::select(vec!["", "+86", "+86 "]),
        before in prop::sample::select(vec!["", " ", "\t", "\n "]),
        after in prop::sample::select(vec!["", " ", "\r\n"]),
    ) {
        let formatted = format_phone(&format!("{before}{prefix}{number}{after}"))
            .map_err(|e| TestCaseError::fail(format!("{prefix}{number}: {e}")))?;
        prop_assert_eq!(formatted, format!("+86 {number}"));
    }
}
