//! [`Clock`]: one reading of the monotonic and the UTC clock, taken at the start of a run,
//! from which every timestamp of the run is derived.

use std::time::Instant;

use stormwatch_model::UnixNanos;

/// Maps monotonic instants to UTC nanoseconds from one reading of both clocks, so every
/// timestamp of a run is consistent with the others.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    instant: Instant,
    nanos: UnixNanos,
}

impl Clock {
    /// Reads both clocks now.
    pub fn now() -> Self {
        Self {
            instant: Instant::now(),
            nanos: UnixNanos::now(),
        }
    }

    /// A clock on which monotonic `instant` is UTC `nanos` (a run anchored on a start
    /// instant).
    pub fn anchored(instant: Instant, nanos: UnixNanos) -> Self {
        Self { instant, nanos }
    }

    /// The monotonic instant of the reading.
    pub fn start(&self) -> Instant {
        self.instant
    }

    /// The UTC time of the reading.
    pub fn start_nanos(&self) -> UnixNanos {
        self.nanos
    }

    /// UTC time of `t`.
    pub fn at(&self, t: Instant) -> UnixNanos {
        match t.checked_duration_since(self.instant) {
            Some(d) => self.nanos.plus(d),
            None => {
                UnixNanos(self.nanos.0 - i64::try_from((self.instant - t).as_nanos()).unwrap_or(0))
            }
        }
    }
}
