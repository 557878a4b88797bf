//! Warnings: what a config says that is valid but probably not what was meant. `check` prints
//! them (exit 0, or 78 with `--strict`); loading a config never fails on them.
//!
//! Each check errs on the side of silence: a warning is given only when the config itself
//! proves the surprise (one rule's conditions imply another's, a window has no opening in a
//! year), never on a guess.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::validate::{SemErr, P};
use super::Config;
use crate::policy::{Bounds, CalendarEvent, Condition, Glob, Rule, TimeWindow, ValueAction};

/// Windows are checked over this many days from the reference instant.
const HORIZON_DAYS: i64 = 366;

pub(super) fn warnings(cfg: &Config, reference: DateTime<Utc>) -> Vec<SemErr> {
    let mut out = Vec::new();
    let rules = cfg.policy.rules();
    shadowed_rules(rules, &mut out);
    contradicting_bounds(rules, &mut out);
    for w in cfg.policy.windows() {
        window(w, reference, &mut out);
    }
    out
}

/// A deciding rule after an earlier deciding rule that matches every job it matches.
fn shadowed_rules(rules: &[Rule], out: &mut Vec<SemErr>) {
    let at = P::root().k("rules");
    for (j, later) in rules.iter().enumerate() {
        if !later.is_deciding() {
            continue;
        }
        let earlier = rules[..j]
            .iter()
            .find(|e| e.is_deciding() && rule_implies(&later.when, &e.when));
        let Some(earlier) = earlier else { continue };
        let why = if earlier.when.is_empty() {
            format!(
                "the earlier deciding rule `{}` has no conditions, so it decides for every job",
                earlier.name
            )
        } else {
            format!(
                "every job it matches also matches the earlier deciding rule `{}`, which decides first",
                earlier.name
            )
        };
        out.push(at.i(j).k("name").err(
            format!("rule `{}` can never decide: {why}", later.name),
            Some(format!(
                "move `{}` above `{}`, or narrow the conditions of `{}`",
                later.name, earlier.name, earlier.name
            )),
        ));
    }
}

/// Bounds that undo each other for the jobs two rules both match, and `set` values their own
/// bounds always change.
fn contradicting_bounds(rules: &[Rule], out: &mut Vec<SemErr>) {
    let at = P::root().k("rules");
    for (i, r) in rules.iter().enumerate() {
        if let Some(ValueAction::Set(n)) = r.action.value {
            let clamped = r.action.clamp(n);
            if clamped != n {
                let bound = if r.action.at_least.is_some_and(|lo| n < lo) {
                    "at_least"
                } else {
                    "at_most"
                };
                out.push(at.i(i).k("action").k("set").err(
                    format!(
                        "rule `{}`: `set = {n}` is always changed to {clamped} by its own `{bound}`",
                        r.name
                    ),
                    Some(format!("set the value you want (`set = {clamped}`) or remove `{bound}`")),
                ));
            }
        }
    }
    // Order of application for a job both rules match: the deciding rule's own bounds, then
    // every clamp rule in file order. `later` wins over `earlier`.
    for (j, later) in rules.iter().enumerate() {
        if later.is_deciding() {
            continue;
        }
        for (i, earlier) in rules.iter().enumerate() {
            let applied_before = earlier.is_deciding() || i < j;
            if i == j || !applied_before {
                continue;
            }
            let overlap = rule_implies(&later.when, &earlier.when)
                || rule_implies(&earlier.when, &later.when);
            if !overlap {
                continue;
            }
            let clash = match (earlier.action.at_least, later.action.at_most) {
                (Some(lo), Some(hi)) if hi < lo => Some(("at_most", hi, "at_least", lo)),
                _ => match (earlier.action.at_most, later.action.at_least) {
                    (Some(hi), Some(lo)) if lo > hi => Some(("at_least", lo, "at_most", hi)),
                    _ => None,
                },
            };
            if let Some((key, value, other_key, other)) = clash {
                out.push(at.i(j).k("action").k(key).err(
                    format!(
                        "clamp rule `{}` (`{key} = {value}`) contradicts `{other_key} = {other}` of rule `{}` for the jobs both match: `{}` is applied later and wins, so they get {value}",
                        later.name, earlier.name, later.name
                    ),
                    Some("make the bounds agree, or give the rules conditions that do not overlap".to_string()),
                ));
            }
        }
    }
}

/// A window that never opens in the coming year, or a range that a DST gap swallows on a day.
fn window(w: &TimeWindow, reference: DateTime<Utc>, out: &mut Vec<SemErr>) {
    let at = P::root().k("windows").k(&w.name);
    let until = reference + ChronoDuration::days(HORIZON_DAYS);
    let calendar = w.calendar(reference, until);
    let opens = calendar
        .iter()
        .any(|e| matches!(e.event, CalendarEvent::Opens { .. }));
    if !opens {
        let excluded = calendar
            .iter()
            .filter(|e| matches!(e.event, CalendarEvent::Excluded { .. }))
            .count();
        let skipped = calendar
            .iter()
            .filter(|e| matches!(e.event, CalendarEvent::Skipped { .. }))
            .count();
        let why = if skipped == 0 && excluded > 0 {
            "every active day is an excluded date".to_string()
        } else if excluded == 0 {
            "every range falls inside a skipped (DST) stretch of the clock".to_string()
        } else {
            format!(
                "its active days are excluded dates ({excluded}) or days whose ranges fall inside a skipped (DST) stretch of the clock ({skipped})"
            )
        };
        out.push(at.err(
            format!(
                "window `{}` never opens in the year from {}: {why}",
                w.name,
                reference.format("%Y-%m-%d")
            ),
            Some(format!(
                "rules with `in_window = \"{}\"` never match; check `days`, `ranges` and `exclude_dates`",
                w.name
            )),
        ));
        return;
    }
    let mut reported = Vec::new();
    for e in &calendar {
        let CalendarEvent::Skipped { date, range } = e.event else {
            continue;
        };
        if reported.contains(&range) {
            continue;
        }
        reported.push(range);
        let Some(k) = w.ranges.iter().position(|r| *r == range) else {
            continue;
        };
        out.push(at.k("ranges").i(k).err(
            format!(
                "window `{}`: range `{range}` does not open on {}: it lies wholly inside the stretch {} skips when its clocks go forward",
                w.name,
                date.format("%Y-%m-%d (%a)"),
                w.tz.name()
            ),
            Some("move the range out of the skipped hour, or widen it past the jump, if it must open that day".to_string()),
        ));
    }
}

/// Whether a rule with conditions `b` can only match jobs a rule with conditions `a` matches
/// (every condition of `a` follows from those of `b`; no conditions match every job).
fn rule_implies(b: &[Condition], a: &[Condition]) -> bool {
    a.iter().all(|c| conjunction_implies(b, c))
}

/// Whether all of `bs` holding makes `a` hold.
fn conjunction_implies(bs: &[Condition], a: &Condition) -> bool {
    bs.iter().any(|b| implies(b, a))
        || match a {
            Condition::All(subs) => subs.iter().all(|s| conjunction_implies(bs, s)),
            Condition::Any(subs) => subs.iter().any(|s| conjunction_implies(bs, s)),
            _ => false,
        }
}

/// Whether `b` holding makes `a` hold, for the cases the config can show; `false` when unsure.
fn implies(b: &Condition, a: &Condition) -> bool {
    use Condition as C;
    let subset = |x: &[String], y: &[String]| x.iter().all(|v| y.contains(v));
    match (b, a) {
        (C::All(bs), _) => conjunction_implies(bs, a),
        (C::Any(bs), _) => !bs.is_empty() && bs.iter().all(|x| implies(x, a)),
        (_, C::All(subs)) => subs.iter().all(|s| implies(b, s)),
        (_, C::Any(subs)) => subs.iter().any(|s| implies(b, s)),
        (C::Not(x), C::Not(y)) => implies(y, x),
        (C::Status(x), C::Status(y)) => x.iter().all(|s| y.contains(s)),
        (C::Operation(x), C::Operation(y))
        | (C::Account(x), C::Account(y))
        | (C::Region(x), C::Region(y)) => subset(x, y),
        (C::Priority(x), C::Priority(y)) => within(x, y),
        (C::PercentDone(x), C::PercentDone(y)) => within(x, y),
        (C::TotalTasks(x), C::TotalTasks(y)) => within(x, y),
        (C::OlderThan(x), C::OlderThan(y)) => x >= y,
        (C::NewerThan(x), C::NewerThan(y)) => x <= y,
        (C::InWindow(x, _), C::InWindow(y, _))
        | (C::OutsideWindow(x, _), C::OutsideWindow(y, _)) => x == y,
        (C::DescriptionGlob(x), C::DescriptionGlob(y)) | (C::RoleArn(x), C::RoleArn(y)) => {
            glob_implies(x, y)
        }
        (C::DescriptionRegex(x), C::DescriptionRegex(y)) => x.as_str() == y.as_str(),
        (C::TagEquals(k, v), C::TagEquals(k2, v2)) => k.name == k2.name && v == v2,
        (C::TagEquals(k, v), C::TagIn(k2, vs)) => k.name == k2.name && vs.contains(v),
        (C::TagEquals(k, v), C::TagGlob(k2, g)) => k.name == k2.name && g.is_match(v),
        (C::TagIn(k, xs), C::TagIn(k2, ys)) => k.name == k2.name && subset(xs, ys),
        (C::TagIn(k, xs), C::TagGlob(k2, g)) => {
            k.name == k2.name && xs.iter().all(|v| g.is_match(v))
        }
        (C::TagGlob(k, x), C::TagGlob(k2, y)) => k.name == k2.name && glob_implies(x, y),
        (
            C::TagEquals(k, _) | C::TagIn(k, _) | C::TagGlob(k, _) | C::TagExists(k),
            C::TagExists(k2),
        ) => k.name == k2.name,
        (C::TagAbsent(k), C::TagAbsent(k2)) => k.name == k2.name,
        _ => false,
    }
}

/// `x` matching makes `y` match: the same pattern, `y` is `*`, or `x` is a literal `y` matches.
fn glob_implies(x: &Glob, y: &Glob) -> bool {
    x.as_str() == y.as_str() || y.as_str() == "*" || x.literal().is_some_and(|l| y.is_match(l))
}

/// `x`'s range lies inside `y`'s.
fn within<T: PartialOrd + Copy>(x: &Bounds<T>, y: &Bounds<T>) -> bool {
    let lo = match (x.min, y.min) {
        (_, None) => true,
        (Some(a), Some(b)) => a >= b,
        (None, Some(_)) => false,
    };
    let hi = match (x.max, y.max) {
        (_, None) => true,
        (Some(a), Some(b)) => a <= b,
        (None, Some(_)) => false,
    };
    lo && hi
}
