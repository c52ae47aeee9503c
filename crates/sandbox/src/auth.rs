//! The token route and the authorizer in front of protected routes. Tokens are bearer tokens
//! `sbx.<nonce>.<expiry>.<check>` whose check value is a keyed hash of nonce and expiry, so
//! they are verified without remembering them (memory stays flat) and a changed character
//! makes them invalid. A sandbox device, not cryptography. As API Gateway answers: no token
//! → 401 `{"message":"Unauthorized"}`; a token that is malformed, forged or expired → 403.

use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the authorizer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A valid token.
    Allow,
    /// No `Authorization` header (or an empty one): 401.
    Missing,
    /// A token that is not valid: 403.
    Deny,
}

/// Issues and checks tokens.
pub struct Authorizer {
    key: u64,
    ttl: Duration,
}

impl Authorizer {
    /// An authorizer keyed by the sandbox seed.
    pub fn new(seed: u64, ttl: Duration) -> Self {
        Self {
            key: seed ^ 0x7a11_5eed_c0ff_ee00,
            ttl,
        }
    }

    /// Token validity.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn check_value(&self, nonce: u64, expiry: u64) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        (self.key, nonce, expiry).hash(&mut h);
        h.finish()
    }

    /// A new token valid for the configured time from `now`.
    pub fn issue(&self, now: SystemTime, rng: &mut fastrand::Rng) -> String {
        let nonce = rng.u64(..);
        let expiry = (now + self.ttl)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        format!(
            "sbx.{nonce:016x}.{expiry:x}.{:016x}",
            self.check_value(nonce, expiry)
        )
    }

    /// Checks an `Authorization` header value (`Bearer <token>` or the bare token).
    pub fn check(&self, header: Option<&str>, now: SystemTime) -> Verdict {
        let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
            return Verdict::Missing;
        };
        let token = match value.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
            _ => value,
        };
        let mut parts = token.split('.');
        let (Some("sbx"), Some(n), Some(e), Some(c), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Verdict::Deny;
        };
        let (Ok(nonce), Ok(expiry), Ok(check)) = (
            u64::from_str_radix(n, 16),
            u64::from_str_radix(e, 16),
            u64::from_str_radix(c, 16),
        ) else {
            return Verdict::Deny;
        };
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if check != self.check_value(nonce, expiry) || now >= expiry {
            return Verdict::Deny;
        }
        Verdict::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_check_tamper_expire() {
        let a = Authorizer::new(1, Duration::from_secs(60));
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = a.issue(now, &mut fastrand::Rng::with_seed(3));
        assert_eq!(a.check(Some(&format!("Bearer {t}")), now), Verdict::Allow);
        assert_eq!(a.check(Some(&t), now), Verdict::Allow);
        assert_eq!(a.check(None, now), Verdict::Missing);
        assert_eq!(a.check(Some("  "), now), Verdict::Missing);
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('0') { '1' } else { '0' });
        assert_eq!(a.check(Some(&bad), now), Verdict::Deny);
        assert_eq!(a.check(Some("Bearer nope"), now), Verdict::Deny);
        let later = now + Duration::from_secs(61);
        assert_eq!(a.check(Some(&t), later), Verdict::Deny);
        let other = Authorizer::new(2, Duration::from_secs(60));
        assert_eq!(other.check(Some(&t), now), Verdict::Deny);
    }
}
