//! Window behaviour on DST nights (New York, Berlin, Sydney, Lord Howe), checked against a
//! minute-by-minute scan.

use chrono::Duration as ChronoDuration;
use chrono_tz::Tz;

use super::tests::{assert_next_change_matches_scan, open_minutes, scan, utc, window};
use super::*;

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
    assert_next_change_matches_scan(&ends_in_gap, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z");
    // A range ending inside the repeated hour closes at the first reading of its end and
    // does not reopen when the clocks go back.
    let ends_in_rep = window(ny, &[6], &["00:30-01:30"], &[]);
    assert_next_change_matches_scan(&ends_in_rep, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z");
    assert_eq!(
        open_minutes(&ends_in_rep, "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"),
        60
    );
    assert!(
        !ends_in_rep.contains(utc("2026-11-01T06:15:00Z")),
        "01:15 EST"
    );
}

#[test]
fn repeated_hour_new_york_opens_once_and_stays_open() {
    // 2026-11-01: 02:00 EDT goes back to 01:00 EST at 06:00Z.
    let w = window(chrono_tz::America::New_York, &[6], &["01:30-03:00"], &[]);
    assert_eq!(
        scan(&w, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
        [(utc("2026-11-01T05:30:00Z"), utc("2026-11-01T08:00:00Z"))],
        "01:30 EDT until 03:00 EST, through the repeated hour"
    );
    assert!(w.contains(utc("2026-11-01T06:10:00Z")), "01:10 EST");
    assert_next_change_matches_scan(&w, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z");
    let o = w
        .range_on(
            "2026-11-01".parse().expect("date"),
            TimeRange::parse("01:30-03:00").expect("range"),
        )
        .expect("opens");
    assert_eq!(
        (o.open_wall, o.close_wall),
        (WallTime::Repeated, WallTime::Normal)
    );
    // An ordinary Sunday: 1h30.
    assert_eq!(
        scan(&w, "2026-11-08T00:00:00Z", "2026-11-09T00:00:00Z"),
        [(utc("2026-11-08T06:30:00Z"), utc("2026-11-08T08:00:00Z"))]
    );
}

#[test]
fn skipped_hour_new_york_opens_at_the_jump() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z.
    let ny = chrono_tz::America::New_York;
    let starts_in_gap = window(ny, &[6], &["02:30-04:00"], &[]);
    assert_eq!(
        scan(
            &starts_in_gap,
            "2026-03-08T00:00:00Z",
            "2026-03-09T00:00:00Z"
        ),
        [(utc("2026-03-08T07:00:00Z"), utc("2026-03-08T08:00:00Z"))]
    );
    let inside = window(ny, &[6], &["02:00-02:45"], &[]);
    assert!(scan(&inside, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z").is_empty());
    let cal = inside.calendar(utc("2026-03-08T00:00:00Z"), utc("2026-03-09T00:00:00Z"));
    assert_eq!(
        cal.iter()
            .map(|e| (e.at, e.event.clone()))
            .collect::<Vec<_>>(),
        [
            (
                utc("2026-03-08T07:00:00Z"),
                CalendarEvent::ClockChange {
                    before: -5 * 3600,
                    after: -4 * 3600
                }
            ),
            (
                utc("2026-03-08T07:00:00Z"),
                CalendarEvent::Skipped {
                    date: "2026-03-08".parse().expect("date"),
                    range: TimeRange::parse("02:00-02:45").expect("range")
                }
            ),
        ]
    );
}

#[test]
fn lord_howe_half_hour_shifts() {
    // UTC+11 -> +10:30 at 2026-04-04T15:00Z (02:00 -> 01:30 local on Sunday the 5th);
    // +10:30 -> +11 at 2026-10-03T15:30Z (02:00 -> 02:30 local on Sunday the 4th).
    let w = window(
        chrono_tz::Australia::Lord_Howe,
        &[0, 1, 2, 3, 4, 5, 6],
        &["01:45-02:15"],
        &[],
    );
    assert_eq!(
        scan(&w, "2026-04-03T12:00:00Z", "2026-04-06T12:00:00Z"),
        [
            (utc("2026-04-03T14:45:00Z"), utc("2026-04-03T15:15:00Z")),
            (utc("2026-04-04T14:45:00Z"), utc("2026-04-04T15:45:00Z")),
            (utc("2026-04-05T15:15:00Z"), utc("2026-04-05T15:45:00Z")),
        ],
        "the fall-back night: one hour, from the first 01:45"
    );
    assert_eq!(
        scan(&w, "2026-10-02T12:00:00Z", "2026-10-05T12:00:00Z"),
        [
            (utc("2026-10-02T15:15:00Z"), utc("2026-10-02T15:45:00Z")),
            (utc("2026-10-03T15:15:00Z"), utc("2026-10-03T15:30:00Z")),
            (utc("2026-10-04T14:45:00Z"), utc("2026-10-04T15:15:00Z")),
        ],
        "the spring-forward night: closes at the jump, 02:15 never comes"
    );
    assert_next_change_matches_scan(&w, "2026-04-03T12:00:00Z", "2026-04-06T12:00:00Z");
    assert_next_change_matches_scan(&w, "2026-10-02T12:00:00Z", "2026-10-05T12:00:00Z");
    assert_eq!(
        offset_changes(
            w.tz,
            utc("2026-01-01T00:00:00Z"),
            utc("2027-01-01T00:00:00Z")
        ),
        [
            (utc("2026-04-04T15:00:00Z"), 11 * 3600, 10 * 3600 + 1800),
            (utc("2026-10-03T15:30:00Z"), 10 * 3600 + 1800, 11 * 3600),
        ]
    );
}
