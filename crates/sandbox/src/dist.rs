//! Duration distributions for handler and init times (fixed, uniform, lognormal by median and
//! p99), drawn from a seeded generator so `--seed` repeats every draw.

use std::time::Duration;

use crate::config_limits::{MAX_DURATION, parse_duration};

/// z-score of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

/// Where arithmetic on durations saturates: a thousand times the longest configurable
/// duration (a day), i.e. the longest handler under the largest slowdown. Far beyond any
/// timeout, so saturating here changes no outcome.
pub const SATURATED: Duration = MAX_DURATION.saturating_mul(1000);

/// `secs` seconds as a duration: 0 for negative or NaN, [`SATURATED`] at most. Never panics
/// (unlike `Duration::from_secs_f64`).
pub fn saturating_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).map_or(SATURATED, |d| d.min(SATURATED))
}

/// `d` × `factor`, saturating as [`saturating_secs`] does (unlike `Duration::mul_f64`, which
/// panics on overflow, NaN or a negative factor).
pub fn scale(d: Duration, factor: f64) -> Duration {
    saturating_secs(d.as_secs_f64() * factor)
}

/// A distribution of durations.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// Always this value: `"fixed 20ms"`.
    Fixed(Duration),
    /// Uniform between two values: `"uniform 5ms..20ms"`.
    Uniform(Duration, Duration),
    /// Lognormal by median and p99: `"lognormal median=20ms p99=200ms"`.
    LogNormal {
        /// The median.
        median: Duration,
        /// The 99th percentile.
        p99: Duration,
    },
}

impl Dist {
    /// Parses the config syntax shown on each variant.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (kind, rest) = s.split_once(' ').unwrap_or((s, ""));
        let rest = rest.trim();
        match kind {
            "fixed" => Ok(Self::Fixed(parse_duration(rest)?)),
            "uniform" => {
                let (a, b) = rest
                    .split_once("..")
                    .ok_or_else(|| format!("`{s}`: expected \"uniform MIN..MAX\""))?;
                let (a, b) = (parse_duration(a)?, parse_duration(b)?);
                if b < a {
                    return Err(format!("`{s}`: MAX is below MIN"));
                }
                Ok(Self::Uniform(a, b))
            }
            "lognormal" => {
                let mut median = None;
                let mut p99 = None;
                for part in rest.split_whitespace() {
                    match part.split_once('=') {
                        Some(("median", v)) => median = Some(parse_duration(v)?),
                        Some(("p99", v)) => p99 = Some(parse_duration(v)?),
                        _ => return Err(format!("`{s}`: unknown part `{part}`")),
                    }
                }
                let (Some(median), Some(p99)) = (median, p99) else {
                    return Err(format!(
                        "`{s}`: expected \"lognormal median=20ms p99=200ms\""
                    ));
                };
                if p99 < median || median.is_zero() {
                    return Err(format!("`{s}`: need 0 < median <= p99"));
                }
                Ok(Self::LogNormal { median, p99 })
            }
            _ => Err(format!(
                "`{s}`: expected \"fixed D\", \"uniform MIN..MAX\" or \"lognormal median=D p99=D\""
            )),
        }
    }

    /// Draws one duration.
    pub fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        match *self {
            Self::Fixed(d) => d,
            Self::Uniform(a, b) => a.saturating_add(scale(b.saturating_sub(a), rng.f64())),
            Self::LogNormal { median, p99 } => {
                let sigma = (p99.as_secs_f64() / median.as_secs_f64()).ln() / Z99;
                // Box-Muller; 1 - f64() keeps the log argument in (0, 1].
                let z = (-2.0 * (1.0 - rng.f64()).ln()).sqrt()
                    * (2.0 * std::f64::consts::PI * rng.f64()).cos();
                saturating_secs((median.as_secs_f64() * (sigma * z).exp()).min(3600.0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_hits_median_and_p99() {
        let d = Dist::parse("lognormal median=20ms p99=200ms").unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut v: Vec<f64> = (0..20_000)
            .map(|_| d.sample(&mut rng).as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        let (med, p99) = (v[10_000], v[19_800]);
        assert!((med - 0.020).abs() < 0.002, "median {med}");
        assert!((p99 - 0.200).abs() < 0.04, "p99 {p99}");
    }

    #[test]
    fn extreme_values_are_rejected_and_arithmetic_saturates() {
        for spec in [
            "fixed 1e308ms",
            "fixed infms",
            "fixed nans",
            "fixed 1441m",
            "uniform 0ms..1e308s",
            "lognormal median=1e308ms p99=1e309ms",
            "lognormal median=1ms p99=1e300s",
        ] {
            assert!(Dist::parse(spec).is_err(), "{spec} accepted");
        }
        assert!(Dist::parse("fixed 1440m").is_ok());
        let day = Duration::from_secs(86_400);
        assert_eq!(scale(day, f64::INFINITY), SATURATED);
        assert_eq!(scale(day, 1e308), SATURATED);
        assert_eq!(scale(day, f64::NAN), Duration::ZERO);
        assert_eq!(scale(day, -1.0), Duration::ZERO);
        assert_eq!(saturating_secs(f64::MAX), SATURATED);
        // The widest lognormal still draws finite, capped values.
        let d = Dist::parse("lognormal median=1ms p99=1440m").unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        assert!((0..10_000).all(|_| d.sample(&mut rng) <= Duration::from_secs(3600)));
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(Dist::parse("uniform 5ms..1ms").is_err());
        assert!(Dist::parse("normal 5ms").is_err());
        assert_eq!(
            Dist::parse("fixed 2s").unwrap(),
            Dist::Fixed(Duration::from_secs(2))
        );
    }
}
