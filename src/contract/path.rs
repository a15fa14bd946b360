//! Concrete request paths against the spec's path templates: literal segments win over templated ones, and
//! a final `{path}` takes the rest of the URL.

/// Path parameters captured from a concrete path: (name, percent-decoded value).
pub(super) type Captures = Vec<(String, String)>;

/// A piece of one path segment: literal text or a `{parameter}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    Literal(String),
    Param(String),
}

pub(super) fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Splits `[scheme://host]/path[?query][#fragment]` into the path and the query.
pub(super) fn split_path(path: &str) -> (&str, &str) {
    let mut path = path;
    for scheme in ["https://", "http://"] {
        if let Some(rest) = path.strip_prefix(scheme) {
            path = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    let path = path.split('#').next().unwrap_or_default();
    match path.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path, ""),
    }
}

pub(super) fn parse_template(template: &str) -> Vec<Vec<Piece>> {
    template
        .split('/')
        .map(|segment| {
            let mut pieces = Vec::new();
            let mut rest = segment;
            while let Some(open) = rest.find('{') {
                let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
                if open > 0 {
                    pieces.push(Piece::Literal(rest[..open].to_owned()));
                }
                pieces.push(Piece::Param(rest[open + 1..close].to_owned()));
                rest = &rest[close + 1..];
            }
            if !rest.is_empty() || pieces.is_empty() {
                pieces.push(Piece::Literal(rest.to_owned()));
            }
            pieces
        })
        .collect()
}

/// Matches a concrete path against a template: the specificity score (per segment: 2 literal, 1 mixed,
/// 0 parameter; compared lexicographically, so literal segments win) and the captured parameters.
pub(super) fn match_template(template: &[Vec<Piece>], segments: &[&str]) -> Option<(Vec<u8>, Captures)> {
    // A final `{path}` segment is the rest of the URL (cloud run, APIs): any number of segments, maybe none.
    if let Some((last, head)) = template.split_last()
        && matches!(last.as_slice(), [Piece::Param(name)] if name == "path")
        && segments.len() + 1 >= template.len()
    {
        let (mut score, mut captures) = match_template(head, &segments[..head.len()])?;
        captures.push(("path".to_owned(), segments[head.len()..].join("/")));
        score.push(0);
        return Some((score, captures));
    }
    if template.len() != segments.len() {
        return None;
    }
    let mut score = Vec::with_capacity(segments.len());
    let mut captures = Vec::new();
    for (pieces, segment) in template.iter().zip(segments) {
        if !match_pieces(pieces, segment, &mut captures) {
            return None;
        }
        let params = pieces.iter().filter(|p| matches!(p, Piece::Param(_))).count();
        score.push(match params {
            0 => 2,
            n if n == pieces.len() => 0,
            _ => 1,
        });
    }
    Some((score, captures))
}

fn match_pieces(pieces: &[Piece], text: &str, captures: &mut Captures) -> bool {
    match pieces.split_first() {
        None => text.is_empty(),
        Some((Piece::Literal(literal), rest)) => {
            text.strip_prefix(literal.as_str()).is_some_and(|remaining| match_pieces(rest, remaining, captures))
        }
        Some((Piece::Param(name), rest)) => {
            let ends = text.char_indices().map(|(i, _)| i).skip(1).chain(std::iter::once(text.len()));
            for end in ends {
                if end == 0 {
                    continue;
                }
                let mark = captures.len();
                captures.push((name.clone(), percent_decode(&text[..end])));
                if match_pieces(rest, &text[end..], captures) {
                    return true;
                }
                captures.truncate(mark);
            }
            false
        }
    }
}
