//! One phase of a plan, [`PhasePlan`], and the checks that turn a `[[phases]]` table into
//! one: a model (open, closed, idle), a duration, non-negative rates or user counts, and
//! ramps that name both ends.

use std::time::Duration;

use stormwatch_model::{Arrivals, PhaseModel};

use crate::duration::parse_duration;
use crate::error::LoadError;
use crate::scenario::RawPhase;

/// A phase.
#[derive(Clone, Debug)]
pub struct PhasePlan {
    /// Name.
    pub name: String,
    /// Length.
    pub duration: Duration,
    /// How load is generated.
    pub model: PhaseModel,
}

impl PhasePlan {
    /// Flow starts expected in an open phase (average rate × duration); `None` otherwise.
    pub fn expected_iterations(&self) -> Option<f64> {
        match self.model {
            PhaseModel::Open {
                start_rate_per_sec,
                end_rate_per_sec,
                ..
            } => Some(
                f64::midpoint(start_rate_per_sec, end_rate_per_sec) * self.duration.as_secs_f64(),
            ),
            PhaseModel::Idle => Some(0.0),
            PhaseModel::Closed { .. } => None,
        }
    }
}

/// The highest arrival rate a phase may ask for (flow starts per second, in total).
pub const MAX_RATE: f64 = 1_000_000.0;
/// The most virtual users a closed phase may ask for.
pub const MAX_USERS: f64 = 1_000_000.0;

/// Checks a rate or user count: a finite number from 0 to `max`.
fn check_amount(what: &str, v: f64, max: f64) -> Result<f64, String> {
    if !v.is_finite() {
        Err(format!("{what} must be a finite number, not `{v}`"))
    } else if v < 0.0 {
        Err(format!("{what} must not be negative"))
    } else if v > max {
        Err(format!("{what} must be at most {max}"))
    } else {
        Ok(v)
    }
}

// `from`/`to` read best as `a`/`b`, like the formulas in docs/scenario.md.
#[allow(clippy::many_single_char_names)]
pub fn check_phase(
    p: &RawPhase,
    offset: usize,
    i: usize,
    err: &dyn Fn(Option<usize>, &str, String) -> LoadError,
) -> Result<PhasePlan, LoadError> {
    let f = |name: &str| format!("phases[{i}].{name}");
    let duration = p.duration.as_ref().ok_or_else(|| {
        err(
            Some(offset),
            &f("duration"),
            format!("phase `{}` has no duration", p.name),
        )
    })?;
    let duration = parse_duration(duration.get_ref())
        .map_err(|m| err(Some(duration.span().start), &f("duration"), m))?;
    let ramp = |what: &str| -> Result<Option<(f64, f64)>, LoadError> {
        match (&p.from, &p.to) {
            (Some(a), Some(b)) => {
                let max = if what == "users" { MAX_USERS } else { MAX_RATE };
                for (v, end) in [(a, "from"), (b, "to")] {
                    check_amount(what, *v.get_ref(), max)
                        .map_err(|m| err(Some(v.span().start), &f(end), m))?;
                }
                Ok(Some((*a.get_ref(), *b.get_ref())))
            }
            (None, None) => Ok(None),
            _ => Err(err(
                Some(offset),
                &f("from"),
                "a ramp needs both `from` and `to`".into(),
            )),
        }
    };
    let model = match p.model.get_ref().as_str() {
        "open" => {
            let (a, b) = match (&p.rate, ramp("rate")?) {
                (Some(r), None) => {
                    let v = check_amount("rate", *r.get_ref(), MAX_RATE)
                        .map_err(|m| err(Some(r.span().start), &f("rate"), m))?;
                    (v, v)
                }
                (None, Some(ab)) => ab,
                _ => {
                    return Err(err(
                        Some(offset),
                        &f("rate"),
                        "an open phase needs `rate`, or `from` and `to`".into(),
                    ));
                }
            };
            let max_in_flight = match &p.max_in_flight {
                Some(m) => Some(
                    u32::try_from(*m.get_ref())
                        .ok()
                        .filter(|v| *v > 0)
                        .ok_or_else(|| {
                            err(
                                Some(m.span().start),
                                &f("max_in_flight"),
                                "must be 1 or more".into(),
                            )
                        })?,
                ),
                None => None,
            };
            PhaseModel::Open {
                start_rate_per_sec: a,
                end_rate_per_sec: b,
                arrivals: p.arrivals.unwrap_or(Arrivals::Uniform),
                max_in_flight,
            }
        }
        "closed" => {
            let (a, b) = match (&p.users, ramp("users")?) {
                (Some(u), None) => {
                    let v = check_amount("users", *u.get_ref() as f64, MAX_USERS)
                        .map_err(|m| err(Some(u.span().start), &f("users"), m))?
                        as u32;
                    (v, v)
                }
                (None, Some((a, b))) => (a.round() as u32, b.round() as u32),
                _ => {
                    return Err(err(
                        Some(offset),
                        &f("users"),
                        "a closed phase needs `users`, or `from` and `to`".into(),
                    ));
                }
            };
            PhaseModel::Closed {
                start_users: a,
                end_users: b,
            }
        }
        "idle" => PhaseModel::Idle,
        other => {
            return Err(err(
                Some(p.model.span().start),
                &f("model"),
                format!("unknown model `{other}` (use open, closed or idle)"),
            ));
        }
    };
    Ok(PhasePlan {
        name: p.name.clone(),
        duration,
        model,
    })
}
