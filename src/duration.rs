//! Human durations, one grammar for the config file and every command-line flag: `"500ms"`,
//! `"1.5s"`, `"30s"`, `"10m"`, `"2h"`, `"1d"`, `"1h30m"`. A leaf: it depends on nothing else in
//! the crate.

use std::time::Duration;

/// Parses a human duration: one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`
/// (each at most once, largest first), e.g. `"1h30m"`; a number may have a fraction (`"1.5s"`)
/// as long as the whole is a number of milliseconds. Whitespace around the whole string is
/// ignored; `"0s"` is allowed (callers that need a positive duration check it themselves).
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    const HELP: &str = "expected a duration such as \"500ms\", \"1.5s\", \"30s\", \"10m\", \"2h\", \"1d\" or \"1h30m\"";
    let s = input.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {HELP}"));
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    // Rank of the previous unit, so "30s1m" and "1m1m" are rejected.
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if digits == 0 {
            return Err(format!(
                "`{input}` is not a duration: a number must come before each unit; {HELP}"
            ));
        }
        let (num, after) = rest.split_at(digits);
        let value: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && !num.starts_with('.') && !num.ends_with('.'))
            .ok_or_else(|| format!("`{input}`: `{num}` is not a number; {HELP}"))?;
        let unit_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let (unit, tail) = after.split_at(unit_len);
        let (rank, millis) = match unit {
            "d" => (0, 86_400_000.0),
            "h" => (1, 3_600_000.0),
            "m" => (2, 60_000.0),
            "s" => (3, 1_000.0),
            "ms" => (4, 1.0),
            "" => {
                return Err(format!("`{input}` lacks a unit after `{num}`; {HELP}"));
            }
            other => {
                return Err(format!(
                    "`{input}`: unknown unit `{other}` (units: ms, s, m, h, d); {HELP}"
                ));
            }
        };
        if last_rank != usize::MAX && rank <= last_rank {
            return Err(format!(
                "`{input}`: units must appear once each, largest first (e.g. \"1h30m\")"
            ));
        }
        last_rank = rank;
        total += value * millis;
        rest = tail;
    }
    if total > u64::MAX as f64 / 2.0 {
        return Err(format!("`{input}` is too long"));
    }
    let millis = total.round();
    if (total - millis).abs() > 1e-6 {
        return Err(format!(
            "`{input}` is finer than a millisecond; durations are whole milliseconds"
        ));
    }
    Ok(Duration::from_millis(millis as u64))
}

/// Formats a duration the way `parse_duration` reads it (`1h30m`, `500ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_combinations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration(" 1m5s250ms "),
            Ok(Duration::from_millis(65_250))
        );
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0.25s"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            "",
            "30",
            "s",
            "10x",
            "1m1m",
            "30s1m",
            "-5s",
            "1 h",
            "5",
            ".5s",
            "1.s",
            "1..5s",
            "0.0001s",
            "100us",
            "99999999999999999999999999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn format_round_trips() {
        for s in ["500ms", "30s", "10m", "1h30m", "1d", "1d2h3m4s5ms"] {
            let d = parse_duration(s).expect("valid");
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
