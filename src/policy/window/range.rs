//! A daily time range (`HH:MM-HH:MM` in local time) and when two ranges overlap.

const DAY_SECS: u32 = 86_400;

/// A daily time range, in seconds since local midnight. `end` is exclusive and may exceed one
/// day: a range that crosses midnight (`22:00-06:00`) is stored as `79200..108000` and belongs to
/// the day it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: u32,
    pub end: u32,
}

impl TimeRange {
    /// Parses `HH:MM-HH:MM` (end `24:00` allowed). An end at or before the start means the
    /// range crosses midnight; equal start and end is an empty range and rejected.
    pub fn parse(s: &str) -> Result<TimeRange, String> {
        let (a, b) = s.split_once('-').ok_or_else(|| {
            format!("`{s}` is not a time range; expected `HH:MM-HH:MM` such as \"09:00-17:00\"")
        })?;
        let start = parse_hhmm(a.trim(), false).map_err(|e| format!("`{s}`: {e}"))?;
        let end = parse_hhmm(b.trim(), true).map_err(|e| format!("`{s}`: {e}"))?;
        if start == end {
            return Err(format!(
                "`{s}` is empty (start equals end); use \"00:00-24:00\" for a whole day"
            ));
        }
        let end = if end <= start { end + DAY_SECS } else { end };
        if end - start > DAY_SECS {
            return Err(format!("`{s}` is longer than a day"));
        }
        Ok(TimeRange { start, end })
    }

    pub fn crosses_midnight(&self) -> bool {
        self.end > DAY_SECS
    }

    /// Whether two ranges overlap when both apply every day: on the same day, or when one
    /// spills past midnight into the other.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.overlaps_on(other, &[true; 7])
    }

    /// Whether two ranges of a window with these active days (indexed from Monday) are ever
    /// open at the same wall-clock time: on one active day, or when one spills past midnight
    /// from an active day into the next day, which is active too.
    pub fn overlaps_on(&self, other: &TimeRange, days: &[bool; 7]) -> bool {
        if !days.iter().any(|d| *d) {
            return false;
        }
        let same_day = |a: &TimeRange, b: &TimeRange| a.start < b.end && b.start < a.end;
        let shifted = |r: &TimeRange| TimeRange {
            start: r.start + DAY_SECS,
            end: r.end + DAY_SECS,
        };
        // `a` spills into the next day where `b` runs: needs an active day followed by one.
        let consecutive = (0..7).any(|d| days[d] && days[(d + 1) % 7]);
        same_day(self, other)
            || (consecutive && same_day(self, &shifted(other)))
            || (consecutive && same_day(&shifted(self), other))
    }
}

impl std::fmt::Display for TimeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |s: u32| {
            let s = if s > DAY_SECS { s - DAY_SECS } else { s };
            format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
        };
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

fn parse_hhmm(s: &str, allow_24: bool) -> Result<u32, String> {
    let bad =
        || format!("`{s}` is not a time of day; expected HH:MM, 00:00 to 23:59 (24:00 as an end)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty()
        || h.len() > 2
        || m.len() != 2
        || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)) {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(
            TimeRange::parse("09:00-17:00"),
            Ok(TimeRange {
                start: 32_400,
                end: 61_200
            })
        );
        assert_eq!(
            TimeRange::parse("22:00-06:00"),
            Ok(TimeRange {
                start: 79_200,
                end: 108_000
            })
        );
        assert_eq!(
            TimeRange::parse("00:00-24:00"),
            Ok(TimeRange {
                start: 0,
                end: 86_400
            })
        );
        assert_eq!(
            TimeRange::parse("18:00-00:00"),
            Ok(TimeRange {
                start: 64_800,
                end: 86_400
            })
        );
        for bad in [
            "09:00-09:00",
            "9-17",
            "09:00",
            "25:00-26:00",
            "09:60-10:00",
            "24:00-01:00",
            "09:00-24:30",
        ] {
            assert!(TimeRange::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn overlap_detection_covers_midnight_spill() {
        let r = |s| TimeRange::parse(s).expect("valid range");
        assert!(r("09:00-12:00").overlaps(&r("11:00-13:00")));
        assert!(
            !r("09:00-12:00").overlaps(&r("12:00-13:00")),
            "touching is not overlapping"
        );
        assert!(r("22:00-06:00").overlaps(&r("05:00-07:00")));
        assert!(r("05:00-07:00").overlaps(&r("22:00-06:00")));
        assert!(!r("22:00-06:00").overlaps(&r("06:00-22:00")));
    }

    #[test]
    fn overlap_honours_active_days() {
        let r = |s| TimeRange::parse(s).expect("valid range");
        let fri = [false, false, false, false, true, false, false];
        let fri_sat = [false, false, false, false, true, true, false];
        assert!(!r("22:00-06:00").overlaps_on(&r("05:00-07:00"), &fri));
        assert!(r("22:00-06:00").overlaps_on(&r("05:00-07:00"), &fri_sat));
        assert!(r("09:00-12:00").overlaps_on(&r("11:00-13:00"), &fri));
        let sun_mon = [true, false, false, false, false, false, true];
        assert!(
            r("22:00-06:00").overlaps_on(&r("05:00-07:00"), &sun_mon),
            "Sunday night spills into Monday"
        );
    }
}
