//! Named time windows: ranges of local wall-clock time in an IANA time zone, read the way
//! people (and cron) read a clock.
//!
//! A range on an active local date opens at the first instant the zone's clock reads its start
//! time (or later) and closes at the first instant after that at which the clock reads its end
//! time (or later). The window is open while some range is. On DST days this means:
//! - **repeated hour** (fall back): a time inside it is reached the first time the clock shows
//!   it. `01:30-03:00` in New York on a fall-back day opens at 01:30 EDT and stays open through
//!   the repeated hour until 03:00 EST (2h30); it never closes and reopens. A range that ends
//!   inside the repeated hour closes at the end's first reading.
//! - **skipped hour** (spring forward): a time inside it is reached when the clock jumps past
//!   it. `02:30-04:00` in New York on a spring-forward day opens at the jump (03:00 EDT); a range
//!   wholly inside the gap (`02:00-02:45`) does not open that day.
//!
//! The same holds for 30-minute shifts (Lord Howe Island, UTC+10:30 / +11).

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration as ChronoDuration, LocalResult, NaiveDate, NaiveDateTime, Offset,
    TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::Serialize;

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

/// How the wall-clock time of a range boundary met the clock on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WallTime {
    /// The clock reads it once.
    Normal,
    /// It falls in a repeated (fall-back) hour: the boundary is the first time the clock reads it.
    Repeated,
    /// It falls in a skipped (spring-forward) hour: the boundary is the instant the clock jumps
    /// past it.
    Skipped,
}

/// The first instant at which the clock of `tz` reads `wall` or later, and how it got there.
///
/// This one rule gives both DST semantics: a time in a repeated hour is reached the first time
/// the clock shows it, a time in a skipped hour is reached when the clock jumps past it.
pub fn first_reading(tz: Tz, wall: NaiveDateTime) -> Option<(DateTime<Utc>, WallTime)> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some((t.with_timezone(&Utc), WallTime::Normal)),
        LocalResult::Ambiguous(a, b) => Some((
            a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
            WallTime::Repeated,
        )),
        LocalResult::None => {
            // The first wall-clock minute after the gap is the instant of the jump (transitions
            // happen on whole minutes; range boundaries are whole minutes). Gaps are at most a
            // day long (Samoa skipped 2011-12-30).
            (1..=MAX_GAP_MINUTES).find_map(|m| {
                tz.from_local_datetime(&(wall + ChronoDuration::minutes(m)))
                    .earliest()
                    .map(|t| (t.with_timezone(&Utc), WallTime::Skipped))
            })
        }
    }
}

const MAX_GAP_MINUTES: i64 = 26 * 60;

/// One opening of a window: a range on the local date it starts on, as instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// The local date the range starts on.
    pub date: NaiveDate,
    pub range: TimeRange,
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    pub open_wall: WallTime,
    pub close_wall: WallTime,
}

/// A stretch of time during which a window is open without interruption: openings that touch
/// or overlap, merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenPeriod {
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    /// The opening that starts the period and the one that ends it.
    pub first: Opening,
    pub last: Opening,
}

/// One line of a window's calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEntry {
    pub at: DateTime<Utc>,
    pub event: CalendarEvent,
}

/// What happens at a [`CalendarEntry`]'s instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarEvent {
    /// The window opens: `range` of local `date`, its start read as `wall` says.
    Opens {
        date: NaiveDate,
        range: TimeRange,
        wall: WallTime,
    },
    /// The window closes: the end of `range` of local `date`.
    Closes {
        date: NaiveDate,
        range: TimeRange,
        wall: WallTime,
    },
    /// The zone's UTC offset changes (a DST shift), in seconds east of UTC.
    ClockChange { before: i32, after: i32 },
    /// An active day listed in `exclude_dates`: none of its ranges opens.
    Excluded { date: NaiveDate },
    /// A range of an active day that lies wholly in a skipped (spring-forward) stretch of time.
    Skipped { date: NaiveDate, range: TimeRange },
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
    fn weekday_active(&self, date: NaiveDate) -> bool {
        self.days[date.weekday().num_days_from_monday() as usize]
    }

    fn day_active(&self, date: NaiveDate) -> bool {
        self.weekday_active(date) && !self.exclude_dates.contains(&date)
    }

    /// The boundaries of `range` on local `date`, whether or not the day is active; `None` when
    /// the range lies wholly in a skipped stretch of that day (it opens and closes at once).
    pub fn range_on(&self, date: NaiveDate, range: TimeRange) -> Option<Opening> {
        let midnight = date.and_hms_opt(0, 0, 0)?;
        let (opens, open_wall) = first_reading(
            self.tz,
            midnight + ChronoDuration::seconds(i64::from(range.start)),
        )?;
        let (closes, close_wall) = first_reading(
            self.tz,
            midnight + ChronoDuration::seconds(i64::from(range.end)),
        )?;
        (opens < closes).then_some(Opening {
            date,
            range,
            opens,
            closes,
            open_wall,
            close_wall,
        })
    }

    /// Openings of ranges starting on local dates `first..=last` (active, non-excluded days).
    fn openings_between(&self, first: NaiveDate, last: NaiveDate, out: &mut Vec<Opening>) {
        let mut date = first;
        while date <= last {
            if self.day_active(date) {
                out.extend(self.ranges.iter().filter_map(|r| self.range_on(date, *r)));
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
    }

    /// Local dates whose ranges can be open at some instant in `from..to`: a range is open at
    /// most a day plus a DST shift after its local date starts, and the local date of an
    /// instant can run a day ahead of or behind UTC.
    fn date_span(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
        let local = |t: DateTime<Utc>| t.with_timezone(&self.tz).date_naive();
        let first = local(from) - ChronoDuration::days(2);
        let last = local(to) + ChronoDuration::days(1);
        (first, last)
    }

    /// Every opening that is open at some instant in `from..to`, by opening instant.
    pub fn openings(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Opening> {
        let (first, last) = self.date_span(from, to);
        let mut out = Vec::new();
        self.openings_between(first, last, &mut out);
        out.retain(|o| o.closes > from && o.opens < to);
        out.sort_by_key(|o| (o.opens, o.closes));
        out
    }

    /// The uninterrupted open periods that overlap `from..to` (openings that touch are one
    /// period: the window does not close between them).
    pub fn open_periods(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<OpenPeriod> {
        let mut periods: Vec<OpenPeriod> = Vec::new();
        for o in self.openings(from, to) {
            match periods.last_mut() {
                Some(p) if o.opens <= p.closes => {
                    if o.closes > p.closes {
                        p.closes = o.closes;
                        p.last = o;
                    }
                }
                _ => periods.push(OpenPeriod {
                    opens: o.opens,
                    closes: o.closes,
                    first: o,
                    last: o,
                }),
            }
        }
        periods
    }

    /// Whether the window is open at `t`: some range of an active day has opened (the clock
    /// has read its start) and not yet closed (the clock has not yet read its end).
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let (first, last) = self.date_span(t, t);
        let mut openings = Vec::new();
        self.openings_between(first, last, &mut openings);
        openings.iter().any(|o| o.opens <= t && t < o.closes)
    }

    /// The first instant strictly after `after` and at most `horizon_days` later at which the
    /// window opens or closes.
    pub fn next_change(&self, after: DateTime<Utc>, horizon_days: i64) -> Option<DateTime<Utc>> {
        self.next_boundary(after, horizon_days).map(|(t, _)| t)
    }

    /// [`TimeWindow::next_change`] and whether the window opens (`true`) or closes there.
    pub fn next_boundary(
        &self,
        after: DateTime<Utc>,
        horizon_days: i64,
    ) -> Option<(DateTime<Utc>, bool)> {
        let limit = after + ChronoDuration::days(horizon_days);
        self.open_periods(after, limit + ChronoDuration::seconds(1))
            .into_iter()
            .flat_map(|p| [(p.opens, true), (p.closes, false)])
            .find(|(t, _)| *t > after && *t <= limit)
    }

    /// Everything that happens to the window in `from..to`, in order: openings and closings
    /// (of every open period overlapping the span, whole), DST shifts of its zone, excluded
    /// dates and ranges lost in a skipped hour.
    pub fn calendar(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<CalendarEntry> {
        let mut out = Vec::new();
        // Periods that overlap `from..to` are listed whole: one open at `from` shows when it
        // opened, one open at `to` when it will close.
        for p in self.open_periods(from, to) {
            out.push(CalendarEntry {
                at: p.opens,
                event: CalendarEvent::Opens {
                    date: p.first.date,
                    range: p.first.range,
                    wall: p.first.open_wall,
                },
            });
            out.push(CalendarEntry {
                at: p.closes,
                event: CalendarEvent::Closes {
                    date: p.last.date,
                    range: p.last.range,
                    wall: p.last.close_wall,
                },
            });
        }
        for (at, before, after) in offset_changes(self.tz, from, to) {
            out.push(CalendarEntry {
                at,
                event: CalendarEvent::ClockChange { before, after },
            });
        }
        let (first, last) = self.date_span(from, to);
        let mut date = first;
        while date <= last {
            let start_of_day = date
                .and_hms_opt(0, 0, 0)
                .and_then(|m| first_reading(self.tz, m))
                .map(|(t, _)| t);
            if let Some(at) = start_of_day.filter(|t| *t >= from && *t < to) {
                if self.weekday_active(date) && self.exclude_dates.contains(&date) {
                    out.push(CalendarEntry {
                        at,
                        event: CalendarEvent::Excluded { date },
                    });
                } else if self.day_active(date) {
                    for r in &self.ranges {
                        if self.range_on(date, *r).is_none() {
                            let at = date
                                .and_hms_opt(0, 0, 0)
                                .and_then(|m| {
                                    first_reading(
                                        self.tz,
                                        m + ChronoDuration::seconds(i64::from(r.start)),
                                    )
                                })
                                .map_or(at, |(t, _)| t);
                            out.push(CalendarEntry {
                                at,
                                event: CalendarEvent::Skipped { date, range: *r },
                            });
                        }
                    }
                }
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
        out.sort_by_key(|e| (e.at, event_order(&e.event)));
        out
    }

    /// `Mon-Fri 09:00-17:00`, the window's days and ranges as a person would write them.
    pub fn describe(&self) -> String {
        let ranges: Vec<String> = self.ranges.iter().map(|r| r.to_string()).collect();
        format!("{} {}", describe_days(&self.days), ranges.join(", "))
    }
}

/// At one instant: closings before clock changes before openings (a period that ends where
/// another begins reads in time order).
fn event_order(e: &CalendarEvent) -> u8 {
    match e {
        CalendarEvent::Closes { .. } => 0,
        CalendarEvent::ClockChange { .. } => 1,
        CalendarEvent::Excluded { .. } | CalendarEvent::Skipped { .. } => 2,
        CalendarEvent::Opens { .. } => 3,
    }
}

const DAY_ABBREV: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Active days as spans: `Mon-Fri`, `Sat-Sun`, `every day`, `Mon, Wed-Thu`.
pub fn describe_days(days: &[bool; 7]) -> String {
    if days.iter().all(|d| *d) {
        return "every day".to_string();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < 7 {
        if days[i] {
            let start = i;
            while i + 1 < 7 && days[i + 1] {
                i += 1;
            }
            parts.push(if start == i {
                DAY_ABBREV[i].to_string()
            } else {
                format!("{}-{}", DAY_ABBREV[start], DAY_ABBREV[i])
            });
        }
        i += 1;
    }
    parts.join(", ")
}

/// UTC offset of `tz` at `t`, in seconds east of UTC.
pub fn offset_at(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The instants in `from..to` at which the UTC offset of `tz` changes, with the offsets before
/// and after (seconds east of UTC). Found hour by hour, then to the second.
pub fn offset_changes(
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, i32, i32)> {
    let mut out = Vec::new();
    let step = ChronoDuration::hours(1);
    let mut lo = from;
    let mut lo_offset = offset_at(tz, lo);
    while lo < to {
        let hi = (lo + step).min(to);
        let hi_offset = offset_at(tz, hi);
        if hi_offset != lo_offset {
            // The first instant in (lo, hi] with the new offset.
            let (mut a, mut b) = (lo, hi);
            while b - a > ChronoDuration::seconds(1) {
                let mid = a + (b - a) / 2;
                if offset_at(tz, mid) == lo_offset {
                    a = mid;
                } else {
                    b = mid;
                }
            }
            if b < to {
                out.push((b, lo_offset, offset_at(tz, b)));
            }
        }
        lo = hi;
        lo_offset = hi_offset;
    }
    out
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
        // A range ending inside the repeated hour closes at the first reading of its end and
        // does not reopen when the clocks go back.
        let ends_in_rep = window(ny, &[6], &["00:30-01:30"], &[]);
        assert_next_change_matches_scan(
            &ends_in_rep,
            "2026-10-31T00:00:00Z",
            "2026-11-03T00:00:00Z",
        );
        assert_eq!(
            open_minutes(&ends_in_rep, "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"),
            60
        );
        assert!(
            !ends_in_rep.contains(utc("2026-11-01T06:15:00Z")),
            "01:15 EST"
        );
    }

    /// The open intervals found by scanning minute by minute.
    fn scan(w: &TimeWindow, from: &str, to: &str) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
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
}
