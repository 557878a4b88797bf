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
//!
//! Files: `range` (a daily time range), `clock` (how a zone's clock reads a wall time, and its
//! offset changes), `calendar` (everything that happens to a window over a span); this file
//! holds the window and when it is open.

mod calendar;
mod clock;
mod range;

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, Utc};
use chrono_tz::Tz;

pub use calendar::{CalendarEntry, CalendarEvent};
pub use clock::{first_reading, offset_at, offset_changes, WallTime};
pub use range::TimeRange;

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
    /// `Mon-Fri 09:00-17:00`, the window's days and ranges as a person would write them.
    pub fn describe(&self) -> String {
        let ranges: Vec<String> = self.ranges.iter().map(|r| r.to_string()).collect();
        format!("{} {}", describe_days(&self.days), ranges.join(", "))
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

#[cfg(test)]
mod dst_tests;
#[cfg(test)]
mod tests;
