//! Window behaviour on ordinary days: opening and closing on the minute, ranges across midnight,
//! touching ranges, day spans. Also the brute-force helpers the DST tests share.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use chrono_tz::Tz;

use super::*;

pub(super) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid instant")
        .with_timezone(&Utc)
}

pub(super) fn window(tz: Tz, days: &[usize], ranges: &[&str], exclude: &[&str]) -> TimeWindow {
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

/// Counts the open minutes of a local day by brute force (every minute of UTC time).
pub(super) fn open_minutes(w: &TimeWindow, from: &str, to: &str) -> i64 {
    let (mut t, end) = (utc(from), utc(to));
    let mut n = 0;
    while t < end {
        n += i64::from(w.contains(t));
        t += ChronoDuration::minutes(1);
    }
    n
}

/// Brute-force check that `next_change` finds exactly the minute-resolution flips.
pub(super) fn assert_next_change_matches_scan(w: &TimeWindow, from: &str, to: &str) {
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

/// The open intervals found by scanning minute by minute.
pub(super) fn scan(w: &TimeWindow, from: &str, to: &str) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (mut t, end) = (utc(from), utc(to));
    let mut out = Vec::new();
    let mut open_since = None;
    while t < end {
        match (w.contains(t), open_since) {
            (true, None) => open_since = Some(t),
            (false, Some(s)) => {
                out.push((s, t));
                open_since = None;
            }
            _ => {}
        }
        t += ChronoDuration::minutes(1);
    }
    out
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

#[test]
fn touching_ranges_are_one_period() {
    // Mon 22:00-24:00 and Tue 00:00-06:00: the window does not close at midnight.
    let w = window(
        chrono_tz::UTC,
        &[0, 1],
        &["22:00-24:00", "00:00-06:00"],
        &[],
    );
    // 2026-12-07 is a Monday.
    assert_eq!(
        w.next_change(utc("2026-12-07T23:00:00Z"), 8),
        Some(utc("2026-12-08T06:00:00Z"))
    );
    let periods = w.open_periods(utc("2026-12-07T00:00:00Z"), utc("2026-12-09T00:00:00Z"));
    assert_eq!(
        periods
            .iter()
            .map(|p| (p.opens, p.closes))
            .collect::<Vec<_>>(),
        [
            (utc("2026-12-07T00:00:00Z"), utc("2026-12-07T06:00:00Z")),
            (utc("2026-12-07T22:00:00Z"), utc("2026-12-08T06:00:00Z")),
            (utc("2026-12-08T22:00:00Z"), utc("2026-12-09T00:00:00Z")),
        ]
    );
}

#[test]
fn describes_days_as_spans() {
    let d = |v: &[usize]| {
        let mut a = [false; 7];
        v.iter().for_each(|i| a[*i] = true);
        describe_days(&a)
    };
    assert_eq!(d(&[0, 1, 2, 3, 4]), "Mon-Fri");
    assert_eq!(d(&[5, 6]), "Sat-Sun");
    assert_eq!(d(&[0, 2, 3]), "Mon, Wed-Thu");
    assert_eq!(d(&[0, 1, 2, 3, 4, 5, 6]), "every day");
}
