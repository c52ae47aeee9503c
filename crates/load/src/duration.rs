//! Human durations in scenarios: `250ms`, `3s`, `1.5s`, `2m`, `1h`.

use std::time::Duration;

/// The longest duration a scenario may name (31 days): longer phases, timeouts or waits
/// are typos, and the run's per-second timeline is sized by them.
pub const MAX: Duration = Duration::from_secs(31 * 86_400);

/// Parses a duration such as `250ms`, `3s`, `1.5s`, `2m` of at most 31 days; the unit is
/// required.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    stormwatch_model::parse::parse_duration(text, MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_bare_numbers() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("3").is_err());
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("-3s").is_err());
        // Overflowing values are refused, not a panic.
        for huge in ["99999999999999999h", "1e308s", "32d", "745h"] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        assert_eq!(
            parse_duration("744h").unwrap(),
            Duration::from_secs(744 * 3600)
        );
    }
}
