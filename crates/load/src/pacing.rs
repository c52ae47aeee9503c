//! When things are due inside a phase: the arrival curve of an open phase (uniform or
//! Poisson, constant or linear ramp), the user-count checks of a closed phase.

use std::time::Duration;

use stormwatch_model::{Arrivals, PhaseModel};

/// How often a closed phase re-reads its target user count.
const USER_CHECK: Duration = Duration::from_millis(50);

/// Produces the offsets (from the phase start) at which the scheduler acts.
#[derive(Debug)]
pub struct Pacer {
    kind: Kind,
    length: f64,
    /// Next arrival number (uniform) or checks done (closed).
    k: u64,
    /// Current time (Poisson).
    t: f64,
    /// Poisson draws: seeded alike on every shard of a plan, so they stripe one sequence.
    rng: fastrand::Rng,
}

#[derive(Debug)]
enum Kind {
    Uniform { a: f64, b: f64 },
    Poisson { a: f64, b: f64 },
    Users { a: u32, b: u32 },
    Idle,
}

impl Pacer {
    /// A pacer for a phase of `length`, its Poisson draws from `seed` (equal on every shard
    /// of a plan) or, without one, random.
    pub fn seeded(model: &PhaseModel, length: Duration, seed: Option<u64>) -> Self {
        let mut p = Self::new(model, length);
        if let Some(seed) = seed {
            p.rng = fastrand::Rng::with_seed(seed);
        }
        p
    }

    /// A pacer for a phase of `length`.
    pub fn new(model: &PhaseModel, length: Duration) -> Self {
        let kind = match *model {
            PhaseModel::Open {
                start_rate_per_sec: a,
                end_rate_per_sec: b,
                arrivals: Arrivals::Uniform,
                ..
            } => Kind::Uniform { a, b },
            PhaseModel::Open {
                start_rate_per_sec: a,
                end_rate_per_sec: b,
                arrivals: Arrivals::Poisson,
                ..
            } => Kind::Poisson { a, b },
            PhaseModel::Closed {
                start_users,
                end_users,
            } => Kind::Users {
                a: start_users,
                b: end_users,
            },
            PhaseModel::Idle => Kind::Idle,
        };
        Self {
            kind,
            length: length.as_secs_f64(),
            k: 0,
            t: 0.0,
            rng: fastrand::Rng::new(),
        }
    }

    /// The next offset, or `None` when nothing more is due in this phase.
    pub fn next_offset(&mut self) -> Option<Duration> {
        let t = match self.kind {
            Kind::Uniform { a, b } => {
                // The k-th arrival is where the integral of the rate reaches k:
                // a·t + (b−a)·t²/(2L) = k. Arrival 0 is at t = 0.
                let k = self.k as f64;
                let slope = (b - a) / self.length.max(f64::MIN_POSITIVE);
                let t = if slope.abs() < 1e-12 {
                    if a <= 0.0 {
                        return None;
                    }
                    k / a
                } else {
                    let disc = a * a + 2.0 * slope * k;
                    if disc < 0.0 {
                        return None;
                    }
                    (disc.sqrt() - a) / slope
                };
                self.k += 1;
                t
            }
            Kind::Poisson { a, b } => {
                // Thinning: candidates at the peak rate, kept with probability r(t)/peak.
                let peak = a.max(b);
                if peak <= 0.0 {
                    return None;
                }
                loop {
                    let u = 1.0 - self.rng.f64();
                    self.t += -u.ln() / peak;
                    if self.t >= self.length {
                        return None;
                    }
                    if self.rng.f64() * peak <= self.rate_at(self.t) {
                        break self.t;
                    }
                }
            }
            Kind::Users { .. } => {
                let t = USER_CHECK.as_secs_f64() * self.k as f64;
                self.k += 1;
                t
            }
            Kind::Idle => return None,
        };
        (t.is_finite() && t < self.length).then(|| Duration::from_secs_f64(t))
    }

    fn rate_at(&self, t: f64) -> f64 {
        match self.kind {
            Kind::Uniform { a, b } | Kind::Poisson { a, b } => a + (b - a) * t / self.length,
            _ => 0.0,
        }
    }

    /// Closed phases: the user count at `offset` (linear ramp, rounded).
    pub fn users_at(&self, offset: Duration) -> u32 {
        match self.kind {
            Kind::Users { a, b } => {
                let f = (offset.as_secs_f64() / self.length).clamp(0.0, 1.0);
                (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u32
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(model: &PhaseModel, secs: u64, until: f64) -> usize {
        let mut p = Pacer::new(model, Duration::from_secs(secs));
        std::iter::from_fn(|| p.next_offset())
            .take_while(|d| d.as_secs_f64() < until)
            .count()
    }

    fn open(a: f64, b: f64, arrivals: Arrivals) -> PhaseModel {
        PhaseModel::Open {
            start_rate_per_sec: a,
            end_rate_per_sec: b,
            arrivals,
            max_in_flight: None,
        }
    }

    #[test]
    fn uniform_constant_rate_is_exact_and_evenly_spaced() {
        let m = open(1000.0, 1000.0, Arrivals::Uniform);
        assert_eq!(count(&m, 2, 2.0), 2000);
        let mut p = Pacer::new(&m, Duration::from_secs(1));
        let a = p.next_offset().unwrap();
        let b = p.next_offset().unwrap();
        assert_eq!(b.checked_sub(a), Some(Duration::from_millis(1)));
    }

    #[test]
    fn linear_ramp_follows_the_integral() {
        // 0 -> 100/s over 10 s: 500 arrivals, a quarter of them in the first half... no:
        // the integral to 5 s is 125.
        let m = open(0.0, 100.0, Arrivals::Uniform);
        assert_eq!(count(&m, 10, 10.0), 500);
        let half = count(&m, 10, 5.0);
        assert!((124..=126).contains(&half), "{half}");
        // Ramp down too.
        let m = open(100.0, 0.0, Arrivals::Uniform);
        let n = count(&m, 10, 10.0);
        assert!((499..=501).contains(&n), "{n}");
    }

    #[test]
    fn poisson_keeps_the_mean_rate() {
        let m = open(2000.0, 2000.0, Arrivals::Poisson);
        let n = count(&m, 5, 5.0);
        assert!((9_500..=10_500).contains(&n), "{n}");
        assert_eq!(count(&PhaseModel::Idle, 5, 5.0), 0);
    }

    #[test]
    fn closed_ramp_interpolates_users() {
        let m = PhaseModel::Closed {
            start_users: 2,
            end_users: 10,
        };
        let p = Pacer::new(&m, Duration::from_secs(4));
        assert_eq!(p.users_at(Duration::ZERO), 2);
        assert_eq!(p.users_at(Duration::from_secs(2)), 6);
        assert_eq!(p.users_at(Duration::from_secs(9)), 10);
    }
}
