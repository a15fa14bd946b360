//! Object keys, buckets and file ids: the rules every storage operation shares.

use crate::util::percent_encode;

/// The longest key COS accepts, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 850;

/// The environment's one bucket. The app id part is fixed: the emulator has no account behind it.
pub(crate) fn bucket(env_id: &str) -> String {
    format!("{env_id}-1250000000")
}

/// `cloud://{env}.{bucket}/{key}`.
pub(crate) fn file_id(env_id: &str, key: &str) -> String {
    format!("cloud://{env_id}.{}/{key}", bucket(env_id))
}

/// Why a key is refused; `None` for a valid key.
pub(crate) fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Some("the object key must be 1 to 850 bytes");
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Some("the object key must not start or end with '/'");
    }
    if key.chars().any(char::is_control) {
        return Some("the object key must not contain control characters");
    }
    if key.contains('\\') {
        return Some("the object key must not contain '\\'");
    }
    if key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Some("the object key must not have an empty, '.' or '..' segment");
    }
    None
}

/// Why a file id or cloud path names no object of this environment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Malformed: the item's `INVALID_PARAM`.
    Invalid(String),
    /// Well-formed but of another environment or bucket: the item's `OBJECT_NOT_EXIST`.
    Foreign,
}

/// The key a file id of this environment names.
pub(crate) fn key_of_file_id(env_id: &str, id: &str) -> Result<String, Refusal> {
    let rest = id.strip_prefix("cloud://").ok_or_else(|| Refusal::Invalid(format!("invalid file id {id:?}")))?;
    let (host, key) = rest.split_once('/').ok_or_else(|| Refusal::Invalid(format!("invalid file id {id:?}")))?;
    if host != format!("{env_id}.{}", bucket(env_id)) {
        return Err(Refusal::Foreign);
    }
    checked(key)
}

/// The key of a cloud path (`srcPath`, `dstPath`), which may also be a file id of this environment.
pub(crate) fn key_of_path(env_id: &str, path: &str) -> Result<String, Refusal> {
    if path.starts_with("cloud://") { key_of_file_id(env_id, path) } else { checked(path) }
}

/// `key` if valid, else its `INVALID_PARAM`.
pub(crate) fn checked(key: &str) -> Result<String, Refusal> {
    match key_problem(key) {
        None => Ok(key.to_owned()),
        Some(problem) => Err(Refusal::Invalid(problem.to_owned())),
    }
}

/// The key as a URL path: each segment percent-encoded, the separators kept.
pub(crate) fn encode_key(key: &str) -> String {
    key.split('/').map(percent_encode).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        for good in ["a", "a/b", "notes/hello world.txt", "中文/文件.png", "a..b/.c", &"k".repeat(850)] {
            assert_eq!(key_problem(good), None, "{good:?}");
        }
        let long = "k".repeat(851);
        let bad =
            ["", "/a", "a/", "a//b", "./a", "a/../b", "a/.", "..", "a\0b", "a\rb", "a\nb", "a\\b", "a\u{7f}", &long];
        for bad in bad {
            assert!(key_problem(bad).is_some(), "{bad:?}");
        }
        // The limit counts bytes, not characters.
        assert!(key_problem(&"中".repeat(284)).is_some());
        assert_eq!(key_problem(&"中".repeat(283)), None);
    }

    #[test]
    fn file_ids() {
        let id = file_id("env-1", "a/b.txt");
        assert_eq!(id, "cloud://env-1.env-1-1250000000/a/b.txt");
        assert_eq!(key_of_file_id("env-1", &id), Ok("a/b.txt".to_owned()));
        assert_eq!(key_of_file_id("env-2", &id), Err(Refusal::Foreign));
        assert_eq!(key_of_file_id("env-1", "cloud://env-1.other-bucket/a"), Err(Refusal::Foreign));
        assert!(matches!(key_of_file_id("env-1", "http://env-1.env-1-1250000000/a"), Err(Refusal::Invalid(_))));
        assert!(matches!(key_of_file_id("env-1", "cloud://env-1.env-1-1250000000"), Err(Refusal::Invalid(_))));
        assert!(matches!(key_of_file_id("env-1", "cloud://env-1.env-1-1250000000/a/"), Err(Refusal::Invalid(_))));
        assert_eq!(key_of_path("env-1", "x/y"), Ok("x/y".to_owned()));
        assert_eq!(key_of_path("env-1", &id), Ok("a/b.txt".to_owned()));
        assert!(matches!(key_of_path("env-1", "/x"), Err(Refusal::Invalid(_))));
    }

    #[test]
    fn keys_encode_by_segment() {
        assert_eq!(encode_key("a b/c?d#e/%"), "a%20b/c%3Fd%23e/%25");
        assert_eq!(encode_key("中"), "%E4%B8%AD");
    }
}
