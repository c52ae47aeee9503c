//! One shard of a distributed run (`run --shard I/N`): which arrivals and users are this
//! shard's, and when it starts.
//!
//! Every rate, user count and threshold in the scenario stays the *total*. Open phases:
//! every shard walks the one planned arrival sequence (for Poisson arrivals, from the same
//! seed, derived from the plan hash) and takes arrivals k ≡ I (mod N) — striping, as k6's
//! execution segments do, so the shards never fire in step and their union is exactly the
//! single-process schedule (a Poisson process stays one in total). Closed phases: the users
//! are split as evenly as possible, the first `users mod N` shards taking one more. Trace ids
//! are 96 random bits per request, unique across shards.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// This process's shard of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Index, `0..count`.
    pub index: u32,
    /// Shards of the plan.
    pub count: u32,
}

impl Shard {
    /// The whole plan (no sharding).
    pub const WHOLE: Self = Self { index: 0, count: 1 };

    /// `I/N`, `0 <= I < N`, `N <= 10,000`.
    ///
    /// # Errors
    /// Not of that form, or out of range.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: write I/N, e.g. 0/4"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: the index `{i}` is not a whole number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: the count `{n}` is not a whole number"))?;
        Self::new(index, count).map_err(|m| format!("{text:?}: {m}"))
    }

    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// `count` is 0 or over 10,000, or `index >= count`.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 || count > 10_000 {
            return Err(format!("the shard count must be 1..=10000, not {count}"));
        }
        if index >= count {
            return Err(format!(
                "the shard index must be below the count {count} (0..={}), not {index}",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// True when arrival `k` of a phase (0-based, in planned order) is this shard's.
    pub fn takes(&self, k: u64) -> bool {
        k % u64::from(self.count) == u64::from(self.index)
    }

    /// This shard's share of `total` users.
    pub fn users(&self, total: u32) -> u32 {
        total / self.count + u32::from(self.index < total % self.count)
    }

    /// This shard's share of a rate (traces per second, say).
    pub fn rate(&self, total: f64) -> f64 {
        total / f64::from(self.count)
    }

    /// True when this is the whole plan.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }
}

/// When a shard starts: the plan's instant, and how late it may still start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartAt {
    /// Phase 0 starts at this instant on every shard.
    pub at: DateTime<Utc>,
    /// A shard that cannot start by `at + max_skew` refuses to start.
    pub max_skew: Duration,
}

/// `--start-at`: RFC 3339, or `+DURATION` from `now`.
///
/// # Errors
/// Neither form.
pub fn parse_start_at(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Some(rest) = text.strip_prefix('+') {
        let d = crate::parse_duration(rest).map_err(|m| format!("{text:?}: {m}"))?;
        let d = chrono::Duration::from_std(d).map_err(|e| format!("{text:?}: {e}"))?;
        return Ok(now + d);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("{text:?}: not an RFC 3339 time ({e}) or +DURATION, e.g. 2026-12-02T10:00:00Z or +30s")
        })
}

/// The seed of a phase's arrival sequence, equal on every shard of one plan.
pub fn phase_seed(plan_hash: &str, phase: usize) -> u64 {
    let mut seed = 0xcbf2_9ce4_8422_2325_u64;
    for b in plan_hash.bytes().chain(phase.to_le_bytes()) {
        seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    seed
}

/// The arrivals an open phase of `length` plans in total (every shard's stripes together),
/// its Poisson draws seeded as the shards of the plan `plan_hash` seed phase `phase`.
pub fn planned_arrivals(
    model: &stormwatch_model::PhaseModel,
    length: Duration,
    plan_hash: &str,
    phase: usize,
) -> usize {
    let mut p = crate::pacing::Pacer::seeded(model, length, Some(phase_seed(plan_hash, phase)));
    std::iter::from_fn(|| p.next_offset()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_what_cannot_be() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert!(
            Shard::parse("4/4")
                .unwrap_err()
                .contains("below the count 4")
        );
        assert!(Shard::parse("0/0").unwrap_err().contains("1..=10000"));
        assert!(Shard::parse("a/4").unwrap_err().contains("whole number"));
        assert!(Shard::parse("3").unwrap_err().contains("I/N"));
    }

    #[test]
    fn stripes_and_user_shares_add_up_to_the_whole() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        for k in 0..1000 {
            assert_eq!(shards.iter().filter(|s| s.takes(k)).count(), 1, "{k}");
        }
        for total in 0..20 {
            let shares: Vec<u32> = shards.iter().map(|s| s.users(total)).collect();
            assert_eq!(shares.iter().sum::<u32>(), total);
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
            assert!(
                shares.windows(2).all(|w| w[0] >= w[1]),
                "the first shards take more"
            );
        }
    }

    #[test]
    fn start_instants_are_absolute_or_relative() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_start_at("+30s", now).unwrap(),
            now + chrono::Duration::seconds(30)
        );
        assert_eq!(
            parse_start_at("2026-12-02T10:01:00Z", now).unwrap(),
            now + chrono::Duration::minutes(1)
        );
        assert!(
            parse_start_at("soon", now)
                .unwrap_err()
                .contains("+DURATION")
        );
        assert_eq!(phase_seed("ab", 1), phase_seed("ab", 1));
        assert_ne!(phase_seed("ab", 1), phase_seed("ab", 2));
    }
}
