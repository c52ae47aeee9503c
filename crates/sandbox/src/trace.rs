//! The `X-Amzn-Trace-Id` header: parsed leniently (any key case, unknown keys ignored) so the
//! incoming Root is honoured exactly; new trace ids are drawn from the request's seeded
//! generator in X-Ray's `1-<8 hex epoch seconds>-<24 hex>` format.

use std::time::{SystemTime, UNIX_EPOCH};

/// What the incoming header said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TraceHeader {
    /// `Root=...`, exactly as sent.
    pub root: Option<String>,
    /// `Parent=...` (the caller's segment id), if present.
    pub parent: Option<String>,
    /// `Sampled=1` / `Sampled=0`, if present.
    pub sampled: Option<bool>,
}

/// Parses `Root=1-...;Parent=...;Sampled=1` leniently.
pub fn parse(header: &str) -> TraceHeader {
    let mut out = TraceHeader::default();
    for part in header.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("root") && !v.is_empty() {
            out.root = Some(v.to_string());
        } else if k.eq_ignore_ascii_case("parent") && !v.is_empty() {
            out.parent = Some(v.to_string());
        } else if k.eq_ignore_ascii_case("sampled") {
            out.sampled = match v {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            };
        }
    }
    out
}

/// A new X-Ray trace id for a request arriving at `at`.
pub fn new_root(at: SystemTime, rng: &mut fastrand::Rng) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!(
        "1-{:08x}-{:08x}{:016x}",
        secs as u32,
        rng.u32(..),
        rng.u64(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_parse() {
        let h = parse("root=1-5759e988-bd862e3fe1be46a994272793; Foo=bar;SAMPLED=1;junk");
        assert_eq!(
            h.root.as_deref(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(h.sampled, Some(true));
        assert_eq!(parse(""), TraceHeader::default());
        let id = new_root(UNIX_EPOCH, &mut fastrand::Rng::with_seed(1));
        assert_eq!(id.len(), 35);
        assert!(id.starts_with("1-00000000-"));
    }
}
