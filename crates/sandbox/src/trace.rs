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

/// The request-id response header of an API front and its value: a REST API answers its own
/// request id (a UUID) in `x-amzn-RequestId`, an HTTP API its own (`Jx1yzhXYIAMEVcQ=`-like)
/// in `apigw-requestid`, a function URL the Lambda request id in `x-amzn-RequestId` (`lambda`,
/// or a fresh one when no invocation ran). The gateway ids come from `rng`.
pub fn response_request_id(
    kind: crate::config_raw::ApiKind,
    lambda: Option<&str>,
    rng: &mut fastrand::Rng,
) -> (&'static str, String) {
    use crate::config_raw::ApiKind;
    // UUID v4 form: version nibble 4, variant bits 10.
    let uuid = |rng: &mut fastrand::Rng| {
        let v = rng.u128(..) & !(0xf << 76) & !(0x3 << 62) | (0x4 << 76) | (0x2 << 62);
        let hex = format!("{v:032x}");
        [
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..],
        ]
        .join("-")
    };
    match kind {
        ApiKind::Rest => ("x-amzn-requestid", uuid(rng)),
        ApiKind::Http => {
            const B64: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut id: String = (0..15).map(|_| char::from(B64[rng.usize(..64)])).collect();
            id.push('=');
            ("apigw-requestid", id)
        }
        ApiKind::FunctionUrl => (
            "x-amzn-requestid",
            lambda.map_or_else(|| uuid(rng), str::to_string),
        ),
    }
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

    #[test]
    fn each_front_answers_its_request_id_header() {
        use crate::config_raw::ApiKind;
        let mut rng = fastrand::Rng::with_seed(7);
        let (name, id) = response_request_id(ApiKind::Rest, Some("lambda-id"), &mut rng);
        assert_eq!(name, "x-amzn-requestid");
        assert_eq!(id.len(), 36);
        assert_eq!(
            (&id[14..15], &id[8..9], &id[13..14]),
            ("4", "-", "-"),
            "{id}"
        );
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, "lambda-id", "a REST API answers its own id");
        let (name, id) = response_request_id(ApiKind::Http, Some("lambda-id"), &mut rng);
        assert_eq!(name, "apigw-requestid");
        assert!(id.len() == 16 && id.ends_with('='), "{id}");
        let (name, id) = response_request_id(ApiKind::FunctionUrl, Some("lambda-id"), &mut rng);
        assert_eq!((name, id.as_str()), ("x-amzn-requestid", "lambda-id"));
        assert_eq!(
            response_request_id(ApiKind::FunctionUrl, None, &mut rng)
                .1
                .len(),
            36
        );
    }
}
