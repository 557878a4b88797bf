//! How a zone's clock reads a wall-clock time (once, twice in a repeated hour, or never in a
//! skipped one), and the instants its UTC offset changes.

use chrono::{
    DateTime, Duration as ChronoDuration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::Serialize;

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
