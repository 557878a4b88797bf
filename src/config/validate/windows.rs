//! `[windows.NAME]`: time zone, active days, daily ranges and excluded dates of each named
//! time window.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::super::error::did_you_mean;
use super::super::raw::RawWindow;
use super::{VResult, P};
use crate::policy::{TimeRange, TimeWindow};

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_FULL: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn day(s: &str) -> Option<usize> {
    let s = s.trim();
    (0..7).find(|&i| DAY_NAMES[i].eq_ignore_ascii_case(s) || DAY_FULL[i].eq_ignore_ascii_case(s))
}

/// What a word for a group of days (not a day name) most likely means.
enum DayGroup {
    Span(&'static str),
    Every,
}

fn day_group(word: &str) -> Option<DayGroup> {
    let w: String = word
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    match w.as_str() {
        "weekday" | "weekdays" | "workday" | "workdays" | "workweek" | "businessday"
        | "businessdays" | "monfri" | "mondayfriday" | "mondaytofriday" => {
            Some(DayGroup::Span("Mon-Fri"))
        }
        "weekend" | "weekends" | "satsun" | "saturdaysunday" => Some(DayGroup::Span("Sat-Sun")),
        "daily" | "everyday" | "all" | "alldays" | "any" | "anyday" => Some(DayGroup::Every),
        _ => None,
    }
}

fn days(p: &P, list: &Option<Vec<String>>) -> VResult<[bool; 7]> {
    let Some(list) = list else {
        return Ok([true; 7]);
    };
    if list.is_empty() {
        return Err(p.err(
            "no days: the window would never open",
            Some("list days such as [\"Mon-Fri\"] or omit `days` for every day".to_string()),
        ));
    }
    let mut out = [false; 7];
    for (i, s) in list.iter().enumerate() {
        let bad = || {
            const DAYS: &str =
                "days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, or a span such as \"Mon-Fri\"";
            let help = match day_group(s) {
                Some(DayGroup::Span(span)) => format!("did you mean \"{span}\"? {DAYS}"),
                Some(DayGroup::Every) => format!("omit `days` for every day; {DAYS}"),
                None => match did_you_mean(s, DAY_NAMES.iter().chain(DAY_FULL.iter()).copied()) {
                    Some(h) => format!("did you mean `{h}`? {DAYS}"),
                    None => DAYS.to_string(),
                },
            };
            p.i(i)
                .err(format!("`{s}` is not a day of the week"), Some(help))
        };
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                // A span wraps around the week: "Fri-Mon" is Fri, Sat, Sun, Mon.
                let mut d = a;
                loop {
                    out[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => out[day(s).ok_or_else(bad)?] = true,
        }
    }
    Ok(out)
}

pub(super) fn windows(
    p: &P,
    raw: &BTreeMap<String, RawWindow>,
) -> VResult<(Vec<TimeWindow>, BTreeMap<String, usize>)> {
    let mut out = Vec::with_capacity(raw.len());
    let mut index = BTreeMap::new();
    for (name, w) in raw {
        let wp = p.k(name);
        let tz = Tz::from_str(&w.timezone).map_err(|_| {
            let hint = did_you_mean(&w.timezone, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()));
            wp.k("timezone").err(
                format!("unknown time zone `{}`", w.timezone),
                Some(match hint {
                    Some(h) => format!("did you mean `{h}`? use an IANA time zone name"),
                    None => "use an IANA time zone name such as \"America/New_York\", \"Europe/Berlin\" or \"UTC\"".to_string(),
                }),
            )
        })?;
        let days = days(&wp.k("days"), &w.days)?;
        if w.ranges.is_empty() {
            return Err(wp.k("ranges").err(
                "no ranges: the window would never open",
                Some("add a range such as \"09:00-17:00\"".to_string()),
            ));
        }
        let mut ranges: Vec<TimeRange> = Vec::with_capacity(w.ranges.len());
        for (i, r) in w.ranges.iter().enumerate() {
            let rp = wp.k("ranges").i(i);
            let range = TimeRange::parse(r).map_err(|e| rp.err(format!("invalid time range: {e}"), Some("ranges are \"HH:MM-HH:MM\" in local time; an end before the start crosses midnight (\"22:00-06:00\")".to_string())))?;
            if let Some(j) = ranges.iter().position(|o| o.overlaps_on(&range, &days)) {
                return Err(rp.err(
                    format!("range `{r}` overlaps `{}`", w.ranges[j]),
                    Some("merge the ranges or make them disjoint".to_string()),
                ));
            }
            ranges.push(range);
        }
        let mut exclude_dates = BTreeSet::new();
        for (i, d) in w.exclude_dates.iter().enumerate() {
            let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|e| {
                wp.k("exclude_dates").i(i).err(
                    format!("`{d}` is not a date ({e})"),
                    Some("dates are \"YYYY-MM-DD\" strings, e.g. \"2026-12-25\"".to_string()),
                )
            })?;
            exclude_dates.insert(date);
        }
        index.insert(name.clone(), out.len());
        out.push(TimeWindow {
            name: name.clone(),
            tz,
            days,
            ranges,
            exclude_dates,
        });
    }
    Ok((out, index))
}
