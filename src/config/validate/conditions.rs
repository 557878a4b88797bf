//! `when` tables: the conditions of a rule, compiled to a list that must all hold, cheap
//! conditions first. Each group of keys (the job's fields, its measures, windows, text, tags,
//! combinators) has its own function; their order is the order of evaluation.

use std::collections::BTreeMap;

use super::super::error::did_you_mean;
use super::super::raw::{RawBounds, RawCondition};
use super::{account_id, duration, VResult, P};
use crate::model::{MAX_PRIORITY, OPERATION_NAMES};
use crate::policy::{Bounds, Condition, Glob, TagKey};

/// Window names to their indexes in the policy's window list.
type WindowIndex = BTreeMap<String, usize>;

/// Compiles a condition table to a list (all must hold), cheap conditions first.
pub(super) fn conditions(
    p: &P,
    c: &RawCondition,
    windows: &WindowIndex,
) -> VResult<Vec<Condition>> {
    let mut out = Vec::new();
    job_fields(p, c, &mut out)?;
    measures(p, c, &mut out)?;
    window_refs(p, c, windows, &mut out)?;
    description(p, c, &mut out)?;
    tags(p, c, &mut out)?;
    if let Some(s) = &c.role_arn {
        out.push(Condition::RoleArn(glob(&p.k("role_arn"), s)?));
    }
    combinators(p, c, windows, &mut out)?;
    Ok(out)
}

fn non_empty<T>(p: &P, v: &[T], what: &str) -> VResult<()> {
    if v.is_empty() {
        Err(p.err(
            format!("empty {what}: this condition can never hold"),
            Some("list at least one value, or remove the key".to_string()),
        ))
    } else {
        Ok(())
    }
}

fn glob(p: &P, s: &str) -> VResult<Glob> {
    Glob::new(s).map_err(|e| p.err(e, None))
}

/// `status`, `operation`, `account`, `region`: lists of values the job's field is one of.
fn job_fields(p: &P, c: &RawCondition, out: &mut Vec<Condition>) -> VResult<()> {
    if let Some(v) = &c.status {
        non_empty(&p.k("status"), v, "status list")?;
        out.push(Condition::Status(v.clone()));
    }
    if let Some(v) = &c.operation {
        let op = p.k("operation");
        non_empty(&op, v, "operation list")?;
        for (i, o) in v.iter().enumerate() {
            if !OPERATION_NAMES.contains(&o.as_str()) {
                let hint = did_you_mean(o, OPERATION_NAMES);
                return Err(op.i(i).err(
                    format!("unknown operation `{o}`"),
                    Some(match hint {
                        Some(h) => format!(
                            "did you mean `{h}`? operations: {}",
                            OPERATION_NAMES.join(", ")
                        ),
                        None => format!("operations: {}", OPERATION_NAMES.join(", ")),
                    }),
                ));
            }
        }
        out.push(Condition::Operation(v.clone()));
    }
    if let Some(v) = &c.account {
        non_empty(&p.k("account"), v, "account list")?;
        for (i, a) in v.iter().enumerate() {
            account_id(&p.k("account").i(i), a)?;
        }
        out.push(Condition::Account(v.clone()));
    }
    if let Some(v) = &c.region {
        non_empty(&p.k("region"), v, "region list")?;
        out.push(Condition::Region(v.clone()));
    }
    Ok(())
}

fn bounds<T: Copy + PartialOrd + std::fmt::Display>(
    p: &P,
    b: &RawBounds<T>,
    lo: T,
    hi: T,
    unit: &str,
) -> VResult<Bounds<T>> {
    if b.min.is_none() && b.max.is_none() {
        return Err(p.err(
            "give `min`, `max` or both",
            Some(format!("e.g. {{ min = {lo} }}")),
        ));
    }
    for (key, v) in [("min", b.min), ("max", b.max)] {
        if let Some(v) = v {
            if !(v >= lo && v <= hi) {
                return Err(p.k(key).err(
                    format!("{v} is out of range"),
                    Some(format!("{unit} from {lo} to {hi}")),
                ));
            }
        }
    }
    if let (Some(a), Some(z)) = (b.min, b.max) {
        if a > z {
            return Err(p
                .k("min")
                .err(format!("min {a} is greater than max {z}"), None));
        }
    }
    Ok(Bounds {
        min: b.min,
        max: b.max,
    })
}

/// `priority`, `percent_done`, `total_tasks`, `older_than`, `newer_than`: bounds on numbers.
fn measures(p: &P, c: &RawCondition, out: &mut Vec<Condition>) -> VResult<()> {
    if let Some(b) = &c.priority {
        let b = bounds(
            &p.k("priority"),
            b,
            0,
            i64::from(MAX_PRIORITY),
            "priorities",
        )?;
        let narrow = |v: Option<i64>| v.map(|v| i32::try_from(v).unwrap_or(MAX_PRIORITY));
        out.push(Condition::Priority(Bounds {
            min: narrow(b.min),
            max: narrow(b.max),
        }));
    }
    if let Some(b) = &c.percent_done {
        let b = bounds(&p.k("percent_done"), b, 0.0, 100.0, "percent")?;
        out.push(Condition::PercentDone(b));
    }
    if let Some(b) = &c.total_tasks {
        let b = bounds(&p.k("total_tasks"), b, 0, i64::MAX, "task counts")?;
        out.push(Condition::TotalTasks(b));
    }
    if let Some(s) = &c.older_than {
        let d = duration(&p.k("older_than"), s, false)?;
        out.push(Condition::OlderThan(d));
    }
    if let Some(s) = &c.newer_than {
        out.push(Condition::NewerThan(duration(&p.k("newer_than"), s, true)?));
    }
    Ok(())
}

/// `in_window`, `outside_window`: a named window, which must exist.
fn window_refs(
    p: &P,
    c: &RawCondition,
    windows: &WindowIndex,
    out: &mut Vec<Condition>,
) -> VResult<()> {
    for (key, name, inside) in [
        ("in_window", &c.in_window, true),
        ("outside_window", &c.outside_window, false),
    ] {
        let Some(n) = name else { continue };
        let Some(&i) = windows.get(n) else {
            return Err(p
                .k(key)
                .err(format!("unknown window `{n}`"), unknown_window(n, windows)));
        };
        out.push(if inside {
            Condition::InWindow(i, n.clone())
        } else {
            Condition::OutsideWindow(i, n.clone())
        });
    }
    Ok(())
}

/// The help for a window name that is not defined: the likely one and the defined ones.
fn unknown_window(n: &str, windows: &WindowIndex) -> Option<String> {
    let hint = did_you_mean(n, windows.keys().map(String::as_str));
    let known = if windows.is_empty() {
        "no windows are defined; add a [windows.NAME] table".to_string()
    } else {
        format!(
            "defined windows: {}",
            windows.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    Some(match hint {
        Some(h) => format!("did you mean `{h}`? {known}"),
        None => known,
    })
}

/// `description_glob`, `description_regex`: patterns on the job's description.
fn description(p: &P, c: &RawCondition, out: &mut Vec<Condition>) -> VResult<()> {
    if let Some(s) = &c.description_glob {
        let g = glob(&p.k("description_glob"), s)?;
        out.push(Condition::DescriptionGlob(g));
    }
    if let Some(s) = &c.description_regex {
        let re = regex::Regex::new(s).map_err(|e| {
            p.k("description_regex").err(
                format!(
                    "invalid regular expression: {}",
                    e.to_string().lines().last().unwrap_or("")
                ),
                Some(
                    "Rust regex syntax; in TOML prefer literal strings: '^backup-\\d+$'"
                        .to_string(),
                ),
            )
        })?;
        out.push(Condition::DescriptionRegex(re));
    }
    Ok(())
}

fn tag_key(kp: &P, k: &str) -> VResult<()> {
    if k.is_empty() {
        Err(kp.key_err("empty tag key", None))
    } else {
        Ok(())
    }
}

/// `tags`, `tags_in`, `tags_glob`, `tags_exist`, `tags_absent`: the job's tags.
fn tags(p: &P, c: &RawCondition, out: &mut Vec<Condition>) -> VResult<()> {
    for (k, v) in c.tags.iter().flatten() {
        tag_key(&p.k("tags").k(k), k)?;
        out.push(Condition::TagEquals(TagKey::new(k.clone()), v.clone()));
    }
    for (k, v) in c.tags_in.iter().flatten() {
        let kp = p.k("tags_in").k(k);
        tag_key(&kp, k)?;
        non_empty(&kp, v, "value list")?;
        out.push(Condition::TagIn(TagKey::new(k.clone()), v.clone()));
    }
    for (k, v) in c.tags_glob.iter().flatten() {
        let kp = p.k("tags_glob").k(k);
        tag_key(&kp, k)?;
        out.push(Condition::TagGlob(TagKey::new(k.clone()), glob(&kp, v)?));
    }
    for (key, list, exists) in [
        ("tags_exist", &c.tags_exist, true),
        ("tags_absent", &c.tags_absent, false),
    ] {
        let Some(v) = list else { continue };
        non_empty(&p.k(key), v, "tag key list")?;
        for (i, k) in v.iter().enumerate() {
            tag_key(&p.k(key).i(i), k)?;
            let k = TagKey::new(k.clone());
            out.push(if exists {
                Condition::TagExists(k)
            } else {
                Condition::TagAbsent(k)
            });
        }
    }
    Ok(())
}

/// `any`, `all`, `not`: conditions of conditions.
fn combinators(
    p: &P,
    c: &RawCondition,
    windows: &WindowIndex,
    out: &mut Vec<Condition>,
) -> VResult<()> {
    for (key, list, any) in [("any", &c.any, true), ("all", &c.all, false)] {
        let Some(v) = list else { continue };
        if v.is_empty() {
            return Err(p.k(key).err(
                if any {
                    "an empty `any` can never hold: none of no conditions holds"
                } else {
                    "an empty `all` is always true; remove it"
                },
                Some(if any {
                    "list conditions, e.g. `any = [{ tags = { tier = \"gold\" } }, { total_tasks = { min = 1000 } }]`, or remove the key".to_string()
                } else {
                    "remove `all = []`, or list conditions, e.g. `all = [{ status = [\"Ready\"] }]`".to_string()
                }),
            ));
        }
        let mut subs = Vec::with_capacity(v.len());
        for (i, sub) in v.iter().enumerate() {
            subs.push(group(conditions(&p.k(key).i(i), sub, windows)?));
        }
        out.push(if any {
            Condition::Any(subs)
        } else {
            Condition::All(subs)
        });
    }
    if let Some(sub) = &c.not {
        let all = Condition::All(conditions(&p.k("not"), sub, windows)?);
        out.push(Condition::Not(Box::new(all)));
    }
    Ok(())
}

/// One sub-condition table as one condition: a single condition stands alone, several are `all`.
fn group(mut v: Vec<Condition>) -> Condition {
    if v.len() == 1 {
        v.remove(0)
    } else {
        Condition::All(v)
    }
}
