//! The config's limits and the helpers every config module shares (durations, line
//! numbers). A leaf: it imports nothing from the other config modules.

use std::time::Duration;

/// Longest handler, init, timeout, backoff, idle timeout or metric period: one day. Longer
/// values are rejected, and arithmetic on drawn durations saturates here, so no multiplication
/// (a fault's slowdown) or sum can overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(86_400);
/// Longest fault offset, fault window or token lifetime: a year.
pub(crate) const MAX_LONG_DURATION: Duration = Duration::from_secs(366 * 86_400);
/// Highest stage rate limit (requests per second) and burst.
pub(crate) const MAX_RATE: f64 = 10_000_000.0;
/// Highest telemetry API rate limit (calls per second).
pub(crate) const MAX_API_RATE: f64 = 1_000_000.0;
/// Highest reserved or provisioned concurrency (each unit can hold an environment).
pub(crate) const MAX_CONCURRENCY: u32 = 100_000;
/// Highest table capacity (units per second).
pub(crate) const MAX_CAPACITY: f64 = 10_000_000.0;
/// Highest fault multiplier (`slowdown`, `table_capacity_factor`).
pub(crate) const MAX_FACTOR: f64 = 1000.0;
/// Most SDK retries after throttles.
pub(crate) const MAX_RETRIES: u32 = 100;
/// Most table or stream calls per invocation.
pub(crate) const MAX_CALLS: u32 = 10_000;
/// Largest response body: Lambda's 6 MB synchronous response limit.
pub(crate) const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// Largest in-memory telemetry budget, MB.
pub(crate) const MAX_MEMORY_MB: usize = 65_536;

pub(crate) use stormwatch_model::parse::line_of;

/// Parses `250ms`, `2s`, `1.5s`, `10m` up to [`MAX_DURATION`]; negative, unit-less or longer
/// values are rejected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_max(s, MAX_DURATION)
}

pub(crate) use stormwatch_model::parse::parse_duration as parse_duration_max;
