//! Time types: UTC instants with nanosecond precision and half-open phase windows.
//!
//! Everything stored is UTC. Windows are half-open `[start, end)`: an instant equal to a
//! window's end belongs to the next window, exactly as CloudWatch treats `EndTime`.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Nanoseconds since the Unix epoch, UTC. The compact form used in per-request records.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixNanos(pub i64);

impl UnixNanos {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    /// Converts from a chrono UTC timestamp (saturating far outside 1677–2262).
    pub fn from_datetime(t: DateTime<Utc>) -> Self {
        Self(t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        }))
    }

    /// Converts to a chrono UTC timestamp.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_nanos(self.0)
    }

    /// Whole seconds since the Unix epoch (0 before it).
    pub fn epoch_secs(self) -> u64 {
        u64::try_from(self.0 / 1_000_000_000).unwrap_or(0)
    }

    /// This instant plus a duration (saturating).
    #[must_use]
    pub fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    /// Time elapsed from `earlier` to `self`, or `None` when `earlier` is later.
    pub fn since(self, earlier: Self) -> Option<Duration> {
        u64::try_from(self.0.checked_sub(earlier.0)?)
            .ok()
            .map(Duration::from_nanos)
    }
}

impl From<DateTime<Utc>> for UnixNanos {
    fn from(t: DateTime<Utc>) -> Self {
        Self::from_datetime(t)
    }
}

/// A half-open UTC window `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct PhaseWindow {
    /// First instant inside the window.
    pub start: DateTime<Utc>,
    /// First instant after the window.
    pub end: DateTime<Utc>,
}

impl PhaseWindow {
    /// A window, refusing one that ends before it starts (an empty window is allowed).
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, ModelError> {
        if end < start {
            return Err(ModelError::InvertedWindow {
                start: start.to_rfc3339(),
                end: end.to_rfc3339(),
            });
        }
        Ok(Self { start, end })
    }

    /// A window of `length` starting at `start`.
    pub fn starting_at(start: DateTime<Utc>, length: Duration) -> Self {
        let length = chrono::Duration::from_std(length).unwrap_or(chrono::Duration::MAX);
        Self {
            start,
            end: start
                .checked_add_signed(length)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// Whether `t` lies in `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Whether the nanosecond instant `t` lies in `[start, end)`.
    pub fn contains_nanos(&self, t: UnixNanos) -> bool {
        UnixNanos::from_datetime(self.start) <= t && t < UnixNanos::from_datetime(self.end)
    }

    /// The window's length.
    pub fn duration(&self) -> Duration {
        (self.end - self.start).to_std().unwrap_or_default()
    }

    /// How long this window and `other` share (zero when they are disjoint).
    pub fn overlap(&self, other: &PhaseWindow) -> Duration {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (end - start).to_std().unwrap_or_default()
    }

    /// How long this window shares with the CloudWatch period `[period_start, period_start + period)`.
    pub fn overlap_with_period(&self, period_start: DateTime<Utc>, period: Duration) -> Duration {
        self.overlap(&PhaseWindow::starting_at(period_start, period))
    }

    /// The share (0.0–1.0) of the period `[period_start, period_start + period)` that this
    /// window covers: the weight to give that period's datapoint when attributing it.
    pub fn period_coverage(&self, period_start: DateTime<Utc>, period: Duration) -> f64 {
        if period.is_zero() {
            return 0.0;
        }
        self.overlap_with_period(period_start, period).as_secs_f64() / period.as_secs_f64()
    }

    /// The smallest window made of whole periods (aligned to the Unix epoch, as CloudWatch
    /// aligns datapoints) that contains this one.
    #[must_use]
    pub fn align_to_period(&self, period: Duration) -> PhaseWindow {
        let p = i64::try_from(period.as_nanos()).unwrap_or(i64::MAX).max(1);
        let s = UnixNanos::from_datetime(self.start).0;
        let e = UnixNanos::from_datetime(self.end).0;
        let start = s.div_euclid(p) * p;
        let end = if e.rem_euclid(p) == 0 {
            e
        } else {
            (e.div_euclid(p) + 1) * p
        };
        PhaseWindow {
            start: UnixNanos(start).to_datetime(),
            end: UnixNanos(end).to_datetime(),
        }
    }

    /// The start of every period of length `period` (epoch-aligned) that overlaps this window.
    pub fn period_starts(&self, period: Duration) -> Vec<DateTime<Utc>> {
        let aligned = self.align_to_period(period);
        let step = chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
        let mut out = Vec::new();
        let mut t = aligned.start;
        while t < aligned.end && !period.is_zero() {
            out.push(t);
            t += step;
        }
        out
    }
}

/// The index of the window in `windows` that contains `t`, if any.
///
/// Windows are half-open, so an instant on a boundary belongs to the later window.
pub fn window_index_at(windows: &[PhaseWindow], t: DateTime<Utc>) -> Option<usize> {
    windows.iter().position(|w| w.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_are_half_open() {
        let w = PhaseWindow::new(t("2026-03-29T00:59:00Z"), t("2026-03-29T01:01:00Z")).unwrap();
        assert!(w.contains(t("2026-03-29T00:59:00Z")));
        assert!(w.contains(t("2026-03-29T01:00:59.999999999Z")));
        assert!(!w.contains(t("2026-03-29T01:01:00Z")));
        assert!(!w.contains(t("2026-03-29T00:58:59.999999999Z")));
    }

    #[test]
    fn boundary_instant_belongs_to_the_later_window() {
        let a = PhaseWindow::new(t("2026-01-01T00:00:00Z"), t("2026-01-01T00:01:00Z")).unwrap();
        let b = PhaseWindow::new(t("2026-01-01T00:01:00Z"), t("2026-01-01T00:02:00Z")).unwrap();
        let ws = [a, b];
        assert_eq!(window_index_at(&ws, t("2026-01-01T00:01:00Z")), Some(1));
        assert_eq!(window_index_at(&ws, t("2026-01-01T00:00:59Z")), Some(0));
        assert_eq!(window_index_at(&ws, t("2026-01-01T00:02:00Z")), None);
    }

    #[test]
    fn inverted_window_is_refused_and_empty_window_contains_nothing() {
        assert!(PhaseWindow::new(t("2026-01-01T00:01:00Z"), t("2026-01-01T00:00:00Z")).is_err());
        let empty = PhaseWindow::new(t("2026-01-01T00:01:00Z"), t("2026-01-01T00:01:00Z")).unwrap();
        assert!(!empty.contains(t("2026-01-01T00:01:00Z")));
        assert_eq!(empty.duration(), Duration::ZERO);
    }

    #[test]
    fn overlap_with_sixty_second_periods() {
        // 14:01:30 – 14:03:15 against the periods 14:01, 14:02, 14:03, 14:04.
        let w = PhaseWindow::new(t("2026-06-01T14:01:30Z"), t("2026-06-01T14:03:15Z")).unwrap();
        let p = Duration::from_secs(60);
        let got: Vec<u64> = ["14:01:00", "14:02:00", "14:03:00", "14:04:00"]
            .iter()
            .map(|s| {
                w.overlap_with_period(t(&format!("2026-06-01T{s}Z")), p)
                    .as_secs()
            })
            .collect();
        assert_eq!(got, [30, 60, 15, 0]);
        let cov = w.period_coverage(t("2026-06-01T14:03:00Z"), p);
        assert!((cov - 0.25).abs() < 1e-12, "{cov}");
    }

    #[test]
    fn alignment_pads_to_whole_periods() {
        let p = Duration::from_secs(60);
        let w = PhaseWindow::new(t("2026-06-01T14:01:30Z"), t("2026-06-01T14:03:15Z")).unwrap();
        let a = w.align_to_period(p);
        assert_eq!(a.start, t("2026-06-01T14:01:00Z"));
        assert_eq!(a.end, t("2026-06-01T14:04:00Z"));
        assert_eq!(w.period_starts(p).len(), 3);
        // Already aligned: unchanged (EndTime is exclusive, so no extra period).
        let exact = PhaseWindow::new(t("2026-06-01T14:01:00Z"), t("2026-06-01T14:03:00Z")).unwrap();
        assert_eq!(exact.align_to_period(p), exact);
        assert_eq!(exact.period_starts(p).len(), 2);
    }

    #[test]
    fn utc_arithmetic_ignores_daylight_saving_changes() {
        // Europe switched clocks at 01:00 UTC on 2026-03-29; UTC windows must not care.
        let w = PhaseWindow::new(t("2026-03-29T00:30:00Z"), t("2026-03-29T01:30:00Z")).unwrap();
        assert_eq!(w.duration(), Duration::from_secs(3600));
        assert_eq!(w.period_starts(Duration::from_secs(60)).len(), 60);
        // An offset timestamp is the same instant as its UTC form.
        let local = DateTime::parse_from_rfc3339("2026-03-29T03:00:00+02:00").unwrap();
        assert!(w.contains(local.with_timezone(&Utc)));
    }

    #[test]
    fn nanos_round_trip_and_arithmetic() {
        let d = t("2026-06-01T14:01:30.123456789Z");
        let n = UnixNanos::from_datetime(d);
        assert_eq!(n.to_datetime(), d);
        let later = n.plus(Duration::from_millis(1500));
        assert_eq!(later.since(n), Some(Duration::from_millis(1500)));
        assert_eq!(n.since(later), None);
        let w = PhaseWindow::starting_at(d, Duration::from_secs(1));
        assert!(w.contains_nanos(n));
        assert!(!w.contains_nanos(n.plus(Duration::from_secs(1))));
    }
}
