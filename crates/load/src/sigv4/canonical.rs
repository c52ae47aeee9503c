//! The canonical URI and query string of SigV4 for every service but S3: the path's dot
//! segments removed and empty segments dropped, then percent-encoded again (a `%` already
//! in the path becomes `%25`); the query's pairs decoded, encoded with only the unreserved
//! characters left as they are, and sorted. As `aws-sigv4` does it with its default
//! settings (double encoding, path normalization).

use std::borrow::Cow;

/// Buffers reused from request to request (one set per thread).
#[derive(Default)]
pub(super) struct Scratch {
    /// The canonical request.
    pub(super) canon: Vec<u8>,
    /// The query's encoded keys and values.
    pub(super) enc: Vec<u8>,
    /// Offsets in `enc` of each pair: key start, key end = value start, value end.
    pub(super) pairs: Vec<(usize, usize, usize)>,
    /// The `authorization` value.
    pub(super) value: Vec<u8>,
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `s` percent-encoded: every byte but the unreserved ones (and `/` when
/// `keep_slash`) as `%XX`.
fn encode(s: &[u8], keep_slash: bool, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Appends the canonical URI of `path` (as sent, already encoded).
pub fn canonical_path(path: &str, out: &mut Vec<u8>) {
    let path: Cow<'_, str> = if path.is_empty() {
        Cow::Borrowed("/")
    } else if path.starts_with('/') {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(format!("/{path}"))
    };
    if path.contains('.') || path.contains("//") {
        encode(normalize(&path).as_bytes(), true, out);
    } else {
        encode(path.as_bytes(), true, out);
    }
}

/// RFC 3986 5.2.4 dot-segment removal, dropping empty segments; keeps a trailing `/`.
fn normalize(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &kept {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|e| path.ends_with(e));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Appends the canonical query string of `query` (as sent, without `?`). `enc` and `pairs`
/// are scratch buffers.
pub fn canonical_query(
    query: &str,
    enc: &mut Vec<u8>,
    pairs: &mut Vec<(usize, usize, usize)>,
    out: &mut Vec<u8>,
) {
    if query.is_empty() {
        return;
    }
    enc.clear();
    pairs.clear();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let start = enc.len();
        encode(k.as_bytes(), false, enc);
        let mid = enc.len();
        encode(v.as_bytes(), false, enc);
        pairs.push((start, mid, enc.len()));
    }
    let e: &[u8] = enc;
    pairs.sort_unstable_by(|a, b| (&e[a.0..a.1], &e[a.1..a.2]).cmp(&(&e[b.0..b.1], &e[b.1..b.2])));
    for (i, &(s, m, end)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(&e[s..m]);
        out.push(b'=');
        out.extend_from_slice(&e[m..end]);
    }
}
