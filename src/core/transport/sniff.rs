//! Telling an error body inside a 2xx reply from a success body, without building the reply as JSON values.
//!
//! Every bounded reply passes through here, so the common case must cost next to nothing: a reply that is not
//! a JSON object (MySQL rows are an array), or never mentions `"error"` or `"code"`, is answered without
//! parsing; an object that does is walked once, keeping only its top-level `error`, `code` and `message`.

use std::borrow::Cow;
use std::fmt;

use memchr::memmem;
use serde::Deserializer as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// True for a JSON object carrying an error: a non-empty `error` string (auth service), or `code` and
/// `message` together (gateway). Success bodies never carry those.
pub(crate) fn is_error_body(body: &[u8]) -> bool {
    let start = body.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if start.is_none_or(|i| body[i] != b'{') {
        return false;
    }
    if memmem::find(body, b"\"error\"").is_none() && memmem::find(body, b"\"code\"").is_none() {
        return false;
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let Ok(probe) = de.deserialize_map(ProbeVisitor) else {
        return false;
    };
    if de.end().is_err() {
        return false;
    }
    probe.error || (probe.message && probe.code)
}

/// What the top level of an object says; a repeated key counts by its last value, as in a JSON map.
#[derive(Default)]
struct Probe {
    error: bool,
    code: bool,
    message: bool,
}

struct ProbeVisitor;

impl<'de> Visitor<'de> for ProbeVisitor {
    type Value = Probe;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
        let mut probe = Probe::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "error" => probe.error = map.next_value::<Value>()?.as_str().is_some_and(|s| !s.is_empty()),
                "code" => probe.code = is_error_code(&map.next_value::<Value>()?),
                "message" => {
                    map.next_value::<IgnoredAny>()?;
                    probe.message = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(probe)
    }
}

/// A gateway `code` that is not its success value (`0`, `"0"` or empty).
fn is_error_code(code: &Value) -> bool {
    match code {
        Value::String(s) => !s.is_empty() && s != "0",
        Value::Number(n) => n.as_i64() != Some(0),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The rule read off a whole `serde_json::Value`: slower, obviously right, the oracle.
    fn oracle(body: &[u8]) -> bool {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return false;
        };
        let error = map.get("error").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        error || (map.contains_key("message") && map.get("code").is_some_and(is_error_code))
    }

    #[test]
    fn error_bodies_are_recognised() {
        let yes = [
            r#"{"error":"invalid_grant","error_description":"used"}"#,
            r#"{"code":"ACCESS_TOKEN_EXPIRED","message":"expired"}"#,
            r#"{"code":16,"message":"unauthenticated"}"#,
            r#" {"message":null,"code":1.5}"#,
            r#"{"error":"","error":"x"}"#,
            r#"{"data":{"code":0,"error":""},"error":"late"}"#,
        ];
        let no = [
            r#"{}"#,
            r#"{"error":""}"#,
            r#"{"error":"x","error":""}"#,
            r#"{"access_token":"a","expires_in":7200}"#,
            r#"{"provider_token":"p","code":"x"}"#,
            r#"{"code":0,"message":"ok"}"#,
            r#"{"data":{"code":1,"message":"nested"}}"#,
            r#"[{"error":"x"}]"#,
            r#"{"error":"x"} trailing"#,
            r#"{"error":"x""#,
            "not json",
            "",
        ];
        for body in yes {
            assert!(is_error_body(body.as_bytes()), "{body}");
            assert!(oracle(body.as_bytes()), "{body}");
        }
        for body in no {
            assert!(!is_error_body(body.as_bytes()), "{body}");
            assert!(!oracle(body.as_bytes()), "{body}");
        }
    }

    /// Random objects over the keys and values that matter (nested, repeated, in any order, with white
    /// space): the fast reading and the oracle agree on every one, and both answers occur often.
    #[test]
    fn agrees_with_the_whole_value_reading() {
        let keys = ["error", "code", "message", "data", "error_description", "codes"];
        let values = [
            r#""""#,
            r#""x""#,
            r#""0""#,
            "0",
            "1",
            "1.5",
            "-0",
            "null",
            "true",
            "[]",
            r#"["error"]"#,
            r#"{"error":"x"}"#,
            r#"{"code":1,"message":"m"}"#,
            r#""\u00e9\"""#,
        ];
        let spaces = ["", " ", "\n\t", "\r\n "];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut errors, mut successes) = (0, 0);
        for _ in 0..20_000 {
            let members: Vec<String> = (0..next(5))
                .map(|_| {
                    let space = spaces[next(spaces.len())];
                    format!("{space}\"{}\"{space}:{space}{}", keys[next(keys.len())], values[next(values.len())])
                })
                .collect();
            let body = format!("{}{{{}}}{}", spaces[next(spaces.len())], members.join(","), spaces[next(spaces.len())]);
            let expected = oracle(body.as_bytes());
            assert_eq!(is_error_body(body.as_bytes()), expected, "{body}");
            if expected { errors += 1 } else { successes += 1 }
        }
        assert!(errors > 1_000 && successes > 1_000, "{errors} error bodies, {successes} others");
    }

    /// `count` byte strings of up to 63 bytes from a seeded xorshift, biased towards JSON punctuation: a
    /// bounded, repeatable sweep for decoders that must never panic.
    pub(crate) fn json_like_bytes(seed: u64, count: usize) -> impl Iterator<Item = Vec<u8>> {
        let alphabet = br#"{}[]":,0123456789.-+eE abcerodsmg\u"#;
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count).map(move |_| {
            let len = (next() % 64) as usize;
            (0..len)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 { r as u8 } else { alphabet[(r as usize >> 8) % alphabet.len()] }
                })
                .collect()
        })
    }

    /// Raw byte strings, valid UTF-8 or not, half of them behind an error's opening: the two readings only
    /// differ where the oracle cannot parse the body at all (the fast reading skips nested values without
    /// checking their UTF-8).
    #[test]
    fn agrees_on_random_bytes_wherever_the_body_parses() {
        for (i, mut bytes) in json_like_bytes(0x2545_F491_4F6C_DD1D, 20_000).enumerate() {
            if i % 2 == 0 {
                bytes.splice(0..0, br#"{"code":1,"message":"#.iter().copied());
            }
            let fast = is_error_body(&bytes);
            let parses = serde_json::from_slice::<Value>(&bytes).is_ok();
            assert!(fast == oracle(&bytes) || !parses, "{:?}", String::from_utf8_lossy(&bytes));
        }
    }
}
