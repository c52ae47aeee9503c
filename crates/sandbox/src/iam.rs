//! IAM (`AWS_IAM`) authorization of routes with `auth = "iam"`: the SigV4 `Authorization`
//! header is checked as API Gateway checks it before any Lambda invocation. Its shape
//! (algorithm, the `Credential`, `SignedHeaders` and `Signature` parameters, a credential
//! scope `AKID/YYYYMMDD/REGION/SERVICE/aws4_request` for the sandbox's region and the API's
//! service, `host` and `x-amz-date` signed), its date (`X-Amz-Date` within 5 minutes of
//! the sandbox's clock, the scope's day the same) and, for the access key ids whose secret
//! the sandbox knows ([`KNOWN_KEYS`]), the signature itself, recomputed with `aws-sigv4`
//! (the SDK's signer) over the request as received. Other access key ids pass on shape and
//! date alone: the sandbox has no IAM to ask.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

/// Access key ids whose secret the sandbox knows: the local credentials the collector uses
/// against a loopback endpoint (`AwsOptions::use_local_endpoint`) and the AWS docs' example
/// keys.
pub const KNOWN_KEYS: [(&str, &str); 2] = [
    ("AKIDLOCALSANDBOX", "local-sandbox-secret"),
    ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
];

/// How far `X-Amz-Date` may be from the sandbox's clock, either way.
const SKEW: Duration = Duration::from_secs(300);

/// What a signed request carries that the check needs (captured by the front only for
/// requests whose `Authorization` starts with `AWS4-`).
#[derive(Debug, Default)]
pub struct SignedParts {
    /// Method.
    pub method: String,
    /// Path as received (still percent-encoded).
    pub path: String,
    /// Query as received, without `?`.
    pub query: Option<String>,
    /// Every header, names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl SignedParts {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the check decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamVerdict {
    /// Signed well (and, for a known key, correctly).
    Allow,
    /// No `Authorization` header: `MissingAuthenticationTokenException`.
    Missing,
    /// A header that is not a complete SigV4 authorization:
    /// `IncompleteSignatureException` with this message.
    Incomplete(String),
    /// Wrong scope, date or signature: `InvalidSignatureException` with this message.
    Invalid(String),
}

impl IamVerdict {
    /// The `x-amzn-ErrorType` and the JSON body API Gateway answers with (403).
    pub fn answer(&self) -> Option<(&'static str, String)> {
        let (kind, message) = match self {
            Self::Allow => return None,
            Self::Missing => (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            Self::Incomplete(m) => ("IncompleteSignatureException", m.as_str()),
            Self::Invalid(m) => ("InvalidSignatureException", m.as_str()),
        };
        Some((kind, serde_json::json!({ "message": message }).to_string()))
    }
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The parameters of `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, String> {
    let (algorithm, params) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let (mut credential, mut signed, mut signature) = (None, None, None);
    if algorithm == "AWS4-HMAC-SHA256" {
        for p in params.split(',') {
            match p.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if v.is_none_or(str::is_empty) {
            let _ = write!(
                missing,
                "Authorization header requires '{name}' parameter. "
            );
        }
    }
    match (credential, signed, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) if missing.is_empty() => {
            Ok(Authorization {
                credential,
                signed_headers,
                signature,
            })
        }
        _ => Err(missing),
    }
}

/// Unix seconds of `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let time = u64::try_from(hour * 3600 + minute * 60 + second).ok()?;
    Some(days_from_civil(year, month, day) * 86_400 + time)
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm), 0 before it.
fn days_from_civil(year: i64, month: i64, day: i64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).unwrap_or(0)
}

/// `YYYYMMDDTHHMMSSZ` of Unix seconds.
fn format_amz_date(secs: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(0), 0)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Checks the request of an `auth = "iam"` route. `authorization` is the header's value;
/// `parts` the signed request as captured (present when the header starts with `AWS4-`).
pub fn check(
    authorization: Option<&str>,
    parts: Option<&SignedParts>,
    now: SystemTime,
    region: &str,
    service: &str,
) -> IamVerdict {
    let Some(value) = authorization.map(str::trim).filter(|v| !v.is_empty()) else {
        return IamVerdict::Missing;
    };
    let empty = SignedParts::default();
    let parts = parts.unwrap_or(&empty);
    let date = parts.header("x-amz-date").map(str::trim);
    let auth = match parse_authorization(value) {
        Ok(a) => a,
        Err(mut missing) => {
            if date.is_none() && parts.header("date").is_none() {
                missing.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
            }
            return IamVerdict::Incomplete(missing);
        }
    };
    let scope: Vec<&str> = auth.credential.split('/').collect();
    let [akid, day, scope_region, scope_service, terminator] = scope[..] else {
        return IamVerdict::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            auth.credential
        ));
    };
    if terminator != "aws4_request" {
        return IamVerdict::Incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        ));
    }
    if scope_region != region {
        return IamVerdict::Invalid(format!(
            "Credential should be scoped to a valid region, not '{scope_region}'. "
        ));
    }
    if scope_service != service {
        return IamVerdict::Invalid(format!(
            "Credential should be scoped to correct service: '{service}'. "
        ));
    }
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return IamVerdict::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        );
    }
    let Some(date) = date else {
        return IamVerdict::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
                .into(),
        );
    };
    if !signed.contains(&"x-amz-date") {
        return IamVerdict::Incomplete(
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.".into(),
        );
    }
    let Some(at) = parse_amz_date(date) else {
        return IamVerdict::Incomplete(format!(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '{date}'. "
        ));
    };
    let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let skew = SKEW.as_secs();
    if at + skew < now_s {
        return IamVerdict::Invalid(format!(
            "Signature expired: {date} is now earlier than {} ({} - 5 min.)",
            format_amz_date(now_s - skew),
            format_amz_date(now_s)
        ));
    }
    if at > now_s + skew {
        return IamVerdict::Invalid(format!(
            "Signature not yet current: {date} is still later than {} ({} + 5 min.)",
            format_amz_date(now_s + skew),
            format_amz_date(now_s)
        ));
    }
    if day != &date[..8] {
        return IamVerdict::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{day}' != '{}', from '{date}'.",
            &date[..8]
        ));
    }
    let well_formed = auth.signature.len() == 64
        && auth
            .signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return IamVerdict::Invalid(MISMATCH.into());
    }
    let Some((_, secret)) = KNOWN_KEYS.iter().find(|(k, _)| *k == akid) else {
        return IamVerdict::Allow;
    };
    match expected_signature(parts, &signed, akid, secret, region, service, at) {
        Some(sig) if sig == auth.signature => IamVerdict::Allow,
        _ => IamVerdict::Invalid(MISMATCH.into()),
    }
}

/// The signature `aws-sigv4` computes for the request as received, with exactly the
/// headers the client listed in `SignedHeaders`.
fn expected_signature(
    parts: &SignedParts,
    signed: &[&str],
    akid: &str,
    secret: &str,
    region: &str,
    service: &str,
    at: u64,
) -> Option<String> {
    let host = parts.header("host")?;
    let token = parts.header("x-amz-security-token");
    let mut headers = Vec::new();
    for name in signed {
        if matches!(*name, "x-amz-date" | "x-amz-security-token") {
            continue; // the signer adds these from the time and the identity
        }
        // A listed header that is absent cannot have been signed as listed.
        headers.push((*name, parts.header(name)?));
    }
    let token_signed = signed.contains(&"x-amz-security-token");
    if token_signed && token.is_none() {
        return None;
    }
    let identity = aws_credential_types::Credentials::new(
        akid,
        secret,
        token.map(str::to_string),
        None,
        "sandbox",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    if !token_signed {
        settings.session_token_mode = SessionTokenMode::Exclude;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(UNIX_EPOCH + Duration::from_secs(at))
        .settings(settings)
        .build()
        .ok()?
        .into();
    let uri = match &parts.query {
        Some(q) => format!("http://{host}{}?{q}", parts.path),
        None => format!("http://{host}{}", parts.path),
    };
    let req = SignableRequest::new(
        &parts.method,
        uri,
        headers.into_iter(),
        SignableBody::Bytes(&parts.body),
    )
    .ok()?;
    let (_, signature) = sign(req, &params).ok()?.into_parts();
    Some(signature)
}

#[cfg(test)]
mod tests;
