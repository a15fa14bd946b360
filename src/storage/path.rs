//! Cloud paths and file ids, checked before anything is sent (the rules of `openapi/storage.yaml`).

use crate::Error;

/// The longest cloud path, in bytes of UTF-8 (the object store's key limit).
pub const MAX_CLOUD_PATH_BYTES: usize = 850;

/// The scheme of a file id: `cloud://{env}.{bucket}/{path}`.
const SCHEME: &str = "cloud://";

/// Checks a cloud path (an object key such as `avatars/u1.png`).
pub(crate) fn cloud_path(field: &'static str, path: &str) -> Result<(), Error> {
    let reason = if path.is_empty() {
        "is empty".to_owned()
    } else if path.len() > MAX_CLOUD_PATH_BYTES {
        format!("is {} bytes, over the {MAX_CLOUD_PATH_BYTES}-byte limit", path.len())
    } else if path.starts_with('/') {
        "starts with `/` (cloud paths are relative: `dir/name.ext`)".to_owned()
    } else if path.ends_with('/') {
        "ends with `/` (a path names a file, not a directory)".to_owned()
    } else if path.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        "has an empty, `.` or `..` segment".to_owned()
    } else if path.chars().any(|c| c.is_control() || c == '\\') {
        "holds a control character or `\\`".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::invalid(field, format!("cloud path {reason}")))
}

/// Checks a file id and returns its cloud path.
pub(crate) fn file_id(field: &'static str, id: &str) -> Result<String, Error> {
    let Some(rest) = id.strip_prefix(SCHEME) else {
        return Err(Error::invalid(field, "a file id starts with `cloud://` (`cloud://{env}.{bucket}/{path}`)"));
    };
    let Some((host, path)) = rest.split_once('/') else {
        return Err(Error::invalid(field, "a file id has a path after its bucket (`cloud://{env}.{bucket}/{path}`)"));
    };
    if host.is_empty() || !host.contains('.') {
        return Err(Error::invalid(field, "a file id names its environment and bucket (`cloud://{env}.{bucket}/...`)"));
    }
    cloud_path(field, path)?;
    Ok(path.to_owned())
}

/// A cloud path given either as a path or as a file id, as a path.
pub(crate) fn path_or_file_id(field: &'static str, value: &str) -> Result<String, Error> {
    if value.starts_with(SCHEME) { file_id(field, value) } else { cloud_path(field, value).map(|()| value.to_owned()) }
}

/// The content type an upload gets when none is given: by the path's extension (the JS SDK's list), else
/// `application/octet-stream`.
pub(crate) fn content_type_for(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "txt" => "text/plain",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" => "application/javascript",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_paths() {
        for good in ["a", "dir/name.txt", "a/b/c/d.e.f", "中文/文件.png", "a b/c%20d", &"x".repeat(850)] {
            assert!(cloud_path("p", good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a/", "a//b", "./a", "a/../b", "a/.", "a\nb", "a\\b", "a\0", &"x".repeat(851)] {
            assert!(matches!(cloud_path("p", bad), Err(Error::InvalidInput { field: "p", .. })), "{bad:?}");
        }
    }

    #[test]
    fn file_ids() {
        assert_eq!(file_id("f", "cloud://env.bucket-1/a/b.txt").unwrap(), "a/b.txt");
        for bad in
            ["", "env.bucket/a", "cloud://", "cloud://env.bucket", "cloud:///a", "cloud://nodot/a", "cloud://e.b/"]
        {
            assert!(file_id("f", bad).is_err(), "{bad:?}");
        }
        assert_eq!(path_or_file_id("f", "cloud://e.b/x/y").unwrap(), "x/y");
        assert_eq!(path_or_file_id("f", "x/y").unwrap(), "x/y");
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type_for("notes/Hello.TXT"), "text/plain");
        assert_eq!(content_type_for("a.tar.gz"), "application/gzip");
        assert_eq!(content_type_for("dir.png/file"), "application/octet-stream");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
    }
}
