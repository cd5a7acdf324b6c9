//! Path safety: a request path becomes checked segments (no traversal, NUL or encoded separators),
//! and segments resolve under the canonical root with one `lstat` each, a symlink followed only
//! when it stays inside the root.

use std::path::{Component, Path, PathBuf};

/// Why a request path was refused before touching the file system.
#[derive(Debug, PartialEq, Eq)]
pub enum PathRefusal {
    /// Traversal, NUL bytes, encoded separators: 403.
    Forbidden(&'static str),
    /// Not valid UTF-8 after decoding: no such file can be named, 404.
    NotFound,
}

/// Where a path stands relative to the root.
pub(super) enum Resolved {
    /// Inside the root: the path as named (symlinks inside the root allowed) and its metadata.
    Inside(PathBuf, std::fs::Metadata),
    Outside,
    Missing,
}

/// Check the last component of `path`, whose parent is known to resolve inside `root`: only a
/// symlink can lead out, and only then is the (costlier) full canonicalization needed.
pub(super) fn check_last(root: &Path, path: PathBuf) -> Resolved {
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Resolved::Missing;
    };
    if !meta.file_type().is_symlink() {
        return Resolved::Inside(path, meta);
    }
    match std::fs::canonicalize(&path) {
        Ok(real) if real.starts_with(root) => match std::fs::metadata(&real) {
            Ok(meta) => Resolved::Inside(path, meta),
            Err(_) => Resolved::Missing,
        },
        Ok(_) => Resolved::Outside,
        Err(_) => Resolved::Missing,
    }
}

/// Walk `segments` down from the canonical `root`, one `lstat` per segment.
pub(super) fn resolve(root: &Path, segments: &[String]) -> Resolved {
    let mut path = root.to_path_buf();
    if segments.is_empty() {
        return match std::fs::metadata(root) {
            Ok(meta) => Resolved::Inside(path, meta),
            Err(_) => Resolved::Missing,
        };
    }
    let mut last = Resolved::Missing;
    for segment in segments {
        if let Resolved::Inside(_, meta) = &last {
            if !meta.is_dir() {
                return Resolved::Missing;
            }
        }
        path.push(segment);
        last = check_last(root, path.clone());
        if !matches!(last, Resolved::Inside(..)) {
            return last;
        }
    }
    last
}

pub(super) const OUTSIDE_ROOT: &str = "resolves outside the site root";

/// Decode and check a request path, returning its segments (no `.`/`..`, no empty segments).
pub fn safe_segments(raw_path: &str) -> Result<Vec<String>, PathRefusal> {
    let lower = raw_path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(PathRefusal::Forbidden("encoded path separator"));
    }
    if lower.contains("%00") || raw_path.contains('\0') {
        return Err(PathRefusal::Forbidden("NUL byte"));
    }
    let decoded = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| PathRefusal::NotFound)?;
    if decoded.contains('\\') {
        return Err(PathRefusal::Forbidden("backslash"));
    }
    let mut segments = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" => continue,
            "." | ".." => return Err(PathRefusal::Forbidden("dot segment")),
            _ => {}
        }
        // Belt and braces: a segment must be one normal path component on this platform.
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(_)), None) => segments.push(segment.to_string()),
            _ => return Err(PathRefusal::Forbidden("unusual path segment")),
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_split_into_segments() {
        assert_eq!(safe_segments("/a/b.txt").unwrap(), vec!["a", "b.txt"]);
        assert_eq!(safe_segments("/").unwrap(), Vec::<String>::new());
        assert_eq!(safe_segments("/a%20b").unwrap(), vec!["a b"]);
    }

    #[test]
    fn traversal_and_nul_are_forbidden() {
        for path in [
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/%2E%2E/x",
            "/a%2fb",
            "/a%5c..%5cb",
            "/a%00b",
            "/./a",
        ] {
            assert!(
                matches!(safe_segments(path), Err(PathRefusal::Forbidden(_))),
                "{path} must be forbidden"
            );
        }
        assert_eq!(safe_segments("/%ff%fe"), Err(PathRefusal::NotFound));
    }
}
