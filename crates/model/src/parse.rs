//! What every configuration file stormwatch reads (scenarios, sandbox configs, query files)
//! parses the same way: the line a byte offset falls on, human durations with a unit, and a
//! bad value quoted briefly in an error message.

use std::time::Duration;

/// Longest value quoted in an error message; longer ones are cut with `…`.
const QUOTE_MAX: usize = 40;

/// The 1-based line of byte `offset` in `text` (an offset past the end counts as the end).
pub fn line_of(text: &str, offset: usize) -> usize {
    // Pieces between newlines before `offset` = the line number.
    text.as_bytes()[..offset.min(text.len())]
        .split(|b| *b == b'\n')
        .count()
}

/// `s` for an error message: at most 40 characters, control characters escaped (`\n`,
/// `\u{1}`).
pub fn brief(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(QUOTE_MAX) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if s.chars().nth(QUOTE_MAX).is_some() {
        out.push('…');
    }
    out
}

/// Parses a duration such as `250ms`, `3s`, `1.5s`, `2m`, `1h` or `7d` (also `us`/`µs`), of at
/// most `max`. The unit is required; negative, NaN and longer values are refused with a
/// message that quotes the value.
pub fn parse_duration(text: &str, max: Duration) -> Result<Duration, String> {
    let t = text.trim();
    let quoted = brief(t);
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .ok_or_else(|| format!("`{quoted}` has no unit; write e.g. `500ms`, `3s` or `2m`"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{quoted}` is not a duration; write e.g. `500ms`, `3s` or `2m`"))?;
    let secs = match unit.trim() {
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => {
            return Err(format!(
                "unknown unit `{}` in `{quoted}` (use ms, s, m, h or d)",
                brief(other)
            ));
        }
    };
    if secs < 0.0 {
        return Err(format!("`{quoted}` is negative; durations must be >= 0"));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= max => Ok(d),
        _ => Err(format!("`{quoted}` is longer than {}", human(max))),
    }
}

/// `max` in the largest whole unit: `31 days`, `24 hours`, `15 minutes`, `90 s`.
fn human(max: Duration) -> String {
    let s = max.as_secs();
    let (n, unit) = match s {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        _ => return format!("{} s", max.as_secs_f64()),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\nb", 99), 2);
    }

    #[test]
    fn durations_need_a_unit_and_stay_in_range() {
        assert_eq!(
            parse_duration("250ms", DAY).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_duration(" 1.5s ", DAY).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m", DAY).unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("24h", DAY).unwrap(), DAY);
        assert_eq!(
            parse_duration("500us", DAY).unwrap(),
            Duration::from_micros(500)
        );
        assert!(parse_duration("3", DAY).unwrap_err().contains("no unit"));
        assert!(
            parse_duration("3 parsecs", DAY)
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("-3s", DAY).unwrap_err().contains("negative"));
        assert!(parse_duration("NaNs", DAY).is_err());
        assert!(
            parse_duration("25h", DAY)
                .unwrap_err()
                .contains("longer than 1 day")
        );
        for huge in ["99999999999999999h", "1e308s", "inf s"] {
            assert!(parse_duration(huge, DAY).is_err(), "{huge}");
        }
    }

    #[test]
    fn long_or_control_values_are_quoted_briefly() {
        let long = "9".repeat(100) + "x";
        let err = parse_duration(&long, DAY).unwrap_err();
        assert!(err.chars().count() < 100, "{err}");
        assert_eq!(brief("a\nb"), "a\\nb");
    }
}
