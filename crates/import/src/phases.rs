//! Phases of an imported run: from `--phase NAME=FROM..TO` flags, else the tool's own
//! grouping (JMeter thread group, k6 `scenario` tag, Locust user class), else one phase
//! spanning the run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use stormwatch_model::{PhaseWindow, UnixNanos};

use crate::{ImportError, Samples};

/// One `--phase NAME=FROM..TO` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseSpec {
    /// Phase name.
    pub name: String,
    /// Start (inclusive).
    pub from: TimeRef,
    /// End (exclusive).
    pub to: TimeRef,
}

/// A phase boundary: an absolute time or an offset from the first request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeRef {
    /// RFC 3339.
    At(DateTime<Utc>),
    /// `+60s`: from the first request's start.
    Offset(Duration),
}

impl PhaseSpec {
    /// Parses `NAME=FROM..TO` (`baseline=+0s..+60s`, `burst=2026-11-22T10:01:00Z..2026-11-22T10:02:00Z`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let usage = "write NAME=FROM..TO, FROM and TO RFC 3339 times or offsets from the first \
                     request such as +0s..+60s";
        let (name, range) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: {usage}"))?;
        let (from, to) = range
            .split_once("..")
            .ok_or_else(|| format!("{text:?}: {usage}"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("{text:?}: the phase has no name; {usage}"));
        }
        let at = |s: &str| -> Result<TimeRef, String> {
            let s = s.trim();
            if let Some(offset) = s.strip_prefix('+') {
                stormwatch_model::parse::parse_duration(offset, Duration::from_secs(366 * 86_400))
                    .map(TimeRef::Offset)
                    .map_err(|e| format!("{text:?}: {s}: {e}"))
            } else {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| TimeRef::At(t.with_timezone(&Utc)))
                    .map_err(|e| format!("{text:?}: {s}: not an RFC 3339 time or +offset ({e})"))
            }
        };
        Ok(Self {
            name: name.to_string(),
            from: at(from)?,
            to: at(to)?,
        })
    }
}

/// The phases chosen and each sample's phase.
#[derive(Debug)]
pub struct Phasing {
    /// Phase names and windows, in order.
    pub phases: Vec<(String, PhaseWindow)>,
    /// Phase index of every sample, `None` when it is outside every `--phase` window.
    pub of_sample: Vec<Option<u32>>,
    /// How the phases were chosen, for the manifest's notes.
    pub how: String,
}

fn nanos_to_time(ns: i64) -> DateTime<Utc> {
    UnixNanos(ns).to_datetime()
}

fn nanos_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Chooses the phases for `samples` (sorted by start) over `[first, last)`.
pub fn phases(
    samples: &Samples,
    specs: &[PhaseSpec],
    span: (i64, i64),
    tool_grouping: &str,
) -> Result<Phasing, ImportError> {
    let (first, last) = span;
    if !specs.is_empty() {
        let resolve = |t: TimeRef| match t {
            TimeRef::At(t) => t,
            TimeRef::Offset(d) => {
                nanos_to_time(first) + chrono::Duration::from_std(d).unwrap_or_default()
            }
        };
        let mut phases = Vec::new();
        for s in specs {
            let (start, end) = (resolve(s.from), resolve(s.to));
            if end <= start {
                return Err(ImportError::Phase(format!(
                    "--phase {}: its end ({end}) is not after its start ({start})",
                    s.name
                )));
            }
            phases.push((s.name.clone(), PhaseWindow { start, end }));
        }
        let bounds: Vec<(i64, i64)> = phases
            .iter()
            .map(|(_, w)| (nanos_of(w.start), nanos_of(w.end)))
            .collect();
        let of_sample = samples
            .rows()
            .iter()
            .map(|s| {
                bounds
                    .iter()
                    .position(|(a, b)| *a <= s.start_ns && s.start_ns < *b)
                    .map(|i| i as u32)
            })
            .collect();
        return Ok(Phasing {
            phases,
            of_sample,
            how: "phases from --phase flags".into(),
        });
    }
    let end_of = |ns: i64| nanos_to_time(ns + 1);
    let mut groups: Vec<(String, i64, i64)> = Vec::new();
    let mut of_sample = Vec::with_capacity(samples.len());
    for s in samples.rows() {
        let Some(g) = samples.group(s) else {
            groups.clear();
            of_sample.clear();
            break;
        };
        let i = if let Some(i) = groups.iter().position(|(name, _, _)| name == g) {
            i
        } else {
            groups.push((g.to_string(), s.start_ns, s.end_ns));
            groups.len() - 1
        };
        let entry = &mut groups[i];
        entry.1 = entry.1.min(s.start_ns);
        entry.2 = entry.2.max(s.end_ns);
        of_sample.push(Some(i as u32));
    }
    if groups.is_empty() || of_sample.len() != samples.len() {
        return Ok(Phasing {
            phases: vec![(
                "imported".into(),
                PhaseWindow {
                    start: nanos_to_time(first),
                    end: end_of(last),
                },
            )],
            of_sample: vec![Some(0); samples.len()],
            how: "one phase spanning the run (no --phase and no grouping in the file)".into(),
        });
    }
    Ok(Phasing {
        phases: groups
            .into_iter()
            .map(|(name, a, b)| {
                (
                    name,
                    PhaseWindow {
                        start: nanos_to_time(a),
                        end: end_of(b),
                    },
                )
            })
            .collect(),
        of_sample,
        how: format!("phases from the {tool_grouping}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sample;

    #[test]
    fn phase_flags_parse_offsets_and_times() {
        let p = PhaseSpec::parse("warm=+0s..+60s").unwrap();
        assert_eq!(p.name, "warm");
        assert_eq!(p.to, TimeRef::Offset(Duration::from_secs(60)));
        let p = PhaseSpec::parse("b=2026-11-22T10:00:00Z..2026-11-22T10:01:00Z").unwrap();
        assert!(matches!(p.from, TimeRef::At(_)));
        for bad in [
            "warm",
            "=+0s..+1s",
            "w=+0s",
            "w=yesterday..+1s",
            "w=+0s..+1parsec",
        ] {
            assert!(PhaseSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn samples_outside_every_flagged_phase_have_none() {
        let s = |t: i64| Sample::new("GET /", t, t + 10);
        let samples = Samples::from(vec![s(0), s(5_000_000_000), s(20_000_000_000)]);
        let specs = [PhaseSpec::parse("a=+0s..+10s").unwrap()];
        let p = phases(&samples, &specs, (0, 20_000_000_010), "").unwrap();
        assert_eq!(p.of_sample, [Some(0), Some(0), None]);
        let specs = [PhaseSpec::parse("a=+10s..+5s").unwrap()];
        assert!(phases(&samples, &specs, (0, 1), "").is_err());
    }

    #[test]
    fn groups_become_phases_in_order_of_first_request() {
        let s = |t: i64, g: &str| {
            let mut x = Sample::new("GET /", t, t + 10);
            x.group = Some(g.into());
            x
        };
        let samples = Samples::from(vec![s(0, "warm"), s(100, "burst"), s(50, "warm")]);
        let p = phases(&samples, &[], (0, 110), "k6 scenario tag").unwrap();
        assert_eq!(p.phases.len(), 2);
        assert_eq!(p.phases[0].0, "warm");
        assert_eq!(p.of_sample, [Some(0), Some(1), Some(0)]);
    }
}
