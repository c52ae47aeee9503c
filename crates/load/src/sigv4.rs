//! AWS Signature Version 4 for the load engine's requests (`[target] auth = { sigv4 = … }`):
//! API Gateway `AWS_IAM` routes (`execute-api`) and function URLs with `AuthType: AWS_IAM`
//! (`lambda`).
//!
//! A lean signer rather than `aws-sigv4` on the hot path: `aws-sigv4` builds an
//! `http::Request`-shaped view, a header map and several strings per request and derives
//! the signing key every time; here the signing key of the day is derived once and kept as
//! HMAC-SHA256 inner and outer states, the canonical request is written into a reused
//! per-thread buffer and hashed once, and the headers go straight into the request being
//! encoded. `cargo bench -p stormwatch-load --bench sigv4` prints both costs. The output is
//! byte-identical to `aws-sigv4` with its default settings (tested below), which signs every
//! header it is given; this signer signs `host`, `x-amz-date` and, with a session token,
//! `x-amz-security-token`: what SigV4 requires, and what the sandbox's `iam` routes check.
//!
//! Credentials are held in memory only: [`Credentials`] has no `Debug` output of its
//! values, and nothing here logs or writes them.

mod canonical;

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::scenario::RawScenario;

pub use canonical::{canonical_path, canonical_query};

/// Services a scenario may sign for.
pub const SERVICES: [&str; 2] = ["execute-api", "lambda"];

/// A set of AWS credentials, as the default chain resolved them.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id (`AKIA…`/`ASIA…`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// When they expire (temporary credentials), as the provider says.
    pub expiry: Option<SystemTime>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values.
        f.debug_struct("Credentials")
            .field("session_token", &self.session_token.is_some())
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// HMAC-SHA256 with its key already absorbed: the inner and outer hash states after the
/// padded key block, cloned for each message (two compressions saved per MAC).
#[derive(Clone)]
struct HmacKey {
    inner: Sha256,
    outer: Sha256,
}

impl HmacKey {
    fn new(key: &[u8]) -> Self {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
        for i in 0..64 {
            ipad[i] ^= block[i];
            opad[i] ^= block[i];
        }
        let (mut inner, mut outer) = (Sha256::new(), Sha256::new());
        inner.update(ipad);
        outer.update(opad);
        Self { inner, outer }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for p in parts {
            inner.update(p);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// The credentials with the signing key of one UTC day.
struct Keys {
    creds: Arc<Credentials>,
    /// `YYYYMMDD`.
    day: [u8; 8],
    key: HmacKey,
}

impl Keys {
    fn derive(creds: Arc<Credentials>, day: [u8; 8], region: &str, service: &str) -> Self {
        let secret = format!("AWS4{}", creds.secret_access_key);
        let k_date = HmacKey::new(secret.as_bytes()).mac(&[&day]);
        let k_region = HmacKey::new(&k_date).mac(&[region.as_bytes()]);
        let k_service = HmacKey::new(&k_region).mac(&[service.as_bytes()]);
        let k_signing = HmacKey::new(&k_service).mac(&[b"aws4_request"]);
        Self {
            creds,
            day,
            key: HmacKey::new(&k_signing),
        }
    }
}

/// Signs the requests of one run. Credentials are set before the run and replaced when
/// they are refreshed ([`SigV4::set_credentials`]); requests in flight keep the set they
/// were signed with.
pub struct SigV4 {
    service: String,
    region: String,
    /// The `host` header as the client sends it (`host[:port]`, no default port).
    host: String,
    /// `/REGION/SERVICE/aws4_request`.
    scope_tail: String,
    keys: RwLock<Option<Arc<Keys>>>,
}

impl std::fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4")
            .field("service", &self.service)
            .field("region", &self.region)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<canonical::Scratch> =
        std::cell::RefCell::new(canonical::Scratch::default());
}

impl SigV4 {
    /// A signer for `service` in `region` for requests to `base_url`'s host; no
    /// credentials yet.
    pub fn new(service: &str, region: &str, base_url: &reqwest::Url) -> Self {
        let host = base_url.host_str().unwrap_or_default();
        let host = match base_url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Self {
            service: service.to_string(),
            region: region.to_string(),
            host,
            scope_tail: format!("/{region}/{service}/aws4_request"),
            keys: RwLock::new(None),
        }
    }

    /// The service signed for (`execute-api` or `lambda`).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The region signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Sets (or replaces, on refresh) the credentials. Cheap for the senders: the key of
    /// the day is derived here, and the swap holds the lock for a pointer store.
    pub fn set_credentials(&self, creds: Credentials) {
        let day = amz_date(SystemTime::now());
        let day: [u8; 8] = day[..8].try_into().unwrap_or([b'0'; 8]);
        let keys = Keys::derive(Arc::new(creds), day, &self.region, &self.service);
        if let Ok(mut k) = self.keys.write() {
            *k = Some(Arc::new(keys));
        }
    }

    /// Whether credentials are set.
    pub fn has_credentials(&self) -> bool {
        self.keys.read().is_ok_and(|k| k.is_some())
    }

    /// When the current credentials expire, if they do.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.keys
            .read()
            .ok()
            .and_then(|k| k.as_ref().and_then(|k| k.creds.expiry))
    }

    /// The keys for `day`, derived once per day (and per credential set).
    fn keys_for(&self, day: [u8; 8]) -> Option<Arc<Keys>> {
        let current = self.keys.read().ok()?.clone()?;
        if current.day == day {
            return Some(current);
        }
        let next = Arc::new(Keys::derive(
            Arc::clone(&current.creds),
            day,
            &self.region,
            &self.service,
        ));
        if let Ok(mut k) = self.keys.write()
            // A refresh that landed meanwhile wins.
            && k.as_ref().is_some_and(|k| Arc::ptr_eq(&k.creds, &current.creds))
        {
            *k = Some(Arc::clone(&next));
        }
        Some(next)
    }

    /// Signs one request at `now`: `path` and `query` exactly as they go on the wire
    /// (already percent-encoded), `body` the bytes sent. Calls `header` with
    /// `x-amz-date`, `x-amz-security-token` (with a session token) and `authorization`.
    /// Without credentials nothing is added (the engine refuses to start without them).
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: &[u8],
        now: SystemTime,
        mut header: impl FnMut(&'static str, &[u8]),
    ) {
        let date = amz_date(now);
        let day: [u8; 8] = date[..8].try_into().unwrap_or([b'0'; 8]);
        let Some(keys) = self.keys_for(day) else {
            return;
        };
        let token = keys.creds.session_token.as_deref();
        let signed_headers: &[u8] = if token.is_some() {
            b"host;x-amz-date;x-amz-security-token"
        } else {
            b"host;x-amz-date"
        };
        SCRATCH.with_borrow_mut(|s| {
            let c = &mut s.canon;
            c.clear();
            c.extend_from_slice(method.as_bytes());
            c.push(b'\n');
            canonical_path(path, c);
            c.push(b'\n');
            canonical_query(query.unwrap_or(""), &mut s.enc, &mut s.pairs, c);
            c.extend_from_slice(b"\nhost:");
            c.extend_from_slice(self.host.as_bytes());
            c.extend_from_slice(b"\nx-amz-date:");
            c.extend_from_slice(&date);
            if let Some(t) = token {
                c.extend_from_slice(b"\nx-amz-security-token:");
                c.extend_from_slice(t.trim().as_bytes());
            }
            c.extend_from_slice(b"\n\n");
            c.extend_from_slice(signed_headers);
            c.push(b'\n');
            let mut hex = [0u8; 64];
            hex_into(&Sha256::digest(body), &mut hex);
            c.extend_from_slice(&hex);
            hex_into(&Sha256::digest(&*c), &mut hex);
            let signature = keys.key.mac(&[
                b"AWS4-HMAC-SHA256\n",
                &date,
                b"\n",
                &day,
                self.scope_tail.as_bytes(),
                b"\n",
                &hex,
            ]);
            hex_into(&signature, &mut hex);
            header("x-amz-date", &date);
            if let Some(t) = token {
                header("x-amz-security-token", t.as_bytes());
            }
            let v = &mut s.value;
            v.clear();
            v.extend_from_slice(b"AWS4-HMAC-SHA256 Credential=");
            v.extend_from_slice(keys.creds.access_key_id.as_bytes());
            v.push(b'/');
            v.extend_from_slice(&day);
            v.extend_from_slice(self.scope_tail.as_bytes());
            v.extend_from_slice(b", SignedHeaders=");
            v.extend_from_slice(signed_headers);
            v.extend_from_slice(b", Signature=");
            v.extend_from_slice(&hex);
            header("authorization", v);
        });
    }
}

/// Keeps `signer`'s credentials fresh until dropped (run it as a task beside the load):
/// asks `fetch` again 5 minutes before they expire (at half their remaining life for short
/// ones, at least 1 s apart), retrying a failed fetch every 10 s (each failure goes to the
/// log, without secrets). Credentials without an expiry are never fetched again. Senders
/// never wait on it: they keep signing with the current set until the new one is swapped in.
pub async fn keep_fresh<F, Fut>(signer: Arc<SigV4>, mut fetch: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Credentials, String>>,
{
    while let Some(expiry) = signer.expiry() {
        let left = expiry.duration_since(SystemTime::now()).unwrap_or_default();
        let wait = left
            .saturating_sub(Duration::from_secs(300))
            .max(left / 2)
            .max(Duration::from_secs(1));
        tokio::time::sleep(wait).await;
        loop {
            match fetch().await {
                Ok(c) => {
                    signer.set_credentials(c);
                    break;
                }
                Err(e) => {
                    tracing::warn!(
                        "refreshing the SigV4 signing credentials: {e}; retrying in 10 s"
                    );
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            }
        }
    }
}

/// Lower-case hex of 32 bytes.
fn hex_into(bytes: &[u8], out: &mut [u8; 64]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().take(32).enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
}

/// `YYYYMMDDTHHMMSSZ` (UTC) of `t`.
pub fn amz_date(t: SystemTime) -> [u8; 16] {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let sod = secs % 86_400;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let mut out = *b"00000000T000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year.max(0) as u64);
    put(4, 2, month as u64);
    put(6, 2, day as u64);
    put(9, 2, sod / 3600);
    put(11, 2, sod / 60 % 60);
    put(13, 2, sod % 60);
    out
}

/// Year, month and day of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Checks `[target] auth` into a signer (without credentials). `err(offset, field,
/// message)` builds the scenario error. No header of the target or of a step may set what
/// signing sets.
pub(crate) fn check_auth(
    raw: &RawScenario,
    base_url: &reqwest::Url,
    err: &dyn Fn(Option<usize>, &str, String) -> crate::LoadError,
) -> Result<Option<Arc<SigV4>>, crate::LoadError> {
    let Some(auth) = &raw.target.auth else {
        return Ok(None);
    };
    let at = Some(auth.span().start);
    let Some(s) = &auth.get_ref().sigv4 else {
        return Err(err(
            at,
            "target.auth",
            "expected `{ sigv4 = { service = \"execute-api\", region = \"us-east-1\" } }`".into(),
        ));
    };
    let service = s.service.as_ref().ok_or_else(|| {
        err(
            at,
            "target.auth.sigv4.service",
            "missing: `execute-api` (API Gateway) or `lambda` (function URLs)".into(),
        )
    })?;
    if !SERVICES.contains(&service.get_ref().as_str()) {
        return Err(err(
            Some(service.span().start),
            "target.auth.sigv4.service",
            format!(
                "`{}`: expected `execute-api` (API Gateway) or `lambda` (function URLs)",
                service.get_ref()
            ),
        ));
    }
    let region = s.region.as_ref().ok_or_else(|| {
        err(
            at,
            "target.auth.sigv4.region",
            "missing: the region of the API, e.g. `us-east-1`".into(),
        )
    })?;
    if !is_region(region.get_ref()) {
        return Err(err(
            Some(region.span().start),
            "target.auth.sigv4.region",
            format!(
                "`{}` is not an AWS region name (like `us-east-1` or `eu-central-2`)",
                region.get_ref()
            ),
        ));
    }
    if base_url.host_str().is_none_or(str::is_empty) {
        return Err(err(at, "target.url", "signing needs a host".into()));
    }
    let mut headers: Vec<(String, &str, &Spanned<String>)> = raw
        .target
        .headers
        .iter()
        .map(|(k, v)| (format!("target.headers.{k}"), k.as_str(), v))
        .collect();
    for (fi, flow) in raw.flows.iter().enumerate() {
        let flow = flow.get_ref();
        for (kind, steps) in [("on_start", &flow.on_start), ("steps", &flow.steps)] {
            for (si, step) in steps.iter().enumerate() {
                headers.extend(step.get_ref().headers.iter().map(|(k, v)| {
                    (
                        format!("flows[{fi}].{kind}[{si}].headers.{k}"),
                        k.as_str(),
                        v,
                    )
                }));
            }
        }
    }
    for (field, name, value) in headers {
        let name = name.to_ascii_lowercase();
        if ["authorization", "x-amz-date", "x-amz-security-token"].contains(&name.as_str()) {
            return Err(err(
                Some(value.span().start),
                &field,
                "set by SigV4 signing (`target.auth`): remove the header".into(),
            ));
        }
    }
    Ok(Some(Arc::new(SigV4::new(
        service.get_ref(),
        region.get_ref(),
        base_url,
    ))))
}

/// `us-east-1`, `us-gov-west-1`, `cn-north-1`, `eu-central-2`: lower-case words joined by
/// `-`, at least three parts, the last a number.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()))
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests;
