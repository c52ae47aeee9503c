//! Human durations in scenarios: `250ms`, `3s`, `1.5s`, `2m`, `1h`.

use std::time::Duration;

/// The longest duration a scenario may name (31 days): longer phases, timeouts or waits
/// are typos, and the run's per-second timeline is sized by them.
pub const MAX_SECS: f64 = 31.0 * 86_400.0;

/// Parses a duration such as `250ms`, `3s`, `1.5s`, `2m`; the unit is required.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit; write e.g. `500ms`, `3s` or `2m`"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. `500ms`, `3s` or `2m`"))?;
    let secs = match unit.trim() {
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s, m or h)"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{text}` must be a positive duration"));
    }
    if secs > MAX_SECS {
        return Err(format!(
            "`{text}` is longer than {} days, the longest duration a scenario may use",
            MAX_SECS / 86_400.0
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a usable duration"))
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
