//! A window's calendar: its openings and closings over a span, with the DST shifts of its
//! zone, its excluded dates and the ranges lost in a skipped hour.

use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};

use super::{first_reading, offset_changes, TimeRange, TimeWindow, WallTime};

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

impl TimeWindow {
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
