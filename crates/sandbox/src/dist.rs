//! Duration distributions for handler and init times (fixed, uniform, lognormal by median and
//! p99), drawn from a seeded generator so `--seed` repeats every draw.

use std::time::Duration;

use crate::config::parse_duration;

/// z-score of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

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
            Self::Uniform(a, b) => a + b.saturating_sub(a).mul_f64(rng.f64()),
            Self::LogNormal { median, p99 } => {
                let sigma = (p99.as_secs_f64() / median.as_secs_f64()).ln() / Z99;
                // Box-Muller; 1 - f64() keeps the log argument in (0, 1].
                let z = (-2.0 * (1.0 - rng.f64()).ln()).sqrt()
                    * (2.0 * std::f64::consts::PI * rng.f64()).cos();
                Duration::from_secs_f64((median.as_secs_f64() * (sigma * z).exp()).min(3600.0))
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
    fn rejects_bad_specs() {
        assert!(Dist::parse("uniform 5ms..1ms").is_err());
        assert!(Dist::parse("normal 5ms").is_err());
        assert_eq!(
            Dist::parse("fixed 2s").unwrap(),
            Dist::Fixed(Duration::from_secs(2))
        );
    }
}
