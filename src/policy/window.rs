//! Named time windows: predicates on local wall-clock time in an IANA time zone.
//!
//! A window is open at an instant when the instant's local wall time in the window's zone falls
//! in one of its ranges on an active day. Evaluating wall time (rather than adding offsets) makes
//! DST behave as people expect: on a spring-forward day a range covering the skipped hour is
//! simply shorter; on a fall-back day a repeated hour counts each time it is inside a range.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration as ChronoDuration, NaiveDate, NaiveDateTime, TimeZone, Timelike,
    Utc,
};
use chrono_tz::Tz;

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

    /// Whether two ranges overlap, on the same day or when one spills into the next day.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        let same_day = |a: &TimeRange, b: &TimeRange| a.start < b.end && b.start < a.end;
        let shifted = |r: &TimeRange| TimeRange {
            start: r.start + DAY_SECS,
            end: r.end + DAY_SECS,
        };
        same_day(self, other) || same_day(self, &shifted(other)) || same_day(&shifted(self), other)
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

/// A named time window.
#[derive(Debug, Clone)]
pub struct TimeWindow {
    pub name: String,
    pub tz: Tz,
    /// Active days, indexed by `Weekday::num_days_from_monday`.
    pub days: [bool; 7],
    pub ranges: Vec<TimeRange>,
    /// Local dates on which no range starts (holidays).
    pub exclude_dates: BTreeSet<NaiveDate>,
}

impl TimeWindow {
    fn day_active(&self, date: NaiveDate) -> bool {
        self.days[date.weekday().num_days_from_monday() as usize]
            && !self.exclude_dates.contains(&date)
    }

    /// Whether the window is open at `t`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz).naive_local();
        let date = local.date();
        let secs = local.time().num_seconds_from_midnight();
        let today = self.day_active(date);
        let yesterday = || date.pred_opt().is_some_and(|d| self.day_active(d));
        self.ranges.iter().any(|r| {
            (today && r.start <= secs && secs < r.end.min(DAY_SECS))
                || (r.crosses_midnight() && secs < r.end - DAY_SECS && yesterday())
        })
    }

    /// The first instant strictly after `after` and at most `horizon_days` later at which the
    /// window opens or closes.
    pub fn next_change(&self, after: DateTime<Utc>, horizon_days: i64) -> Option<DateTime<Utc>> {
        let limit = after + ChronoDuration::days(horizon_days);
        let first_date = after.with_timezone(&self.tz).date_naive().pred_opt()?;
        let mut candidates = Vec::new();
        for offset in 0..=horizon_days + 1 {
            let date = first_date + ChronoDuration::days(offset);
            let midnight = date.and_hms_opt(0, 0, 0)?;
            for r in &self.ranges {
                for secs in [r.start, r.end] {
                    let naive = midnight + ChronoDuration::seconds(i64::from(secs));
                    self.instants_of(naive, &mut candidates);
                }
            }
            // Offset transitions move wall time without passing a boundary (fall-back re-enters
            // a range): they are candidates too.
            if let Some(t) = self.transition_on(date) {
                candidates.push(t);
            }
        }
        candidates.retain(|c| *c > after && *c <= limit);
        candidates.sort_unstable();
        candidates.dedup();
        let just_before = |c: DateTime<Utc>| c - ChronoDuration::milliseconds(1);
        candidates
            .into_iter()
            .find(|c| self.contains(*c) != self.contains(just_before(*c)))
    }

    /// The instants at which local wall time reads `naive`: none (in a spring-forward gap, the
    /// first valid minute after it is used), one, or two (a repeated fall-back hour).
    fn instants_of(&self, naive: NaiveDateTime, out: &mut Vec<DateTime<Utc>>) {
        use chrono::LocalResult;
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => out.push(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => {
                out.push(a.with_timezone(&Utc));
                out.push(b.with_timezone(&Utc));
            }
            LocalResult::None => {
                // Gaps are at most a few hours; walk minutes to the first wall time that exists.
                for minute in 1..=240 {
                    let later = naive + ChronoDuration::minutes(minute);
                    if let Some(t) = self.tz.from_local_datetime(&later).earliest() {
                        out.push(t.with_timezone(&Utc));
                        return;
                    }
                }
            }
        }
    }

    /// The instant of a UTC-offset change during local `date`, if any.
    fn transition_on(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let start = self
            .tz
            .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
            .earliest()?
            .with_timezone(&Utc);
        let end = start + ChronoDuration::hours(26);
        let offset = |t: DateTime<Utc>| t.with_timezone(&self.tz).naive_local() - t.naive_utc();
        if offset(start) == offset(end) {
            return None;
        }
        // Binary search to the second: offset(lo) == offset(start), offset(hi) differs.
        let (mut lo, mut hi) = (start, end);
        while hi - lo > ChronoDuration::seconds(1) {
            let mid = lo + (hi - lo) / 2;
            if offset(mid) == offset(start) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid instant")
            .with_timezone(&Utc)
    }

    fn window(tz: Tz, days: &[usize], ranges: &[&str], exclude: &[&str]) -> TimeWindow {
        let mut d = [false; 7];
        for &i in days {
            d[i] = true;
        }
        TimeWindow {
            name: "w".into(),
            tz,
            days: d,
            ranges: ranges
                .iter()
                .map(|r| TimeRange::parse(r).expect("valid range"))
                .collect(),
            exclude_dates: exclude
                .iter()
                .map(|s| s.parse().expect("valid date"))
                .collect(),
        }
    }

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
    fn opens_and_closes_on_the_minute() {
        // Mon-Fri 09:00-17:00 New York; 2026-12-01 is a Tuesday (EST, UTC-5).
        let w = window(
            chrono_tz::America::New_York,
            &[0, 1, 2, 3, 4],
            &["09:00-17:00"],
            &["2026-12-25"],
        );
        assert!(!w.contains(utc("2026-12-01T13:59:59Z")));
        assert!(
            w.contains(utc("2026-12-01T14:00:00Z")),
            "opens at 09:00 sharp"
        );
        assert!(w.contains(utc("2026-12-01T21:59:59Z")));
        assert!(
            !w.contains(utc("2026-12-01T22:00:00Z")),
            "closed at 17:00 sharp"
        );
        assert!(!w.contains(utc("2026-12-05T15:00:00Z")), "Saturday");
        assert!(
            !w.contains(utc("2026-12-25T15:00:00Z")),
            "excluded date (a Friday)"
        );
        assert!(w.contains(utc("2026-12-24T15:00:00Z")));
        assert_eq!(
            w.next_change(utc("2026-12-01T03:00:00Z"), 8),
            Some(utc("2026-12-01T14:00:00Z"))
        );
        assert_eq!(
            w.next_change(utc("2026-12-01T14:00:00Z"), 8),
            Some(utc("2026-12-01T22:00:00Z"))
        );
        // Thursday 24th closes at 17:00; Friday 25th is excluded; next open is Monday 28th.
        assert_eq!(
            w.next_change(utc("2026-12-24T22:00:00Z"), 8),
            Some(utc("2026-12-28T14:00:00Z"))
        );
    }

    #[test]
    fn ranges_across_midnight_belong_to_their_start_day() {
        // Fridays 22:00-06:00 UTC; 2026-12-04 is a Friday.
        let w = window(chrono_tz::UTC, &[4], &["22:00-06:00"], &[]);
        assert!(!w.contains(utc("2026-12-04T21:59:00Z")));
        assert!(w.contains(utc("2026-12-04T22:00:00Z")));
        assert!(
            w.contains(utc("2026-12-05T00:00:00Z")),
            "Saturday morning belongs to Friday's range"
        );
        assert!(w.contains(utc("2026-12-05T05:59:59Z")));
        assert!(!w.contains(utc("2026-12-05T06:00:00Z")));
        assert!(
            !w.contains(utc("2026-12-05T22:00:00Z")),
            "Saturday is not an active day"
        );
        assert!(
            !w.contains(utc("2026-12-04T03:00:00Z")),
            "Friday morning belongs to Thursday"
        );
        // Excluding the Friday excludes the whole night.
        let x = window(chrono_tz::UTC, &[4], &["22:00-06:00"], &["2026-12-04"]);
        assert!(!x.contains(utc("2026-12-04T23:00:00Z")));
        assert!(!x.contains(utc("2026-12-05T01:00:00Z")));
        assert_eq!(
            w.next_change(utc("2026-12-04T22:00:00Z"), 8),
            Some(utc("2026-12-05T06:00:00Z"))
        );
    }

    /// Counts the open minutes of a local day by brute force (every minute of UTC time).
    fn open_minutes(w: &TimeWindow, from: &str, to: &str) -> i64 {
        let (mut t, end) = (utc(from), utc(to));
        let mut n = 0;
        while t < end {
            n += i64::from(w.contains(t));
            t += ChronoDuration::minutes(1);
        }
        n
    }

    /// Brute-force check that `next_change` finds exactly the minute-resolution flips.
    fn assert_next_change_matches_scan(w: &TimeWindow, from: &str, to: &str) {
        let (mut t, end) = (utc(from), utc(to));
        let mut expected = Vec::new();
        let mut prev = w.contains(t);
        while t < end {
            t += ChronoDuration::minutes(1);
            let now = w.contains(t);
            if now != prev {
                expected.push(t);
            }
            prev = now;
        }
        let mut found = Vec::new();
        let mut cursor = utc(from);
        while let Some(c) = w.next_change(cursor, 8).filter(|c| *c <= end) {
            found.push(c);
            cursor = c;
        }
        assert_eq!(found, expected);
    }

    struct DstCase {
        tz: Tz,
        spring: (&'static str, &'static str, &'static str), // local day start/end in UTC, spring instant
        fall: (&'static str, &'static str, &'static str),
    }

    fn dst_cases() -> Vec<DstCase> {
        vec![
            // US: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
            DstCase {
                tz: chrono_tz::America::New_York,
                spring: (
                    "2026-03-08T05:00:00Z",
                    "2026-03-09T04:00:00Z",
                    "2026-03-08T07:00:00Z",
                ),
                fall: (
                    "2026-11-01T04:00:00Z",
                    "2026-11-02T05:00:00Z",
                    "2026-11-01T06:00:00Z",
                ),
            },
            // EU: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z).
            DstCase {
                tz: chrono_tz::Europe::Berlin,
                spring: (
                    "2026-03-28T23:00:00Z",
                    "2026-03-29T22:00:00Z",
                    "2026-03-29T01:00:00Z",
                ),
                fall: (
                    "2026-10-24T22:00:00Z",
                    "2026-10-25T23:00:00Z",
                    "2026-10-25T01:00:00Z",
                ),
            },
            // Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST (16:00Z on the 4th); 2026-10-04 02:00 AEST -> 03:00 AEDT (16:00Z on the 3rd).
            DstCase {
                tz: chrono_tz::Australia::Sydney,
                fall: (
                    "2026-04-04T13:00:00Z",
                    "2026-04-05T14:00:00Z",
                    "2026-04-04T16:00:00Z",
                ),
                spring: (
                    "2026-10-03T14:00:00Z",
                    "2026-10-04T13:00:00Z",
                    "2026-10-03T16:00:00Z",
                ),
            },
        ]
    }

    #[test]
    fn dst_days_neither_skip_nor_double_business_hours() {
        for case in dst_cases() {
            let name = case.tz.name();
            // Business hours do not touch the transition hour: exactly 8 h on both days.
            let w = window(case.tz, &[0, 1, 2, 3, 4, 5, 6], &["09:00-17:00"], &[]);
            assert_eq!(
                open_minutes(&w, case.spring.0, case.spring.1),
                480,
                "{name} spring"
            );
            assert_eq!(
                open_minutes(&w, case.fall.0, case.fall.1),
                480,
                "{name} fall"
            );
            // A whole-day window covers the 23 h / 25 h day exactly once per instant.
            let all = window(case.tz, &[0, 1, 2, 3, 4, 5, 6], &["00:00-24:00"], &[]);
            assert_eq!(
                open_minutes(&all, case.spring.0, case.spring.1),
                23 * 60,
                "{name} spring day is 23h"
            );
            assert_eq!(
                open_minutes(&all, case.fall.0, case.fall.1),
                25 * 60,
                "{name} fall day is 25h"
            );
            assert_next_change_matches_scan(&w, case.spring.0, case.spring.1);
            assert_next_change_matches_scan(&w, case.fall.0, case.fall.1);
        }
    }

    #[test]
    fn dst_transition_hour_is_shortened_or_repeated() {
        for case in dst_cases() {
            let name = case.tz.name();
            // 00:00-04:00 local contains the transition in every zone tested.
            let night = window(case.tz, &[0, 1, 2, 3, 4, 5, 6], &["00:00-04:00"], &[]);
            assert_eq!(
                open_minutes(&night, case.spring.0, case.spring.1),
                180,
                "{name}: spring night loses an hour"
            );
            assert_eq!(
                open_minutes(&night, case.fall.0, case.fall.1),
                300,
                "{name}: fall night gains an hour"
            );
            // The open instants around the transition: both sides are inside, no gap.
            let t = utc(case.spring.2);
            assert!(
                night.contains(t - ChronoDuration::seconds(1)) && night.contains(t),
                "{name} spring"
            );
            let t = utc(case.fall.2);
            assert!(
                night.contains(t - ChronoDuration::seconds(1)) && night.contains(t),
                "{name} fall"
            );
            assert_next_change_matches_scan(&night, case.spring.0, case.spring.1);
            assert_next_change_matches_scan(&night, case.fall.0, case.fall.1);
        }
    }

    #[test]
    fn range_inside_the_skipped_or_repeated_hour() {
        // New York: 02:00-03:00 does not exist on 2026-03-08, and 01:00-02:00 happens twice on 2026-11-01.
        let ny = chrono_tz::America::New_York;
        let gap = window(ny, &[6], &["02:00-03:00"], &[]);
        assert_eq!(
            open_minutes(&gap, "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"),
            0
        );
        let rep = window(ny, &[6], &["01:00-02:00"], &[]);
        assert_eq!(
            open_minutes(&rep, "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"),
            120
        );
        assert!(
            rep.contains(utc("2026-11-01T05:30:00Z")),
            "first 01:30 (EDT)"
        );
        assert!(
            rep.contains(utc("2026-11-01T06:30:00Z")),
            "second 01:30 (EST)"
        );
        assert!(!rep.contains(utc("2026-11-01T07:00:00Z")), "02:00 EST");
        // A range ending inside the gap closes when the clocks jump.
        let ends_in_gap = window(ny, &[6], &["01:00-02:30"], &[]);
        assert_eq!(
            ends_in_gap.next_change(utc("2026-03-08T06:30:00Z"), 8),
            Some(utc("2026-03-08T07:00:00Z"))
        );
        assert_next_change_matches_scan(
            &ends_in_gap,
            "2026-03-07T00:00:00Z",
            "2026-03-10T00:00:00Z",
        );
        // A range ending inside the repeated hour re-opens when the clocks go back.
        let ends_in_rep = window(ny, &[6], &["00:30-01:30"], &[]);
        assert_next_change_matches_scan(
            &ends_in_rep,
            "2026-10-31T00:00:00Z",
            "2026-11-03T00:00:00Z",
        );
        assert_eq!(
            open_minutes(&ends_in_rep, "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"),
            90
        );
    }
}
